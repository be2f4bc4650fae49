"""TLS plaintext through the OpenSSL uprobes: HTTPS (nginx and curl), Redis over TLS (redis-server and
redis-cli) and MySQL over TLS (mariadbd and mysql-connector-python), Debian's builds linked to OpenSSL 3,
counted exactly at the server end. A second collector with
`capture.tls: false` watches the same traffic and counts its bytes only."""
import os
import subprocess
import time

import mysql.connector
import pytest

from tests.conftest import skip_or_fail
from tests.helpers.capture import Capture
from tests.helpers.l7 import request_counts, server_counts
from tests.helpers.servers import NGINX, running_mariadb, running_nginx, running_redis, self_signed_certificate
from tests.helpers.tls import curl_https, wait_tls_attached
from tests.kernel.test_l7_redis import outcomes_in_info
from tracer.capture.loader import L7_TLS_PARSERS, CaptureConfig

TLS_VERIFY_TIMEOUT = 120.0  # seconds: the TLS programs' verification, one at a time, on a busy host


@pytest.fixture(scope="module")
def certificate():
    with self_signed_certificate(prefix="tls-cert-") as made:
        yield made


@pytest.fixture(scope="module")
def bytes_only(collector):
    """A second collector with the uprobes off by configuration."""
    from tracer.capture.collector import Collector

    c = Collector(CaptureConfig(tls=False))
    c.start()
    assert c.probe_info.l7 and not c.probe_info.tls
    yield c
    c.close()


@pytest.fixture
def https_nginx(certificate):
    if not os.path.exists(NGINX):
        skip_or_fail("nginx is not installed")
    with running_nginx(prefix="tls-nginx-", certificate=certificate) as server:
        yield server


@pytest.fixture
def tls_redis(certificate):
    if not os.path.exists("/usr/bin/redis-server"):
        skip_or_fail("redis-server is not installed")
    with running_redis(certificate, prefix="tls-redis-") as server:
        yield server


@pytest.fixture
def tls_mariadb(certificate):
    if not os.path.exists("/usr/sbin/mariadbd"):
        skip_or_fail("mariadb-server is not installed")
    with running_mariadb(certificate) as server:
        yield server


def server_bytes(capture: Capture, port: int) -> tuple[int, int]:
    total = capture.total(server_port=port, role="server")
    return total.bytes_received, total.bytes_sent


def both_from_now(on: Capture, bytes_only) -> tuple[Capture, Capture]:
    """Fresh captures of the uprobes-on collector and the uprobes-off one, begun together: the server's start (its
    readiness check, answered after the checker left, counted since probes/bytes.c's adopt_socket) is neither's."""
    return Capture(on.collector), Capture(bytes_only)


def assert_bytes_only(off: Capture, on: Capture, port: int, protocol: str) -> None:
    """The uprobes-off collector saw the same bytes at the server end, and no request."""
    def same_bytes(c: Capture) -> bool:
        on.poll()
        return server_bytes(c, port) == server_bytes(on, port)

    off.wait_for(same_bytes, what=f"the bytes {server_bytes(on, port)} that the uprobes-on collector counted")
    assert server_bytes(on, port)[0] > 0
    assert request_counts(off, port, "server", protocol) == {}
    assert request_counts(off, port, "client", protocol) == {}


@pytest.mark.kernel
def test_https_statuses_exact_and_bytes_only_with_tls_off(capture, bytes_only, https_nginx, certificate):
    errors_before = capture.collector.parse_errors.get("http", 0)
    wait_tls_attached(capture, https_nginx.pid)
    on, off = both_from_now(capture, bytes_only)
    paths = [f"/ok/{i}" for i in range(15)] + [f"/missing/{i}" for i in range(5)]
    kept_alive = curl_https(https_nginx.port, paths[::2] + paths[1::2], certificate.cert)
    assert sum(connects for _, connects in kept_alive) == 1, "curl did not keep its connection alive"
    separate = [curl_https(https_nginx.port, [f"/ok/alone/{i}"], certificate.cert)[0] for i in range(5)]
    statuses = [status for status, _ in kept_alive + separate]
    want = {"200": 20, "404": 5}
    assert {s: statuses.count(s) for s in want} == want
    on.wait_for(lambda c: server_counts(c, https_nginx.port, "http") == want, what=f"{want} at the server end")
    assert https_nginx.logged_statuses() == want
    assert capture.collector.parse_errors.get("http", 0) == errors_before   # the ciphertext was never parsed
    assert_bytes_only(off, on, https_nginx.port, "http")


def redis_cli(port: int, cacert: str, *command: str, script: list[str] = ()) -> str:
    """redis-cli over TLS: one command from its arguments, or a script from its input."""
    return subprocess.run(["redis-cli", "--tls", "--cacert", cacert, "-p", str(port), *command],
                          input="".join(f"{line}\n" for line in script), text=True, capture_output=True, timeout=60,
                          check=True).stdout


@pytest.mark.kernel
def test_redis_tls_outcomes_exact_and_bytes_only_with_tls_off(capture, bytes_only, tls_redis, certificate):
    wait_tls_attached(capture, tls_redis.pid)
    on, off = both_from_now(capture, bytes_only)
    script = ([f"SET k{i} v{i}" for i in range(20)] + [f"GET k{i}" for i in range(10)]
              + [f"LPUSH list{i} x" for i in range(10)] + [f"LPUSH k{i} x" for i in range(7)] + ["NOSUCHCOMMAND a"] * 3)
    out = redis_cli(tls_redis.port, certificate.cert, script=script)
    assert out.count("WRONGTYPE") == 7 and out.count("unknown command") == 3
    # redis-cli first asks for COMMAND DOCS: one more success
    want = {"ok": 41, "WRONGTYPE": 7, "ERR": 3}
    on.wait_for(lambda c: server_counts(c, tls_redis.port, "redis") == want, what=f"{want} at the server end")
    assert_bytes_only(off, on, tls_redis.port, "redis")
    info = redis_cli(tls_redis.port, certificate.cert, "INFO", "all")   # as arguments: no COMMAND DOCS first
    assert outcomes_in_info(dict(line.split(":", 1) for line in info.splitlines() if ":" in line)) == want


@pytest.mark.kernel
def test_mysql_tls_outcomes_exact(capture, tls_mariadb, certificate):
    """The client's SSL request marks the connection TLS; the queries inside are parsed from the plaintext."""
    wait_tls_attached(capture, tls_mariadb.pid)
    connection = mysql.connector.connect(host="127.0.0.1", port=tls_mariadb.port, user="root", database="mysql",
                                         use_pure=True, ssl_ca=certificate.cert)
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cursor.fetchall()[0][1], "the connection is not TLS"
        for i in range(10):
            cursor.execute(f"SELECT {i}")
            assert cursor.fetchall() == [(i,)]
        for _ in range(3):
            with pytest.raises(mysql.connector.Error, match="1064"):
                cursor.execute("selec 1")
        cursor.close()
    finally:
        connection.close()
    # the connector's own setup (SET NAMES, SET autocommit) and SHOW STATUS succeed too
    want = {"ok": tls_mariadb.global_status()["Com_set_option"] + 11, "1064": 3}
    capture.wait_for(lambda c: server_counts(c, tls_mariadb.port, "mysql") == want, what=f"{want} at the server end")


@pytest.mark.kernel
def test_h2_inside_tls_statuses_exact(capture, certificate):
    """HTTP/2 that curl and nginx agree on through ALPN inside TLS: the plaintext's frames go to the HTTP/2
    parser, counted exactly at the server end on one connection."""
    if not os.path.exists(NGINX):
        skip_or_fail("nginx is not installed")
    with running_nginx(" http2", prefix="tls-h2-nginx-", certificate=certificate) as server:
        wait_tls_attached(capture, server.pid)
        paths = [f"/ok/{i}" for i in range(12)] + [f"/missing/{i}" for i in range(4)]
        urls = []
        for path in paths:
            urls += [f"https://127.0.0.1:{server.port}{path}", "-o", "/dev/null"]
        out = subprocess.run(["curl", "-sS", "--http2", "--cacert", certificate.cert,
                              "-w", "%{http_code} %{http_version} %{num_connects}\\n", *urls],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        lines = [line.split() for line in out.splitlines()]
        assert {version for _, version, _ in lines} == {"2"}, out
        assert sum(int(connects) for _, _, connects in lines) == 1, out
        want = {"200": 12, "404": 4}
        capture.wait_for(lambda c: server_counts(c, server.port, "http2") == want, what=f"{want} at the server end")
        assert server.logged_statuses() == want


@pytest.mark.kernel
def test_start_does_not_wait_for_the_tls_programs(collector):
    """start() returns before the TLS programs are verified (docs/performance.md): until a drain installs
    them, the collector says so and no library has uprobes; then all five TLS parsers are in their table."""
    from tracer.capture.collector import Collector

    c = Collector(CaptureConfig())
    c.start()
    try:
        assert c.probe_info.tls and c.tls_pending and not c.tls_libraries
        assert not set(L7_TLS_PARSERS) & set(c.probe_info.hooks)
        deadline = time.monotonic() + TLS_VERIFY_TIMEOUT
        while c.tls_pending:
            assert time.monotonic() < deadline, f"TLS programs not verified within {TLS_VERIFY_TIMEOUT:.0f} s"
            time.sleep(0.2)
            c.drain()
        assert c.probe_info.tls
        assert {hook: c.probe_info.hooks.get(hook) for hook in L7_TLS_PARSERS} == dict.fromkeys(L7_TLS_PARSERS, "tail_call")
    finally:
        c.close()
