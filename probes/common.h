/* Shared types, maps and helpers of Intuition's probes.
 *
 * Kernel structs are never dereferenced through header layouts beyond the first fields of
 * struct sock_common: the headers BCC compiles against may belong to another kernel. Other fields
 * are read at offsets from the running kernel's BTF, passed in as -D constants (OFF_*).
 *
 * Limits come from the loader as -D constants: MAX_SOCKETS, SOCKET_SLOT_BITS, MAX_CLOSED_SOCKETS, MAX_FLOWS,
 * MAX_LISTENERS, RINGBUF_PAGES. So do the numbers user space reads back (tracer/capture/probe_constants.py):
 * ROLE_*, EVENT_*, PROTO_*, LOST_*, STATUS_LEN, LATENCY_BUCKETS, DNS_*.
 */
#ifndef INTUITION_COMMON_H
#define INTUITION_COMMON_H

#define COMM_LEN 16

/* Every BPF program is a PROGRAM, TRACEPOINT_PROBE or RAW_TRACEPOINT_PROBE. Compiled with MAPS_ONLY (a start
 * whose programs are in tracer/capture/program_cache.py's cache), each is an extern inline function in GNU's
 * sense, which clang never emits: BCC creates the same maps and compiles no program. Not static: BCC builds a
 * tracepoint's argument struct only for an externally visible function. */
#ifdef MAPS_ONLY
#define PROGRAM extern inline __attribute__((gnu_inline))
#undef TRACEPOINT_PROBE
#define TRACEPOINT_PROBE(category, event) \
    PROGRAM int tracepoint__##category##__##event(struct tracepoint__##category##__##event *args)
#undef RAW_TRACEPOINT_PROBE
#define RAW_TRACEPOINT_PROBE(event) PROGRAM int raw_tracepoint__##event(struct bpf_raw_tracepoint_args *ctx)
#else
#define PROGRAM
#endif

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* a socket call's direction (bytes.c), or an OpenSSL call's (l7_tls_uprobes.c) */
#define DIR_SEND 0
#define DIR_RECV 1

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#define ECONNREFUSED 111
#define ETIMEDOUT 110

/* One in-kernel aggregate: owner, role, peer and server port. Never the client's ephemeral port.
 * Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
struct flow_key {
    u64 cgroup_id;
    u32 tgid;
    u16 server_port;
    u8 role;
    u8 pad;
    u8 local_addr[16];
    u8 peer_addr[16];
    char comm[COMM_LEN];
    u32 peer_tgid;           /* server flows: the client process when it runs on this host, else 0 */
    u32 pad2;
};

struct flow_stats {
    u64 opens;
    u64 closes;
    u64 connect_refused;
    u64 connect_timeout;
    u64 connect_other;
    u64 connect_time_us;
    u64 bytes_sent;
    u64 bytes_received;
    u64 retransmits;
    u64 resets_sent;
    u64 resets_received;
    u64 events_lost;         /* this flow's events and request samples the ring buffer had no room for */
};

#ifdef L7_WINDOW
/* A connection's request parsing state (probes/l7*.c), part of its socket's state so that one lookup per
 * socket call finds both. */
#define PENDING_MAX 8         /* outstanding (pipelined) requests whose start times are kept */

struct l7_direction {
    u64 skip;                 /* bytes of the current message still to come, not to be parsed */
    u32 elems;                /* redis: elements left in the current top-level message */
    u8 synced;                /* the next byte starts a message */
    u8 in_line;               /* redis: inside a line whose end is still to be found */
    u8 batch_open;            /* postgres: an extended-protocol batch was counted, Sync ends it */
    u8 error_seen;            /* postgres: the pending request's ErrorResponse was counted */
    u8 chunked;               /* http: inside a chunked body; a chunk's size line follows skip */
    u8 header_only;           /* mysql: the last I/O ended with a packet header alone (requests: kept in elems) */
    u8 until_request;         /* http, responses: all up to the next request-side I/O is the last response's */
};

struct l7_state {
    u8 protocol;
    u8 attempts;
    u8 head;                  /* oldest pending request in started_ns */
    u8 pending;
    u8 no_inline;             /* detection: this socket is not Redis spoken inline */
    u8 carry_len;             /* http: bytes of a status line that the next response I/O continues */
    u8 head_requests;         /* http: bit i set when the request in started_ns[i] is a HEAD */
    u8 tls;                   /* TLS: the socket's I/O is ciphertext; OpenSSL's calls carry its plaintext */
    u64 started_ns[PENDING_MAX];
    u64 completed_ns;         /* start of the request answered last: its sample's request bytes */
    struct l7_direction side[2];
    u8 carry[16];
    /* The counts its last response went to (probes/l7.c, response_counts): their slot and its generation then,
     * and the response's protocol and status. counted_protocol 0 (PROTO_UNKNOWN, never counted): none. */
    u64 counted_generation;
    u32 counted_slot;
    u32 counted_protocol;
    char counted_status[STATUS_LEN];
};
#endif

/* Per-socket state, keyed by the struct sock pointer. A socket's entry is created at its connect or accept (or
 * its first I/O) and moves to closed_sockets at its close: a reused struct sock starts afresh. */
struct sock_info {
    struct flow_key key;     /* key.tgid == 0 until the owner is known */
    /* Counted here, not on the flow, to spare each read and write a flow lookup: added to the flow when the
     * socket closes or its key changes (fold_socket_bytes), and by the drain while it is open
     * (tracer/capture/socket_bytes.py). */
    u64 bytes_sent;
    u64 bytes_received;
    u64 connect_start_ns;
    u8 opened;               /* the open was counted on key */
    u8 server_parses;        /* client: its server end is a socket on this host, which parses the requests */
    u8 closed;               /* back from closed_sockets for I/O after its CLOSE: its open and close are counted */
    u8 pad[5];
#ifdef L7_WINDOW
    struct l7_state l7;
#endif
};

struct listener_key {
    u64 netns;               /* struct net pointer: ports repeat across network namespaces */
    u16 port;
    u8 pad[6];
};

/* A connected client socket's local end, so that the server end on this host can tell its client apart from
 * other processes calling from the same address, and find the client's socket. */
struct client_end {
    u8 addr[16];
    u16 port;
    u8 pad[6];
};

struct client_socket {
    u64 sk;
    u32 tgid;
    u32 pad;
};

struct owner {
    u64 cgroup_id;
    u32 tgid;
    u32 pad;
    char comm[COMM_LEN];
};

struct event {
    u32 type;                /* EVENT_* */
    u32 error;               /* errno for connect failures */
    u64 timestamp_ns;        /* bpf_ktime_get_ns */
    struct flow_key key;
};

/* Live sockets' state, in one array of two parts (docs/architecture.md). A socket's state stays in one slot for
 * its life: its direct slot, the top SOCKET_SLOT_BITS bits of a multiplicative (Fibonacci) hash of its pointer, when
 * that slot was free at the state's creation; else an overflow slot, one of the MAX_SOCKETS after the direct ones,
 * found through `sockets`. A direct slot's lookup is an array access the verifier inlines, a hash lookup two helper
 * calls (docs/performance.md). One array for both parts: a pointer into either is of one type to the verifier, which
 * would otherwise explore every parser twice (the HTTP/2 parser then exceeds its limit).
 * Every access goes through socket_state, track_socket and forget_socket. Nothing is evicted: a full LRU would drop
 * a live socket's state and lose its close without a trace. Every state leaves at its socket's CLOSE, or at its
 * destruction when the kernel skipped that run (lifecycle.c), so the array holds live sockets only; one that finds
 * no room is not tracked, and counted (track_socket). */
#define SLOT_CLAIMED 1   /* owner | SLOT_CLAIMED: being written; never a socket pointer, which is aligned */
#define DIRECT_SLOTS (1 << SOCKET_SLOT_BITS)

struct sock_slot {
    u64 owner;               /* the socket's pointer; 0 when free. Read together with info by user space. */
    struct sock_info info;
};

BPF_ARRAY(socket_slots, struct sock_slot, DIRECT_SLOTS + MAX_SOCKETS);
BPF_HASH(sockets, u64, u32, MAX_SOCKETS);                  /* an overflowing socket -> its slot's index */
BPF_QUEUE(free_overflow_slots, u32, MAX_SOCKETS);          /* overflow slots freed at closes, for reuse */
BPF_ARRAY(overflow_slots_used, u64, 1);                    /* overflow slots ever handed out: user space reads
                                                              the array up to there */
/* Sockets move here at CLOSE: resets and retransmits that follow a close still find their flow, until the
 * socket is destroyed. */
BPF_TABLE("lru_hash", u64, struct sock_info, closed_sockets, MAX_CLOSED_SOCKETS);
BPF_TABLE("lru_hash", struct listener_key, struct owner, listeners, MAX_LISTENERS);
BPF_HASH(flows, struct flow_key, struct flow_stats, MAX_FLOWS);
/* client end -> its process, from connect to close (an entry whose close was missed ages out) */
BPF_TABLE("lru_hash", struct client_end, struct client_socket, client_ends, MAX_SOCKETS);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_PERCPU_ARRAY(lost, u64, LOST_COUNT);

static __always_inline void count_lost(u32 index)
{
    u64 *n = lost.lookup(&index);
    if (n)
        *n += 1;   /* per-CPU slot: no atomic needed */
}

/* The cgroup that names the current task's container: the v2 cgroup id on a pure v2 host, else the
 * kernfs id (= directory inode) of its cgroup in one v1 hierarchy (CGROUP_V1_SUBSYS). 0 on a v1 host
 * without BTF (CGROUP_FROM_TGID): user space then goes from the tgid through /proc. */
static __always_inline u64 current_cgroup_id(void)
{
#if defined(CGROUP_FROM_TGID)
    return 0;
#elif defined(CGROUP_V1_SUBSYS)
    char *task = (char *)bpf_get_current_task();
    char *css_set = 0, *css = 0, *cgrp = 0, *kn = 0;
    u64 id = 0;
    bpf_probe_read_kernel(&css_set, sizeof(css_set), task + OFF_TASK_CGROUPS);
    if (!css_set)
        return 0;
    bpf_probe_read_kernel(&css, sizeof(css), css_set + OFF_CSS_SET_SUBSYS + CGROUP_V1_SUBSYS * sizeof(void *));
    if (!css)
        return 0;
    bpf_probe_read_kernel(&cgrp, sizeof(cgrp), css + OFF_CSS_CGROUP);
    if (!cgrp)
        return 0;
    bpf_probe_read_kernel(&kn, sizeof(kn), cgrp + OFF_CGROUP_KN);
    if (!kn)
        return 0;
    bpf_probe_read_kernel(&id, sizeof(id), kn + OFF_KERNFS_NODE_ID);
    return id;
#else
    return bpf_get_current_cgroup_id();
#endif
}

/* The process's name, not the calling thread's: threads rename themselves (worker pools, JVMs), and a
 * service is named after its process. The thread's name only without BTF. */
static __always_inline void process_comm(char *comm)
{
    __builtin_memset(comm, 0, COMM_LEN);   /* part of map keys: no bytes left from an earlier owner */
#ifdef OFF_TASK_GROUP_LEADER
    char *task = (char *)bpf_get_current_task();
    char *leader = 0;
    bpf_probe_read_kernel(&leader, sizeof(leader), task + OFF_TASK_GROUP_LEADER);
    if (leader && bpf_probe_read_kernel_str(comm, COMM_LEN, leader + OFF_TASK_COMM) > 0)
        return;
#endif
    bpf_get_current_comm(comm, COMM_LEN);
}

static __always_inline void fill_owner(struct flow_key *key)
{
    key->tgid = bpf_get_current_pid_tgid() >> 32;
    key->cgroup_id = current_cgroup_id();
    process_comm(key->comm);
}

/* Store an IPv4 address (network order, as in memory) IPv4-mapped in 16 bytes. */
static __always_inline void set_addr_v4(u8 *dst, u32 addr)
{
    __builtin_memset(dst, 0, 10);
    dst[10] = 0xff;
    dst[11] = 0xff;
    __builtin_memcpy(dst + 12, &addr, 4);
}

/* Copy an address out of kernel memory (a socket or tracepoint arguments) as 16 bytes. */
static __always_inline void read_addr(u8 *dst, const void *src, u16 family)
{
    if (family == AF_INET) {
        u32 addr = 0;
        bpf_probe_read_kernel(&addr, sizeof(addr), src);
        set_addr_v4(dst, addr);
    } else {
        bpf_probe_read_kernel(dst, 16, src);
    }
}

/* A socket's tuple from sock_common: local and peer address (16 bytes each), local and peer port. */
static __always_inline void read_tuple(const char *sk, u8 *local, u8 *peer, u16 *local_port, u16 *peer_port)
{
    u16 family = 0, peer_port_be = 0;
    bpf_probe_read_kernel(&family, sizeof(family), sk + OFF_SKC_FAMILY);
    bpf_probe_read_kernel(local_port, sizeof(*local_port), sk + OFF_SKC_NUM);
    bpf_probe_read_kernel(&peer_port_be, sizeof(peer_port_be), sk + OFF_SKC_DPORT);
    *peer_port = (peer_port_be >> 8) | (peer_port_be << 8);
    int v4 = family == AF_INET;
    read_addr(local, sk + (v4 ? OFF_SKC_RCV_SADDR : OFF_SKC_V6_RCV_SADDR), family);
    read_addr(peer, sk + (v4 ? OFF_SKC_DADDR : OFF_SKC_V6_DADDR), family);
}

/* The flow's counters, created on first use. NULL (and counted as lost) when the map is full. */
static __always_inline struct flow_stats *flow_stats_of(struct flow_key *key)
{
    struct flow_stats zero = {};
    struct flow_stats *stats = flows.lookup_or_try_init(key, &zero);
    if (!stats)
        count_lost(LOST_FLOWS_FULL);
    return stats;
}

/* Two 16-byte fields (addresses, statuses) equal, compared 8 bytes at a time: both 8-byte aligned. */
static __always_inline int same_16_bytes(const void *a, const void *b)
{
    return *(const u64 *)a == *(const u64 *)b && *(const u64 *)(a + 8) == *(const u64 *)(b + 8);
}

#ifdef SOCK_LENGTH_TP_BTF
/* A typed pointer (a tp_btf hook's socket, its context) as a number, 0 if the cell is missing: the verifier allows
 * no arithmetic on a typed pointer, and a value read back from a map is a number to it. */
BPF_PERCPU_ARRAY(pointer_cell, u64, 1);

static __always_inline u64 pointer_number(const void *p)
{
    u32 zero = 0;
    u64 *cell = pointer_cell.lookup(&zero);
    if (!cell)
        return 0;
    *cell = (u64)p;
    asm volatile("" ::: "memory");   /* read it back from the map, not from the register that holds it */
    return *cell;
}
#endif

static __always_inline struct sock_slot *direct_slot(u64 sk)
{
    u32 index = (sk * 0x9E3779B97F4A7C15ULL) >> (64 - SOCKET_SLOT_BITS);
    return socket_slots.lookup(&index);
}

static __always_inline struct sock_slot *overflow_slot(u64 sk)
{
    u32 *index = sockets.lookup(&sk);
    return index ? socket_slots.lookup(index) : 0;
}

/* A live socket's state, or NULL. A slot being written names no socket (SLOT_CLAIMED), so it is never used
 * half-written. As with a hash's preallocated element, a slot can be reused while another CPU holds it. */
static __always_inline struct sock_info *socket_state(u64 sk)
{
    struct sock_slot *slot = direct_slot(sk);
    if (!slot || slot->owner != sk)
        slot = overflow_slot(sk);
    return slot && slot->owner == sk ? &slot->info : 0;
}

/* Write a socket's state into a slot that is free or already its own; the owner is named last. */
static __always_inline struct sock_info *fill_slot(struct sock_slot *slot, u64 sk, struct sock_info *si)
{
    if (__sync_val_compare_and_swap(&slot->owner, 0, sk | SLOT_CLAIMED) != 0 &&
        __sync_val_compare_and_swap(&slot->owner, sk, sk | SLOT_CLAIMED) != sk)
        return 0;
    __builtin_memcpy(&slot->info, si, sizeof(*si));
    __sync_val_compare_and_swap(&slot->owner, sk | SLOT_CLAIMED, sk);
    return &slot->info;
}

/* Free an overflowing socket's slot: its index entry goes, then its owner, then the slot is reusable. */
static __always_inline void free_overflow_slot(u64 sk)
{
    u32 *found = sockets.lookup(&sk);
    if (!found)
        return;
    u32 index = *found;
    sockets.delete(&sk);
    struct sock_slot *slot = socket_slots.lookup(&index);
    if (slot && __sync_val_compare_and_swap(&slot->owner, sk, 0) == sk)
        free_overflow_slots.push(&index, 0);
}

/* A free overflow slot's index, or 0 when all are in use: a freed one, else one never used. */
static __always_inline u32 take_overflow_slot(void)
{
    u32 index = 0, zero = 0;
    if (free_overflow_slots.pop(&index) == 0)
        return index;
    u64 *used = overflow_slots_used.lookup(&zero);
    if (!used || *used >= MAX_SOCKETS)
        return 0;
    u64 taken = __sync_fetch_and_add(used, 1);   /* racing CPUs may pass MAX_SOCKETS: user space bounds it */
    return taken < MAX_SOCKETS ? DIRECT_SLOTS + taken : 0;
}

/* Start tracking a socket, replacing any state it has; its state, or NULL when no slot is left (counted as
 * lost). A state a missed close left is replaced in place, or dropped when the socket now gets its direct slot. */
static __always_inline struct sock_info *track_socket(u64 sk, struct sock_info *si)
{
    struct sock_slot *slot = direct_slot(sk);
    struct sock_info *state = slot ? fill_slot(slot, sk, si) : 0;
    if (state) {
        free_overflow_slot(sk);
        return state;
    }
    slot = overflow_slot(sk);
    if (slot && (state = fill_slot(slot, sk, si)))
        return state;
    u32 index = take_overflow_slot();
    slot = index ? socket_slots.lookup(&index) : 0;
    state = slot ? fill_slot(slot, sk, si) : 0;
    if (state && sockets.update(&sk, &index) == 0)
        return state;
    if (state && __sync_val_compare_and_swap(&slot->owner, sk, 0) == sk)
        free_overflow_slots.push(&index, 0);
    count_lost(LOST_SOCKETS_FULL);
    return 0;
}

/* A socket's state goes (its close); its owner is cleared last, so a slot is never free half-used. */
static __always_inline void forget_socket(u64 sk)
{
    struct sock_slot *slot = direct_slot(sk);
    if (!slot || __sync_val_compare_and_swap(&slot->owner, sk, 0) != sk)
        free_overflow_slot(sk);
}

/* The ring buffer had no room for an event or sample of this flow: counted in all, and on the flow, whose edge
 * the agent then shows as incomplete. */
static __always_inline void count_ringbuf_lost(struct flow_key *key)
{
    count_lost(LOST_RINGBUF);
    struct flow_stats *stats = flows.lookup(key);
    if (stats)
        __sync_fetch_and_add(&stats->events_lost, 1);
}

static __always_inline void emit_event(u32 type, u32 error, struct flow_key *key)
{
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (!e) {
        count_ringbuf_lost(key);
        return;
    }
    e->type = type;
    e->error = error;
    e->timestamp_ns = bpf_ktime_get_ns();
    __builtin_memcpy(&e->key, key, sizeof(struct flow_key));
    events.ringbuf_submit(e, 0);
}

/* Add bytes a socket's entry no longer holds to its flow. The entry gives them up first (by deletion or
 * subtraction), then the flow gets them: a drain reads flows before sockets, so it may miss them for one drain
 * but never counts them twice (tracer/capture/socket_bytes.py). */
static __always_inline void add_bytes(struct flow_stats *stats, u64 sent, u64 received)
{
    if (!stats)
        return;
    __sync_fetch_and_add(&stats->bytes_sent, sent);
    __sync_fetch_and_add(&stats->bytes_received, received);
}

/* Before a live socket's key changes: its bytes, counted under the old key, move to the old key's flow, and the
 * response counts it used last, the old key's, are no longer its own (probes/l7.c, response_counts). */
static __always_inline void fold_socket_bytes(struct sock_info *si)
{
#ifdef L7_WINDOW
    si->l7.counted_protocol = 0;
#endif
    u64 sent = si->bytes_sent, received = si->bytes_received;
    if (!(sent | received))
        return;
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (!stats)
        return;   /* counted as lost: the drain showed them under the old key while the socket was open */
    __sync_fetch_and_sub(&si->bytes_sent, sent);
    __sync_fetch_and_sub(&si->bytes_received, received);
    add_bytes(stats, sent, received);
}

/* Count the socket's open on its flow; the flow's counters, or NULL when the map is full. */
static __always_inline struct flow_stats *count_open(struct sock_info *si)
{
    si->opened = 1;
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (stats)
        __sync_fetch_and_add(&stats->opens, 1);
    return stats;
}

/* A client's open, with the time since its connect began. */
static __always_inline void count_client_open(struct sock_info *si)
{
    struct flow_stats *stats = count_open(si);
    if (stats)
        __sync_fetch_and_add(&stats->connect_time_us, (bpf_ktime_get_ns() - si->connect_start_ns) / 1000);
}

/* Server sockets are attributed to the task that first reads or writes them: the handshake completes
 * in softirq context, where "current" is whoever the CPU was running. Counts the open then. */
static __always_inline void claim_server_socket(struct sock_info *si)
{
    if (si->opened)
        return;
    fold_socket_bytes(si);   /* an adopted server socket's first I/O counted bytes under its adopter */
    fill_owner(&si->key);
    count_open(si);
}

#endif
