"""HTTP requests classified in the kernel: exact counts per status at both ends, and latency."""
import subprocess
import time

import pytest

from tests.helpers.l7 import request_counts, requests_of
from tracer.graph.latency import percentile_us
from tracer.protocols import describe
from tracer.records import RequestCounts, RequestSample


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
    capture.wait_for(lambda c: request_counts(c, nginx.port, "client", "http") == want
                     and request_counts(c, nginx.port, "server", "http") == want,
                     what=f"{want} at both ends")
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
    """Other traffic on the host may use up a second's sample budget: retry, one request a second."""
    def samples(c, role):
        return [e for e in c.events if isinstance(e, RequestSample)
                and e.key.server_port == nginx.port and e.key.role == role]

    deadline = time.monotonic() + 30
    while not (samples(capture, "client") and samples(capture, "server")):
        assert time.monotonic() < deadline, "no request sample at both ends within 30 s"
        curl(nginx.port, ["/missing/sampled"])
        time.sleep(1)
        capture.poll()
    for role in ("client", "server"):
        shown = describe(samples(capture, role)[0])
        assert (shown["protocol"], shown["operation"], shown["target"], shown["status"]) == \
            ("http", "GET", "/missing/sampled", "404"), shown
        assert shown["parse_error"] is None and 0 < shown["latency_ms"] < 5000
