"""The response counts' slots (probes/l7.c, response_counts; tracer/capture/request_slots.py): a key idle too long
is freed, and its slot reused by another key takes nothing of what the sockets that remember it count later."""
import http.client
import time

import pytest

from tests.helpers.l7 import server_counts
from tracer.capture.counter_maps import IDLE_SECONDS
from tracer.capture.flows import RequestKeyStruct
from tracer.capture.probe_constants import ROLE_SERVER


def get(conn: http.client.HTTPConnection, path: str, times: int) -> None:
    """`times` requests on one kept-alive connection, each answered before the next is sent."""
    for _ in range(times):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert not response.will_close, "nginx closed the kept-alive connection"


def slots_of(collector, port: int) -> dict[str, int]:
    """status -> slot of the response keys at the server end of `port`, as `requests` maps them now."""
    return {RequestKeyStruct.from_buffer_copy(bytes(key)).status.decode(): index
            for key, index in collector._bpf[b"requests"].items_lookup_batch()
            if key.flow.server_port == port and key.flow.role == ROLE_SERVER}


@pytest.mark.kernel
def test_a_freed_slot_reused_by_another_key_takes_none_of_the_counts_of_the_socket_that_remembers_it(
        capture, nginx, monkeypatch):
    counters = capture.collector._request_counters
    skipped = [0.0]   # seconds the drain's clock is moved past the real one, to make keys idle at once
    monkeypatch.setattr(counters, "_clock", lambda: time.monotonic() + skipped[0])

    def idle_at_next_drain():
        skipped[0] += IDLE_SECONDS + 1

    idle_at_next_drain()
    capture.poll()
    capture.poll()   # what earlier tests left is freed: the slot freed next is the only one on top
    remembering = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
    other = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
    try:
        get(remembering, "/ok", 3)
        capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == {"200": 3}, what="3 responses 200")
        slot = slots_of(capture.collector, nginx.port)["200"]

        idle_at_next_drain()
        capture.poll()   # step 1: the key leaves `requests`, the slot stays
        assert slots_of(capture.collector, nginx.port) == {}
        get(remembering, "/ok", 1)   # counted in the slot the socket remembers: no new key
        assert slots_of(capture.collector, nginx.port) == {}
        capture.poll()   # step 2: the slot's last count reported under its key, and the slot freed
        assert server_counts(capture, nginx.port, "http") == {"200": 4}

        get(other, "/fail", 2)
        assert slots_of(capture.collector, nginx.port) == {"500": slot}, "the 500s did not take the freed slot"
        get(remembering, "/ok", 5)   # the socket's remembered slot is stale: a new one for its 200s
        assert slots_of(capture.collector, nginx.port).keys() == {"200", "500"}
        capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == {"200": 9, "500": 2},
                         what="9 responses 200 and 2 responses 500")
    finally:
        remembering.close()
        other.close()
