/* PostgreSQL protocol v3: a request per simple Query ('Q') or per extended-protocol batch ending in Sync,
 * its status the SQLSTATE of the first ErrorResponse or "ok" at ReadyForQuery. The walk follows the
 * framing (type byte, 4-byte big-endian length). Startup, SSL and GSS negotiation are not requests. */

#define PG_STEPS 16                   /* messages parsed in one read or write */
#define PG_SQLSTATE_WITHIN 48         /* field C follows S and V, all short: it starts in these bytes */
#define PG_SSL_REQUEST 80877103
#define PG_GSSENC_REQUEST 80877104
#define PG_PROTOCOL_3 0x30000

static __always_inline u32 load_be32(const u8 *s, u32 i)
{
    return ((u32)s[WIN(i)] << 24) | (s[WIN(i + 1)] << 16) | (s[WIN(i + 2)] << 8) | s[WIN(i + 3)];
}

/* Is this the first message of a client: StartupMessage or an encryption request? */
static __always_inline int pg_is_startup(const u8 *s, u32 n)
{
    if (n < 8)
        return 0;
    u32 length = load_be32(s, 0), code = load_be32(s, 4);
    if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST)
        return length == 8;
    return code == PG_PROTOCOL_3 && length >= 8 && length < 10000;
}

/* The SQLSTATE of an ErrorResponse whose fields start at s[5]: the field 'C' of five characters. */
static __always_inline int pg_sqlstate(const u8 *s, u32 n, char *status)
{
    for (u32 i = 5; i < PG_SQLSTATE_WITHIN; i++) {
        OPAQUE(i);
        if (i + 7 > n)
            return 0;
        if (s[WIN(i)] == 'C' && s[WIN(i - 1)] == 0 && s[WIN(i + 6)] == 0) {
#pragma unroll
            for (int k = 0; k < 5; k++)
                status[k] = s[WIN(i + 1 + k)];
            return 1;
        }
    }
    return 0;
}

static __always_inline void pg_request_message(struct l7_state *st, struct l7_direction *d, u8 type)
{
    if (type == 'Q' || type == 'F') {
        request_started(st, 0);
    } else if (type == 'P' || type == 'B' || type == 'E' || type == 'D' || type == 'C' || type == 'H') {
        if (!d->batch_open)
            request_started(st, 0);
        d->batch_open = 1;
    } else if (type == 'S') {
        if (!d->batch_open)
            request_started(st, 0);   /* a lone Sync is answered with ReadyForQuery too */
        d->batch_open = 0;
    }
}

static __always_inline void pg_response_message(struct l7_state *st, struct sock_info *si, struct l7_direction *d,
                                                const u8 *s, u32 n)
{
    if (st->pending == 0)
        return;   /* startup, authentication, notices: no request waits */
    char *status = status_buffer();
    if (!status)
        return;
    if (s[0] == 'E' && !d->error_seen) {
        if (!pg_sqlstate(s, n, status)) {
            count_parse_error(PROTO_POSTGRES);
            return;
        }
        d->error_seen = 1;
        record_request(st, si, PROTO_POSTGRES, request_latency(st));   /* still waits for its ReadyForQuery */
    } else if (s[0] == 'Z') {
        if (!d->error_seen) {
            __builtin_memcpy(status, "ok", 3);
            record_request(st, si, PROTO_POSTGRES, request_completed(st));
        } else {
            request_completed(st);
        }
        d->error_seen = 0;
    }
}

/* One message at w->offset: its header, and for an ErrorResponse its fields. Returns 0 when the framing
 * is lost. */
static __always_inline int pg_step(struct l7_state *st, struct sock_info *si, struct l7_direction *d,
                                   struct l7_scratch *w, int side)
{
    u8 *s = w->data;
    u32 n = payload_read(&w->payload, w->offset, s, L7_WINDOW);
    if (n < 5)
        return 0;
    n = scan_exit(w, n);   /* the read's exits, one per segment, bound n differently: one unknown value here */
    if (side == SIDE_REQUEST && pg_is_startup(s, n)) {
        u32 code = load_be32(s, 4);
        if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST)
            st->side[SIDE_RESPONSE].skip = 1;   /* the answer is one unframed byte, 'S' or 'N' */
        w->offset += load_be32(s, 0);
        return 1;
    }
    u32 length = load_be32(s, 1);
    if (length < 4)
        return 0;
    if (side == SIDE_REQUEST)
        pg_request_message(st, d, s[0]);
    else
        pg_response_message(st, si, d, s, n);
    w->offset += 1 + (u64)length;
    return 1;
}

/* Returns 1 to be run again from where this pass stopped. */
static __always_inline int pg_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct l7_direction *d = &st->side[side];
    if (!walk_ready(st, side, w) || !walk_begin(d, w))
        return 0;
    for (int step = 0; step < PG_STEPS; step++) {
        RELOAD();
        if (w->offset >= w->total)
            break;
        if (!pg_step(st, si, d, w, side)) {
            count_parse_error(PROTO_POSTGRES);
            walk_lost(d);
            return 0;
        }
    }
    return walk_again(d, w);
}
