/* Bytes each way, per flow. The hook-specific entry points (bytes_tracepoint.c, bytes_kprobe.c) call
 * count_bytes() in the task that sends or receives. */

#define DIR_SEND 0
#define DIR_RECV 1

/* A socket seen for the first time on I/O predates the agent (or its handshake was missed): take its
 * tuple from sock_common and guess the role from the ports. Its open is not counted. */
static __always_inline struct sock_info *adopt_socket(const void *sk, u64 key)
{
    struct sock_info si = {};
    u16 family = 0, local_port = 0, peer_port_be = 0;
    bpf_probe_read_kernel(&family, sizeof(family), (char *)sk + OFF_SKC_FAMILY);
    bpf_probe_read_kernel(&local_port, sizeof(local_port), (char *)sk + OFF_SKC_NUM);
    bpf_probe_read_kernel(&peer_port_be, sizeof(peer_port_be), (char *)sk + OFF_SKC_DPORT);
    u16 peer_port = (peer_port_be >> 8) | (peer_port_be << 8);
    int v4 = family == AF_INET;
    read_addr(si.key.local_addr, (char *)sk + (v4 ? OFF_SKC_RCV_SADDR : OFF_SKC_V6_RCV_SADDR), family);
    read_addr(si.key.peer_addr, (char *)sk + (v4 ? OFF_SKC_DADDR : OFF_SKC_V6_DADDR), family);
    /* servers listen on the lower port far more often than not */
    if (local_port < peer_port) {
        si.key.role = ROLE_SERVER;
        si.key.server_port = local_port;
    } else {
        si.key.role = ROLE_CLIENT;
        si.key.server_port = peer_port;
    }
    fill_owner(&si.key);
    si.opened = 0;
    sockets.update(&key, &si);
    return sockets.lookup(&key);
}

/* The socket's state, claiming a server socket for the current task on its first I/O. */
static __always_inline struct sock_info *socket_for_io(const void *sk)
{
    u64 key = (u64)sk;
    struct sock_info *si = sockets.lookup(&key);
    if (!si)
        return adopt_socket(sk, key);
    if (si->key.role == ROLE_SERVER)
        claim_server_socket(si);
    return si;
}

static __always_inline void count_bytes(struct sock_info *si, int dir, u32 len)
{
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (!stats)
        return;
    if (dir == DIR_SEND)
        __sync_fetch_and_add(&stats->bytes_sent, len);
    else
        __sync_fetch_and_add(&stats->bytes_received, len);
}
