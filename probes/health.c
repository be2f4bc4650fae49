/* TCP health per flow from tracepoints tcp:tcp_retransmit_skb, tcp:tcp_send_reset (raw) and
 * tcp:tcp_receive_reset. They can run in softirq context, so the flow comes from the socket's state. */

static __always_inline struct sock_info *known_socket(const void *sk)
{
    u64 key = (u64)sk;
    if (!sk)
        return 0;
    struct sock_info *si = sockets.lookup(&key);
    return si ? si : closed_sockets.lookup(&key);
}

TRACEPOINT_PROBE(tcp, tcp_retransmit_skb)
{
    if (args->err)
        return 0;   /* not sent (local congestion, no memory): the kernel does not count it either */
    struct sock_info *si = known_socket(args->skaddr);
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

/* Raw tracepoint: the format of tcp_send_reset carries an enum that older header trees lack, which
 * BCC's generated argument struct cannot compile against. The first argument is the socket on every
 * kernel that has the tracepoint (NULL for resets sent without one). */
RAW_TRACEPOINT_PROBE(tcp_send_reset)
{
    return count_reset((const void *)ctx->args[0], EVENT_RESET_SENT);
}

TRACEPOINT_PROBE(tcp, tcp_receive_reset)
{
    return count_reset(args->skaddr, EVENT_RESET_RECEIVED);
}
