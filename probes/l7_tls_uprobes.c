/* The uprobe programs on OpenSSL's calls (l7_tls.c says how TLS plaintext is followed) and their copy of the
 * parsers: a tail call stays within its program type. A BPF module of their own, compiled and verified in a
 * child process after the start, on the start's maps (tracer/capture/tls_process.py). */
#include <uapi/linux/ptrace.h>   /* struct pt_regs: the user ABI layout, the same on every kernel */

L7_PARSER(l7_tls_parse_http, PROTO_HTTP, http_on_io, 1)
L7_PARSER(l7_tls_parse_redis, PROTO_REDIS, redis_on_io, 1)
L7_PARSER(l7_tls_parse_postgres, PROTO_POSTGRES, pg_on_io, 1)
L7_PARSER(l7_tls_parse_mysql, PROTO_MYSQL, mysql_on_io, 1)
L7_PARSER(l7_tls_parse_http2, PROTO_HTTP2, http2_on_io, 1)

static __always_inline int tls_call_entry(struct pt_regs *ctx, u32 dir, int ex)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct tls_call call = {};
    call.ssl = PT_REGS_PARM1(ctx);
    call.buf = PT_REGS_PARM2(ctx);
    call.moved_at = ex ? PT_REGS_PARM4(ctx) : 0;
    call.dir = dir;
    tls_calls.update(&tid, &call);   /* a call nested in another (one API over the other) replaces it */
    return 0;
}

PROGRAM int tls_write_entry(struct pt_regs *ctx) { return tls_call_entry(ctx, DIR_SEND, 0); }
PROGRAM int tls_write_ex_entry(struct pt_regs *ctx) { return tls_call_entry(ctx, DIR_SEND, 1); }
PROGRAM int tls_read_entry(struct pt_regs *ctx) { return tls_call_entry(ctx, DIR_RECV, 0); }
PROGRAM int tls_read_ex_entry(struct pt_regs *ctx) { return tls_call_entry(ctx, DIR_RECV, 1); }

/* The bytes a finished call moved: SSL_read/SSL_write return them, the _ex calls return 1 and store them. */
static __always_inline u64 tls_moved(struct pt_regs *ctx, struct tls_call *call)
{
    long ret = PT_REGS_RC(ctx);
    u64 moved = 0;
    if (!call->moved_at)
        return (int)ret > 0 ? (int)ret : 0;
    if ((int)ret != 1 || bpf_probe_read_user(&moved, sizeof(moved), (void *)call->moved_at))
        return 0;
    return moved;
}

/* The return of all four calls: parses the plaintext as the I/O of the call's socket. */
PROGRAM int tls_call_return(struct pt_regs *ctx)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct tls_call *found = tls_calls.lookup(&tid);
    if (!found)
        return 0;
    struct tls_call call = *found;
    tls_calls.delete(&tid);
    u64 moved = tls_moved(ctx, &call);
    if (!moved)
        return 0;
    struct tls_session session = {.ssl = call.ssl, .tgid = tid >> 32};
    if (call.sk) {
        tls_sockets.update(&session, &call.sk);
    } else {
        u64 *sk = tls_sockets.lookup(&session);
        if (!sk)
            return 0;
        call.sk = *sk;
    }
    struct sock_info *si = socket_state(call.sk);
    if (!si || si->server_parses || !si->l7.tls)
        return 0;
    struct l7_scratch *work = l7_begin((const void *)call.sk, si, call.dir, moved > 0xffffffff ? 0xffffffff : moved);
    if (!work)
        return 0;
    work->now = bpf_ktime_get_ns();
    work->payload.base[0] = call.buf;
    work->payload.len[0] = work->total;
    u32 protocol = l7_parse(si, work);
    if (protocol)
        l7_continue(ctx, protocol, 1);
    return 0;
}
