/* DNS answers that local processes read, for naming the outside addresses they then call
 * (tracer/identity/dns_names.py). Called from the sock length tracepoint of a read: a UDP socket connected
 * to port 53 (glibc, Go, c-ares and Docker's embedded resolver all connect theirs), or a TCP connection to
 * port 53. The first DNS_SAMPLE_BYTES of a read that holds answer records go to user space through the ring
 * buffer, which decodes them; answers are rare, and a per-second budget keeps them so. A UDP socket that is
 * not connected (musl, dnspython) learns its datagram's source only after the tracepoint: its answers are
 * not seen. */

#define DNS_ANSWERS   /* bytes_tracepoint.c calls dns_on_udp_read and dns_answer_read */

#define DNS_PORT 53
#define DNS_PORT_BE ((DNS_PORT >> 8) | ((DNS_PORT & 0xff) << 8))   /* as sock_common holds it */
#define DNS_MIN_READ 14       /* a header and a TCP length prefix: shorter reads (the prefix alone) hold no answer */
#define IPPROTO_UDP 17

struct dns_event {
    u32 type;                 /* EVENT_DNS_ANSWER */
    u32 length;               /* bytes the read returned; data holds the first DNS_SAMPLE_BYTES of them */
    u64 timestamp_ns;
    struct flow_key key;      /* the reader, and the DNS server's address as its socket has it */
    u32 transport;            /* IPPROTO_UDP or IPPROTO_TCP: TCP's messages carry a length prefix */
    u32 captured;             /* bytes of data filled */
    u8 data[DNS_SAMPLE_BYTES];
};

BPF_ARRAY(dns_budget, struct sample_budget, 1);

static __always_inline u16 be16(u16 v)
{
    return (v >> 8) | (v << 8);
}

/* Whether the user bytes at `at` start a DNS response to a standard query with no error and at least one
 * answer record: what else a DNS socket reads (AAAA questions without answers, NXDOMAIN for each search
 * domain tried) names nothing, and stays in the kernel. A TCP read may start with the 2-byte length. */
static __always_inline int dns_has_answers(u64 at, u32 total, u32 transport)
{
    u16 header[DNS_MIN_READ / 2] = {};   /* [TCP length,] id, flags, qdcount, ancount, nscount, arcount */
    if (bpf_probe_read_user(header, sizeof(header), (void *)at))
        return 0;
    u16 *h = header;
    if (transport == IPPROTO_TCP && be16(header[0]) == total - 2)
        h = header + 1;
    u16 flags = be16(h[1]);
    return (flags & 0x8000) && ((flags >> 11) & 0xf) == 0 && (flags & 0xf) == 0 && h[3] != 0;
}

/* Send the first bytes of the read `total` bytes long that the current task made on a DNS socket. */
static __always_inline void dns_answer_read(const void *sk, u32 total, u32 transport)
{
    if (total < DNS_MIN_READ)
        return;
    struct payload p = {};
    payload_of_syscall(&p, total, 0, DIR_RECV, 0, 0);
    u64 n = p.len[0] < DNS_SAMPLE_BYTES ? p.len[0] : DNS_SAMPLE_BYTES;
    if (n < DNS_MIN_READ || !dns_has_answers(p.base[0], total, transport))
        return;
    u32 zero = 0;
    u64 now = bpf_ktime_get_ns();
    struct sample_budget *budget = dns_budget.lookup(&zero);
    if (!budget || budget_used(budget, now) >= DNS_ANSWERS_PER_SECOND) {
        count_lost(LOST_DNS_BUDGET);
        return;
    }
    struct dns_event *e = events.ringbuf_reserve(sizeof(struct dns_event));
    if (!e) {
        count_lost(LOST_RINGBUF);
        return;
    }
    if (bpf_probe_read_user(e->data, n, (void *)p.base[0])) {
        events.ringbuf_discard(e, 0);
        return;
    }
    __sync_fetch_and_add(&budget->used, 1);
    e->type = EVENT_DNS_ANSWER;
    e->length = total;
    e->timestamp_ns = now;
    __builtin_memset(&e->key, 0, sizeof(e->key));
    u16 local_port = 0, peer_port = 0;
    read_tuple(sk, e->key.local_addr, e->key.peer_addr, &local_port, &peer_port);
    e->key.role = ROLE_CLIENT;
    e->key.server_port = DNS_PORT;
    fill_owner(&e->key);
    e->transport = transport;
    e->captured = n;
    events.ringbuf_submit(e, 0);
}

/* A UDP read: an answer when the socket is connected to port 53. */
static __always_inline void dns_on_udp_read(const void *sk, u32 total)
{
    u16 peer_port_be = 0;
    bpf_probe_read_kernel(&peer_port_be, sizeof(peer_port_be), (const char *)sk + OFF_SKC_DPORT);
    if (peer_port_be == DNS_PORT_BE)
        dns_answer_read(sk, total, IPPROTO_UDP);
}
