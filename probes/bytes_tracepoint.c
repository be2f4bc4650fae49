/* Bytes from sock:sock_send_length / sock:sock_recv_length (Linux 6.3+). They fire inside
 * sock_sendmsg/sock_recvmsg in the calling task, for every socket syscall and for io_uring. UDP reads matter
 * only for DNS answers (probes/dns.c).
 *
 * Attached as raw tracepoints (BTF-typed where the kernel takes them): the kernel runs the program on the
 * tracepoint's arguments (sk, ret, flags), where a classic tracepoint first fills an event record (five
 * fields) on every socket call of the host (docs/performance.md, "The sock length hooks as raw tracepoints"). The socket's family and protocol, which
 * that record carried, are read from the socket only when it has no entry: an entry is a TCP socket the
 * probes track, the common case. Without BTF, sk_protocol's offset is unknown (tracer/capture/offsets.py):
 * classic tracepoints then, whose record holds it; the L7 parsers need BTF and so are never tail-called
 * from those. */

static __always_inline int counted_io(int ret, int flags, int dir)
{
    return ret > 0 && !(dir == DIR_RECV && (flags & MSG_PEEK));
}

/* The I/O of a TCP socket the probes track; hook_sk is sk as the hook got it. */
static __always_inline int on_tcp_io(void *ctx, const void *hook_sk, const void *sk, struct sock_info *si, int ret,
                                     int dir)
{
    count_bytes(si, dir, ret);
#ifdef DNS_ANSWERS
    if (si->key.server_port == DNS_PORT && dir == DIR_RECV && si->key.role == ROLE_CLIENT)
        dns_answer_read(sk, ret, IPPROTO_TCP);
#endif
#ifdef L7_PARSERS
    if (si->server_parses)
        return 0;
    if (si->l7.tls)
        tls_ciphertext_io(sk);   /* its plaintext is parsed at the OpenSSL call's return (l7_tls.c) */
    else
        l7_on_io(ctx, hook_sk, sk, si, dir, ret);
#endif
    return 0;
}

/* A socket without an entry: a TCP socket that predates the agent is adopted (its entry returned), a UDP read
 * may be a DNS answer, anything else is not ours (NULL). */
static __always_inline struct sock_info *untracked_socket(const void *sk, u16 family, u16 protocol, int ret, int dir)
{
    if (family != AF_INET && family != AF_INET6)
        return 0;
#ifdef DNS_ANSWERS
    if (protocol == IPPROTO_UDP) {
        if (dir == DIR_RECV)
            dns_on_udp_read(sk, ret);
        return 0;
    }
#endif
    if (protocol != IPPROTO_TCP)
        return 0;
    return adopt_socket(sk, (u64)sk);
}

#ifdef OFF_SOCK_PROTOCOL
/* The hook's context and how it reads the socket's family and protocol. A BTF-typed raw tracepoint (tp_btf,
 * SOCK_LENGTH_TP_BTF: the loader's choice, tracer/capture/btf_tracepoints.py) gets sk as a typed kernel pointer,
 * which the verifier lets it load from directly; a raw tracepoint gets it as a number, read through a helper. */
#ifdef SOCK_LENGTH_TP_BTF
#define SOCK_LENGTH_HOOK(event) PROGRAM int tp_btf__##event(u64 *ctx)
#define HOOK_ARG(ctx, i) ((ctx)[i])
#define SOCK_U16(sk, off) (*(const u16 *)((const char *)(sk) + (off)))

/* The typed pointer as a number, for all but those loads: a socket's state is found by a hash of its pointer
 * (probes/common.h, direct_slot). */
#define socket_number(sk) ((const void *)pointer_number(sk))
#else
#define SOCK_LENGTH_HOOK(event) RAW_TRACEPOINT_PROBE(event)
#define HOOK_ARG(ctx, i) ((ctx)->args[i])
static __always_inline u16 sock_u16(const void *sk, int off)
{
    u16 value = 0;
    bpf_probe_read_kernel(&value, sizeof(value), (const char *)sk + off);
    return value;
}
#define SOCK_U16(sk, off) sock_u16(sk, off)
#define socket_number(sk) (sk)
#endif

static __always_inline int on_socket_io(void *ctx, const void *hook_sk, int ret, int flags, int dir)
{
    if (!counted_io(ret, flags, dir))
        return 0;
    const void *sk = socket_number(hook_sk);
    if (!sk)
        return 0;
    struct sock_info *si = tracked_socket(sk);
    if (!si)
        si = untracked_socket(sk, SOCK_U16(hook_sk, OFF_SKC_FAMILY), SOCK_U16(hook_sk, OFF_SOCK_PROTOCOL), ret, dir);
    return si ? on_tcp_io(ctx, hook_sk, sk, si, ret, dir) : 0;
}

/* TP_PROTO(struct sock *sk, int ret, int flags) */
SOCK_LENGTH_HOOK(sock_send_length)
{
    return on_socket_io(ctx, (const void *)HOOK_ARG(ctx, 0), (int)HOOK_ARG(ctx, 1), (int)HOOK_ARG(ctx, 2), DIR_SEND);
}

SOCK_LENGTH_HOOK(sock_recv_length)
{
    return on_socket_io(ctx, (const void *)HOOK_ARG(ctx, 0), (int)HOOK_ARG(ctx, 1), (int)HOOK_ARG(ctx, 2), DIR_RECV);
}
#else
static __always_inline int on_socket_io(void *ctx, const void *sk, u16 family, u16 protocol, int ret, int flags, int dir)
{
    if (!counted_io(ret, flags, dir))
        return 0;
    struct sock_info *si = tracked_socket(sk);
    if (!si)
        si = untracked_socket(sk, family, protocol, ret, dir);
    return si ? on_tcp_io(ctx, sk, sk, si, ret, dir) : 0;
}

TRACEPOINT_PROBE(sock, sock_send_length)
{
    return on_socket_io(args, args->sk, args->family, args->protocol, args->ret, args->flags, DIR_SEND);
}

TRACEPOINT_PROBE(sock, sock_recv_length)
{
    return on_socket_io(args, args->sk, args->family, args->protocol, args->ret, args->flags, DIR_RECV);
}
#endif
