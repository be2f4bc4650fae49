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

/* p from the first `count` (at most PAYLOAD_SEGMENTS) of an I/O's iovecs, `total` bytes in all. */
static __always_inline void payload_from_vec(struct payload *p, const struct user_iovec *vec, u64 count, u32 total)
{
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

/* p from `count` iovecs at iov in user memory. */
static __always_inline void payload_from_iovecs(struct payload *p, u64 iov, u64 count, u32 total)
{
    struct user_iovec vec[PAYLOAD_SEGMENTS] = {};
    if (count > PAYLOAD_SEGMENTS)
        count = PAYLOAD_SEGMENTS;
    if (count == 0 || bpf_probe_read_user(vec, count * sizeof(vec[0]), (void *)iov))
        return;
    payload_from_vec(p, vec, count, total);
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
 * helper call"). The hook's context, at `context`, lies on that stack, which the kernel allocates aligned to its
 * size: its address gives the top without asking for the task, another call (docs/performance.md, "The kernel
 * stack's top from the hook's context"). NULL unless they hold a 64-bit task's selectors there, with the top
 * unpadded or padded: a kernel stack of another size, a context on another stack, a kernel thread or a 32-bit
 * task. */
static __always_inline const char *syscall_regs_on_stack(u64 context)
{
    u64 top = (context | (KERNEL_STACK_SIZE - 1)) + 1 - PT_REGS_SIZE;
#pragma unroll
    for (int padding = 0; padding <= KERNEL_STACK_TOP_PADDING; padding += KERNEL_STACK_TOP_PADDING) {
        const char *regs = rdonly_cast(top - padding, BTF_PT_REGS);
        if (*(const u16 *)(regs + PT_REGS_CS) == USER_CS && *(const u16 *)(regs + PT_REGS_SS) == USER_DS)
            return regs;
    }
    return 0;
}
#endif

#if defined(HAS_RDONLY_CAST) && defined(OFF_ITER_IOV)
/* writev's iovecs as the kernel copied them. vfs_writev keeps its copy, and the iov_iter over it, on the task's kernel
 * stack until the send returns (sock_write_iter copies its advanced iterator back after the hook). The registers'
 * place at the stack's top tells nothing of where: each syscall moves the frames below it by a random offset
 * (CONFIG_RANDOMIZE_KSTACK_OFFSET). The hook's context, the tracepoint's arguments on its caller's frame, moves with
 * them: the call chain's frames fix the distance for a kernel. It is learned from a writev whose iovecs were copied
 * from user memory, and every use checks the iterator found there, so that reading a few words of kernel memory
 * spares the parsing end a copy from user memory (docs/performance.md, "writev's iovecs from the kernel's copy"). */
#define WRITEV_FRAME_SCAN 1024                 /* bytes above the context searched for the iterator */
#define WRITEV_FRAME_RESCAN_NS 1000000000ULL   /* a writev the distance fails searches again a second later */

struct writev_frame {
    u64 distance;          /* from the hook's context to vfs_writev's iov_iter; 0 until found */
    u64 next_scan_ns;
};
BPF_ARRAY(writev_frames, struct writev_frame, 1);

/* The iov_iter at `at` if it is a writev's of `count` iovecs that sent `total` bytes: over user iovecs (one iovec
 * makes a user buffer, ITER_UBUF), the source of a write, of `count` segments, with at least `total` bytes; else
 * NULL. The fields are compared with arithmetic and one branch: the distance's search runs this for every word of
 * 1 KiB, and the verifier walks each of its branches in every pass of that loop (docs/performance.md, "The writev
 * search's verification"). count is writev's, at most 1024: the type's product cannot wrap. */
static __always_inline const char *writev_iter(u64 at, u64 count, u32 total)
{
    const char *it = rdonly_cast(at, BTF_IOV_ITER);
    u64 type = *(const u8 *)(it + OFF_ITER_TYPE);
    u64 differs = ((type ^ ITER_IOVEC) * ((type ^ ITER_UBUF) | (count ^ 1))) |
                  (*(const u8 *)(it + OFF_ITER_DATA_SOURCE) ^ 1) | (*(const u64 *)(it + OFF_ITER_NR_SEGS) ^ count) |
                  ((*(const u64 *)(it + OFF_ITER_COUNT) - total) >> 63);
    return differs ? 0 : it;
}

/* The kernel's copy of the iovec `index` of an iterator over user iovecs. */
static __always_inline const struct user_iovec *iter_iovec(const char *it, u32 index)
{
    return (const struct user_iovec *)rdonly_cast(*(const u64 *)(it + OFF_ITER_IOV) +
                                                  index * sizeof(struct user_iovec), BTF_IOVEC);
}

/* The first `count` (at most PAYLOAD_SEGMENTS) iovecs of a writev's iterator into vec. */
static __always_inline void iter_iovecs(const char *it, u64 count, struct user_iovec *vec)
{
    if (*(const u8 *)(it + OFF_ITER_TYPE) == ITER_UBUF) {
        vec[0].base = *(const u64 *)(it + OFF_ITER_UBUF);
        vec[0].len = *(const u64 *)(it + OFF_ITER_COUNT);
        return;
    }
#pragma unroll
    for (int i = 0; i < PAYLOAD_SEGMENTS; i++) {
        if (i >= count)
            break;
        const struct user_iovec *v = iter_iovec(it, i);
        vec[i].base = v->base;
        vec[i].len = v->len;
    }
}

/* The distance from the context at `context` to the iterator of this writev, whose first byte is at `base`; 0 if
 * none lies within WRITEV_FRAME_SCAN bytes. */
static __always_inline u64 writev_frame_distance(u64 context, u64 count, u32 total, u64 base)
{
    for (u32 distance = 8; distance < WRITEV_FRAME_SCAN; distance += 8) {
        const char *it = writev_iter(context + distance, count, total);
        struct user_iovec first[1];
        if (!it)
            continue;
        iter_iovecs(it, 1, first);
        if (first[0].base == base)
            return distance;
    }
    return 0;
}

/* p for a readv or writev of `count` iovecs at iov that moved `total` bytes. A writev's (context: its send hook's
 * context's address) from the kernel's copy where the distance learned finds it, else from user memory, and then
 * the distance is learned (again) if a second has passed since the last search; now: the I/O's time. A readv's
 * (context 0) from user memory. */
static __always_inline void payload_of_vectored_io(struct payload *p, u64 iov, u64 count, u32 total, u64 context,
                                                   u64 now)
{
    if (!context) {
        payload_from_iovecs(p, iov, count, total);
        return;
    }
    u32 zero = 0;
    struct writev_frame *f = writev_frames.lookup(&zero);
    const char *it = f && f->distance ? writev_iter(context + f->distance, count, total) : 0;
    if (it) {
        struct user_iovec vec[PAYLOAD_SEGMENTS] = {};
        iter_iovecs(it, count, vec);
        payload_from_vec(p, vec, count, total);
        return;
    }
    payload_from_iovecs(p, iov, count, total);
    if (f && p->len[0] && now >= f->next_scan_ns) {
        f->next_scan_ns = now + WRITEV_FRAME_RESCAN_NS;
        u64 distance = writev_frame_distance(context, count, total, p->base[0]);
        if (distance)
            f->distance = distance;
    }
}
#else
#define payload_of_vectored_io(p, iov, count, total, context, now) payload_from_iovecs(p, iov, count, total)
#endif

/* The current syscall's registers from dx on; context: the address of the running hook's context, 0 if unknown
 * (then found through the task, with two helper calls). The pointer's type is known to the verifier (struct
 * pt_regs, from the kernel's BTF), so a field is one load instruction, guarded by the JIT's exception table, with no
 * helper call (docs/performance.md, "The sock length hooks as BTF-typed raw tracepoints"). */
static __always_inline const struct syscall_regs *syscall_regs(u64 context)
{
#ifdef HAS_RDONLY_CAST
    const char *regs = context ? syscall_regs_on_stack(context) : 0;
    if (regs)
        return (const struct syscall_regs *)(regs + PT_REGS_DX);
#endif
    return (const struct syscall_regs *)(bpf_task_pt_regs(bpf_get_current_task_btf()) + PT_REGS_DX);
}

/* Fill p for the current syscall, which moved `total` bytes in direction dir; p stays empty for syscalls we skip.
 * ctx: the hook's context (NULL if none), where the registers are found from, and a send's writev iovecs
 * (payload_of_vectored_io); now: the I/O's time. */
static __always_inline void payload_of_syscall(struct payload *p, u32 total, const void *ctx, int dir, u64 now)
{
#ifdef HAS_RDONLY_CAST
    u64 context = pointer_number(ctx);
#else
    u64 context = 0;
#endif
    const struct syscall_regs *r = syscall_regs(context);
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
        payload_of_vectored_io(p, si, r->dx, total, dir == DIR_SEND ? context : 0, now);
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
