"""HTTP/2 (h2c) and gRPC requests: header blocks walked in the kernel, decoded in user space, counted exactly
per status on one connection with concurrent streams."""
import os
import subprocess
import sys

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.l7 import requests_of, samples_of, server_counts
from tests.helpers.servers import NGINX, running_nginx, stop

CURL = "/usr/bin/curl"
H2LOAD = "/usr/bin/h2load"

GRPC_SERVER = """
import sys
from concurrent import futures
import grpc

def get(request, context):
    if request.startswith(b"missing"):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such key")
    return b"value of " + request

store = grpc.method_handlers_generic_handler("http2test.Store", {"Get": grpc.unary_unary_rpc_method_handler(get)})
server = grpc.server(futures.ThreadPoolExecutor(4))
server.add_generic_rpc_handlers((store,))
print(server.add_insecure_port("127.0.0.1:0"), flush=True)
server.start()
server.wait_for_termination()
"""


@pytest.fixture
def h2c_nginx():
    if not all(os.path.exists(program) for program in (NGINX, CURL, H2LOAD)):
        skip_or_fail("nginx, curl and h2load (Debian's nginx-light, curl and nghttp2-client) are not installed")
    with running_nginx(" http2", prefix="http2-nginx-") as server:
        yield server


@pytest.fixture
def grpc_port():
    """A gRPC server (grpcio, raw bytes, no generated code) on 127.0.0.1: /http2test.Store/Get answers
    NOT_FOUND for keys starting with "missing", OK otherwise."""
    process = subprocess.Popen([sys.executable, "-c", GRPC_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        yield int(process.stdout.readline())
    finally:
        stop(process)


@pytest.mark.kernel
def test_h2load_streams_over_one_h2c_connection_counted_exactly(capture, h2c_nginx):
    urls = [f"http://127.0.0.1:{h2c_nginx.port}/ok{i}?token=secret{i}" for i in range(40)]
    urls += [f"http://127.0.0.1:{h2c_nginx.port}/missing{i}" for i in range(10)]
    # one client, one connection, up to 50 streams at once; h2c with prior knowledge (its default for http://)
    result = subprocess.run([H2LOAD, "-n", "50", "-c", "1", "-m", "50", *urls],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "status codes: 40 2xx, 0 3xx, 10 4xx, 0 5xx" in result.stdout, result.stdout
    want = {"200": 40, "404": 10}
    capture.wait_for(lambda c: server_counts(c, h2c_nginx.port, "http2") == want, what=f"{want} at the server end")
    assert h2c_nginx.logged_statuses() == want
    assert capture.total(server_port=h2c_nginx.port, role="client", comm="h2load").opens == 1
    latency = requests_of(capture, h2c_nginx.port, "server", "http2")["200"]
    assert sum(latency.latency_log2_us) == 40 and latency.latency_sum_us < 40 * 10**6


@pytest.mark.kernel
def test_h2c_sample_shows_method_and_path_without_query(capture, h2c_nginx):
    url = f"http://127.0.0.1:{h2c_nginx.port}/ok?token=secret"
    subprocess.run([CURL, "--http2-prior-knowledge", "-s", "-o", "/dev/null", url], check=True, timeout=60)
    samples = capture.wait_for(lambda c: samples_of(c, h2c_nginx.port, "server"), what="an HTTP/2 sample")
    from tracer.protocols import describe
    shown = describe(samples[0])
    assert (shown["protocol"], shown["operation"], shown["target"], shown["status"]) == ("http2", "GET", "/ok", "200")
    assert "secret" not in shown["request"] and shown["parse_error"] is None


@pytest.mark.kernel
def test_grpc_calls_counted_per_grpc_status(capture, grpc_port):
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
        get = channel.unary_unary("/http2test.Store/Get")
        calls = [get.future(f"key{i}".encode(), timeout=30) for i in range(30)]
        calls += [get.future(f"missing{i}".encode(), timeout=30) for i in range(7)]
        outcomes: dict[str, int] = {}
        for call in calls:
            name = call.code().name
            outcomes[name] = outcomes.get(name, 0) + 1
    want = {"OK": 30, "NOT_FOUND": 7}
    assert outcomes == want  # what the client saw
    capture.wait_for(lambda c: server_counts(c, grpc_port, "grpc") == want, what=f"{want} at the server end")
    assert capture.total(server_port=grpc_port, role="server").opens == 1
