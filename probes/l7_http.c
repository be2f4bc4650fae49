/* HTTP/1.0 and 1.1: a request per request line, a status per final status line. Bodies are skipped by
 * Content-Length when the head is within the captured window; after a chunked body, or one whose length
 * is unknown, only an I/O that starts with a valid start line begins a new message. */

#define HTTP_BODY_UNKNOWN (~0ULL)
#define HTTP_HEAD_SCAN 160        /* head bytes searched for the blank line and the length headers */
#define WIN(i) ((i) & (SCRATCH_SIZE - 1))

static __always_inline u32 load_u32(const u8 *s, u32 i)
{
    return s[WIN(i)] | (s[WIN(i + 1)] << 8) | (s[WIN(i + 2)] << 16) | ((u32)s[WIN(i + 3)] << 24);
}

#define WORD(a, b, c, d) ((u32)(a) | ((u32)(b) << 8) | ((u32)(c) << 16) | ((u32)(d) << 24))

static __always_inline int http_is_request_line(const u8 *s, u32 n)
{
    if (n < 4)
        return 0;
    u32 w = load_u32(s, 0);
    return w == WORD('G', 'E', 'T', ' ') || w == WORD('P', 'O', 'S', 'T') || w == WORD('P', 'U', 'T', ' ') ||
           w == WORD('H', 'E', 'A', 'D') || w == WORD('D', 'E', 'L', 'E') || w == WORD('P', 'A', 'T', 'C') ||
           w == WORD('O', 'P', 'T', 'I') || w == WORD('C', 'O', 'N', 'N') || w == WORD('T', 'R', 'A', 'C');
}

/* The status code of "HTTP/1.x NNN " or "HTTP/1.x NNN\r", 0 if s does not start with one. */
static __always_inline u32 http_status_code(const u8 *s, u32 n)
{
    if (n < 13 || load_u32(s, 0) != WORD('H', 'T', 'T', 'P') || s[4] != '/' || s[5] != '1' || s[6] != '.')
        return 0;
    if ((s[7] != '0' && s[7] != '1') || s[8] != ' ' || (s[12] != ' ' && s[12] != '\r'))
        return 0;
    if (s[9] < '1' || s[9] > '5' || !is_digit(s[10]) || !is_digit(s[11]))
        return 0;
    return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* Eight bytes from i, lower-cased for letters (header names compare case-insensitively). */
static __always_inline u64 load_lower_u64(const u8 *s, u32 i)
{
    u64 v = 0;
#pragma unroll
    for (int k = 7; k >= 0; k--)
        v = (v << 8) | (s[WIN(i + k)] | 0x20);
    return v;
}

#define LOWER8(a, b, c, d, e, f, g, h) \
    ((u64)WORD(a, b, c, d) | ((u64)WORD(e, f, g, h) << 32))

static __always_inline u64 http_content_length(const u8 *s, u32 value, u32 n)
{
    u64 length = 0;
#pragma unroll
    for (int k = 0; k < 12; k++) {
        u8 c = s[WIN(value + k)];
        if (value + k >= n)
            break;
        if (c == ' ' && length == 0)
            continue;
        if (!is_digit(c))
            break;
        length = length * 10 + (c - '0');
    }
    return length;
}

struct http_head {
    u32 length;      /* bytes up to and including the blank line, 0 if it is not within the window */
    u32 length_at;   /* where the Content-Length value starts, 0 if there is none */
    u8 chunked;      /* a Transfer-Encoding header: the body's length is not known */
};

/* One pass over the head; the scan keeps positions and parses the value after it, so that the verifier
 * walks the loop once per position rather than once per position and outcome. */
static __always_inline void http_scan_head(const u8 *s, u32 n, struct http_head *h)
{
    for (u32 i = 0; i < HTTP_HEAD_SCAN; i++) {
        OPAQUE(i);
        if (i + 4 > n)
            break;
        if (s[WIN(i)] != '\n')
            continue;
        if (s[WIN(i + 1)] == '\r') {
            h->length = i + 3;
            break;
        }
        u64 name = load_lower_u64(s, i + 1);
        if (name == LOWER8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r'))
            h->chunked = 1;
        else if (name == LOWER8('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
                 (load_lower_u64(s, i + 9) & 0xffffffffffffff) == (LOWER8('l', 'e', 'n', 'g', 't', 'h', ':', 0) & 0xffffffffffffff))
            h->length_at = i + 16;
    }
}

/* Handle the message that starts at s. Returns its body length (HTTP_BODY_UNKNOWN if not known), and
 * sets *valid to 0 if s does not start a message. */
static __always_inline u64 http_message(struct l7_state *st, struct sock_info *si, int side, const u8 *s, u32 n, int *valid)
{
    if (side == SIDE_REQUEST) {
        if (!http_is_request_line(s, n)) {
            *valid = 0;
            return 0;
        }
        request_started(st);
        return HTTP_BODY_UNKNOWN;   /* refined by the head */
    }
    u32 code = http_status_code(s, n);
    if (!code) {
        *valid = 0;
        return 0;
    }
    if (code < 200 && code != 101)
        return 0;   /* interim: the final status follows */
    char *status = status_buffer();
    if (status) {
        status[0] = s[9];
        status[1] = s[10];
        status[2] = s[11];
        record_request(si, PROTO_HTTP, request_completed(st));
    }
    return code == 204 || code == 304 ? 0 : HTTP_BODY_UNKNOWN;
}

/* One message per pass: returns 1 to be run again for the next (pipelined) message of this I/O. */
static __always_inline int http_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct l7_direction *d = &st->side[side];
    u64 off = 0;
    if (!parse_from(d, w, &off) || off >= w->total || (!d->synced && off > 0))
        return 0;
    u8 *s = w->data;
    u32 n = payload_read(&w->payload, off, s, L7_WINDOW);
    int valid = 1;
    u64 body = http_message(st, si, side, s, n, &valid);
    if (!valid) {
        if (d->synced && n)
            count_parse_error(PROTO_HTTP);
        d->synced = 0;
        return 0;
    }
    struct http_head h = {};
    http_scan_head(s, n, &h);
    if (body != 0) {
        if (h.chunked)
            body = HTTP_BODY_UNKNOWN;
        else if (h.length_at)
            body = http_content_length(s, h.length_at, n);
        else
            body = side == SIDE_RESPONSE ? HTTP_BODY_UNKNOWN : 0;   /* a response without length runs to the close */
    }
    u32 head = h.length;
    if (!head || body == HTTP_BODY_UNKNOWN) {
        d->synced = 0;
        return 0;
    }
    d->synced = 1;
    off += head + body;
    if (off >= w->total) {
        d->skip = off - w->total;
        return 0;
    }
    return parse_again(w, off);
}
