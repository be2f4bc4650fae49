"""The response counts' slots (probes/l7.c, response_counts; tracer/capture/request_slots.py): a key idle too long
is freed, and its slot reused by another key takes nothing of what the sockets that remember it count later."""
import ctypes as ct
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


def take_next(free_stack, slot: int) -> None:
    """Reorders the stack of free slots so that `slot` is taken next: keys that other tests left may have been
    freed in the same drain, and pushed after it."""
    freed = []
    while True:
        try:
            freed.append(free_stack.pop().value)
        except KeyError:   # empty
            break
    assert slot in freed, f"slot {slot} is not free: {freed}"
    for index in [index for index in reversed(freed) if index != slot] + [slot]:
        free_stack.push(ct.c_uint32(index))


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
        take_next(capture.collector._bpf[b"free_request_slots"], slot)

        get(other, "/fail", 2)
        assert slots_of(capture.collector, nginx.port) == {"500": slot}, "the 500s did not take the freed slot"
        get(remembering, "/ok", 5)   # the socket's remembered slot is stale: a new one for its 200s
        assert slots_of(capture.collector, nginx.port).keys() == {"200", "500"}
        capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == {"200": 9, "500": 2},
                         what="9 responses 200 and 2 responses 500")
    finally:
        remembering.close()
        other.close()
