/* The user buffer of the socket syscall in progress, for the L7 parsers. The sock length tracepoints fire
 * in the calling task after the data was copied, so its syscall registers still point at the bytes; a send's are
 * read from the kernel's own copy of them where it has one (payload_of_syscall).
 * Only plain read/write-style syscalls are understood; io_uring, sendfile and splice give no payload. */

/* The helper bpf_probe_read_user under a name of our own, for every user read of every module (this file comes first
 * of the shared sources, tracer/capture/loader.py). BCC's rewriter checks each call it sees to a function of that
 * name against the kernel's symbols (for kernels before 5.5, which lack the helper) and builds a table of all
 * 120,000 of them anew for each call: a third of a second of each module's compile (docs/performance.md, "The
 * start's compile, part by part"). These sources need 6.3 (the sock length tracepoints). Declared as BCC declares
 * it, so that the programs are the same, instruction for instruction. */
static int (*read_user_memory)(void *dst, u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read_user;
#define bpf_probe_read_user read_user_memory
/* bpf_probe_read_kernel under a name of its own too; and bpf_probe_read, which reads user memory below the user
 * address space's end and kernel memory above it (x86_64's spaces do not overlap), for a payload of either: a
 * send's bytes may be the kernel's copy (payload_of_syscall), and one helper call keeps the verifier's paths as they
 * are. */
static int (*read_kernel_memory)(void *dst, u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read_kernel;
static int (*read_memory)(void *dst, u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read;

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
#define PT_REGS_R10 56       /* x86_64 struct pt_regs: r10, r9, r8, ax, cx, dx, si, di, orig_ax follow each other from here */

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
    u64 r10, r9, r8, ax, cx, dx, si, di, orig_ax;
};

/* Where the bytes of this I/O are: up to PAYLOAD_SEGMENTS user ranges, total bytes in all; or, for a send, the
 * kernel's copy of all of them in the first (payload_of_syscall). */
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

/* The current syscall's registers from r10 on; context: the address of the running hook's context, 0 if unknown
 * (then found through the task, with two helper calls). The pointer's type is known to the verifier (struct
 * pt_regs, from the kernel's BTF), so a field is one load instruction, guarded by the JIT's exception table, with no
 * helper call (docs/performance.md, "The sock length hooks as BTF-typed raw tracepoints"). */
static __always_inline const struct syscall_regs *syscall_regs(u64 context)
{
#ifdef HAS_RDONLY_CAST
    const char *regs = context ? syscall_regs_on_stack(context) : 0;
    if (regs)
        return (const struct syscall_regs *)(regs + PT_REGS_R10);
#endif
    return (const struct syscall_regs *)(bpf_task_pt_regs(bpf_get_current_task_btf()) + PT_REGS_R10);
}

#if defined(HAS_RDONLY_CAST) && defined(OFF_TASK_FRAG)
/* A send's bytes from the kernel's copy of them, which costs loads where a copy from user memory costs a helper call
 * and the kernel's checks of it (docs/performance.md, "A send's bytes from the kernel's copy"). TCP copies what a
 * send writes into the task's page frag (current->task_frag), from its offset on, and moves the offset past it:
 * a send of `total` bytes that stayed within one page of it ends at the offset. A page's address in the kernel's
 * direct map is linear in its struct page's, base + page * PAGE_ADDRESS_STEP, with a base fixed at boot (random with
 * CONFIG_RANDOMIZE_MEMORY) that no helper gives. It is learned from a slab: the struct of a slab's first page holds
 * the address of a free object inside its pages, and the direct map and the page array both start on a 1 GiB
 * boundary. A base is kept once a send's first bytes read through it match their copy in user memory. */
#define SENT_PAGES
#define PAGE_ADDRESS_STEP (4096 / STRUCT_PAGE_SIZE)
#define DIRECT_MAP_ALIGN (1ULL << 30)
#define SENT_PAGES_CACHES 32                  /* slab caches looked at for a partial slab */
#define SENT_PAGES_RELEARN_NS 1000000000ULL   /* a base not found or not confirmed is sought again a second later */
#define MSG_ZEROCOPY 0x4000000

struct sent_pages {
    u64 base;             /* 0 until learned */
    u64 next_learn_ns;
};
BPF_ARRAY(sent_pages, struct sent_pages, 1);

/* The 8 bytes at `address`, which may be anything (a slab read without its lock), through the helper, which checks
 * it; 0 if it is not the kernel's. */
static __always_inline u64 kernel_word(u64 address)
{
    u64 word = 0;
    read_kernel_memory(&word, sizeof(word), (void *)address);
    return word;
}

/* The 8 bytes of the kernel's memory at `address`, with a load, as a number: the length of an iovec cast to end
 * there (the verifier types its base, a pointer, as memory). */
static __always_inline u64 word_at(u64 address)
{
    return ((const struct user_iovec *)rdonly_cast(address - sizeof(u64), BTF_IOVEC))->len;
}

/* A candidate base from the first partial slab, on the first memory node, of the socket's slab cache or of the caches
 * after it; 0 if none was found. Read without the slab's lock: a slab that changed gives a base that fails the check. */
static __always_inline u64 direct_map_base(u64 sk)
{
    u64 cache = kernel_word(kernel_word(sk + OFF_SKC_PROT) + OFF_PROTO_SLAB);
    for (int i = 0; i < SENT_PAGES_CACHES && cache; i++) {
        u64 partial = kernel_word(cache + OFF_KMEM_CACHE_NODE) + OFF_NODE_PARTIAL;
        u64 first = kernel_word(partial);
        if (first && first != partial) {
            u64 slab = first - OFF_SLAB_LIST;
            u64 object = kernel_word(slab + OFF_SLAB_FREELIST);
            if (object)
                return (object - slab * PAGE_ADDRESS_STEP) & ~(DIRECT_MAP_ALIGN - 1);
        }
        cache = kernel_word(cache + OFF_KMEM_CACHE_LIST) - OFF_KMEM_CACHE_LIST;
    }
    return 0;
}

/* The page of the task's page frag if this send's bytes were copied into it, with the frag's offset, where they end,
 * in *end; else 0. They were for a write, a writev, and a sendto or sendmsg without MSG_ZEROCOPY (sendfile and splice
 * hand over pages) on a socket that copies into the task's frag and has no upper layer (kTLS encrypts in place). */
static __always_inline u64 sent_frag_page(const struct syscall_regs *r, const void *hook_sk, u32 *end)
{
    u64 nr = r->orig_ax;
    u64 flags = nr == SYS_SENDTO ? r->r10 : nr == SYS_SENDMSG ? r->dx : 0;
    if ((nr != SYS_WRITE && nr != SYS_WRITEV && nr != SYS_SENDTO && nr != SYS_SENDMSG) || (flags & MSG_ZEROCOPY))
        return 0;
    const char *sk = rdonly_cast((u64)hook_sk, BTF_TCP_SOCK);
    if (!*(const u8 *)(sk + OFF_SOCK_USE_TASK_FRAG) || *(const u64 *)(sk + OFF_ICSK_ULP_OPS))
        return 0;
    u64 frag = bpf_get_current_task() + OFF_TASK_FRAG;
    *end = (u32)word_at(frag + OFF_FRAG_OFFSET);
    return word_at(frag + OFF_FRAG_PAGE);
}

/* Where a send of `total` bytes that ended at `end` in the page frag's `page` begins, through the direct map's base. */
static __always_inline u64 sent_bytes_address(u64 base, u64 page, u32 end, u32 total)
{
    return base + page * PAGE_ADDRESS_STEP + end - total;
}

/* Keep a base that reads this send's first bytes as p, from user memory, has them. */
static __always_inline void sent_pages_learn(struct sent_pages *pages, struct payload *p, u64 sk, u64 page, u32 end,
                                             u32 total, u64 now)
{
    if (now < pages->next_learn_ns || total < 16 || p->len[0] < 16 || end < total)
        return;
    pages->next_learn_ns = now + SENT_PAGES_RELEARN_NS;
    u64 base = direct_map_base(sk);
    u64 user[2] = {}, kernel[2] = {};   /* 16 bytes, compared as same_16_bytes compares */
    if (!base || bpf_probe_read_user(user, sizeof(user), (void *)p->base[0]) ||
        read_kernel_memory(kernel, sizeof(kernel), (void *)sent_bytes_address(base, page, end, total)))
        return;
    if ((user[0] | user[1]) && same_16_bytes(user, kernel))
        pages->base = base;
}
#endif

/* p from the user memory the syscall's registers r point at. */
static __always_inline void payload_of_user_memory(struct payload *p, const struct syscall_regs *r, u32 total,
                                                   int dir, u64 context, u64 now)
{
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

/* Fill p for the current syscall, which moved `total` bytes in direction dir; p stays empty for syscalls we skip.
 * ctx: the hook's context (NULL if none), where the registers are found from, and a send's writev iovecs
 * (payload_of_vectored_io); now: the I/O's time. sent_sk: for a send whose bytes may be read from the kernel's copy,
 * its socket as the hook got it, else NULL: not for a connection's first send, which TCP Fast Open copied into the
 * SYN's own buffer before Linux 6.5. */
static __always_inline void payload_of_syscall(struct payload *p, u32 total, const void *ctx, int dir, u64 now,
                                               const void *sent_sk)
{
#ifdef HAS_RDONLY_CAST
    u64 context = pointer_number(ctx);
#else
    u64 context = 0;
#endif
    const struct syscall_regs *r = syscall_regs(context);
#ifdef SENT_PAGES
    u32 zero = 0, end = 0;
    struct sent_pages *pages = sent_sk ? sent_pages.lookup(&zero) : 0;
    u64 page = pages ? sent_frag_page(r, sent_sk, &end) : 0;
    if (page && pages->base && end >= total) {
        p->base[0] = sent_bytes_address(pages->base, page, end, total);
        p->len[0] = total;
        return;
    }
#endif
    payload_of_user_memory(p, r, total, dir, context, now);
#ifdef SENT_PAGES
    if (page && !pages->base)
        sent_pages_learn(pages, p, (u64)sent_sk, page, end, total, now);
#endif
}

/* The payload's first `count` 8-byte words into dst with loads where it is the kernel's copy of a send (an address in
 * the kernel's half, the top one; payload_of_syscall) of at least that many bytes: their count of bytes, else 0. */
static __always_inline u32 payload_words(struct payload *p, u64 *dst, u32 count)
{
#ifdef SENT_PAGES
    if ((s64)p->base[0] >= 0 || p->len[0] < count * 8)
        return 0;
#pragma unroll
    for (u32 i = 0; i < count; i++)
        dst[i] = word_at(p->base[0] + i * 8);
    return count * 8;
#else
    return 0;
#endif
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
            if (n == 0 || read_memory(dst, n, (void *)(p->base[i] + off)))
                return 0;
            return n;
        }
        off -= p->len[i];
    }
    return 0;
}
