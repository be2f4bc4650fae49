"""Request bytes for samples share a direct-mapped array, a slot per hash of the socket (probes/l7.c,
remember_request): two sockets with requests in flight on one slot lose the earlier one's sample, and no sample
ever shows another socket's request."""
import secrets
import socket

import pytest

from tests.helpers.capture import Capture
from tests.helpers.l7 import samples_of
from tracer.capture.loader import CaptureConfig

# In-flight requests on as many connections: with 4096 slots, about 11 pairs share a slot (the chance of none
# is 2e-5), and a hash that ignored the pointer's changing bits would put far more on one slot.
CONNECTIONS = 300
ANSWERED_KEPT = 5   # requests still in their slot that get an answer
# The session's collector samples 20 errors a second, which the host's other traffic may spend: this test's
# answers get each one chance only.
SAMPLES_PER_SECOND = 10_000


def request_of(tag: str, i: int) -> bytes:
    return f"GET /{tag}/{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode()


def error_response(i: int) -> bytes:
    """A 500 naming the request it answers, so that a sample's response tells whose request it must show."""
    return f"HTTP/1.1 500 Internal Server Error\r\nX-Answers: {i}\r\nContent-Length: 0\r\n\r\n".encode()


def kept_requests(collector) -> set[bytes]:
    """The request bytes in the array's slots."""
    return {bytes(slot.data)[:slot.len] for slot in collector._bpf[b"l7_request_bytes"].values()}


def answer(pair: tuple[socket.socket, socket.socket], i: int) -> None:
    client, server = pair
    response = error_response(i)
    server.sendall(response)
    got = b""
    while len(got) < len(response):
        chunk = client.recv(65536)
        assert chunk, "the client's connection closed before its response"
        got += chunk


@pytest.fixture
def capture(collector):
    """A second collector with a sample budget the host's other traffic cannot spend."""
    from tracer.capture.collector import Collector

    c = Collector(CaptureConfig(tls=False, samples_per_second=SAMPLES_PER_SECOND))
    c.start()
    try:
        yield Capture(c)
    finally:
        c.close()


@pytest.mark.kernel
def test_a_slot_shared_by_two_sockets_never_shows_the_other_sockets_bytes(capture):
    tag = secrets.token_hex(4)   # this run's requests, told apart from any earlier run's still in the array
    pairs: list[tuple[socket.socket, socket.socket]] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(CONNECTIONS)
        port = listener.getsockname()[1]
        try:
            for i in range(CONNECTIONS):
                client = socket.create_connection(("127.0.0.1", port), timeout=10)
                server, _ = listener.accept()   # the client writes once accepted: the server's end parses
                server.settimeout(10)
                pairs.append((client, server))
                request = request_of(tag, i)
                client.sendall(request)
                got = b""
                while len(got) < len(request):
                    got += server.recv(65536)   # the read that keeps the request's bytes
            kept = kept_requests(capture.collector)
            lost = [i for i in range(CONNECTIONS) if request_of(tag, i) not in kept]
            survivors = [i for i in range(CONNECTIONS) if request_of(tag, i) in kept]
            assert lost, "no two of the connections' sockets share a slot: the test shows nothing"
            assert len(lost) <= 40, f"{len(lost)} of {CONNECTIONS} requests lost their slot: the hash clusters"
            for i in lost + survivors[:ANSWERED_KEPT]:   # the lost first: their answers must not sample
                answer(pairs[i], i)

            def sampled(c) -> dict[int, bytes]:
                return {int(s.response.split(b"X-Answers: ")[1].split(b"\r\n")[0]): s.request
                        for s in samples_of(c, port, "server")}

            capture.wait_for(lambda c: set(survivors[:ANSWERED_KEPT]) <= set(sampled(c)),
                             what=f"samples of the {ANSWERED_KEPT} answered requests still in their slots")
        finally:
            for client, server in pairs:
                client.close()
                server.close()
    shown = sampled(capture)
    assert {i: request_of(tag, i) for i in shown} == shown, "a sample shows another socket's request"
    assert set(shown) == set(survivors[:ANSWERED_KEPT]), f"requests that lost their slot sampled: {set(shown) & set(lost)}"
