/* Request/response tracking shared by the L7 parsers: per-socket state, pending request times, and
 * the per flow, protocol and status aggregate that user space drains with the flows.
 *
 * A socket's requests travel one way and its responses the other: a client sends requests, a server
 * receives them. Each end counts at its own socket, under its own flow key.
 *
 * Verifier budget: a parser keeps what it finds, and its position in the I/O, in the per-CPU scratch map
 * rather than on the stack. The verifier tracks stack and register values exactly and explores every
 * combination of them; a map value it treats as unknown, so the paths through a loop step merge again. */

#define PROTO_UNKNOWN 0
#define PROTO_NONE PROTO_COUNT   /* not a protocol we parse: bytes only */

#define SIDE_REQUEST 0
#define SIDE_RESPONSE 1

#define DETECT_ATTEMPTS 4     /* request-side I/Os looked at before giving a socket up as bytes only */
#define L7_MAX_PASSES 33       /* parser runs per I/O: the kernel allows 33 tail calls in a chain */
#define SCRATCH_SIZE (2 * L7_WINDOW)  /* reads of a few bytes past the window stay inside the array */
#define WIN(i) ((i) & (SCRATCH_SIZE - 1))

/* Hides a loop counter's value from the compiler, which would otherwise end a scan on `counter == n`:
 * the verifier cannot bound a loop by equality with a variable and walks it past the buffer. */
#define OPAQUE(counter) asm volatile("" : "+r"(counter))
/* Makes the compiler reload memory, so that a loop step starts from the scratch map, not registers. */
#define RELOAD() asm volatile("" ::: "memory")

struct request_key {
    struct flow_key flow;
    u32 protocol;
    u32 pad;
    char status[STATUS_LEN];
};

struct request_stats {
    u64 count;
    u64 latency_sum_us;
    u64 latency_log2_us[LATENCY_BUCKETS];
};

/* What a scan of the bytes at the parser's position found. */
struct l7_found {
    u64 number;               /* redis: the number after the type byte */
    u32 line_end;             /* http: bytes of the head up to its blank line; redis: the line's '\n' */
    u32 mark;                 /* http: where Content-Length's value starts */
    u32 window_len;           /* the bytes a scan looked at, as scan_exit() reads them back */
    u8 flag;                  /* http: the body is chunked; redis: the number is still being read */
    u8 pad[3];
};

/* Per-CPU working memory; also carries the I/O from the tracepoint to its parser's tail call. */
struct l7_scratch {
    u8 data[SCRATCH_SIZE];
    struct payload payload;
    struct l7_found found;
    u64 sk;
    u64 offset;               /* the parser's position in this I/O */
    u64 now;                  /* the I/O's time, read once for its requests, responses and samples */
    u32 total;
    u8 side;
    u8 resumed;               /* offset is valid: this is a continuation tail call */
    u8 passes;                /* parser runs so far on this I/O */
    u8 pad;
    u32 kept_len;             /* http: bytes in data when a status line kept from earlier I/O begins it, else 0 */
    /* http2: payload covers PAYLOAD_SEGMENTS of the syscall's iovecs at a time (probes/l7_http2.c) */
    u64 window_base;          /* offset in the I/O of the first byte that payload covers */
    u64 iov;                  /* the syscall's iovec array, 0 until looked up */
    u32 iov_count;
    u32 window_segment;       /* index in it of payload's first segment */
};

/* A response's counts, per flow, protocol and status: `requests` maps that key to a slot of `request_slots`, which
 * holds the counts. A socket remembers the slot its last response was counted in (struct l7_state), so that a
 * response with its socket's last protocol and status, the common case, is counted with an array access and a
 * compare instead of a lookup of the 104-byte key (docs/performance.md, "The response's count without its key's
 * hash"). The drain frees a key idle for long in two steps (tracer/capture/request_slots.py): it deletes the key
 * from `requests`, and at its next drain it changes the slot's generation, zeroes its counts and returns it to
 * `free_request_slots`. A remembered slot whose generation changed is no longer its key's. */
struct request_slot {
    u64 generation;
    struct request_stats stats;
};

BPF_HASH(requests, struct request_key, u32, MAX_FLOWS);
BPF_ARRAY(request_slots, struct request_slot, MAX_FLOWS);
BPF_STACK(free_request_slots, u32, MAX_FLOWS);   /* freed slots, the last freed reused first */
BPF_ARRAY(request_slots_used, u64, 1);           /* slots ever handed out: user space reads the array up to there */
BPF_PERCPU_ARRAY(parse_errors, u64, PROTO_COUNT);
BPF_PROG_ARRAY(l7_parsers, PROTO_COUNT);   /* one program per protocol: each fits the verifier alone */
/* the same parsers as uprobe programs, for TLS plaintext (l7_tls_uprobes.c): a tail call stays within its program
 * type. Declared here, in the start's module, which holds it: a program array loses its programs with its last
 * descriptor in user space, and the child that loads the uprobe programs exits (tracer/capture/tls_process.py). */
BPF_PROG_ARRAY(l7_tls_parsers, PROTO_COUNT);
BPF_PERCPU_ARRAY(l7_scratch, struct l7_scratch, 1);
BPF_PERCPU_ARRAY(l7_request_key, struct request_key, 1);

/* The n bytes a scan of the window looked at, or a read copied, read back from memory: each exit of the scan's
 * loop (of payload_read's, one per segment) bounds n differently, and the verifier would walk all that follows
 * once per bound; read back, n is one unknown value at every exit (docs/performance.md, "The verifier's time per
 * program", "The parsers' verifier work, per step"). */
static __always_inline u32 scan_exit(struct l7_scratch *w, u32 n)
{
    w->found.window_len = n;
    RELOAD();
    return w->found.window_len;
}

static __always_inline void count_parse_error(u32 protocol)
{
    u64 *n = parse_errors.lookup(&protocol);
    if (n)
        *n += 1;
}

/* Go on with the I/O in `protocol`'s parser program, of the tracepoints' table or of the uprobes' (tls, a
 * constant at each call, so that a program refers to its own table only). */
static __always_inline void l7_continue(void *ctx, u32 protocol, int tls)
{
    if (tls)
        l7_tls_parsers.call(ctx, protocol);
    else
        l7_parsers.call(ctx, protocol);
}

static __always_inline struct l7_scratch *scratch(void)
{
    u32 zero = 0;
    return l7_scratch.lookup(&zero);
}

/* Sets w->offset to where a walk over the I/O starts: after what is left of a message begun in earlier
 * I/O, or where its previous pass stopped. 0 when nothing of this I/O is left to parse. */
static __always_inline int walk_begin(struct l7_direction *d, struct l7_scratch *w)
{
    if (w->resumed)
        return 1;
    if (d->skip >= w->total) {
        d->skip -= w->total;
        return 0;
    }
    w->offset = d->skip;
    d->skip = 0;
    return 1;
}

/* The walk lost its place in a direction's messages (malformed, or more of them in one I/O than the
 * parser's passes reach): forget that direction's state, unsynced until walk_ready() resyncs it. */
static __always_inline void walk_lost(struct l7_direction *d)
{
    __builtin_memset(d, 0, sizeof(*d));
}

/* After a pass of a walk's steps: 1 to run the parser again from w->offset (a tail call to itself),
 * 0 when the I/O is done, the part of a message beyond it left in d->skip. */
static __always_inline int walk_again(struct l7_direction *d, struct l7_scratch *w)
{
    u64 off = w->offset;
    if (off >= w->total) {
        d->skip = off - w->total;
        return 0;
    }
    if (++w->passes >= L7_MAX_PASSES) {
        walk_lost(d);
        return 0;
    }
    w->resumed = 1;
    return 1;
}

/* Whether a Redis or PostgreSQL walk parses this I/O. Requests always are: a client writes a request
 * whole, so one that lost its place starts over at its next I/O. Responses that lost theirs wait for
 * the next request that starts an I/O; the responses still owed are then forgotten. */
static __always_inline int walk_ready(struct l7_state *st, int side, struct l7_scratch *w)
{
    struct l7_direction *responses = &st->side[SIDE_RESPONSE];
    if (side == SIDE_RESPONSE)
        return responses->synced;
    struct l7_direction *requests = &st->side[SIDE_REQUEST];
    if (!responses->synced && !w->resumed && !requests->skip && !requests->elems && !requests->in_line) {
        __builtin_memset(responses, 0, sizeof(*responses));
        responses->synced = 1;
        st->pending = 0;
    }
    return 1;
}

/* Samples: a request's first bytes are kept per socket while the second's sample budget lasts, and go
 * out through the ring buffer with the first bytes of its response. Errors may use the whole budget,
 * successes half of it.
 *
 * The bytes live in a direct-mapped array, a slot per hash of the socket: a lookup the verifier inlines,
 * where a hash map cost a hash, a bucket walk and an LRU update on every request (docs/performance.md,
 * "Request bytes in a direct-mapped array"). Two sockets in flight on one slot: the later request takes
 * it, and the earlier one's response finds another socket in it and sends no sample. */
#define SAMPLED_SOCKETS_BITS 12
#define SAMPLED_SOCKETS (1 << SAMPLED_SOCKETS_BITS)   /* slots for sockets' latest request bytes */

struct request_bytes {
    u64 sk;                   /* the socket whose request these bytes are */
    u64 started_ns;           /* which of its requests; 0 once sampled */
    u64 writing;              /* 1 while a request's bytes are written: another CPU's skip the slot */
    u32 len;
    u32 pad;
    u8 data[L7_WINDOW];
};

/* struct event's first fields, then the request and its response */
struct sample_event {
    u32 type;
    u32 protocol;
    u64 timestamp_ns;
    struct flow_key key;
    u64 latency_us;
    char status[STATUS_LEN];
    u32 request_len;
    u32 response_len;
    u8 request[L7_WINDOW];
    u8 response[L7_WINDOW];
};

struct sample_budget {
    u64 started;              /* when its second began (bpf_ktime_get_ns) */
    u64 used;
};

BPF_ARRAY(l7_request_bytes, struct request_bytes, SAMPLED_SOCKETS);
BPF_ARRAY(l7_sample_budget, struct sample_budget, 1);

/* The slot of a socket's request bytes: the top bits of a multiplicative (Fibonacci) hash, which depend on
 * every bit of the pointer, so that slab-allocated sockets, equal in their low bits, spread over the slots. */
static __always_inline struct request_bytes *request_bytes_slot(u64 sk)
{
    u32 slot = (sk * 0x9E3779B97F4A7C15ULL) >> (64 - SAMPLED_SOCKETS_BITS);
    return l7_request_bytes.lookup(&slot);
}

/* How much of a per-second budget its second has used at `now` (bpf_ktime_get_ns's clock); a second over, the next
 * begins at `now`, afresh. A compare where the second's number took a division on every request. An I/O's time may
 * be a little older than the second's start (l7_io.c, io_time: TCP read its socket's clock before the program ran):
 * it counts in the current second. */
static __always_inline u64 budget_used(struct sample_budget *b, u64 now)
{
    if ((s64)(now - b->started) >= 1000000000) {
        b->started = now;
        b->used = 0;
    }
    return b->used;
}

/* The budget of the second of `now` if it has room for a sample (an error's, or a success's), else NULL. */
static __always_inline struct sample_budget *sample_budget(int error, u64 now)
{
    u32 zero = 0;
    struct sample_budget *b = l7_sample_budget.lookup(&zero);
    if (!b)
        return 0;
    u64 limit = error ? SAMPLES_PER_SECOND : (SAMPLES_PER_SECOND + 1) / 2;
    return budget_used(b, now) < limit ? b : 0;
}

/* Keep the first bytes of the request at the parser's position, which started at started_ns: the `held` bytes
 * the parser's window already holds, or when 0 a copy from user memory. The budget is checked first: once
 * the second's is spent, a request costs no further lookup. The slot is claimed for the writes (a CPU that
 * finds it claimed leaves it): two CPUs writing one slot at once would leave one socket's bytes in the
 * other's sample. The claim and its release (an exchange) are atomic operations that fetch, which order
 * memory: the writes between them are seen inside the claim. */
static __always_inline void remember_request(struct l7_scratch *w, u64 started_ns, u32 held)
{
    if (!sample_budget(1, started_ns))
        return;
    u64 sk = w->sk;
    struct request_bytes *r = request_bytes_slot(sk);
    if (!r || __sync_val_compare_and_swap(&r->writing, 0, 1))
        return;
    r->sk = sk;
    if (held) {   /* the bytes past held are the window's leftovers: a sample's request_len excludes them */
        __builtin_memcpy(r->data, w->data, L7_WINDOW);
        r->len = held;
    } else {
        r->len = payload_read(&w->payload, w->offset, r->data, L7_WINDOW);
    }
    r->started_ns = started_ns;
    __sync_lock_test_and_set(&r->writing, 0);
}

/* Send the request just answered, with the response at the parser's position, if its bytes were kept. Taking
 * started_ns from the request's time to 0 claims the sample; the bytes count only if no CPU claimed the
 * slot for another request before they were copied out. */
static __always_inline void sample_request(struct l7_state *st, struct sock_info *si, struct request_key *key,
                                           u64 latency_us)
{
    int error = key->protocol == PROTO_HTTP ? key->status[0] >= '4' : key->status[0] != 'o';
    struct l7_scratch *w = scratch();
    if (!w)
        return;
    struct sample_budget *budget = sample_budget(error, w->now);
    if (!budget)
        return;
    u64 sk = w->sk, started = st->completed_ns;
    struct request_bytes *r = request_bytes_slot(sk);
    if (!r || !started || r->sk != sk || r->started_ns != started)
        return;
    if (__sync_val_compare_and_swap(&r->started_ns, started, 0) != started)
        return;
    __builtin_memcpy(&key->flow, &si->key, sizeof(key->flow));
    struct sample_event *e = events.ringbuf_reserve(sizeof(struct sample_event));
    if (!e) {
        count_ringbuf_lost(&key->flow);
        return;
    }
    e->request_len = r->len;
    __builtin_memcpy(e->request, r->data, L7_WINDOW);
    if (__sync_fetch_and_or(&r->writing, 0) || r->sk != sk || r->started_ns) {
        events.ringbuf_discard(e, 0);   /* another request took the slot meanwhile */
        return;
    }
    __sync_fetch_and_add(&budget->used, 1);
    e->type = EVENT_REQUEST_SAMPLE;
    e->protocol = key->protocol;
    e->timestamp_ns = w->now;
    __builtin_memcpy(&e->key, &key->flow, sizeof(e->key));
    e->latency_us = latency_us;
    __builtin_memcpy(e->status, key->status, STATUS_LEN);
    if (w->kept_len) {   /* the status line began in earlier I/O: only the window holds it whole */
        __builtin_memcpy(e->response, w->data, L7_WINDOW);
        e->response_len = w->kept_len;
    } else {
        e->response_len = payload_read(&w->payload, w->offset, e->response, L7_WINDOW);
    }
    events.ringbuf_submit(e, 0);
}

/* A request starts at the parser's position; `held` is how many of its bytes the parser's window holds as
 * payload_read() from there would copy them (0 when it holds fewer). */
static __always_inline void request_started(struct l7_state *st, u32 held)
{
    struct l7_scratch *w = scratch();
    if (!w || st->pending >= PENDING_MAX)
        return;   /* deeper pipelines: the response still counts, its latency from an older request */
    u64 now = w->now;
    if (st->pending == 0)
        remember_request(w, now, held);
    st->started_ns[(st->head + st->pending) & (PENDING_MAX - 1)] = now;
    st->pending++;
}

/* Microseconds since the oldest pending request started (0 if none): the one a response answers. */
static __always_inline u64 request_latency(struct l7_state *st)
{
    struct l7_scratch *w = scratch();
    if (!w || st->pending == 0)
        return 0;
    u64 started = st->started_ns[st->head & (PENDING_MAX - 1)];
    st->completed_ns = started;
    return w->now > started ? (w->now - started) / 1000 : 0;   /* TCP's read of the clock and the helper's may cross */
}

/* The oldest pending request is done: its latency (0 if none is pending). */
static __always_inline u64 request_completed(struct l7_state *st)
{
    u64 latency_us = request_latency(st);
    if (st->pending) {
        st->head = (st->head + 1) & (PENDING_MAX - 1);
        st->pending--;
    }
    return latency_us;
}

static __always_inline u32 log2_bucket(u64 us)
{
    u32 bucket = 0;
#pragma unroll
    for (int shift = 16; shift > 0; shift /= 2) {
        if (us >> shift) {
            us >>= shift;
            bucket += shift;
        }
    }
    return bucket < LATENCY_BUCKETS ? bucket : LATENCY_BUCKETS - 1;
}

/* The per-CPU key a parser writes the status of a response into, status cleared. */
static __always_inline char *status_buffer(void)
{
    u32 zero = 0;
    struct request_key *key = l7_request_key.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key->status, 0, STATUS_LEN);
    return key->status;
}

/* A slot for a new key: a freed one (its counts zeroed by the drain), else one never used; 0 when none is left. */
static __always_inline int take_request_slot(u32 *index)
{
    u32 zero = 0;
    if (free_request_slots.pop(index) == 0)
        return 1;
    u64 *used = request_slots_used.lookup(&zero);
    if (!used || *used >= MAX_FLOWS)
        return 0;
    u64 taken = __sync_fetch_and_add(used, 1);   /* racing CPUs may pass MAX_FLOWS: user space bounds it */
    *index = taken;
    return taken < MAX_FLOWS;
}

/* The index of `key`'s slot in *index, a slot taken when the key is new; 0 when none is left. */
static __always_inline int request_slot_of(struct request_key *key, u32 *index)
{
    u32 *found = requests.lookup(key);
    if (!found) {
        if (!take_request_slot(index))
            return 0;
        if (requests.insert(key, index) == 0)
            return 1;
        free_request_slots.push(index, 0);   /* another CPU inserted the key first, or the map is full */
        found = requests.lookup(key);
        if (!found)
            return 0;
    }
    *index = *found;
    return 1;
}

/* The counts of the response in `key` (its protocol and status) on the socket's flow; NULL when no slot is left.
 * Only a response that looks its key up has the flow copied into it. */
static __always_inline struct request_stats *response_counts(struct l7_state *st, struct sock_info *si,
                                                             struct request_key *key)
{
    u32 index = st->counted_slot;
    struct request_slot *slot = request_slots.lookup(&index);
    if (slot && st->counted_protocol == key->protocol && same_16_bytes(st->counted_status, key->status) &&
        slot->generation == st->counted_generation)
        return &slot->stats;
    __builtin_memcpy(&key->flow, &si->key, sizeof(key->flow));
    if (!request_slot_of(key, &index) || !(slot = request_slots.lookup(&index)))
        return 0;
    st->counted_slot = index;
    st->counted_generation = slot->generation;
    st->counted_protocol = key->protocol;
    __builtin_memcpy(st->counted_status, key->status, STATUS_LEN);
    return &slot->stats;
}

/* Count one response of `protocol` on the socket's flow, with the status left in status_buffer() and the
 * latency of the request it answers; sample it if the budget allows. */
static __always_inline void record_request(struct l7_state *st, struct sock_info *si, u32 protocol, u64 latency_us)
{
    u32 zero = 0;
    struct request_key *key = l7_request_key.lookup(&zero);
    if (!key)
        return;
    key->protocol = protocol;
    key->pad = 0;
    struct request_stats *stats = response_counts(st, si, key);
    if (!stats) {
        count_lost(LOST_REQUESTS_FULL);
        return;
    }
    __sync_fetch_and_add(&stats->count, 1);
    __sync_fetch_and_add(&stats->latency_sum_us, latency_us);
    u32 bucket = log2_bucket(latency_us);
    __sync_fetch_and_add(&stats->latency_log2_us[bucket], 1);
    sample_request(st, si, key, latency_us);
}

static __always_inline int is_digit(u8 c)
{
    return c >= '0' && c <= '9';
}
