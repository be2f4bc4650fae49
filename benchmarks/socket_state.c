/* benchmarks/socket_state.py's programs, compiled after probes/common.h: its struct sock_info and socket_slots.
 *
 * The sock length hooks' programs are BTF-typed raw tracepoints (tp_btf): their context is the tracepoint's
 * arguments, TP_PROTO(struct sock *sk, int ret, int flags), and the socket pointer is typed, which
 * bpf_sk_storage_get() needs. Each arm reads a socket's state as probes/bytes_tracepoint.c does at every socket
 * call with bytes: found by the socket, created on its first call, its byte count raised (count_bytes,
 * probes/bytes.c). */

/* The socket's whole state in a hash keyed by its pointer, as `sockets` held it before live sockets moved to
 * socket_slots (probes/common.h); benchmarks/socket_state.py gives it the agent's default max entries. */
BPF_HASH(state_hash, u64, struct sock_info, MAX_SOCKETS);

/* The same value, kept in the socket itself. */
BPF_SK_STORAGE(socket_storage, struct sock_info);

static __always_inline void count_call_bytes(struct sock_info *si, int dir, int ret)
{
    if (dir == DIR_SEND)
        __sync_fetch_and_add(&si->bytes_sent, ret);
    else
        __sync_fetch_and_add(&si->bytes_received, ret);
}

static __always_inline int through_hash(u64 *ctx, int dir)
{
    int ret = (int)ctx[1];
    if (ret <= 0)
        return 0;
    u64 key = ctx[0];
    struct sock_info *si = state_hash.lookup(&key);
    if (!si) {
        struct sock_info fresh = {};
        state_hash.insert(&key, &fresh);
        si = state_hash.lookup(&key);
        if (!si)
            return 0;   /* full */
    }
    count_call_bytes(si, dir, ret);
    return 0;
}

static __always_inline int through_storage(u64 *ctx, int dir)
{
    int ret = (int)ctx[1];
    if (ret <= 0)
        return 0;
    struct sock_info *si = socket_storage.sk_storage_get((struct sock *)ctx[0], 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!si)
        return 0;
    count_call_bytes(si, dir, ret);
    return 0;
}

int empty_send(u64 *ctx) { return 0; }
int empty_recv(u64 *ctx) { return 0; }
int hash_send(u64 *ctx) { return through_hash(ctx, DIR_SEND); }
int hash_recv(u64 *ctx) { return through_hash(ctx, DIR_RECV); }
int storage_send(u64 *ctx) { return through_storage(ctx, DIR_SEND); }
int storage_recv(u64 *ctx) { return through_storage(ctx, DIR_RECV); }

/* --iter: what a drain would read of each socket's storage, the head tracer/capture/socket_bytes.py reads of
 * each live socket's slot (its flow key and byte counts). The context's layout is the kernel's
 * (net/core/bpf_sk_storage.c), which the headers BCC compiles against do not have. */
struct storage_iter_meta {
    struct seq_file *seq;
    u64 session_id;
    u64 seq_num;
};

struct bpf_iter__bpf_sk_storage_map {
    struct storage_iter_meta *meta;
    struct bpf_map *map;
    struct sock *sk;
    struct sock_info *value;   /* NULL in the run that ends the walk */
};

BPF_ITER(bpf_sk_storage_map)
{
    if (ctx->value)
        bpf_seq_write(ctx->meta->seq, ctx->value, offsetof(struct sock_info, connect_start_ns));
    return 0;
}
