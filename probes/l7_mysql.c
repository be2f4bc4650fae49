/* MySQL classic protocol: a request per COM_QUERY, COM_STMT_PREPARE or COM_STMT_EXECUTE, judged by the first
 * packet of its reply: "ok", or an ERR packet's error code ("1064"; its SQLSTATE is in the request's
 * sample, tracer/protocols/mysql.py). Packets are a 3-byte
 * little-endian length and a sequence number; a command is the first byte of a packet numbered 0, and its
 * reply is numbered 1. The server speaks first (its greeting, l7_detect).
 *
 * Requests are walked packet by packet. Replies are not: a client sends its next command only once it has
 * read the whole reply to the last one, so the first response I/O after a request starts with that reply,
 * and the rest of a result set (however the server's writes cut it) arrives while no request waits.
 * Clients that pipeline commands (rare with this protocol) are not followed: each response I/O completes
 * one request. A connection whose client asks for compressed packets counts bytes only; one that asks for TLS
 * is marked TLS, and its plaintext comes through the OpenSSL uprobes (l7_tls.c). */

#define MYSQL_STEPS 8                 /* request packets parsed in one write or read */
#define MYSQL_HEADER 4
#define MYSQL_REPLY_HEAD 7            /* header, 0xFF, 2-byte code */
#define MYSQL_PROTOCOL_10 10
#define MYSQL_GREETING_MAX 1024
#define MYSQL_CAPABILITIES 4          /* the client's capability flags open its handshake response */
#define MYSQL_CLIENT_COMPRESS 0x20
#define MYSQL_CLIENT_SSL 0x800
#define MYSQL_COM_QUERY 0x03
#define MYSQL_COM_STMT_PREPARE 0x16
#define MYSQL_COM_STMT_EXECUTE 0x17
#define MYSQL_ERR 0xff

/* Is this I/O the server's greeting, whole: packet 0, protocol version 10, a version string of digits? */
static __always_inline int mysql_is_greeting(const u8 *s, u32 n, u32 total)
{
    if (n < MYSQL_HEADER + 2)
        return 0;
    u32 length = load_u32(s, 0) & 0xffffff;
    return s[3] == 0 && s[4] == MYSQL_PROTOCOL_10 && is_digit(s[5]) && length + MYSQL_HEADER == total &&
           length < MYSQL_GREETING_MAX;
}

static __always_inline int mysql_is_request(u8 command)
{
    return command == MYSQL_COM_QUERY || command == MYSQL_COM_STMT_PREPARE || command == MYSQL_COM_STMT_EXECUTE;
}

/* One request packet at w->offset; a header that ends the I/O waits in d for its payload. Returns 0 when the
 * framing is lost. */
static __always_inline int mysql_request_step(struct l7_state *st, struct l7_direction *d, struct l7_scratch *w)
{
    u8 *s = w->data;
    u32 n = payload_read(&w->payload, w->offset, s, MYSQL_HEADER + MYSQL_CAPABILITIES);
    u32 header, at = MYSQL_HEADER;   /* where the payload starts in s */
    if (d->header_only) {   /* the previous I/O was this packet's header alone: its payload starts here */
        header = d->elems;
        d->header_only = 0;
        at = 0;
    } else {
        if (n < MYSQL_HEADER)
            return 0;
        header = load_u32(s, 0);
        if (w->offset + MYSQL_HEADER == w->total) {
            d->elems = header;
            d->header_only = 1;
            w->offset += MYSQL_HEADER;
            return 1;
        }
        if (n == MYSQL_HEADER)   /* header and payload in separate buffers of one writev */
            n += payload_read(&w->payload, w->offset + MYSQL_HEADER, s + MYSQL_HEADER, MYSQL_CAPABILITIES);
    }
    if (n < at + 1)
        return 0;
    u32 length = header & 0xffffff, seq = header >> 24;
    if (seq == 0) {
        if (length == 0)
            return 0;
        if (mysql_is_request(s[WIN(at)]))
            request_started(st, 0);   /* its sample's bytes start at the header, or here after a lone header */
    } else if (seq == 1 && n >= at + MYSQL_CAPABILITIES) {   /* the handshake response */
        u32 capabilities = load_u32(s, at);
        if (capabilities & MYSQL_CLIENT_COMPRESS) {
            st->protocol = PROTO_NONE;   /* compressed packets */
        } else if (capabilities & MYSQL_CLIENT_SSL) {
            /* the client's SSL request: TLS follows, whose plaintext OpenSSL's calls hand over (l7_tls.c) */
            st->tls = 1;
            w->offset = w->total;   /* what follows in this I/O is the TLS handshake */
            return 1;
        }
    }
    w->offset += at + length;
    return 1;
}

/* An ERR packet's status from its payload at s[at]: the code in decimal. */
static __always_inline void mysql_error_status(const u8 *s, u32 at, char *status)
{
    u32 code = s[WIN(at + 1)] | (s[WIN(at + 2)] << 8);
    u32 digits = code >= 10000 ? 5 : code >= 1000 ? 4 : code >= 100 ? 3 : code >= 10 ? 2 : 1;
#pragma unroll
    for (int k = 4; k >= 0; k--) {
        if (k < digits) {
            status[k] = '0' + code % 10;
            code /= 10;
        }
    }
}

/* The first response I/O after a request: its first packet judges the oldest pending request. A header
 * read alone waits in d for the payload's first bytes in the next I/O. Returns 0 when it is no reply. */
static __always_inline int mysql_reply(struct l7_state *st, struct sock_info *si, struct l7_direction *d,
                                       struct l7_scratch *w)
{
    u8 *s = w->data;
    u32 n = payload_read(&w->payload, 0, s, MYSQL_REPLY_HEAD);
    u32 at = MYSQL_HEADER;   /* where the payload starts in s */
    if (d->header_only) {
        d->header_only = 0;
        at = 0;
    } else {
        if (n < MYSQL_HEADER || s[3] != 1 || (load_u32(s, 0) & 0xffffff) == 0)
            return 0;
        if (w->total == MYSQL_HEADER) {
            d->header_only = 1;
            return 1;
        }
        if (n == MYSQL_HEADER)   /* header and payload in separate buffers of one writev */
            n += payload_read(&w->payload, MYSQL_HEADER, s + MYSQL_HEADER, MYSQL_REPLY_HEAD - MYSQL_HEADER);
    }
    if (at + 1 > n)
        return 0;
    char *status = status_buffer();
    if (!status)
        return 1;
    if (s[WIN(at)] == MYSQL_ERR) {
        if (at + 3 > n)
            return 0;
        mysql_error_status(s, at, status);
    } else {
        __builtin_memcpy(status, "ok", 3);
    }
    record_request(st, si, PROTO_MYSQL, request_completed(st));
    return 1;
}

/* Returns 1 to be run again from where this pass stopped. */
static __always_inline int mysql_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct l7_direction *d = &st->side[side];
    if (side == SIDE_RESPONSE) {
        if (st->pending && !mysql_reply(st, si, d, w)) {
            count_parse_error(PROTO_MYSQL);
            d->header_only = 0;
            st->pending = 0;   /* the replies owed are no longer where they were expected */
        }
        return 0;
    }
    if (!walk_begin(d, w))
        return 0;
    for (int step = 0; step < MYSQL_STEPS; step++) {
        RELOAD();
        if (w->offset >= w->total)
            break;
        if (!mysql_request_step(st, d, w)) {
            count_parse_error(PROTO_MYSQL);
            walk_lost(d);
            return 0;
        }
    }
    return walk_again(d, w);
}
