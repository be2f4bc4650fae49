/* Bytes each way, per socket: folded into flows at the socket's close and by the drain (probes/common.h,
 * fold_socket_bytes). The hook-specific entry points (bytes_tracepoint.c, bytes_kprobe.c) call count_bytes() in
 * the task that sends or receives. */

#define MSG_PEEK 2   /* a read that leaves the bytes to be read again: not counted */

/* The role of a socket that predates the agent: a server when its network namespace listens on its port; a
 * client when the namespace's listeners are known (read from /proc at start, tracer/capture/listening_sockets.py,
 * which marks the namespace with port LISTENERS_KNOWN_PORT) and its port is not one of them. Only in a
 * namespace nothing is known of, the ports guess: servers listen on the lower port far more often than not. */
static __always_inline u8 adopted_role(const void *sk, u16 local_port, u16 peer_port)
{
    struct listener_key lk = {.netns = socket_netns(sk), .port = local_port};
    if (listeners.lookup(&lk))
        return ROLE_SERVER;
    lk.port = LISTENERS_KNOWN_PORT;
    if (listeners.lookup(&lk))
        return ROLE_CLIENT;
    return local_port < peer_port ? ROLE_SERVER : ROLE_CLIENT;
}

/* A socket seen for the first time on I/O predates the agent (or its handshake was missed): take its
 * tuple from sock_common and its role from its namespace's listeners. Its open is not counted.
 * A socket without live state may also be one already CLOSEd: a server answering a client that gave up (a
 * timeout) writes to a socket whose peer resets on the data, and on loopback and bridges that reset is processed
 * inside the write itself, before its tracepoint. Such a socket gets its closed state back (closed_sockets,
 * lifecycle.c), with its request waiting, so the answer is counted on its flow; its bytes, folded at the close,
 * start from zero, and its destruction counts no second close (lifecycle.c, on_socket_gone). */
static __always_inline struct sock_info *adopt_socket(const void *sk, u64 key)
{
    struct sock_info *closed = closed_sockets.lookup(&key);
    if (closed) {
        closed->bytes_sent = 0;
        closed->bytes_received = 0;
        closed->closed = 1;
        return track_socket(key, closed);
    }
    struct sock_info si = {};
    u16 local_port = 0, peer_port = 0;
    read_tuple(sk, si.key.local_addr, si.key.peer_addr, &local_port, &peer_port);
    si.key.role = adopted_role(sk, local_port, peer_port);
    si.key.server_port = si.key.role == ROLE_SERVER ? local_port : peer_port;
    fill_owner(&si.key);
    return track_socket(key, &si);
}

/* The state of a socket the probes track (every socket with state is a TCP socket), claiming a server socket
 * for the current task on its first I/O; NULL when it has none. */
static __always_inline struct sock_info *tracked_socket(const void *sk)
{
    struct sock_info *si = socket_state((u64)sk);
    if (!si)
        return 0;
    if (si->key.role == ROLE_SERVER)
        claim_server_socket(si);
    else if (!si->opened && si->connect_start_ns)
        count_client_open(si);   /* the kernel skipped its ESTABLISHED run; reading or writing, it is connected */
    return si;
}

/* The state of a TCP socket, adopted on its first I/O when it has none yet. */
static __always_inline struct sock_info *socket_for_io(const void *sk)
{
    struct sock_info *si = tracked_socket(sk);
    return si ? si : adopt_socket(sk, (u64)sk);
}

static __always_inline void count_bytes(struct sock_info *si, int dir, u32 len)
{
    if (dir == DIR_SEND)
        __sync_fetch_and_add(&si->bytes_sent, len);
    else
        __sync_fetch_and_add(&si->bytes_received, len);
}
