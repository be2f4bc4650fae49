"""Plain records that carry kernel facts from the collector to the rest of the agent.

The collector produces them once a second from the BPF maps and the ring buffer; identity names
their ends, the graph aggregates them. Nothing here imports bcc.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CLIENT = "client"
SERVER = "server"

# Request latency histogram: bucket i counts latencies in [2**i, 2**(i+1)) microseconds
# (bucket 0 also takes everything under 1 us); the last bucket takes everything above.
LATENCY_BUCKETS = 27


@dataclass(frozen=True)
class FlowKey:
    """One in-kernel aggregate: which process, in which role, talked to which peer on which server port.

    cgroup_id is the cgroup v2 id (the inode of the cgroup directory) on a pure v2 host, or the inode of the
    process's cgroup in the v1 hierarchy named by ProbeInfo.cgroup_root on v1/hybrid hosts; 0 when unknown.
    The client's ephemeral port is never part of a key.
    """

    cgroup_id: int
    tgid: int
    comm: str
    role: str  # CLIENT or SERVER: which end of the connection this process is
    local_addr: str  # textual IPv4 or IPv6 address of this process's end
    peer_addr: str  # textual address of the other end
    server_port: int  # the server's port, whichever end is local
    peer_tgid: int = 0  # a server flow's client process when that runs on this host (its flows pair by it)


@dataclass
class FlowCounters:
    opens: int = 0  # connections established (client: connect succeeded; server: accepted)
    closes: int = 0
    connect_refused: int = 0
    connect_timeout: int = 0
    connect_other: int = 0
    connect_time_us: int = 0  # sum over the connects counted in opens (client side)
    bytes_sent: int = 0  # by this process, on this flow
    bytes_received: int = 0
    retransmits: int = 0
    resets_sent: int = 0
    resets_received: int = 0
    events_lost: int = 0  # request samples, connect failures and resets the ring buffer had no room for

    def add(self, other: "FlowCounters") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RequestCounts:
    """Requests of one protocol and outcome on one flow, with their latency histogram."""

    count: int = 0
    latency_sum_us: int = 0
    latency_log2_us: list[int] = field(default_factory=lambda: [0] * LATENCY_BUCKETS)

    def count_one(self, latency_us: int) -> None:
        """One more request, in the bucket the probes' log2_bucket (probes/l7.c) would give its latency."""
        self.count += 1
        self.latency_sum_us += latency_us
        self.latency_log2_us[min(max(0, latency_us.bit_length() - 1), LATENCY_BUCKETS - 1)] += 1

    def add(self, other: "RequestCounts") -> None:
        self.count += other.count
        self.latency_sum_us += other.latency_sum_us
        for i, n in enumerate(other.latency_log2_us):
            self.latency_log2_us[i] += n


@dataclass
class FlowDelta:
    """What changed on one flow since the previous drain."""

    key: FlowKey
    counters: FlowCounters = field(default_factory=FlowCounters)
    # (protocol, status) -> counts; protocol is "http", "redis" or "postgres", status as docs/architecture.md lists them
    requests: dict[tuple[str, str], RequestCounts] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectFailure:
    key: FlowKey
    reason: str  # "refused", "timeout" or "other"
    timestamp: float  # unix seconds


@dataclass(frozen=True)
class Reset:
    key: FlowKey
    direction: str  # "sent" or "received"
    timestamp: float


@dataclass(frozen=True)
class RequestSample:
    """One sampled request with the first bytes each way, before parsing and redaction."""

    key: FlowKey
    protocol: str
    status: str
    latency_us: int
    request: bytes
    response: bytes
    timestamp: float


@dataclass(frozen=True)
class DnsAnswer:
    """The first bytes of a DNS message that a local process read from a DNS server, before decoding."""

    key: FlowKey  # the reader (its owner fields name it) and the server's address
    transport: str  # "udp" or "tcp" (a TCP message may start with its 2-byte length)
    length: int  # bytes the read returned; `message` holds the first of them (probe_constants.DNS_SAMPLE_BYTES)
    message: bytes
    timestamp: float


REQUEST_SIDE, RESPONSE_SIDE = "request", "response"


@dataclass(frozen=True)
class HeaderPiece:
    """A piece of an HTTP/2 header block fragment as the kernel walked it (probes/l7_http2.c). The collector
    turns these into requests (tracer/protocols/http2_streams.py); they never reach the graph."""

    key: FlowKey
    connection: tuple[int, int]  # (socket, when the kernel's walk began): one HTTP/2 connection
    side: str  # REQUEST_SIDE (client to server) or RESPONSE_SIDE
    seq: int  # pieces the kernel sent before this one in this direction: a gap is a lost piece
    out_of_step: bool  # the kernel's walk lost its place before this piece
    stream_id: int
    frame_type: int  # HEADERS (1) or CONTINUATION (9)
    flags: int  # the frame's flags
    frame_length: int  # the frame's payload length
    offset: int  # of this piece in the frame's payload
    data: bytes
    timestamp_ns: int  # CLOCK_MONOTONIC


@dataclass
class Drain:
    """Everything one collector pass produced."""

    timestamp: float
    flows: list[FlowDelta] = field(default_factory=list)
    events: list[object] = field(default_factory=list)  # ConnectFailure, Reset, RequestSample
    lost: dict[str, int] = field(default_factory=dict)  # source -> events lost since the previous drain
    dns: list[DnsAnswer] = field(default_factory=list)  # answers read, for naming the addresses they hold
