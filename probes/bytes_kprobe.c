/* Bytes from kprobes on tcp_sendmsg / tcp_recvmsg, for kernels without the sock length tracepoints.
 * The socket is stashed per thread at entry and counted with the return value. Attached explicitly by
 * the loader (no kprobe__ prefix), so that on a kernel without kprobes the program still compiles and
 * is verified. */
#include <uapi/linux/ptrace.h>   /* struct pt_regs: the user ABI layout, the same on every kernel */

BPF_TABLE("lru_hash", u64, u64, io_socket, MAX_SOCKETS);

/* tcp_recvmsg's flags, at the argument the loader found in BTF (5.19 removed one before it). Without BTF
 * the position is unknown and peeks count too. */
#if TCP_RECVMSG_FLAGS_ARG == 3
#define RECVMSG_FLAGS(ctx) PT_REGS_PARM4(ctx)
#elif TCP_RECVMSG_FLAGS_ARG == 4
#define RECVMSG_FLAGS(ctx) PT_REGS_PARM5(ctx)
#else
#define RECVMSG_FLAGS(ctx) 0
#endif

static __always_inline int stash_socket(struct pt_regs *ctx)
{
    u64 tid = bpf_get_current_pid_tgid();
    u64 sk = PT_REGS_PARM1(ctx);
    io_socket.update(&tid, &sk);
    return 0;
}

static __always_inline int count_returned(struct pt_regs *ctx, int dir)
{
    u64 tid = bpf_get_current_pid_tgid();
    u64 *sk = io_socket.lookup(&tid);
    if (!sk)
        return 0;
    const void *sock = (const void *)*sk;
    io_socket.delete(&tid);
    int ret = PT_REGS_RC(ctx);
    if (ret <= 0)
        return 0;
    struct sock_info *si = socket_for_io(sock);
    if (si)
        count_bytes(si, dir, ret);
    return 0;
}

PROGRAM int on_tcp_sendmsg(struct pt_regs *ctx) { return stash_socket(ctx); }
PROGRAM int on_tcp_sendmsg_return(struct pt_regs *ctx) { return count_returned(ctx, DIR_SEND); }

/* A peek leaves its bytes to be read again, and they count then, as on the tracepoint path
 * (bytes_tracepoint.c): nothing is stashed, so its return counts nothing. */
PROGRAM int on_tcp_recvmsg(struct pt_regs *ctx)
{
    if (RECVMSG_FLAGS(ctx) & MSG_PEEK) {
        u64 tid = bpf_get_current_pid_tgid();
        io_socket.delete(&tid);
        return 0;
    }
    return stash_socket(ctx);
}

PROGRAM int on_tcp_recvmsg_return(struct pt_regs *ctx) { return count_returned(ctx, DIR_RECV); }
