/* Request/response tracking shared by the L7 parsers: per-socket state, pending request times, and
 * the per flow, protocol and status aggregate that user space drains with the flows.
 *
 * A socket's requests travel one way and its responses the other: a client sends requests, a server
 * receives them. Each end counts at its own socket, under its own flow key. */

#define PROTO_UNKNOWN 0
#define PROTO_HTTP 1
#define PROTO_REDIS 2
#define PROTO_POSTGRES 3
#define PROTO_NONE 4          /* not a protocol we parse: bytes only */
#define PROTO_COUNT 4         /* parse error counters, indexed by PROTO_* (0 unused) */

#define SIDE_REQUEST 0
#define SIDE_RESPONSE 1

#define PENDING_MAX 8         /* outstanding (pipelined) requests whose start times are kept */
#define DETECT_ATTEMPTS 4     /* request-side I/Os looked at before giving a socket up as bytes only */
#define STATUS_LEN 16
#define LATENCY_BUCKETS 27    /* tracer/records.py LATENCY_BUCKETS */
#define SCRATCH_SIZE (2 * L7_WINDOW)  /* reads of a few bytes past the window stay inside the array */

struct l7_direction {
    u64 skip;                 /* bytes of the current message still to come, not to be parsed */
    u32 elems;                /* redis: elements left in the current top-level message */
    u8 synced;                /* the next byte starts a message */
    u8 in_line;               /* redis: inside a line whose end is still to be found */
    u8 batch_open;            /* postgres: an extended-protocol batch was counted, Sync ends it */
    u8 error_seen;            /* postgres: the pending request's ErrorResponse was counted */
};

struct l7_state {
    u32 portpair;             /* tells a reused struct sock from the connection this state belongs to */
    u8 protocol;
    u8 attempts;
    u8 head;                  /* oldest pending request in started_ns */
    u8 pending;
    u64 started_ns[PENDING_MAX];
    struct l7_direction side[2];
};

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

/* Per-CPU working memory; also carries the I/O from the tracepoint to its parser's tail call. */
struct l7_scratch {
    u8 data[SCRATCH_SIZE];
    struct payload payload;
    u64 sk;
    u64 offset;               /* where the previous pass of the parser stopped in this I/O */
    u32 total;
    u8 side;
    u8 resumed;               /* offset is valid: this is a continuation tail call */
    u8 pad[2];
};

BPF_TABLE("lru_hash", u64, struct l7_state, l7_sockets, MAX_SOCKETS);
BPF_HASH(requests, struct request_key, struct request_stats, MAX_FLOWS);
BPF_PERCPU_ARRAY(parse_errors, u64, PROTO_COUNT);
BPF_PROG_ARRAY(l7_parsers, PROTO_COUNT);   /* one program per protocol: each fits the verifier alone */
BPF_PERCPU_ARRAY(l7_scratch, struct l7_scratch, 1);
BPF_PERCPU_ARRAY(l7_request_key, struct request_key, 1);
BPF_PERCPU_ARRAY(l7_zero_stats, struct request_stats, 1);   /* never written: the initial value */

static __always_inline void count_parse_error(u32 protocol)
{
    u64 *n = parse_errors.lookup(&protocol);
    if (n)
        *n += 1;
}

static __always_inline struct l7_scratch *scratch(void)
{
    u32 zero = 0;
    return l7_scratch.lookup(&zero);
}

static __always_inline u8 *scratch_window(void)
{
    struct l7_scratch *s = scratch();
    return s ? s->data : 0;
}

/* Where a parser pass starts in the I/O: after what is left of a message begun in earlier I/O, or where
 * its previous pass stopped. 0 when nothing of this I/O is left to parse. */
static __always_inline int parse_from(struct l7_direction *d, struct l7_scratch *w, u64 *off)
{
    if (w->resumed) {
        *off = w->offset;
        return 1;
    }
    if (d->skip >= w->total) {
        d->skip -= w->total;
        return 0;
    }
    *off = d->skip;
    d->skip = 0;
    return 1;
}

/* A parser used up its steps at off: its program runs again from there (a tail call to itself). */
static __always_inline int parse_again(struct l7_scratch *w, u64 off)
{
    w->offset = off;
    w->resumed = 1;
    return 1;
}

static __always_inline void request_started(struct l7_state *st)
{
    if (st->pending >= PENDING_MAX)
        return;   /* deeper pipelines: the response still counts, its latency from an older request */
    st->started_ns[(st->head + st->pending) & (PENDING_MAX - 1)] = bpf_ktime_get_ns();
    st->pending++;
}

/* Microseconds since the oldest pending request started (0 if none), which the response completes. */
static __always_inline u64 request_completed(struct l7_state *st)
{
    if (st->pending == 0)
        return 0;
    u64 started = st->started_ns[st->head & (PENDING_MAX - 1)];
    st->head = (st->head + 1) & (PENDING_MAX - 1);
    st->pending--;
    return (bpf_ktime_get_ns() - started) / 1000;
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

/* Count one response of `protocol` on the socket's flow, with the status left in status_buffer(). */
static __always_inline void record_request(struct sock_info *si, u32 protocol, u64 latency_us)
{
    u32 zero = 0;
    struct request_key *key = l7_request_key.lookup(&zero);
    struct request_stats *initial = l7_zero_stats.lookup(&zero);
    if (!key || !initial)
        return;
    __builtin_memcpy(&key->flow, &si->key, sizeof(key->flow));
    key->protocol = protocol;
    key->pad = 0;
    struct request_stats *stats = requests.lookup(key);
    if (!stats) {
        requests.insert(key, initial);
        stats = requests.lookup(key);
        if (!stats) {
            count_lost(LOST_FLOWS_FULL);
            return;
        }
    }
    __sync_fetch_and_add(&stats->count, 1);
    __sync_fetch_and_add(&stats->latency_sum_us, latency_us);
    u32 bucket = log2_bucket(latency_us);
    __sync_fetch_and_add(&stats->latency_log2_us[bucket], 1);
}

/* Hides a loop counter's value from the compiler, which would otherwise end a scan on `counter == n`:
 * the verifier cannot bound a loop by equality with a variable and walks it past the buffer. */
#define OPAQUE(counter) asm volatile("" : "+r"(counter))

static __always_inline int is_digit(u8 c)
{
    return c >= '0' && c <= '9';
}
