/* Bytes from sock:sock_send_length / sock:sock_recv_length (Linux 6.3+). They fire inside
 * sock_sendmsg/sock_recvmsg in the calling task, for every socket syscall and for io_uring. UDP reads matter
 * only for DNS answers (probes/dns.c).
 *
 * Attached as raw tracepoints: the kernel runs the program on the tracepoint's arguments (sk, ret, flags),
 * where a classic tracepoint first fills an event record (five fields) on every socket call of the host
 * (docs/performance.md, "The sock length hooks as raw tracepoints"). The socket's family and protocol, which
 * that record carried, are read from the socket only when it has no entry: an entry is a TCP socket the
 * probes track, the common case. Without BTF, sk_protocol's offset is unknown (tracer/capture/offsets.py):
 * classic tracepoints then, whose record holds it; the L7 parsers need BTF and so are never tail-called
 * from those. */

static __always_inline int counted_io(int ret, int flags, int dir)
{
    return ret > 0 && !(dir == DIR_RECV && (flags & MSG_PEEK));
}

/* The I/O of a TCP socket the probes track. */
static __always_inline int on_tcp_io(void *ctx, const void *sk, struct sock_info *si, int ret, int dir)
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
        l7_on_io(ctx, sk, si, dir, ret);
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
/* TP_PROTO(struct sock *sk, int ret, int flags) */
static __always_inline int on_socket_io(struct bpf_raw_tracepoint_args *ctx, int dir)
{
    const void *sk = (const void *)ctx->args[0];
    int ret = (int)ctx->args[1];
    if (!counted_io(ret, (int)ctx->args[2], dir))
        return 0;
    struct sock_info *si = tracked_socket(sk);
    if (!si) {
        u16 family = 0, protocol = 0;
        bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_SKC_FAMILY);
        bpf_probe_read_kernel(&protocol, sizeof(protocol), (const char *)sk + OFF_SOCK_PROTOCOL);
        si = untracked_socket(sk, family, protocol, ret, dir);
    }
    return si ? on_tcp_io(ctx, sk, si, ret, dir) : 0;
}

RAW_TRACEPOINT_PROBE(sock_send_length)
{
    return on_socket_io(ctx, DIR_SEND);
}

RAW_TRACEPOINT_PROBE(sock_recv_length)
{
    return on_socket_io(ctx, DIR_RECV);
}
#else
static __always_inline int on_socket_io(void *ctx, const void *sk, u16 family, u16 protocol, int ret, int flags, int dir)
{
    if (!counted_io(ret, flags, dir))
        return 0;
    struct sock_info *si = tracked_socket(sk);
    if (!si)
        si = untracked_socket(sk, family, protocol, ret, dir);
    return si ? on_tcp_io(ctx, sk, si, ret, dir) : 0;
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
