/* Redis RESP2/RESP3: a request per top-level command (array or inline), a status per top-level reply.
 * The walk steps from element header to element header (bulk payloads skipped by length); nested
 * aggregates are flattened into a count of elements still to come. */

#define REDIS_STEPS 16           /* element headers or line pieces parsed per pass */
#define REDIS_HEADER 16          /* bytes read per step: a header line, or a piece of a long line */

/* One pass over a header or line piece, its findings in f: line_end where its '\n' is (n if not within
 * the bytes read), number the digits after the type byte. */
static __always_inline void redis_scan_line(const u8 *s, u32 n, struct l7_found *f)
{
    f->number = 0;
    f->line_end = n;
    f->flag = 1;
    for (u32 k = 1; k < REDIS_HEADER; k++) {
        OPAQUE(k);
        if (k >= n)
            break;
        u8 c = s[WIN(k)];
        if (c == '\n') {
            f->line_end = k;
            break;
        }
        if (f->flag && is_digit(c))
            f->number = f->number * 10 + (c - '0');
        else
            f->flag = 0;   /* "-1" (null) stops at once and reads as 0 */
    }
}

/* The first word of an error reply ("-WRONGTYPE ..." -> "WRONGTYPE"), as Redis's errorstats counts it: in
 * the line of a simple error ('-'), in the payload of a blob error ('!'). "ERR" when it is not within reach.
 * s holds the n bytes of the reply's header line. */
static __always_inline void redis_error_status(struct l7_scratch *w, const u8 *s, u32 n, char *status)
{
    u32 at = 1;
    if (s[0] == '!') {
        at = REDIS_HEADER;   /* the payload goes after the header in the scratch window */
        n = at + payload_read(&w->payload, w->offset + w->found.line_end + 1, w->data + at, STATUS_LEN);
    }
    /* the word copied as its end is looked for, in one pass: a second pass up to the end found was walked by
     * the verifier once per possible end (docs/performance.md, "The verifier's time per program") */
#pragma unroll
    for (u32 k = 0; k < STATUS_LEN - 1; k++) {
        u8 c = s[WIN(at + k)];
        if (at + k >= n)
            break;
        if (c == ' ' || c == '\r') {
            if (k > 0)
                return;
            break;
        }
        status[k] = c;
    }
    __builtin_memset(status, 0, STATUS_LEN);
    __builtin_memcpy(status, "ERR", 4);
}

static __always_inline void redis_reply(struct l7_state *st, struct sock_info *si, struct l7_scratch *w, u32 n)
{
    const u8 *s = w->data;
    if (s[0] == '>')
        return;   /* RESP3 push: out of band, not a reply */
    char *status = status_buffer();
    if (!status)
        return;
    if (s[0] == '-' || s[0] == '!')
        redis_error_status(w, s, n, status);
    else
        __builtin_memcpy(status, "ok", 3);
    record_request(st, si, PROTO_REDIS, request_completed(st));
}

/* A plain-text (inline) command, "PING\r\n": one line led by a letter, all of the I/O. Could be another
 * text protocol: only a RESP reply to it makes the socket Redis (l7_detect). */
static __always_inline int redis_is_inline_command(const u8 *s, u32 n, u32 total)
{
    u8 letter = s[0] | 0x20;
    return n >= 3 && n == total && letter >= 'a' && letter <= 'z' && s[WIN(n - 2)] == '\r' && s[WIN(n - 1)] == '\n';
}

static __always_inline int redis_is_reply(const u8 *s, u32 n)
{
    u8 type = s[0];
    return n >= 3 && (type == '+' || type == '-' || type == ':' || type == '$' || type == '*' || type == '%' ||
                      type == '_');
}

static __always_inline int redis_has_length(u8 type)
{
    return type == '$' || type == '!' || type == '=';
}

static __always_inline int redis_is_aggregate(u8 type)
{
    return type == '*' || type == '~' || type == '>' || type == '%' || type == '|';
}

static __always_inline int redis_is_line(u8 type)
{
    return type == '+' || type == '-' || type == ':' || type == ',' || type == '_' || type == '#' || type == '(';
}

/* Moves w->offset past the rest of a line, or past this piece of it when its end is not in sight. */
static __always_inline void redis_line_rest(struct l7_direction *d, struct l7_scratch *w, u32 end, u32 n)
{
    w->offset += end < n ? end + 1 : n;
    d->in_line = end >= n;
}

/* One element header or line piece at w->offset. Returns 0 when the framing is lost. */
static __always_inline int redis_step(struct l7_state *st, struct sock_info *si, struct l7_direction *d,
                                      struct l7_scratch *w, int side)
{
    u8 *s = w->data;
    struct l7_found *f = &w->found;
    u32 n = payload_read(&w->payload, w->offset, s, REDIS_HEADER);
    if (n == 0)
        return 0;
    n = scan_exit(w, n);   /* the read's exits, one per segment, bound n differently too */
    redis_scan_line(s, n, f);
    n = scan_exit(w, n);
    if (d->in_line) {
        /* the piece may end the line at its first byte, which the scan does not look at */
        redis_line_rest(d, w, s[0] == '\n' ? 0 : f->line_end, n);
        return 1;
    }
    u8 type = s[0];
    int top = d->elems == 0;
    if (!top)
        d->elems--;
    if (side == SIDE_REQUEST && top) {
        request_started(st, 0);
        if (type != '*') {
            redis_line_rest(d, w, f->line_end, n);   /* an inline command */
            return 1;
        }
    } else if (side == SIDE_RESPONSE && top) {
        redis_reply(st, si, w, n);
    }
    if (redis_is_line(type)) {
        redis_line_rest(d, w, f->line_end, n);
        return 1;
    }
    if (f->line_end >= n || !(redis_is_aggregate(type) || redis_has_length(type)))
        return 0;
    u64 count = f->number;
    w->offset += f->line_end + 1;
    if (redis_has_length(type))
        w->offset += s[1] == '-' ? 0 : count + 2;   /* "$-1": null, no payload */
    else if (type == '%' || type == '|')
        d->elems += 2 * count;
    else
        d->elems += count;
    return 1;
}

/* Returns 1 to be run again from where this pass stopped. */
static __always_inline int redis_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct l7_direction *d = &st->side[side];
    if (!walk_ready(st, side, w) || !walk_begin(d, w))
        return 0;
    for (int step = 0; step < REDIS_STEPS; step++) {
        RELOAD();
        /* read back at each step: known exactly, the side made the verifier walk every step once per side
         * (docs/performance.md, "The parsers' verifier work, per step") */
        side = w->side & 1;
        d = &st->side[side];
        if (w->offset >= w->total)
            break;
        if (!redis_step(st, si, d, w, side)) {
            count_parse_error(PROTO_REDIS);
            walk_lost(d);
            return 0;
        }
    }
    return walk_again(d, w);
}
