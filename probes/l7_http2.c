/* HTTP/2 over cleartext (h2c with prior knowledge): the frames of each direction are walked here, and the
 * payload of HEADERS and CONTINUATION frames goes to user space in pieces through the ring buffer. HPACK's
 * dynamic table lives there (tracer/protocols/http2_streams.py), which also pairs requests with responses
 * by stream. Every other frame, DATA above all, is passed over by its length and never crosses.
 *
 * Per socket and direction the walk keeps the bytes left in the current frame: reads and writes split frames
 * anywhere, and a frame header cut by the end of an I/O is kept until the next one. Where the walk loses its
 * place (its state evicted, more frames in one I/O than its passes reach, bytes it cannot read) the direction
 * waits for an I/O that starts with a plausible frame header, and its next piece says that it was out of
 * step. Each piece carries its direction's sequence number, so user space also sees the pieces the ring
 * buffer could not take. */

#define H2_PREFACE_LEN 24          /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
#define H2_FRAME_HEADER 9
#define H2_STEPS 16                /* frame headers or payload pieces per pass */
#define H2_WINDOW_HOPS 8           /* sets of PAYLOAD_SEGMENTS iovecs a step may move past */
#define H2_SOCKETS 8192            /* HTTP/2 connections whose walk is kept */
#define H2_HEADERS 0x1
#define H2_PRIORITY 0x2
#define H2_RST_STREAM 0x3
#define H2_PUSH_PROMISE 0x5
#define H2_WINDOW_UPDATE 0x8
#define H2_CONTINUATION 0x9
#define H2_PREFACE_FRAME 0xff      /* the client preface, passed over as if it were a frame's payload */
#define H2_DEFAULT_MAX_FRAME 16384 /* SETTINGS_MAX_FRAME_SIZE until a peer raises it */

struct h2_direction {
    u64 left;                  /* payload bytes of the current frame still to come */
    u32 stream_id;
    u32 frame_length;
    u32 seq;                   /* header pieces sent so far: user space finds a lost one by the gap */
    u8 frame_type;
    u8 flags;
    u8 synced;                 /* the walk knows where the next frame starts */
    u8 lost;                   /* it lost its place since its last piece: the next piece says so */
    u8 partial[16];            /* the first bytes of a frame header cut by the end of an I/O */
    u8 partial_len;
    u8 pad[7];
};

struct h2_state {
    u64 connection_ns;         /* when the walk began: with the socket, names the connection to user space */
    struct h2_direction side[2];
};

/* struct event's first two words, then one piece of a header block fragment */
struct h2_piece_event {
    u32 type;
    u32 stream_id;
    u64 timestamp_ns;
    struct flow_key key;
    u64 sk;
    u64 connection_ns;
    u32 seq;
    u32 frame_length;
    u32 offset;                /* of this piece in its frame's payload */
    u32 len;
    u8 frame_type;
    u8 flags;
    u8 side;                   /* SIDE_REQUEST or SIDE_RESPONSE */
    u8 out_of_step;
    u32 pad;
    u8 data[L7_WINDOW];
};

BPF_TABLE("lru_hash", u64, struct h2_state, h2_sockets, H2_SOCKETS);

static __always_inline int http2_is_preface(const u8 *s, u32 n)
{
    return n >= H2_PREFACE_LEN && load_u32(s, 0) == WORD('P', 'R', 'I', ' ') &&
           load_u32(s, 4) == WORD('*', ' ', 'H', 'T') && load_u32(s, 8) == WORD('T', 'P', '/', '2') &&
           load_u32(s, 12) == WORD('.', '0', '\r', '\n') && load_u32(s, 16) == WORD('\r', '\n', 'S', 'M') &&
           load_u32(s, 20) == WORD('\r', '\n', '\r', '\n');
}

static __always_inline int h2_is_header_frame(u8 type)
{
    return type == H2_HEADERS || type == H2_CONTINUATION;
}

/* Whether 9 bytes can be a frame header where the walk has to guess: a known type within the default size,
 * on a stream exactly when its type belongs to one. */
static __always_inline int h2_plausible_header(const u8 *s)
{
    u32 length = (s[0] << 16) | (s[1] << 8) | s[2];
    u8 type = s[3];
    u32 stream = load_be32(s, 5);
    if (length > H2_DEFAULT_MAX_FRAME || type > H2_CONTINUATION || (stream >> 31))
        return 0;
    if (type == H2_WINDOW_UPDATE)
        return 1;
    int on_stream = type <= H2_RST_STREAM || type == H2_PUSH_PROMISE || type == H2_CONTINUATION;
    return on_stream == (stream != 0);
}

static __always_inline void h2_lose(struct h2_direction *d)
{
    d->synced = 0;
    d->lost = 1;
    d->left = 0;
    d->partial_len = 0;
}

/* The syscall's iovec array, for the segments past the first PAYLOAD_SEGMENTS. 0 if it has none. */
static __always_inline int h2_find_iovecs(struct l7_scratch *w)
{
    const struct syscall_regs *r = syscall_regs(0);
    u64 call = r->orig_ax;
    if (call == SYS_READV || call == SYS_WRITEV) {
        w->iov = r->si;
        w->iov_count = r->dx;
    } else if (call == SYS_SENDMSG || call == SYS_RECVMSG) {
        struct user_msghdr_head msg = {};
        if (bpf_probe_read_user(&msg, sizeof(msg), (void *)r->si))
            return 0;
        w->iov = msg.iov;
        w->iov_count = msg.iovlen;
    }
    return w->iov != 0;
}

/* The offset in the I/O just past the bytes payload covers. */
static __always_inline u64 h2_window_end(struct l7_scratch *w)
{
    u64 covered = 0;
#pragma unroll
    for (int i = 0; i < PAYLOAD_SEGMENTS; i++)
        covered += w->payload.len[i];
    return w->window_base + covered;
}

/* Moves payload on to the next PAYLOAD_SEGMENTS iovecs, which begin where it ends: writev and sendmsg calls of
 * HTTP/2 peers (gRPC above all) carry a frame in two or three iovecs, and dozens of them. 0 where there are no
 * more, or payload covers nothing. */
static __always_inline int h2_window_next(struct l7_scratch *w)
{
    u64 covered = h2_window_end(w) - w->window_base;
    if (covered == 0 || (!w->iov && !h2_find_iovecs(w)))
        return 0;
    u32 segment = w->window_segment + PAYLOAD_SEGMENTS;
    if (segment >= w->iov_count)
        return 0;
    w->window_base += covered;
    w->window_segment = segment;
    __builtin_memset(&w->payload, 0, sizeof(w->payload));
    payload_from_iovecs(&w->payload, w->iov + segment * sizeof(struct user_iovec), w->iov_count - segment,
                        w->total - w->window_base);
    RELOAD();
    return 1;
}

/* Moves payload on until it covers the step's position, w->offset. Done once at the top of a step that reads:
 * the verifier walks the hops once per step, not once per read (docs/performance.md, "The parsers' verifier
 * work, per step"). */
static __always_inline void h2_window_to_offset(struct l7_scratch *w)
{
    for (int hop = 0; hop < H2_WINDOW_HOPS; hop++) {
        if (w->offset < h2_window_end(w) || !h2_window_next(w))
            return;
    }
}

/* Up to `size` (<= L7_WINDOW) bytes at offset `at` of the I/O, which payload covers; a read stops at the end of a
 * segment. */
static __always_inline u32 h2_read(struct l7_scratch *w, u64 at, u8 *dst, u32 size)
{
    if (at < w->window_base)
        return 0;
    return payload_read(&w->payload, at - w->window_base, dst, size);
}

/* Up to the 9 bytes of a frame header at `at`, which payload covers, across the end of a segment: where the
 * header's first bytes end payload, the next iovecs begin where they end, one hop on. */
static __always_inline u32 h2_read_header(struct l7_scratch *w, u64 at, u8 *dst, u32 size)
{
    u32 got = h2_read(w, at, dst, size);
    if (got && got < size) {
        if (at + got >= h2_window_end(w))
            h2_window_next(w);
        got += h2_read(w, at + got, dst + (got & 15), size - got);
    }
    return got;
}

/* The socket's walk: begun afresh when this I/O opens the connection with the client preface (a socket
 * reused for a new connection included), begun out of step when its state was evicted. */
static __always_inline struct h2_state *h2_walk_of(u64 sk, int side, struct l7_scratch *w)
{
    if (!w->resumed && side == SIDE_REQUEST &&
        http2_is_preface(w->data, payload_read(&w->payload, 0, w->data, H2_PREFACE_LEN))) {   /* window 0 */
        struct h2_state fresh = {};
        fresh.connection_ns = bpf_ktime_get_ns();
        fresh.side[SIDE_REQUEST].synced = 1;
        fresh.side[SIDE_REQUEST].left = H2_PREFACE_LEN;
        fresh.side[SIDE_REQUEST].frame_length = H2_PREFACE_LEN;
        fresh.side[SIDE_REQUEST].frame_type = H2_PREFACE_FRAME;
        fresh.side[SIDE_RESPONSE].synced = 1;
        h2_sockets.update(&sk, &fresh);
        return h2_sockets.lookup(&sk);
    }
    struct h2_state *h = h2_sockets.lookup(&sk);
    if (h)
        return h;
    struct h2_state unknown = {};
    unknown.connection_ns = bpf_ktime_get_ns();
    unknown.side[SIDE_REQUEST].lost = 1;
    unknown.side[SIDE_RESPONSE].lost = 1;
    h2_sockets.update(&sk, &unknown);
    return h2_sockets.lookup(&sk);
}

/* Sends the next `n` bytes of the I/O (n <= L7_WINDOW, 0 for an empty frame) as a piece of the current
 * header frame. Returns the bytes it covered: fewer than n where a buffer segment ends first. */
static __always_inline u32 h2_send_piece(struct h2_state *h, struct h2_direction *d, struct sock_info *si,
                                         struct l7_scratch *w, int side, u32 n)
{
    u32 seq = d->seq++;
    struct h2_piece_event *e = events.ringbuf_reserve(sizeof(struct h2_piece_event));
    if (!e) {
        count_ringbuf_lost(&si->key);
        return n;
    }
    u32 got = n ? h2_read(w, w->offset, e->data, n) : 0;
    if (n && !got) {
        events.ringbuf_discard(e, 0);
        return n;   /* the gap in seq tells user space */
    }
    e->type = EVENT_HEADER_BLOCK;
    e->stream_id = d->stream_id;
    e->timestamp_ns = bpf_ktime_get_ns();
    __builtin_memcpy(&e->key, &si->key, sizeof(e->key));
    e->sk = w->sk;
    e->connection_ns = h->connection_ns;
    e->seq = seq;
    e->frame_length = d->frame_length;
    e->offset = d->frame_length - d->left;
    e->len = got;
    e->frame_type = d->frame_type;
    e->flags = d->flags;
    e->side = side;
    e->out_of_step = d->lost;
    e->pad = 0;
    d->lost = 0;
    events.ringbuf_submit(e, 0);
    return got;
}

/* The frame whose header is in s begins: its payload is next. An empty header frame is sent at once, for
 * its flags. */
static __always_inline void h2_frame_begins(struct h2_state *h, struct h2_direction *d, struct sock_info *si,
                                            struct l7_scratch *w, int side, const u8 *s)
{
    d->frame_length = (s[0] << 16) | (s[1] << 8) | s[2];
    d->left = d->frame_length;
    d->frame_type = s[3];
    d->flags = s[4];
    d->stream_id = load_be32(s, 5) & 0x7fffffff;
    if (d->left == 0 && h2_is_header_frame(d->frame_type))
        h2_send_piece(h, d, si, w, side, 0);
}

/* At the start of an I/O: completes a frame header that the previous I/O cut, or finds the place of a walk
 * that lost it. 0 when nothing of this I/O is to be walked. */
static __always_inline int h2_io_begins(struct h2_state *h, struct h2_direction *d, struct sock_info *si,
                                        struct l7_scratch *w, int side)
{
    u8 *s = w->data;
    w->offset = 0;
    if (d->partial_len) {
        u32 kept = d->partial_len & 15;   /* at most 8: a whole header is never kept */
        __builtin_memcpy(s, d->partial, sizeof(d->partial));
        u32 got = h2_read_header(w, 0, s + kept, H2_FRAME_HEADER - kept);
        if (kept + got < H2_FRAME_HEADER) {
            if (got != w->total) {
                h2_lose(d);
                return 0;
            }
            __builtin_memcpy(d->partial, s, sizeof(d->partial));
            d->partial_len = kept + got;
            return 0;
        }
        d->partial_len = 0;
        w->offset = H2_FRAME_HEADER - kept;
        h2_frame_begins(h, d, si, w, side, s);
        return 1;
    }
    if (d->synced)
        return 1;
    if (h2_read_header(w, 0, s, H2_FRAME_HEADER) < H2_FRAME_HEADER || !h2_plausible_header(s))
        return 0;
    d->synced = 1;
    d->left = 0;
    return 1;
}

/* One frame header, or one piece of a frame's payload, at w->offset. 0 when the I/O is done. */
static __always_inline int h2_step(struct h2_state *h, struct h2_direction *d, struct sock_info *si,
                                   struct l7_scratch *w, int side)
{
    u64 rest = w->total - w->offset;
    if (!d->left || h2_is_header_frame(d->frame_type))
        h2_window_to_offset(w);
    if (d->left) {
        u64 n = d->left < rest ? d->left : rest;
        if (h2_is_header_frame(d->frame_type))
            n = h2_send_piece(h, d, si, w, side, n < L7_WINDOW ? n : L7_WINDOW);
        w->offset += n;
        d->left -= n;
        return 1;
    }
    u8 *s = w->data;
    u32 got = h2_read_header(w, w->offset, s, rest < H2_FRAME_HEADER ? rest : H2_FRAME_HEADER);
    if (got < H2_FRAME_HEADER) {
        if (got != rest) {
            h2_lose(d);
            return 0;
        }
        __builtin_memcpy(d->partial, s, sizeof(d->partial));   /* the next I/O completes it */
        d->partial_len = got;
        w->offset = w->total;
        return 0;
    }
    w->offset += H2_FRAME_HEADER;
    h2_frame_begins(h, d, si, w, side, s);
    return 1;
}

/* Returns 1 to be run again from where this pass stopped. */
static __always_inline int http2_on_io(struct l7_state *st, struct sock_info *si, struct l7_scratch *w)
{
    int side = w->side & 1;
    struct h2_state *h = h2_walk_of(w->sk, side, w);
    if (!h)
        return 0;
    struct h2_direction *d = &h->side[side];
    if (!w->resumed) {
        w->window_base = 0;
        w->window_segment = 0;
        w->iov = 0;
        if (!h2_io_begins(h, d, si, w, side))
            return 0;
    }
    for (int step = 0; step < H2_STEPS; step++) {
        RELOAD();
        if (w->offset >= w->total || !h2_step(h, d, si, w, side))
            return 0;
    }
    RELOAD();
    if (w->offset >= w->total)
        return 0;
    if (++w->passes >= L7_MAX_PASSES) {
        h2_lose(d);
        return 0;
    }
    w->resumed = 1;
    return 1;
}
