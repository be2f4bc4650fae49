/* Bytes from tracepoints sock:sock_send_length / sock:sock_recv_length (Linux 6.3+). They fire inside
 * sock_sendmsg/sock_recvmsg in the calling task, for every socket syscall and for io_uring. UDP reads matter
 * only for DNS answers (probes/dns.c). */

static __always_inline int on_socket_io(void *ctx, const void *sk, u16 family, u16 protocol, int ret, int flags, int dir)
{
    if ((family != AF_INET && family != AF_INET6) || ret <= 0)
        return 0;
    if (dir == DIR_RECV && (flags & MSG_PEEK))
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
    struct sock_info *si = socket_for_io(sk);
    if (!si)
        return 0;
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

TRACEPOINT_PROBE(sock, sock_send_length)
{
    return on_socket_io(args, args->sk, args->family, args->protocol, args->ret, args->flags, DIR_SEND);
}

TRACEPOINT_PROBE(sock, sock_recv_length)
{
    return on_socket_io(args, args->sk, args->family, args->protocol, args->ret, args->flags, DIR_RECV);
}
