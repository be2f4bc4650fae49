/* Connection lifecycle from tracepoint sock:inet_sock_set_state: listeners, opens, closes,
 * connect failures with their reason, connect duration; tcp:tcp_destroy_sock catches closes missed. */

/* A state change's socket and its tuple. */
struct state_change {
    const void *sk;
    u8 local[16];            /* 8-byte aligned: compared a word at a time */
    u8 peer[16];
    u16 sport;
    u16 dport;
};

/* The socket's network namespace: its inode number, which user space reads from /proc/<pid>/ns/net
 * (tracer/capture/listening_sockets.py); without BTF, the struct net pointer. */
static __always_inline u64 socket_netns(const void *sk)
{
    u64 net = 0;
    bpf_probe_read_kernel(&net, sizeof(net), (char *)sk + OFF_SKC_NET);
#ifdef OFF_NET_NS_INUM
    u32 inum = 0;
    if (net)
        bpf_probe_read_kernel(&inum, sizeof(inum), (char *)net + OFF_NET_NS_INUM);
    return inum;
#else
    return net;
#endif
}

/* CLOSE -> LISTEN runs in the task that called listen(): remember it per (netns, port), so that a
 * connection closed before its server ever touched it still has an owner. */
static __always_inline void on_listen(struct state_change *c)
{
    struct listener_key lk = {.netns = socket_netns(c->sk), .port = c->sport};
    struct owner o = {};
    o.tgid = bpf_get_current_pid_tgid() >> 32;
    o.cgroup_id = current_cgroup_id();
    process_comm(o.comm);
    listeners.update(&lk, &o);
}

/* LISTEN -> CLOSE: the port no longer makes its sockets servers (probes/bytes.c, adopted_role), and the entry
 * does not outlive its namespace. The port is the tracepoint's (inet_sport), not sock_common's: the listener
 * of Docker's embedded DNS server, which dockerd opens in each container's network namespace and closes when
 * the container goes, has skc_num 0 by its close, and keyed by that its entry stayed (one per container,
 * tests/e2e/test_churn.py). */
static __always_inline void on_listen_closed(const void *sk, u16 port)
{
    struct listener_key lk = {.netns = socket_netns(sk), .port = port};
    listeners.delete(&lk);
}

/* A new socket's state: role and tuple from the state change. */
static __always_inline void socket_of(struct state_change *c, struct sock_info *si, u8 role, u16 server_port)
{
    si->key.role = role;
    si->key.server_port = server_port;
    __builtin_memcpy(si->key.local_addr, c->local, 16);
    __builtin_memcpy(si->key.peer_addr, c->peer, 16);
}

/* CLOSE -> SYN_SENT runs in the connecting task: the client's owner is current. */
static __always_inline void on_connect_start(struct state_change *c)
{
    u64 sk = (u64)c->sk;
    struct sock_info si = {};
    socket_of(c, &si, ROLE_CLIENT, c->dport);
    fill_owner(&si.key);
    si.connect_start_ns = bpf_ktime_get_ns();
    track_socket(sk, &si);
}

static __always_inline void on_connected(struct state_change *c, struct sock_info *si)
{
    /* the source address is final only now; a TCP Fast Open write counted bytes under the unbound one */
    fold_socket_bytes(si);
    __builtin_memcpy(si->key.local_addr, c->local, 16);
    /* before the server end can accept: on this host the client sends the handshake's last ACK after this */
    struct client_end end = {.port = c->sport};
    __builtin_memcpy(end.addr, c->local, 16);
    struct client_socket client = {.sk = (u64)c->sk, .tgid = si->key.tgid};
    client_ends.update(&end, &client);
    if (!si->opened)   /* TCP Fast Open writes before the handshake ends: the write counted it */
        count_client_open(si);
}

static __always_inline struct flow_stats *on_connect_failed(const void *sk, struct sock_info *si)
{
    int err = 0;   /* without BTF the reason is unknown: "other" */
#ifdef OFF_SOCK_ERR
    bpf_probe_read_kernel(&err, sizeof(err), (char *)sk + OFF_SOCK_ERR);
#endif
    struct flow_stats *stats = flow_stats_of(&si->key);
    if (stats) {
        if (err == ECONNREFUSED)
            __sync_fetch_and_add(&stats->connect_refused, 1);
        else if (err == ETIMEDOUT)
            __sync_fetch_and_add(&stats->connect_timeout, 1);
        else
            __sync_fetch_and_add(&stats->connect_other, 1);
    }
    emit_event(EVENT_CONNECT_FAILED, err, &si->key);
    return stats;
}

/* 127.0.0.0/8 (IPv4-mapped) or ::1: every network namespace has its own, with the same tuples. */
static __always_inline int is_loopback(const u8 *addr)
{
    if (*(const u64 *)addr != 0)
        return 0;
    u32 last = *(const u32 *)(addr + 12);
    if (*(const u32 *)(addr + 8) == 0)
        return last == 0x01000000;   /* ::1, network order */
    return *(const u32 *)(addr + 8) == 0xffff0000 && (last & 0xff) == 127;
}

/* The server end `c` of a connection was accepted on this host. If its client is a socket on this host that
 * sees the same tuple (no NAT between them), only this end parses the connection's requests: the client end
 * counts bytes. Decided once per connection, before the client's first write: on this host the handshake's
 * last ACK is processed before the client's connect() returns. */
static __always_inline void mark_local_client(struct state_change *c, struct client_socket *client)
{
    u64 client_sk = client->sk;
    struct sock_info *csi = socket_state(client_sk);
    if (!csi || csi->key.role != ROLE_CLIENT || csi->key.server_port != c->sport ||
        !same_16_bytes(csi->key.peer_addr, c->local) || !same_16_bytes(csi->key.local_addr, c->peer))
        return;
    if (is_loopback(c->local) && socket_netns((const void *)client_sk) != socket_netns(c->sk))
        return;   /* the same loopback tuple in another network namespace */
    csi->server_parses = 1;
}

/* SYN_RECV -> ESTABLISHED runs in softirq context: the owner is provisionally the listener's, and
 * the task that first reads or writes the socket claims it (claim_server_socket). */
static __always_inline void on_accepted(struct state_change *c)
{
    u64 sk = (u64)c->sk;
    struct sock_info si = {};
    socket_of(c, &si, ROLE_SERVER, c->sport);
    struct listener_key lk = {.netns = socket_netns(c->sk), .port = c->sport};
    struct owner *o = listeners.lookup(&lk);
    if (o) {
        si.key.cgroup_id = o->cgroup_id;
        si.key.tgid = o->tgid;
        __builtin_memcpy(si.key.comm, o->comm, sizeof(si.key.comm));
    }
    struct client_end end = {.port = c->dport};
    __builtin_memcpy(end.addr, c->peer, 16);
    struct client_socket *client = client_ends.lookup(&end);
    if (client) {
        si.key.peer_tgid = client->tgid;
        mark_local_client(c, client);
    }
    track_socket(sk, &si);
}

/* The flow's counters when the close was counted on them; NULL for a connection that predates the agent, whose
 * open was never counted. */
static __always_inline struct flow_stats *on_closed(struct sock_info *si)
{
    struct flow_stats *stats;
    if (si->key.role == ROLE_SERVER && !si->opened)
        stats = count_open(si);   /* accepted and closed without any I/O: under the listener's owner */
    else if (si->opened)
        stats = flow_stats_of(&si->key);
    else
        return 0;
    if (stats)
        __sync_fetch_and_add(&stats->closes, 1);
    return stats;
}

/* A connected client's end is looked up when its server accepts, which is over by its close: the entry goes
 * then, while the socket still has its port (the CLOSE state change releases it), so that client_ends holds
 * live connections only. */
static __always_inline void forget_client_end(const char *skp)
{
    struct client_end end = {};
    u8 peer[16];
    u16 peer_port = 0;
    read_tuple(skp, end.addr, peer, &end.port, &peer_port);
    struct client_socket *client = client_ends.lookup(&end);
    if (client && client->sk == (u64)skp)
        client_ends.delete(&end);
}

/* Count the end of a socket, a failed connect or a close, and move it to closed_sockets: resets and
 * retransmits can still follow (a linger-0 close resets after setting CLOSE), and I/O too (bytes.c,
 * adopt_socket), after which only its bytes are left to add. Its bytes go to its flow once its entry is gone
 * (add_bytes). */
static __always_inline void on_socket_gone(const void *skp, struct sock_info *si, int connect_failed)
{
    u64 sk = (u64)skp;
    struct flow_stats *stats = si->closed ? 0 : connect_failed ? on_connect_failed(skp, si) : on_closed(si);
    u64 sent = si->bytes_sent, received = si->bytes_received;
    if (!stats && (sent | received))
        stats = flow_stats_of(&si->key);
    if (si->key.role == ROLE_CLIENT && si->opened)
        forget_client_end(skp);
    closed_sockets.update(&sk, si);
    forget_socket(sk);
    add_bytes(stats, sent, received);
}

static __always_inline int is_tcp(const char *skp)
{
#ifdef OFF_SOCK_PROTOCOL
    u16 protocol = 0;
    bpf_probe_read_kernel(&protocol, sizeof(protocol), skp + OFF_SOCK_PROTOCOL);
    return protocol == IPPROTO_TCP;   /* MPTCP and SCTP report their states here too */
#else
    return 1;
#endif
}

/* Two programs share this tracepoint, because the kernel skips a run that would nest in a run of the same
 * program on that CPU (it counts them in recursion_misses), and network processing in softirq context
 * interrupts tasks. listen(), a listener's close and the start of connect() happen in the calling task: a
 * perf-event tracepoint program, which nothing running under a task can hold, takes them. What the network
 * stack does, often in softirq context, is the raw tracepoint program's, which returns at once for every
 * other change, so a task holds it only briefly. */
TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    int from = args->oldstate, to = args->newstate;
    int closing_listener = from == TCP_LISTEN && to == TCP_CLOSE;
    if (to != TCP_LISTEN && !(from == TCP_CLOSE && to == TCP_SYN_SENT) && !closing_listener)
        return 0;
    const char *skp = (const char *)args->skaddr;
    if (!is_tcp(skp))
        return 0;
    if (closing_listener) {
        on_listen_closed(skp, args->sport);
        return 0;
    }
    struct state_change c = {.sk = skp};
    read_tuple(skp, c.local, c.peer, &c.sport, &c.dport);
    if (to == TCP_LISTEN)
        on_listen(&c);
    else
        on_connect_start(&c);
    return 0;
}

/* TP_PROTO(const struct sock *sk, int oldstate, int newstate) */
RAW_TRACEPOINT_PROBE(inet_sock_set_state)
{
    int from = (int)ctx->args[1], to = (int)ctx->args[2];
    if (from == TCP_CLOSE || from == TCP_LISTEN || (to != TCP_ESTABLISHED && to != TCP_CLOSE))
        return 0;   /* listeners and connect() starts are the other program's; the rest changes no count */
    const char *skp = (const char *)ctx->args[0];
    if (!is_tcp(skp))
        return 0;
    u64 sk = (u64)skp;
    struct state_change c = {.sk = skp};
    if (from == TCP_SYN_RECV && to == TCP_ESTABLISHED) {
        read_tuple(skp, c.local, c.peer, &c.sport, &c.dport);
        on_accepted(&c);
        return 0;
    }
    struct sock_info *si = socket_state(sk);
    if (!si)
        return 0;
    if (from == TCP_SYN_SENT && to == TCP_ESTABLISHED) {
        read_tuple(skp, c.local, c.peer, &c.sport, &c.dport);
        on_connected(&c, si);
        return 0;
    }
    if (to == TCP_CLOSE)
        on_socket_gone(skp, si, from == TCP_SYN_SENT);
    return 0;
}

/* Every full TCP socket is destroyed once, after its CLOSE. A CLOSE whose run the kernel skipped (it counts
 * them in the program's recursion_misses; seen on busy hosts) leaves the socket's state (common.h, socket_state):
 * it is finished here, by a program with a recursion guard of its own. Nothing follows a socket's destruction, so its
 * closed state goes too: closed_sockets holds sockets between their close and their end only.
 * TP_PROTO(struct sock *sk) */
RAW_TRACEPOINT_PROBE(tcp_destroy_sock)
{
    const char *skp = (const char *)ctx->args[0];
    u64 sk = (u64)skp;
    struct sock_info *si = socket_state(sk);
    if (si)
        on_socket_gone(skp, si, si->key.role == ROLE_CLIENT && !si->opened && si->connect_start_ns);
    closed_sockets.delete(&sk);
    return 0;
}
