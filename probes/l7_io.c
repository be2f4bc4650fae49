/* Entry of the L7 parsers from the I/O path: finds the socket's L7 state, recognises the protocol from
 * the first request bytes and hands the I/O to its parser. */

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
    } else {
        st->protocol = detect_protocol(s, n);
    }
    if (st->protocol != PROTO_UNKNOWN) {
        st->side[SIDE_REQUEST].synced = 1;
        st->side[SIDE_RESPONSE].synced = 1;
        return 1;
    }
    if (!st->no_inline && !st->pending && redis_is_inline_command(s, n, w->total))
        request_started(st);
    if (++st->attempts >= DETECT_ATTEMPTS)
        st->protocol = PROTO_NONE;
    return 0;
}

/* Called in the tracepoint for every TCP read or write: hands it to its protocol's parser program. */
static __always_inline void l7_on_io(void *ctx, const void *sk, struct sock_info *si, int dir, u32 total)
{
    struct l7_state *st = &si->l7;
    if (st->protocol == PROTO_NONE)
        return;
    int side = (dir == DIR_SEND) == (si->key.role == ROLE_CLIENT) ? SIDE_REQUEST : SIDE_RESPONSE;
    if (st->protocol == PROTO_UNKNOWN && side == SIDE_RESPONSE && !st->pending) {
        int spoke_first = !st->no_inline && !st->attempts;   /* l7_detect looks for a MySQL greeting */
        st->no_inline = 1;   /* the server spoke first, or answered a request that was no inline command */
        if (!spoke_first)
            return;
    }
    struct l7_scratch *work = scratch();
    if (!work)
        return;
    __builtin_memset(&work->payload, 0, sizeof(work->payload));
    payload_of_syscall(&work->payload, total);
    work->sk = (u64)sk;
    work->offset = 0;
    work->total = total;
    work->side = side;
    work->resumed = 0;
    work->passes = 0;
    work->kept_len = 0;
    if (st->protocol == PROTO_UNKNOWN && !l7_detect(st, side, work))
        return;
    /* HTTP's first pass runs here: a tail call costs more than the parse of a typical message */
    if (st->protocol == PROTO_HTTP && !http_on_io(st, si, work))
        return;
    l7_parsers.call(ctx, st->protocol);
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
    io->si = sockets.lookup(&sk);
    if (!io->si)
        return 0;
    io->st = &io->si->l7;
    return 1;
}

/* Tail-call targets, one per protocol; the loader puts them into l7_parsers at their PROTO_* index. A
 * parser that has more of the I/O to parse calls itself again (the kernel allows 33 tail calls). */
int l7_parse_http(void *ctx)
{
    struct l7_io io;
    if (l7_io_of(&io) && http_on_io(io.st, io.si, io.work))
        l7_parsers.call(ctx, PROTO_HTTP);
    return 0;
}

int l7_parse_redis(void *ctx)
{
    struct l7_io io;
    if (l7_io_of(&io) && redis_on_io(io.st, io.si, io.work))
        l7_parsers.call(ctx, PROTO_REDIS);
    return 0;
}

int l7_parse_postgres(void *ctx)
{
    struct l7_io io;
    if (l7_io_of(&io) && pg_on_io(io.st, io.si, io.work))
        l7_parsers.call(ctx, PROTO_POSTGRES);
    return 0;
}

int l7_parse_mysql(void *ctx)
{
    struct l7_io io;
    if (l7_io_of(&io) && mysql_on_io(io.st, io.si, io.work))
        l7_parsers.call(ctx, PROTO_MYSQL);
    return 0;
}

int l7_parse_http2(void *ctx)
{
    struct l7_io io;
    if (l7_io_of(&io) && http2_on_io(io.st, io.si, io.work))
        l7_parsers.call(ctx, PROTO_HTTP2);
    return 0;
}
