/* Redis RESP2/RESP3: a request per top-level command array, a status per top-level reply. The walk
 * jumps from element header to element header (bulk payloads skipped by length); nested aggregates
 * are flattened into a count of elements still to come. Inline commands are not recognised. */

#define REDIS_STEPS 12           /* element headers or line pieces parsed in one read or write */
#define REDIS_HEADER 32          /* bytes read per step: a header line, or a piece of a long line */

/* What one pass over a header or line piece finds: where its line ends (the '\n', or n if not within
 * the bytes read), the first space (0 if none) and the number after the type byte. */
struct redis_line {
    u32 end;
    u32 space;
    s64 number;
};

static __always_inline void redis_scan_line(const u8 *s, u32 n, struct redis_line *line)
{
    u64 value = 0;
    int digits = 1;   /* still inside the number after the type byte */
    line->end = n;
    line->space = 0;
    for (u32 k = 1; k < REDIS_HEADER; k++) {
        OPAQUE(k);
        if (k >= n)
            break;
        u8 c = s[WIN(k)];
        if (c == '\n') {
            line->end = k;
            break;
        }
        if (c == ' ' && !line->space)
            line->space = k;
        if (digits && is_digit(c))
            value = value * 10 + (c - '0');
        else if (!(k == 1 && c == '-'))
            digits = 0;
    }
    line->number = s[1] == '-' ? -(s64)value : (s64)value;
}

/* The prefix word of an error reply ("-WRONGTYPE ..." -> "WRONGTYPE"), as Redis's errorstats counts it. */
static __always_inline void redis_error_status(const u8 *s, struct redis_line *line, char *status)
{
    u32 space = line->space;
    if (space <= 1 || space > STATUS_LEN || (line->end < space)) {
        __builtin_memcpy(status, "ERR", 4);
        return;
    }
#pragma unroll
    for (u32 k = 1; k <= STATUS_LEN; k++)
        if (k < space)
            status[k - 1] = s[WIN(k)];
}

static __always_inline void redis_message_start(struct l7_state *st, struct sock_info *si, int side, const u8 *s,
                                                struct redis_line *line)
{
    if (side == SIDE_REQUEST) {
        request_started(st);
        return;
    }
    if (s[0] == '>')
        return;   /* RESP3 push: out of band, not a reply */
    char *status = status_buffer();
    if (!status)
        return;
    if (s[0] == '-' || s[0] == '!') {
        /* a blob error's text starts on the next line: read it as a simple error */
        redis_error_status(s, line, status);
    } else {
        __builtin_memcpy(status, "ok", 3);
    }
    record_request(si, PROTO_REDIS, request_completed(st));
}

/* Returns 1 to be run again from where this pass stopped. */
static __always_inline int redis_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct l7_direction *d = &st->side[side];
    u32 total = w->total;
    u64 off = 0;
    if (!parse_from(d, w, &off))
        return 0;
    u8 *s = w->data;
    struct payload *p = &w->payload;
    int stuck = 0;
    for (int step = 0; step < REDIS_STEPS; step++) {
        if (off >= total)
            break;
        u32 n = payload_read(p, off, s, REDIS_HEADER);
        if (n == 0) {
            stuck = 1;
            break;
        }
        struct redis_line line = {};
        redis_scan_line(s, n, &line);
        if (d->in_line) {
            /* the piece may end the line at its first byte, which the scan does not look at */
            u32 end = s[0] == '\n' ? 0 : line.end;
            off += end < n ? end + 1 : n;
            d->in_line = end >= n;
            continue;
        }
        u8 type = s[0];
        if (d->elems == 0)
            redis_message_start(st, si, side, s, &line);
        else
            d->elems--;
        if (type == '*' || type == '~' || type == '>' || type == '%' || type == '|' ||
            type == '$' || type == '!' || type == '=') {
            if (line.end >= n) {
                stuck = 1;
                break;
            }
            off += line.end + 1;
            s64 count = line.number;
            if (count <= 0)
                continue;
            if (type == '$' || type == '!' || type == '=')
                off += count + 2;
            else if (type == '%' || type == '|')
                d->elems += 2 * count;
            else
                d->elems += count;
        } else if (type == '+' || type == '-' || type == ':' || type == ',' || type == '_' || type == '#' || type == '(') {
            off += line.end < n ? line.end + 1 : n;
            d->in_line = line.end >= n;
        } else {
            stuck = 1;
            break;
        }
    }
    if (off > total) {
        d->skip = off - total;
        return 0;
    }
    if (off == total)
        return 0;
    if (!stuck)
        return parse_again(w, off);
    /* lost the framing: start over at the next command */
    count_parse_error(PROTO_REDIS);
    d->elems = 0;
    d->in_line = 0;
    return 0;
}
