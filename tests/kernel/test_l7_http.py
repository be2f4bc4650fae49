"""HTTP requests classified in the kernel: exact counts per status at the end that parses, and latency."""
import socket
import subprocess
import time

import pytest

from tests.helpers.l7 import request_counts, requests_of, samples_of, server_counts, wait_for_samples
from tests.helpers.tcp_server import Server, read_exactly
from tracer.graph.latency import percentile_us
from tracer.protocols import describe
from tracer.records import RequestCounts


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
# that looks like a status line, an interim 100 before a final status, and chunked bodies each way. The
# server reads exactly each step's request bytes and answers with that step's response bytes in one write.
BODY = b"GET /not-a-request HTTP/1.1\r\n\r\n"
FAKE_STATUS = b"HTTP/1.1 500 no"
CONVERSATION = [
    (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
     + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(FAKE_STATUS), FAKE_STATUS)
     + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    (b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n10\r\nHTTP/1.1 503 no\r\n\r\n0\r\n\r\n"),
    (b"DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n",
     b"HTTP/1.1 204 No Content\r\n\r\n"),
]


def scripted(conn: socket.socket) -> None:
    """Handler: reads each step's request bytes whole, then answers them in one write."""
    for request, response in CONVERSATION:
        read_exactly(conn, len(request))
        conn.sendall(response)


@pytest.mark.kernel
def test_pipelining_bodies_interim_and_chunked_messages_count_exactly(capture):
    errors_before = capture.collector.parse_errors.get("http", 0)
    with Server(scripted) as server, socket.create_connection(("127.0.0.1", server.port)) as client:
        for request, response in CONVERSATION:
            client.sendall(request)
            read_exactly(client, len(response))
        want = {"200": 1, "404": 1, "201": 1, "204": 1}
        capture.wait_for(lambda c: server_counts(c, server.port, "http") == want,
                         what=f"{want} at the server end")
    assert capture.collector.parse_errors.get("http", 0) == errors_before
