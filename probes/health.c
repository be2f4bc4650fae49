/* TCP health per flow from tracepoints tcp:tcp_retransmit_skb, tcp:tcp_send_reset and
 * tcp:tcp_receive_reset. They can run in softirq context, so the flow comes from the socket's state. */

static __always_inline struct sock_info *known_socket(const void *sk)
{
    u64 key = (u64)sk;
    if (!sk)
        return 0;
    struct sock_info *si = socket_state(key);
    return si ? si : closed_sockets.lookup(&key);
}

/* Raw tracepoints throughout: they run in softirq context, where a perf-event tracepoint program would
 * be skipped whenever it interrupts another BPF program. */

/* TP_PROTO(const struct sock *sk, const struct sk_buff *skb[, int err]) */
RAW_TRACEPOINT_PROBE(tcp_retransmit_skb)
{
#ifdef RETRANSMIT_HAS_ERR
    if ((int)ctx->args[2])
        return 0;   /* not sent (local congestion, no memory): the kernel does not count it either */
#endif
    struct sock_info *si = known_socket((const void *)ctx->args[0]);
    if (!si)
        return 0;
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (stats)
        __sync_fetch_and_add(&stats->retransmits, 1);
    return 0;
}

static __always_inline int count_reset(const void *sk, u32 type)
{
    struct sock_info *si = known_socket(sk);
    if (!si)
        return 0;
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (stats) {
        if (type == EVENT_RESET_SENT)
            __sync_fetch_and_add(&stats->resets_sent, 1);
        else
            __sync_fetch_and_add(&stats->resets_received, 1);
    }
    emit_event(type, 0, &si->key);
    return 0;
}

/* The first argument is the socket on every kernel that has the tracepoint (NULL for resets sent
 * without one). */
RAW_TRACEPOINT_PROBE(tcp_send_reset)
{
    return count_reset((const void *)ctx->args[0], EVENT_RESET_SENT);
}

/* TP_PROTO(struct sock *sk) */
RAW_TRACEPOINT_PROBE(tcp_receive_reset)
{
    return count_reset((const void *)ctx->args[0], EVENT_RESET_RECEIVED);
}
