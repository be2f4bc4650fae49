/* Bytes from tracepoints sock:sock_send_length / sock:sock_recv_length (Linux 6.3+). They fire inside
 * sock_sendmsg/sock_recvmsg in the calling task, for every socket syscall and for io_uring. */

static __always_inline int on_socket_io(void *ctx, const void *sk, u16 family, u16 protocol, int ret, int flags, int dir)
{
    if (protocol != IPPROTO_TCP || (family != AF_INET && family != AF_INET6) || ret <= 0)
        return 0;
    if (dir == DIR_RECV && (flags & MSG_PEEK))
        return 0;
    struct sock_info *si = socket_for_io(sk);
    if (!si)
        return 0;
    count_bytes(si, dir, ret);
#ifdef L7_PARSERS
    if (!si->server_parses)
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
