/* The user buffer of the socket syscall in progress, for the L7 parsers. The sock length tracepoints fire
 * in the calling task after the data was copied, so its syscall registers still point at the bytes.
 * Only plain read/write-style syscalls are understood; io_uring, sendfile and splice give no payload. */

/* The helper bpf_probe_read_user under a name of our own, for every user read of every module (this file comes first
 * of the shared sources, tracer/capture/loader.py). BCC's rewriter checks each call it sees to a function of that
 * name against the kernel's symbols (for kernels before 5.5, which lack the helper) and builds a table of all
 * 120,000 of them anew for each call: a third of a second of each module's compile (docs/performance.md, "The
 * start's compile, part by part"). These sources need 6.3 (the sock length tracepoints). Declared as BCC declares
 * it, so that the programs are the same, instruction for instruction. */
static int (*read_user_memory)(void *dst, u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read_user;
#define bpf_probe_read_user read_user_memory

/* x86_64 syscall numbers */
#define SYS_READ 0
#define SYS_WRITE 1
#define SYS_READV 19
#define SYS_WRITEV 20
#define SYS_SENDTO 44
#define SYS_RECVFROM 45
#define SYS_SENDMSG 46
#define SYS_RECVMSG 47

#define PAYLOAD_SEGMENTS 4   /* iovecs looked at; later ones are counted as bytes only */
#define PT_REGS_DX 96        /* x86_64 struct pt_regs: dx, si, di, orig_ax follow each other from here */

/* user ABI structs */
struct user_iovec {
    u64 base;
    u64 len;
};

struct user_msghdr_head {
    u64 name;
    u32 namelen;
    u32 pad;
    u64 iov;
    u64 iovlen;
};

struct syscall_regs {
    u64 dx, si, di, orig_ax;
};

/* Where the bytes of this I/O are: up to PAYLOAD_SEGMENTS user ranges, total bytes in all. */
struct payload {
    u64 base[PAYLOAD_SEGMENTS];
    u64 len[PAYLOAD_SEGMENTS];
};

static __always_inline void payload_from_iovecs(struct payload *p, u64 iov, u64 count, u32 total)
{
    struct user_iovec vec[PAYLOAD_SEGMENTS] = {};
    if (count > PAYLOAD_SEGMENTS)
        count = PAYLOAD_SEGMENTS;
    if (count == 0 || bpf_probe_read_user(vec, count * sizeof(vec[0]), (void *)iov))
        return;
    u64 left = total;
#pragma unroll
    for (int i = 0; i < PAYLOAD_SEGMENTS; i++) {
        if (i >= count)
            break;
        u64 len = vec[i].len < left ? vec[i].len : left;
        p->base[i] = vec[i].base;
        p->len[i] = len;
        left -= len;
    }
}

#if defined(SOCK_LENGTH_TP_BTF) && defined(BTF_FUNC_RDONLY_CAST)
/* bpf_rdonly_cast, a kfunc the verifier replaces with a move: loads from its result are loads from the struct whose
 * BTF id it is given, each guarded by the JIT's exception table. BCC emits no kfunc call, so this calls the helper
 * numbered the kfunc's BTF id, which the loader makes the kfunc's call (tracer/capture/kfuncs.py). */
#define HAS_RDONLY_CAST
static const char *(*rdonly_cast)(u64 address, u32 btf_id) = (void *)BTF_FUNC_RDONLY_CAST;

/* x86_64: struct pt_regs and where cs and ss sit in it; a 64-bit task's selectors (__USER_CS, __USER_DS); the kernel
 * stack's size (THREAD_SIZE), twice that with KASAN, whose top is padded by 16 bytes with FRED. */
#define PT_REGS_SIZE 168
#define PT_REGS_CS 136
#define PT_REGS_SS 160
#define USER_CS 0x33
#define USER_DS 0x2b
#define KERNEL_STACK_SIZE 16384
#define KERNEL_STACK_TOP_PADDING 16

/* The syscall's registers, where the kernel keeps them on entry: at the top of the task's kernel stack
 * (task_pt_regs()), found without bpf_task_pt_regs' call (docs/performance.md, "The syscall's registers without a
 * helper call"). NULL unless they hold a 64-bit task's selectors there, with the top unpadded or padded: a kernel
 * stack of another size, a kernel thread or a 32-bit task. */
static __always_inline const char *syscall_regs_on_stack(const struct task_struct *task)
{
    u64 top = *(const u64 *)((const char *)task + OFF_TASK_STACK) + KERNEL_STACK_SIZE - PT_REGS_SIZE;
#pragma unroll
    for (int padding = 0; padding <= KERNEL_STACK_TOP_PADDING; padding += KERNEL_STACK_TOP_PADDING) {
        const char *regs = rdonly_cast(top - padding, BTF_PT_REGS);
        if (*(const u16 *)(regs + PT_REGS_CS) == USER_CS && *(const u16 *)(regs + PT_REGS_SS) == USER_DS)
            return regs;
    }
    return 0;
}
#endif

/* The current syscall's registers from dx on. The pointer's type is known to the verifier (struct pt_regs, from the
 * kernel's BTF), so a field is one load instruction, guarded by the JIT's exception table, with no helper call
 * (docs/performance.md, "The sock length hooks as BTF-typed raw tracepoints"). */
static __always_inline const struct syscall_regs *syscall_regs(void)
{
    struct task_struct *task = bpf_get_current_task_btf();
#ifdef HAS_RDONLY_CAST
    const char *regs = syscall_regs_on_stack(task);
    if (regs)
        return (const struct syscall_regs *)(regs + PT_REGS_DX);
#endif
    return (const struct syscall_regs *)(bpf_task_pt_regs(task) + PT_REGS_DX);
}

/* Fill p for the current syscall, which moved `total` bytes; p stays empty for syscalls we skip. */
static __always_inline void payload_of_syscall(struct payload *p, u32 total)
{
    const struct syscall_regs *r = syscall_regs();
    u64 si = r->si;
    switch (r->orig_ax) {
    case SYS_READ:
    case SYS_WRITE:
    case SYS_SENDTO:
    case SYS_RECVFROM:
        p->base[0] = si;
        p->len[0] = total;
        return;
    case SYS_READV:
    case SYS_WRITEV:
        payload_from_iovecs(p, si, r->dx, total);
        return;
    case SYS_SENDMSG:
    case SYS_RECVMSG: {
        struct user_msghdr_head msg = {};
        if (bpf_probe_read_user(&msg, sizeof(msg), (void *)si) == 0)
            payload_from_iovecs(p, msg.iov, msg.iovlen, total);
        return;
    }
    }
}

/* Copy up to `size` (<= L7_WINDOW) bytes from offset `off` of the payload; a read stops at the end of
 * the segment that holds off. Returns the bytes copied, 0 when the bytes are not reachable. */
static __always_inline u32 payload_read(struct payload *p, u64 off, u8 *dst, u32 size)
{
#pragma unroll
    for (int i = 0; i < PAYLOAD_SEGMENTS; i++) {
        if (off < p->len[i]) {
            u64 n = p->len[i] - off;
            if (n > size)
                n = size;
            if (n > L7_WINDOW)
                n = L7_WINDOW;
            if (n == 0 || bpf_probe_read_user(dst, n, (void *)(p->base[i] + off)))
                return 0;
            return n;
        }
        off -= p->len[i];
    }
    return 0;
}
