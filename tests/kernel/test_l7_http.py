"""HTTP requests classified in the kernel: exact counts per status at the end that parses, and latency."""
import socket
import subprocess
import time

import pytest

from tests.helpers.l7 import request_counts, requests_of, samples_of, server_counts, wait_for_samples
from tests.helpers.tcp_server import Server, read_exactly
from tracer.graph.latency import percentile_us
from tracer.protocols import describe
from tracer.capture.records import RequestCounts


def curl(port: int, paths: list[str]) -> list[str]:
    """One curl process for all paths: it reuses its keep-alive connection. Returns the statuses it saw."""
    urls = []
    for path in paths:
        urls += [f"http://127.0.0.1:{port}{path}", "-o", "/dev/null"]   # -o names one URL's output
    result = subprocess.run(["curl", "-sS", "-w", "%{http_code} %{num_connects}\\n"] + urls,
                            check=True, capture_output=True, text=True, timeout=120)
    lines = [line.split() for line in result.stdout.splitlines()]
    assert sum(int(connects) for _, connects in lines) == 1, "curl did not keep its connection alive"
    return [status for status, _ in lines]


@pytest.mark.kernel
def test_nginx_statuses_exact(capture, nginx):
    paths = [f"/ok/{i}" for i in range(50)] + [f"/missing/{i}" for i in range(20)] + [f"/fail/{i}" for i in range(10)]
    paths = paths[::3] + paths[1::3] + paths[2::3]   # interleave the outcomes on the one connection
    statuses = curl(nginx.port, paths)
    want = {"200": 50, "404": 20, "500": 10}
    assert {s: statuses.count(s) for s in want} == want
    capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == want,
                     what=f"{want} at the server end")
    assert nginx.logged_statuses() == want


@pytest.mark.kernel
def test_latency_p50_of_a_200ms_server(capture, slow_http_port):
    curl(slow_http_port, ["/slow"] * 10)
    capture.wait_for(lambda c: request_counts(c, slow_http_port, "server", "http") == {"200": 10},
                     what="10 requests seen by the server")
    total = RequestCounts()
    for counts in requests_of(capture, slow_http_port, "server", "http").values():
        total.add(counts)
    p50_ms = percentile_us(total.latency_log2_us, total.latency_sum_us, 0.5) / 1000
    assert 200 <= p50_ms <= 260, f"p50 {p50_ms:.1f} ms"


@pytest.mark.kernel
def test_curl_request_yields_a_sample(capture, nginx):
    wait_for_samples(capture, nginx.port, ("server",), lambda: curl(nginx.port, ["/missing/sampled"]))
    shown = describe(samples_of(capture, nginx.port, "server")[0])
    assert (shown["protocol"], shown["operation"], shown["target"], shown["status"]) == \
        ("http", "GET", "/missing/sampled", "404"), shown
    assert shown["parse_error"] is None and 0 < shown["latency_ms"] < 5000


@pytest.mark.kernel
@pytest.mark.parametrize("pad", [0, 400])
def test_sample_holds_the_first_bytes_the_client_sent(capture, nginx, pad):
    """A sample's request is the client's first bytes exactly, as the parser's window read them (probes/l7.c,
    remember_request): all of a short request, the first window's worth of a head longer than the window."""
    window = capture.collector.capture.sample_bytes
    request = (f"GET /missing/pad{pad} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n".encode()
               + (b"X-Pad: " + b"p" * pad + b"\r\n" if pad else b"") + b"\r\n")

    def send():
        with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as s:
            s.sendall(request)
            while s.recv(65536):   # nginx closes after its response
                pass

    first_line = request.split(b"\r\n")[0]
    wait_for_samples(capture, nginx.port, ("server",), send, wanted=lambda sample: sample.request.startswith(first_line))
    sample = next(s for s in samples_of(capture, nginx.port, "server") if s.request.startswith(first_line))
    assert sample.request == request[:window]
    assert sample.status == "404"


@pytest.mark.kernel
def test_wrk_at_saturation_matches_access_log(capture, nginx):
    """8 keep-alive connections as fast as nginx answers for 10 s: every response counted at the server."""
    subprocess.run(["wrk", "-t1", "-c8", "-d10s", f"http://127.0.0.1:{nginx.port}/ok"],
                   check=True, capture_output=True, timeout=60)
    logged = sum(nginx.logged_statuses().values())
    assert logged > 10000, f"wrk made only {logged} requests"

    def counted(c):
        return sum(request_counts(c, nginx.port, "server", "http").values())

    capture.wait_for(lambda c: abs(counted(c) - logged) <= logged / 1000,
                     what=f"{logged} requests (the access log) within 0.1% at the server")


def read_until(conn: socket.socket, marker: bytes, have: bytes = b"") -> tuple[bytes, bytes]:
    """Bytes up to and including marker, and what was read beyond it."""
    while marker not in have:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"peer closed before {marker!r}")
        have += chunk
    end = have.index(marker) + len(marker)
    return have[:end], have[end:]


def split_status_line(conn: socket.socket) -> None:
    """Handler: answers each request in two writes, "HT" and, 100 ms later, the rest; the path is the status."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    while True:
        try:
            head, pending = read_until(conn, b"\r\n\r\n", pending)
        except ConnectionError:
            return
        status = head.split(b" ")[1].lstrip(b"/")
        conn.sendall(b"HT")
        time.sleep(0.1)
        conn.sendall(b"TP/1.1 " + status + b" X\r\nContent-Length: 2\r\n\r\nok")


@pytest.mark.kernel
def test_status_line_split_across_writes_counts_once(capture):
    statuses = ["200", "404", "200", "503"]
    with Server(split_status_line) as server, socket.create_connection(("127.0.0.1", server.port)) as client:
        for status in statuses:
            client.sendall(f"GET /{status} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            first = client.recv(65536)   # "HT" alone: the rest is sent 100 ms later
            head, body = read_until(client, b"\r\n\r\n", first)
            assert head.startswith(b"HTTP/1.1 " + status.encode()) and first == b"HT", (first, head)
            read_until(client, b"ok", body)
        want = {"200": 2, "404": 1, "503": 1}
        capture.wait_for(lambda c: server_counts(c, server.port, "http") == want,
                         what=f"{want} at the server end")


# One conversation on one connection: pipelined requests with a body that looks like a request, a response body
# that looks like a status line, an interim 100 before a final status, and chunked bodies each way. Each step is
# the client's writes, then the server's.
BODY = b"GET /not-a-request HTTP/1.1\r\n\r\n"
FAKE_STATUS = b"HTTP/1.1 500 no"
CONVERSATION = [
    ([b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
      + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FAKE_STATUS), FAKE_STATUS)
      + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]),
    ([b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
     [b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\nf\r\nHTTP/1.1 503 no\r\n0\r\n\r\n"]),
    ([b"DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 204 No Content\r\n\r\n"]),
]

# Bodies of known length sent in many writes, some of which start like a message: nothing inside a body counts.
LOOKS_LIKE_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
LOOKS_LIKE_GET = b"GET /not-a-request HTTP/1.1\r\nHost: x\r\n\r\n"
LENGTH_BODY = [b"a" * 1000, LOOKS_LIKE_500, b"b" * 3000, LOOKS_LIKE_500 + b"c" * 100]
UPLOAD_BODY = [b"d" * 500, LOOKS_LIKE_GET, b"e" * 200]
SPANNING_CHUNK = b"f" * 500 + LOOKS_LIKE_500 + b"g" * 1500   # one chunk whose data spans writes
BODY_WRITES = [
    ([b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % sum(map(len, UPLOAD_BODY)), *UPLOAD_BODY],
     [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"]),
    ([b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % sum(map(len, LENGTH_BODY)), *LENGTH_BODY]),
    ([b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      b"%x\r\n" % len(LOOKS_LIKE_500), LOOKS_LIKE_500, b"\r\n",
      b"5\r\nhello\r\n%x\r\n%s\r\n" % (len(LOOKS_LIKE_500), LOOKS_LIKE_500),   # two chunks in one write
      b"%x;ext=1\r\n" % len(SPANNING_CHUNK) + SPANNING_CHUNK[:500], SPANNING_CHUNK[500:1000], SPANNING_CHUNK[1000:],
      b"\r\n0\r\n\r\n"]),
    # a HEAD's response states the length of the body a GET would have, and has none
    ([b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"]),
    ([b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]),
]


def scripted(steps):
    """Handler: for each step, reads each of the client's writes exactly (so its reads start where those writes
    did), then sends the step's writes, one socket call each."""
    def handle(conn: socket.socket) -> None:
        for requests, responses in steps:
            for request in requests:
                read_exactly(conn, len(request))
            for response in responses:
                conn.sendall(response)
    return handle


def assert_counted_exactly(capture, steps, want: dict[str, int]) -> None:
    """Plays the steps on one connection: the server end, which parses (both ends are on this host), counts
    `want` and no HTTP parse error."""
    errors_before = capture.collector.parse_errors.get("http", 0)
    with Server(scripted(steps)) as server, socket.create_connection(("127.0.0.1", server.port)) as client:
        for requests, responses in steps:
            for request in requests:
                client.sendall(request)
            read_exactly(client, sum(map(len, responses)))
        capture.wait_for(lambda c: server_counts(c, server.port, "http") == want,
                         what=f"{want} at the server end")
    assert capture.collector.parse_errors.get("http", 0) == errors_before


@pytest.mark.kernel
def test_pipelining_bodies_interim_and_chunked_messages_count_exactly(capture):
    assert_counted_exactly(capture, CONVERSATION, {"200": 1, "404": 1, "201": 1, "204": 1})


@pytest.mark.kernel
def test_nothing_inside_a_body_of_known_length_starts_a_message(capture):
    assert_counted_exactly(capture, BODY_WRITES, {"201": 1, "200": 3, "404": 1})


# A final response that answers the only pending request is framed by alternation (probes/l7_http.c): counted
# from its status line, then nothing on the response side is parsed until the next request starts. Where the
# full path loses its place (no length, a head longer than the window, trailer fields, a body longer than its
# Content-Length), a later write of the response that starts like a status line does not count, and garbage
# in it is no parse error.
NO_LENGTH_THEN_CLOSE = [
    ([b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", LOOKS_LIKE_500, b"tail"]),
]
LONG_HEAD = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 400 + b"\r\nContent-Length: %d\r\n\r\n" % len(LOOKS_LIKE_500)
LATER_WRITES = [
    ([b"GET /long-head HTTP/1.1\r\nHost: x\r\n\r\n"], [LONG_HEAD, LOOKS_LIKE_500]),
    ([b"GET /trailer HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      b"%x\r\n%s\r\n" % (len(LOOKS_LIKE_500), LOOKS_LIKE_500), b"0\r\nX-Checksum: 1\r\n\r\n"]),
    ([b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\n", b"ok and then some"]),
    ([b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]),
]


@pytest.mark.kernel
@pytest.mark.parametrize("steps, want", [(NO_LENGTH_THEN_CLOSE, {"200": 1}),
                                         (LATER_WRITES, {"200": 2, "503": 1, "404": 1})],
                         ids=["no-length-then-close", "long-head-trailer-too-long"])
def test_later_writes_of_a_framed_response_are_its_own(capture, steps, want):
    assert_counted_exactly(capture, steps, want)


# The full path still frames an interim 100 (Expect: 100-continue, the 100 alone in its write) and the responses
# without a body (204, 304, a HEAD's), each answering the only pending request; the framed ones mix in between.
EXPECT_AND_MIXED = [
    ([b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"],
     [b"HTTP/1.1 100 Continue\r\n\r\n"]),
    ([b"hello"], [b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(LOOKS_LIKE_500), LOOKS_LIKE_500]),
    ([b"GET /cached HTTP/1.1\r\nHost: x\r\n\r\n"], [b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"]),
    ([b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n"], [b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"]),
    ([b"DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n"], [b"HTTP/1.1 204 No Content\r\n\r\n"]),
    ([b"GET /moved HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 4\r\n\r\n", b"gone"]),
    ([b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n"],
     [b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (len(LOOKS_LIKE_500), LOOKS_LIKE_500)]),
]


@pytest.mark.kernel
def test_interim_and_bodiless_responses_between_framed_ones_count_exactly(capture):
    assert_counted_exactly(capture, EXPECT_AND_MIXED, {"201": 1, "304": 1, "200": 1, "204": 1, "302": 1, "500": 1})


@pytest.mark.kernel
def test_sample_of_a_framed_response_holds_its_head(capture, nginx):
    """The parser copies a framed response's status line only; its sample copies the response's first bytes."""
    wait_for_samples(capture, nginx.port, ("server",), lambda: curl(nginx.port, ["/missing/framed"]),
                     wanted=lambda sample: b"/missing/framed" in sample.request)
    sample = next(s for s in samples_of(capture, nginx.port, "server") if b"/missing/framed" in s.request)
    assert sample.response.startswith(b"HTTP/1.1 404 Not Found\r\n"), sample.response
    assert b"\r\nContent-Length: " in sample.response and len(sample.response) > 100, sample.response


def first_byte_alone(conn: socket.socket) -> None:
    """Handler: reads each request after the first with its first byte alone, as Go's net/http server does
    between requests (a background read of one byte); the path is the status."""
    pending, first = b"", True
    while True:
        try:
            head, pending = read_until(conn, b"\r\n\r\n", pending if first else conn.recv(1))
        except ConnectionError:
            return
        first = False
        conn.sendall(b"HTTP/1.1 " + head.split(b" ")[1].lstrip(b"/") + b" X\r\nContent-Length: 2\r\n\r\nok")


@pytest.mark.kernel
def test_a_request_read_from_its_second_byte_does_not_hide_its_response(capture):
    """The request is missed (its first read holds one byte), but the client's write ends the framed response
    before it, so its response is judged as on the full path."""
    statuses = ["200", "404", "200", "503"]
    with Server(first_byte_alone) as server, socket.create_connection(("127.0.0.1", server.port)) as client:
        for status in statuses:
            client.sendall(f"GET /{status} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            read_until(client, b"ok")
        want = {"200": 2, "404": 1, "503": 1}
        capture.wait_for(lambda c: server_counts(c, server.port, "http") == want,
                         what=f"{want} at the server end")


REQUEST_THEN_GONE = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
LATE_ANSWER = b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 2\r\n\r\nno"


def answer_after_the_client_left(conn: socket.socket) -> None:
    """Handler: read the request, wait until the client has closed its end, then answer. On loopback the
    client's reset to that answer is processed inside the answer's own write, so the write returns on a
    socket already CLOSEd (probes/bytes.c, adopt_socket)."""
    read_exactly(conn, len(REQUEST_THEN_GONE))
    assert conn.recv(1) == b""
    conn.sendall(LATE_ANSWER)


@pytest.mark.kernel
def test_an_answer_written_after_the_client_left_is_counted_once(capture):
    """A client that gives up (a timeout) before its server answers: the answer is still counted at the server
    end, with its bytes, and each connection's open and close once."""
    connections = 5
    with Server(answer_after_the_client_left) as server:
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
                client.sendall(REQUEST_THEN_GONE)
        capture.wait_for(lambda c: server_counts(c, server.port, "http") == {"504": connections},
                         what=f"{connections} late 504s at the server end")
        want = (connections, connections, connections * len(REQUEST_THEN_GONE), connections * len(LATE_ANSWER))

        def server_end(c) -> tuple[int, int, int, int]:
            total = c.total(server_port=server.port, role="server")
            return total.opens, total.closes, total.bytes_received, total.bytes_sent

        capture.wait_for(lambda c: server_end(c) == want, what=f"opens, closes and bytes {want} at the server end")
