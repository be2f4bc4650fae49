"""Numbers the probes and the agent share, defined once: the loader hands them to the compiler as -D flags
(probes/*.c use them by these names), and the decoders of the probes' records read them here."""
from __future__ import annotations

from .records import LATENCY_BUCKETS

ROLE_CLIENT, ROLE_SERVER = 1, 2
EVENT_CONNECT_FAILED, EVENT_RESET_SENT, EVENT_RESET_RECEIVED, EVENT_REQUEST_SAMPLE, EVENT_DNS_ANSWER = 1, 2, 3, 4, 5
EVENT_HEADER_BLOCK = 6  # a piece of an HTTP/2 header block (probes/l7_http2.c)
# the protocols parsed in the kernel; each number also indexes the parser program and the parse error counter
PROTOCOL_IDS = {"PROTO_HTTP": (1, "http"), "PROTO_REDIS": (2, "redis"), "PROTO_POSTGRES": (3, "postgres"),
                "PROTO_MYSQL": (4, "mysql"), "PROTO_HTTP2": (5, "http2")}
STATUS_LEN = 16
# the listeners map's port for "this network namespace's listeners are known" (no socket listens on port 0)
LISTENERS_KNOWN_PORT = 0
# the probes' loss counters, by index in their per-CPU array
LOST_COUNTERS = {"LOST_RINGBUF": "ringbuf", "LOST_FLOWS_FULL": "flows_map_full",
                 "LOST_REQUESTS_FULL": "requests_map_full", "LOST_SOCKETS_FULL": "sockets_map_full",
                 "LOST_DNS_BUDGET": "dns_budget"}
# DNS answers read by local processes (probes/dns.c): the first bytes of each, and at most so many a second.
# 512 bytes hold a classic UDP answer whole; a longer one keeps its answer section when that fits.
DNS_SAMPLE_BYTES = 512
DNS_ANSWERS_PER_SECOND = 250


def compiler_defines() -> dict[str, int]:
    defines = {
        "ROLE_CLIENT": ROLE_CLIENT, "ROLE_SERVER": ROLE_SERVER,
        "EVENT_CONNECT_FAILED": EVENT_CONNECT_FAILED, "EVENT_RESET_SENT": EVENT_RESET_SENT,
        "EVENT_RESET_RECEIVED": EVENT_RESET_RECEIVED, "EVENT_REQUEST_SAMPLE": EVENT_REQUEST_SAMPLE,
        "EVENT_DNS_ANSWER": EVENT_DNS_ANSWER, "EVENT_HEADER_BLOCK": EVENT_HEADER_BLOCK,
        "DNS_SAMPLE_BYTES": DNS_SAMPLE_BYTES, "DNS_ANSWERS_PER_SECOND": DNS_ANSWERS_PER_SECOND,
        "STATUS_LEN": STATUS_LEN, "LATENCY_BUCKETS": LATENCY_BUCKETS,
        "PROTO_COUNT": max(number for number, _ in PROTOCOL_IDS.values()) + 1,
        "LOST_COUNT": len(LOST_COUNTERS), "LISTENERS_KNOWN_PORT": LISTENERS_KNOWN_PORT,
    }
    defines.update({name: number for name, (number, _) in PROTOCOL_IDS.items()})
    defines.update({name: index for index, name in enumerate(LOST_COUNTERS)})
    return defines
