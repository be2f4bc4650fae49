"""Real servers from Debian, run as host processes on loopback with temporary data, for request tests
and benchmarks/."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers.docker_env import wait_until

from tests.conftest import skip_or_fail

PG_BIN = "/usr/lib/postgresql/15/bin"
NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(url: str, process: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
    """Until GET `url` answers 200; fails with the process's log as soon as it exits."""
    def answers():
        try:
            return requests.get(url, timeout=5).status_code == 200
        except requests.ConnectionError:
            assert process.poll() is None, log.read_text()
            return False

    wait_until(answers, timeout, what, 0.5)


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until a connect to 127.0.0.1:port succeeds; fails if the server exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.args[0]} not listening on {port} after {timeout}s")
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@dataclass
class Nginx:
    port: int
    access_log: str
    pid: int   # the master process

    def logged_statuses(self) -> dict[str, int]:
        """Requests per status in the access log (one status per line)."""
        counts: dict[str, int] = {}
        with open(self.access_log) as f:
            for line in f:
                counts[line.strip()] = counts.get(line.strip(), 0) + 1
        return counts


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format status_only '$status';
    access_log {base}/access.log status_only;
    client_body_temp_path {base};
    proxy_temp_path {base};
    fastcgi_temp_path {base};
    uwsgi_temp_path {base};
    scgi_temp_path {base};
    server {{
        listen 127.0.0.1:{port}{listen_options}{tls};
        root {base}/empty;
        location /ok {{ return 200 "ok"; }}
        location /fail {{ return 500 "failed"; }}   # with a body: the default error page would close the connection
        location /long-head {{   # a 200 whose head is 77 bytes longer than /ok's (224 in all): benchmarks/overhead.py
            add_header X-Request-Id "0f8fad5b-d9cb-469f-a165-70867728950e";
            add_header Cache-Control "no-store";
            return 200 "ok";
        }}
    }}
}}
"""


def nginx_conf_in_container(base: str, port: int, tls: str = "") -> str:
    """NGINX_CONF for nginx as a container's root: listening on every address of the container, its workers
    root too (the container's files are root's)."""
    return "user root;\n" + NGINX_CONF.format(base=base, port=port, listen_options="", tls=tls).replace("127.0.0.1:", "")


@dataclass(frozen=True)
class Certificate:
    cert: str   # PEM files
    key: str


@contextmanager
def self_signed_certificate(prefix: str = "intuition-cert-") -> Iterator[Certificate]:
    """A throwaway self-signed certificate for 127.0.0.1, made with `openssl req`."""
    base = tempfile.mkdtemp(prefix=prefix)
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", f"{base}/key.pem", "-out", f"{base}/cert.pem"],
                       check=True, capture_output=True, timeout=60)
        yield Certificate(cert=f"{base}/cert.pem", key=f"{base}/key.pem")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def running_nginx(listen_options: str = "", prefix: str = "intuition-nginx-",
                  certificate: Certificate | None = None) -> Iterator[Nginx]:
    """nginx (one worker) on 127.0.0.1: /ok* answers 200, /fail* 500, anything else 404; HTTPS with a
    certificate. Stopped and its files removed on exit. listen_options go on its listen line (" http2": HTTP/2,
    with prior knowledge, or through ALPN with a certificate)."""
    base = tempfile.mkdtemp(prefix=prefix)
    os.mkdir(f"{base}/empty")
    port = free_port()
    tls = f" ssl;\n        ssl_certificate {certificate.cert};\n        ssl_certificate_key {certificate.key}" \
        if certificate else ""
    with open(f"{base}/nginx.conf", "w") as f:
        f.write(NGINX_CONF.format(base=base, port=port, listen_options=listen_options, tls=tls))
    process = subprocess.Popen([NGINX, "-p", base, "-c", f"{base}/nginx.conf", "-e", f"{base}/error.log"])
    try:
        wait_listening(port, process)
        yield Nginx(port=port, access_log=f"{base}/access.log", pid=process.pid)
    finally:
        stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def nginx():
    if not os.path.exists(NGINX):
        skip_or_fail("nginx is not installed")
    with running_nginx() as server:
        yield server


@dataclass(frozen=True)
class Redis:
    port: int
    pid: int


@contextmanager
def running_redis(certificate: Certificate | None = None, prefix: str = "intuition-redis-",
                  password: str | None = None) -> Iterator[Redis]:
    """redis-server on 127.0.0.1 with a temporary directory and no persistence, TLS only with a certificate
    (clients need none), AUTH required with a password."""
    base = tempfile.mkdtemp(prefix=prefix)
    port = free_port()
    listen = ["--port", str(port)]
    if certificate:
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", certificate.cert,
                  "--tls-key-file", certificate.key, "--tls-ca-cert-file", certificate.cert, "--tls-auth-clients", "no"]
    auth = ["--requirepass", password] if password else []
    process = subprocess.Popen(["/usr/bin/redis-server", *listen, *auth, "--bind", "127.0.0.1", "--dir", base,
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        yield Redis(port=port, pid=process.pid)
    finally:
        stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def redis_port():
    """redis-server on 127.0.0.1 with a temporary directory and no persistence; yields its port."""
    if not os.path.exists("/usr/bin/redis-server"):
        skip_or_fail("redis-server is not installed")
    with running_redis() as server:
        yield server.port


SLOW_HTTP_SERVER = """
import http.server, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
"""


@pytest.fixture
def slow_http_port():
    """An HTTP/1.1 server on 127.0.0.1 that sleeps 200 ms before each answer; yields its port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SLOW_HTTP_SERVER, str(port)])
    try:
        wait_listening(port, process)
        yield port
    finally:
        stop(process)


@pytest.fixture
def postgres_port():
    """A throwaway PostgreSQL 15 cluster (trust auth) on 127.0.0.1; yields its port."""
    if not os.path.exists(f"{PG_BIN}/initdb"):
        skip_or_fail("postgresql 15 is not installed")
    base = tempfile.mkdtemp(prefix="intuition-pg-")
    shutil.chown(base, "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_postgres + [f"{PG_BIN}/initdb", "-D", f"{base}/data", "-A", "trust"],
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run(as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{base}/data", "-o", options, "-l", f"{base}/log",
                                  "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield port
    finally:
        subprocess.run(as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{base}/data", "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=90)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class MariaDB:
    port: int
    socket: str  # for the test's own queries: a Unix socket, which the probes do not count
    pid: int = 0

    def global_status(self) -> dict[str, int]:
        """SHOW GLOBAL STATUS, the numeric values."""
        out = subprocess.run(["mariadb", "--no-defaults", "-S", self.socket, "-u", "root", "-N", "-B", "-e",
                              "SHOW GLOBAL STATUS"], check=True, capture_output=True, text=True, timeout=60).stdout
        pairs = (line.split("\t", 1) for line in out.splitlines())
        return {name: int(value) for name, value in pairs if value.isdigit()}


@contextmanager
def running_mariadb(certificate: Certificate | None = None) -> Iterator[MariaDB]:
    """A throwaway MariaDB server (no grant checks: any user, no password) on 127.0.0.1, offering TLS with a
    certificate. Stopped and its files removed on exit."""
    base = tempfile.mkdtemp(prefix="mysql-mariadb-")
    process = None
    try:
        shutil.chown(base, "mysql")
        tls = []
        if certificate:   # copied where the server's user can read them
            for name, path in (("cert", certificate.cert), ("key", certificate.key)):
                shutil.copy(path, f"{base}/{name}.pem")
                shutil.chown(f"{base}/{name}.pem", "mysql")
            tls = [f"--ssl-cert={base}/cert.pem", f"--ssl-key={base}/key.pem"]
        subprocess.run(["runuser", "-u", "mysql", "--", "mariadb-install-db", "--no-defaults", f"--datadir={base}/data",
                        "--skip-test-db", "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        # performance_schema: its statement summaries count the errors that SHOW GLOBAL STATUS does not
        process = subprocess.Popen([
            "/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", f"--datadir={base}/data",
            f"--socket={base}/socket", f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={base}/pid",
            f"--log-error={base}/error.log", "--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
            "--performance-schema=ON", *tls])
        wait_listening(port, process, timeout=120)
        yield MariaDB(port=port, socket=f"{base}/socket", pid=process.pid)
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mariadb():
    if not os.path.exists("/usr/sbin/mariadbd"):
        skip_or_fail("mariadb-server is not installed")
    with running_mariadb() as server:
        yield server
