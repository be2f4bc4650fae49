/* Entry of the L7 parsers from the I/O path: finds the socket's L7 state, recognises the protocol from
 * the first request bytes and hands the I/O to its parser. The I/O is a socket call's (l7_on_io) or the
 * plaintext of an OpenSSL call on a TLS socket (probes/l7_tls_uprobes.c). It declares no program: the start's
 * module and the TLS uprobes' both compile it (tracer/capture/tls_process.py). */

#define L7_PARSERS   /* bytes_tracepoint.c calls l7_on_io */

static __always_inline u8 detect_protocol(const u8 *s, u32 n)
{
    if (http_is_request_line(s, n))
        return PROTO_HTTP;
    if (n >= 4 && s[0] == '*' && is_digit(s[1]))
        return PROTO_REDIS;
    if (pg_is_startup(s, n))
        return PROTO_POSTGRES;
    if (http2_is_preface(s, n))
        return PROTO_HTTP2;
    return PROTO_UNKNOWN;
}

/* A TLS handshake record holding a ClientHello: a TLS connection's first bytes, which the client sends. A
 * server's OpenSSL may read the 5-byte record header alone. */
static __always_inline int tls_is_client_hello(const u8 *s, u32 n)
{
    return n >= 5 && s[0] == 0x16 && s[1] == 3 && s[2] <= 4 && (n == 5 || s[5] == 1);
}

/* Recognises the protocol of a socket from its first requests; 1 once it is known. A Redis inline command
 * is a candidate only: its request starts, and the server's answer (this function's response side) decides.
 * A server that speaks first (SMTP, POP3, ...) or answers otherwise rules inline Redis out; if its first
 * words are a MySQL greeting, the socket is MySQL. */
static __always_inline int l7_detect(struct l7_state *st, int side, struct l7_scratch *w)
{
    u8 *s = w->data;
    u32 n = payload_read(&w->payload, 0, s, L7_WINDOW);
    if (side == SIDE_RESPONSE && !st->pending) {
        if (!mysql_is_greeting(s, n, w->total))
            return 0;
        st->protocol = PROTO_MYSQL;
    } else if (side == SIDE_RESPONSE) {
        if (!redis_is_reply(s, n)) {
            st->pending = 0;
            st->no_inline = 1;
            return 0;
        }
        st->protocol = PROTO_REDIS;
    } else if (tls_is_client_hello(s, n)) {
        st->tls = 1;   /* its ciphertext is never parsed; OpenSSL's calls hand over the plaintext */
        return 0;
    } else {
        st->protocol = detect_protocol(s, n);
    }
    if (st->protocol != PROTO_UNKNOWN) {
        st->side[SIDE_REQUEST].synced = 1;
        st->side[SIDE_RESPONSE].synced = 1;
        return 1;
    }
    if (!st->no_inline && !st->pending && redis_is_inline_command(s, n, w->total))
        request_started(st, n);
    if (++st->attempts >= DETECT_ATTEMPTS)
        st->protocol = PROTO_NONE;
    return 0;
}

/* The scratch that carries one I/O of the socket to its parser, its payload and time still to be filled; NULL
 * when the I/O is not to be parsed. */
static __always_inline struct l7_scratch *l7_begin(const void *sk, struct sock_info *si, int dir, u32 total)
{
    struct l7_state *st = &si->l7;
    if (st->protocol == PROTO_NONE)
        return 0;
    int side = (dir == DIR_SEND) == (si->key.role == ROLE_CLIENT) ? SIDE_REQUEST : SIDE_RESPONSE;
    if (st->protocol == PROTO_UNKNOWN && side == SIDE_RESPONSE && !st->pending) {
        int spoke_first = !st->no_inline && !st->attempts;   /* l7_detect looks for a MySQL greeting */
        st->no_inline = 1;   /* the server spoke first, or answered a request that was no inline command */
        if (!spoke_first)
            return 0;
    }
    struct l7_scratch *work = scratch();
    if (!work)
        return 0;
    __builtin_memset(&work->payload, 0, sizeof(work->payload));
    work->sk = (u64)sk;
    work->offset = 0;
    work->total = total;
    work->side = side;
    work->resumed = 0;
    work->passes = 0;
    work->kept_len = 0;
    return work;
}

#ifdef SOCK_LENGTH_TP_BTF
/* The time of a socket call's I/O from the TCP socket's own clock (tcp_clock_cache: the clock bpf_ktime_get_ns reads),
 * which the kernel's TCP code reads as it takes in a segment, as a read adjusts the receive buffer and as it sends:
 * a receive's bytes had arrived by then; a send's bytes had left if none is left unsent. Three loads, after a cast
 * that is a move (or, on a kernel without bpf_rdonly_cast, a helper call of a few ns), where reading the clock is a
 * call of about 40 (docs/performance.md, "The I/O's time from the TCP socket's clock"). Only the BTF-typed hook's sk
 * may be loaded from; otherwise, and for a send not sent whole (held by Nagle or autocorking), the clock is read. */
static __always_inline u64 io_time(const void *hook_sk, int dir)
{
#ifdef HAS_RDONLY_CAST
    const char *tp = rdonly_cast((u64)hook_sk, BTF_TCP_SOCK);   /* a tracked socket is a TCP socket */
#else
    const char *tp = (const char *)bpf_skc_to_tcp_sock((void *)hook_sk);
#endif
    if (tp && (dir == DIR_RECV || *(const u32 *)(tp + OFF_TCP_SND_NXT) == *(const u32 *)(tp + OFF_TCP_WRITE_SEQ)))
        return *(const u64 *)(tp + OFF_TCP_CLOCK_CACHE);
    return bpf_ktime_get_ns();
}
#else
#define io_time(hook_sk, dir) bpf_ktime_get_ns()
#endif

/* Detection and HTTP's first pass over the I/O in work. Returns the protocol whose parser program goes on
 * with it (the caller's tail call), 0 when it is done. */
static __always_inline u32 l7_parse(struct sock_info *si, struct l7_scratch *work)
{
    struct l7_state *st = &si->l7;
    if (st->protocol == PROTO_UNKNOWN && !l7_detect(st, work->side, work))
        return 0;
    /* HTTP's first pass runs here: a tail call costs more than the parse of a typical message */
    if (st->protocol == PROTO_HTTP && !http_on_io(st, si, work))
        return 0;
    return st->protocol;
}

/* Called in the tracepoint for every TCP read or write (hook_sk: sk as the hook got it): hands it to its protocol's
 * parser program. */
static __always_inline void l7_on_io(void *ctx, const void *hook_sk, const void *sk, struct sock_info *si, int dir,
                                     u32 total)
{
    struct l7_scratch *work = l7_begin(sk, si, dir, total);
    if (!work)
        return;
    work->now = io_time(hook_sk, dir);
    const void *sent_sk = dir == DIR_SEND && si->l7.protocol != PROTO_UNKNOWN ? hook_sk : 0;
    payload_of_syscall(&work->payload, total, ctx, dir, work->now, sent_sk);
    u32 protocol = l7_parse(si, work);
    if (protocol)
        l7_continue(ctx, protocol, 0);
}

/* The I/O a parser program works on, as l7_on_io left it. */
struct l7_io {
    struct l7_state *st;
    struct sock_info *si;
    struct l7_scratch *work;
};

static __always_inline int l7_io_of(struct l7_io *io)
{
    io->work = scratch();
    if (!io->work)
        return 0;
    u64 sk = io->work->sk;
    io->si = socket_state(sk);
    if (!io->si)
        return 0;
    io->st = &io->si->l7;
    return 1;
}

/* Tail-call targets, one per protocol, as the sock length hooks' programs (tls 0, l7_tracepoint.c) and as uprobe programs
 * (tls 1, l7_tls_uprobes.c); the loader puts each into its table at its PROTO_* index. A parser that has more of
 * the I/O to parse calls itself again (the kernel allows 33 tail calls). */
#define L7_PARSER(program, protocol, on_io, tls)                    \
    PROGRAM int program(void *ctx)                                  \
    {                                                               \
        struct l7_io io;                                            \
        if (l7_io_of(&io) && on_io(io.st, io.si, io.work))          \
            l7_continue(ctx, protocol, tls);                        \
        return 0;                                                   \
    }
