/* HTTP/1.0 and 1.1: a request per request line, a status per final status line. Each message is judged
 * by its first bytes. Its body is skipped by its length: Content-Length, or chunk by chunk for a chunked
 * body, so that nothing inside a body starts a message, and pipelined messages are found. Where the
 * length is unknown (a response that runs to the close, a head longer than the window, a chunk size line
 * cut by the end of an I/O), the parser waits for an I/O that starts with a start line. A status line cut
 * short by the end of an I/O is kept, and judged with the next I/O's first bytes.
 *
 * A final response that answers the only pending request is framed by alternation instead: a client that
 * does not pipeline writes again only once it has read the whole response, so everything on the response
 * side until the client's next bytes is that response's. It is judged from its status line alone
 * (HTTP_STATUS_JUDGED bytes copied, no head scan), and the response side's I/O is not parsed until any
 * request-side I/O (until_request): not only a request's start, so that a request missed (a server that
 * reads its first byte alone) does not hide the responses after it. Interim responses, 204, 304, a HEAD's
 * response, pipelined responses, a status line kept from earlier I/O and TLS plaintext take the full path. */

#define HTTP_BODY_UNKNOWN (~0ULL)
#define HTTP_HEAD_SCAN (L7_WINDOW - 8)   /* head bytes searched for the blank line and the length headers */
#define HTTP_CHUNK_LINE_MAX 24          /* a chunk size line's bytes looked at: its hex digits and a short extension */

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

#define HTTP_STATUS_LINE_MIN 13   /* "HTTP/1.x NNN " */
#define HTTP_STATUS_JUDGED 16     /* bytes copied for a response framed by alternation: its status line's start */

/* The status code of "HTTP/1.x NNN " or "HTTP/1.x NNN\r", 0 if s does not start with one. */
static __always_inline u32 http_status_code(const u8 *s, u32 n)
{
    if (n < HTTP_STATUS_LINE_MIN || load_u32(s, 0) != WORD('H', 'T', 'T', 'P') || s[4] != '/' || s[5] != '1' || s[6] != '.')
        return 0;
    if ((s[7] != '0' && s[7] != '1') || s[8] != ' ' || (s[12] != ' ' && s[12] != '\r'))
        return 0;
    if (s[9] < '1' || s[9] > '5' || !is_digit(s[10]) || !is_digit(s[11]))
        return 0;
    return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

static __always_inline int http_starts_message(int side, const u8 *s, u32 n)
{
    return side == SIDE_REQUEST ? http_is_request_line(s, n) : http_status_code(s, n) != 0;
}

/* Eight bytes from i, lower-cased for letters (header names compare case-insensitively). i stays below
 * SCRATCH_SIZE, and the scratch map value goes on past its window, so the load stays inside it. */
static __always_inline u64 load_lower_u64(const u8 *s, u32 i)
{
    return *(const u64 *)(s + WIN(i)) | 0x2020202020202020ULL;
}

#define LOWER8(a, b, c, d, e, f, g, h) ((u64)WORD(a, b, c, d) | ((u64)WORD(e, f, g, h) << 32))
#define LOW7 0xffffffffffffffULL
#define NEWLINES 0x0a0a0a0a0a0a0a0aULL
#define BYTE_ONES 0x0101010101010101ULL
#define BYTE_HIGHS 0x8080808080808080ULL

/* Whether any of the eight bytes at s + i (i a multiple of 8) is '\n': a word at a time, as strlen does. */
static __always_inline int word_has_newline(const u8 *s, u32 i)
{
    u64 x = *(const u64 *)(s + WIN(i)) ^ NEWLINES;
    return ((x - BYTE_ONES) & ~x & BYTE_HIGHS) != 0;
}

/* One pass over the head, its findings in f: line_end the head's length up to and including the blank
 * line (0 if not within n), mark where a Content-Length value starts (0 if none), flag a Transfer-Encoding.
 * Words without a '\n' are passed over whole; only the lines' first bytes are looked at. */
static __always_inline void http_scan_head(const u8 *s, u32 n, struct l7_found *f)
{
    f->line_end = 0;
    f->mark = 0;
    f->flag = 0;
    for (u32 base = 0; base < HTTP_HEAD_SCAN; base += 8) {
        OPAQUE(base);
        if (base + 3 > n)
            return;
        if (!word_has_newline(s, base))
            continue;
#pragma unroll
        for (u32 k = 0; k < 8; k++) {
            u32 i = base + k;
            if (s[WIN(i)] != '\n')
                continue;
            if (i + 3 > n)
                return;
            if (s[WIN(i + 1)] == '\r') {
                f->line_end = i + 3;
                return;
            }
            u64 name = load_lower_u64(s, i + 1);
            if (name == LOWER8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r'))
                f->flag = 1;
            else if (name == LOWER8('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
                     (load_lower_u64(s, i + 9) & LOW7) == (LOWER8('l', 'e', 'n', 'g', 't', 'h', ':', 0) & LOW7))
                f->mark = i + 16;
        }
        RELOAD();
    }
}

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

/* A request starts, its first n bytes in the window; remember whether it is a HEAD, whose response has a
 * head only, whatever length it states. A request beyond PENDING_MAX pending ones is not remembered
 * (request_started). */
static __always_inline void http_request_started(struct l7_state *st, int is_head, u32 n)
{
    u8 bit = 1 << ((st->head + st->pending) & (PENDING_MAX - 1));
    if (st->pending < PENDING_MAX)
        st->head_requests = is_head ? st->head_requests | bit : st->head_requests & ~bit;
    request_started(st, n);
}

/* Whether the oldest pending request, the one the next final response answers, is a HEAD. */
static __always_inline int http_answers_head(struct l7_state *st)
{
    return st->pending && ((st->head_requests >> (st->head & (PENDING_MAX - 1))) & 1);
}

static __always_inline int http_is_interim(u32 code)
{
    return code < 200 && code != 101;   /* the final status follows */
}

/* Count the final response whose status line s starts with, code its status. */
static __always_inline void http_count_response(struct l7_state *st, struct sock_info *si, const u8 *s, u32 code)
{
    char *status = status_buffer();
    if (status) {
        status[0] = s[9];
        status[1] = s[10];
        status[2] = s[11];
        record_request(st, si, PROTO_HTTP, request_completed(st));
    }
    if (code == 101)
        st->protocol = PROTO_NONE;   /* switched to another protocol */
}

/* Count the message at the start of s. Returns its body length as far as the start line tells:
 * 0 for none, HTTP_BODY_UNKNOWN when the headers decide. */
static __always_inline u64 http_start_line(struct l7_state *st, struct sock_info *si, int side, const u8 *s, u32 n)
{
    if (side == SIDE_REQUEST) {
        http_request_started(st, load_u32(s, 0) == WORD('H', 'E', 'A', 'D'), n);
        return HTTP_BODY_UNKNOWN;
    }
    u32 code = http_status_code(s, n);
    if (http_is_interim(code))
        return 0;
    int no_body = code == 204 || code == 304 || http_answers_head(st);
    http_count_response(st, si, s, code);
    return no_body ? 0 : HTTP_BODY_UNKNOWN;
}

/* Whether a response starting at the parser's position may be framed by alternation: it would answer the
 * only pending request, which is no HEAD, and its status line is not kept from earlier I/O. TLS plaintext
 * keeps the full path. */
static __always_inline int http_may_frame(struct l7_state *st, struct l7_direction *d, int side)
{
    return side == SIDE_RESPONSE && st->pending == 1 && !d->chunked && !st->carry_len && !st->tls &&
           !http_answers_head(st);
}

/* A response framed by alternation: a final status with a body (or 101) is counted from the n bytes of
 * its status line at s, and the response side waits for the next request. Returns 0 when the response
 * takes the full path (interim, 204, 304). */
static __always_inline int http_framed(struct l7_state *st, struct sock_info *si, struct l7_direction *d,
                                       const u8 *s, u32 n)
{
    u32 code = http_status_code(s, n);
    if (http_is_interim(code) || code == 204 || code == 304)
        return 0;
    http_count_response(st, si, s, code);
    d->until_request = 1;
    d->synced = 1;
    return 1;
}

static __always_inline u8 hex_value(u8 c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0xff;
}

/* A chunk's size line at s: hex digits, an optional extension, "\r\n". Returns the line's length with
 * the chunk's size in *size; 0 when the line goes on past n or HTTP_CHUNK_LINE_MAX bytes; -1 when s
 * does not start with a hex digit. */
static __always_inline int http_chunk_line(const u8 *s, u32 n, u64 *size)
{
    u64 value = 0;
    int in_digits = 1;
    for (u32 k = 0; k < HTTP_CHUNK_LINE_MAX; k++) {   /* a bounded loop: clang cannot unroll its early exits */
        if (k >= n)
            return 0;
        u8 c = s[WIN(k)];
        if (c == '\n') {
            *size = value;
            return k ? k + 1 : -1;
        }
        if (!in_digits)
            continue;
        u8 digit = hex_value(c);
        if (digit == 0xff) {
            if (k == 0)
                return -1;
            in_digits = 0;
            continue;
        }
        value = (value << 4) | digit;
    }
    return 0;
}

/* At a chunk's size line: the chunk's data and the CRLF after it are skipped; the last chunk (size 0)
 * leaves its message's closing CRLF. Trailer fields after the last chunk are not followed: the direction
 * then waits for an I/O that starts with a start line. */
static __always_inline int http_chunk(struct l7_direction *d, struct l7_scratch *w, const u8 *s, u32 n)
{
    u64 size = 0;
    int line = http_chunk_line(s, n, &size);
    if (line <= 0) {
        if (line < 0)
            count_parse_error(PROTO_HTTP);
        walk_lost(d);
        return 0;
    }
    if (size == 0)
        d->chunked = 0;
    w->offset += line + size + 2;
    return walk_again(d, w);
}

/* Keeps the n bytes at s when they are the last of a response I/O and could begin a status line
 * ("HT", then "TP/1.1 200 OK" in the next I/O). Returns 1 if kept. */
static __always_inline int http_keep_partial(struct l7_state *st, int side, const u8 *s, u32 n, int ends_io)
{
    if (side != SIDE_RESPONSE || !ends_io || n == 0 || n >= HTTP_STATUS_LINE_MIN)
        return 0;
#pragma unroll
    for (u32 k = 0; k < 7; k++)
        if (k < n && s[k] != "HTTP/1."[k])
            return 0;
    __builtin_memcpy(st->carry, s, sizeof(st->carry));
    st->carry_len = n;
    return 1;
}

/* Where a message was due and none starts: keep a status line cut short by the end of the I/O, else the
 * direction has lost its place (a parse error if it was in step) until an I/O starts with a message. */
static __always_inline void http_not_a_message(struct l7_state *st, struct l7_direction *d, int side, const u8 *s,
                                               u32 n, int ends_io)
{
    if (http_keep_partial(st, side, s, n, ends_io))
        return;
    if (d->synced)
        count_parse_error(PROTO_HTTP);
    d->synced = 0;
}

/* A response I/O that continues a kept status line: the kept bytes go first in the window, the I/O after
 * them. Returns the bytes in the window. */
static __always_inline u32 http_resume_status_line(struct l7_state *st, struct l7_scratch *w, u32 *carried)
{
    u8 *s = w->data;
    *carried = st->carry_len & 15;
    st->carry_len = 0;
    __builtin_memcpy(s, st->carry, sizeof(st->carry));
    w->offset = 0;
    w->kept_len = *carried + payload_read(&w->payload, 0, s + *carried, L7_WINDOW - *carried);
    return w->kept_len;
}

/* The I/O's first `size` bytes into the window s. The first bytes of a response to be framed are loaded from the
 * kernel's copy where the payload is that (payload_words), else copied through the stack: the kernel's
 * hardened-usercopy check of a copy's destination costs less for the stack than for the scratch, a map value
 * (docs/performance.md, "The framed response's status line on the stack"). */
static __always_inline u32 http_read_start(struct l7_scratch *w, u8 *s, u32 size)
{
    if (size != HTTP_STATUS_JUDGED)
        return payload_read(&w->payload, 0, s, size);
    u64 line[HTTP_STATUS_JUDGED / 8] = {};
    u32 n = payload_words(&w->payload, line, HTTP_STATUS_JUDGED / 8);
    if (!n)
        n = payload_read(&w->payload, 0, (u8 *)line, sizeof(line));
    __builtin_memcpy(s, line, sizeof(line));
    return n;
}

/* Puts what is next in this I/O in the scratch window, `size` bytes at most: inside a body of known length,
 * what follows the rest of it (a message, or a chunk's size line); else the I/O's start, which must start a
 * message. Returns the bytes in the window, 0 when the I/O holds nothing to parse. One copy from user memory. */
static __always_inline u32 http_window(struct l7_state *st, struct l7_direction *d, struct l7_scratch *w, int side,
                                       u32 size, u32 *carried)
{
    u8 *s = w->data;
    *carried = 0;
    w->kept_len = 0;
    if (w->resumed)
        return payload_read(&w->payload, w->offset, s, size);
    if (d->until_request)
        return 0;   /* the response framed by alternation goes on (http_framed) */
    if (d->skip || d->chunked) {
        if (!walk_begin(d, w))
            return 0;
        return payload_read(&w->payload, w->offset, s, size);
    }
    if (side == SIDE_RESPONSE && st->carry_len)
        return http_resume_status_line(st, w, carried);
    w->offset = 0;
    u32 n = http_read_start(w, s, size);
    if (!http_starts_message(side, s, n)) {
        http_not_a_message(st, d, side, s, n, n == w->total);
        return 0;
    }
    return n;
}

/* One message, or one chunk, per pass: returns 1 to be run again for the next one of this I/O. */
static __always_inline int http_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    if (side == SIDE_REQUEST)
        st->side[SIDE_RESPONSE].until_request = 0;   /* the client wrote again: the framed response has ended */
    struct l7_direction *d = &st->side[side];
    int may_frame = http_may_frame(st, d, side);
    u32 carried;   /* bytes of a kept status line, which go first in the window */
    u32 n = http_window(st, d, w, side, may_frame ? HTTP_STATUS_JUDGED : L7_WINDOW, &carried);
    if (n == 0)
        return 0;
    u8 *s = w->data;
    if (d->chunked)
        return http_chunk(d, w, s, n);
    if (!http_starts_message(side, s, n)) {
        http_not_a_message(st, d, side, s, n, w->offset + n - carried == w->total);
        return 0;
    }
    if (may_frame) {
        if (http_framed(st, si, d, s, n))
            return 0;
        n = payload_read(&w->payload, w->offset, s, L7_WINDOW);   /* the full path needs the head */
    }
    u64 body = http_start_line(st, si, side, s, n);
    struct l7_found *f = &w->found;
    http_scan_head(s, n, f);
    n = scan_exit(w, n);
    if (body != 0) {
        if (f->flag) {
            d->chunked = 1;   /* the chunks follow the head */
            body = 0;
        } else if (f->mark) {
            body = http_content_length(s, f->mark, n);
        } else {
            body = side == SIDE_RESPONSE ? HTTP_BODY_UNKNOWN : 0;   /* a response without length runs to the close */
        }
    }
    u32 head = f->line_end;
    d->synced = head && body != HTTP_BODY_UNKNOWN;
    if (!d->synced) {
        d->chunked = 0;
        return 0;
    }
    w->offset += head + body - carried;
    return walk_again(d, w);
}
