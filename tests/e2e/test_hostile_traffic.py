"""Hostile bytes between containers never disturb good traffic: while one client sends random bytes, a cut
HTTP request, a 1 MB header, gets a status line one byte per write, sends an invalid RESP length and a
PostgreSQL message with a lying length, another client's HTTP requests on their own connection are counted
exactly, and the Redis, PostgreSQL and HTTP framing errors are counted in intuition_parse_errors_total, exactly."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.helpers.agent_metrics import families, named_services, requests_between
from tests.helpers.docker_env import DockerEnv, wait_equal, wait_until

GOOD_OK, GOOD_MISSING = 200, 100  # requests of the good client answered 200 and 404
ROUNDS = 5  # times the hostile client plays each of its cases

# Waits for /tmp/go (the agent has named every container), then runs its cases and writes /tmp/done.
_GO = """
import os, sys, time
while not os.path.exists("/tmp/go"):
    time.sleep(0.05)
"""
_DONE = """
open("/tmp/done", "w").close()
time.sleep(3600)
"""

GOOD_SERVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("", 80), Handler).serve_forever()
"""

GOOD_CLIENT = _GO + """
import http.client
connection = http.client.HTTPConnection(sys.argv[1], 80, timeout=30)
for path in ["/ok"] * %d + ["/missing"] * %d:
    connection.request("GET", path)
    connection.getresponse().read()
    time.sleep(0.01)
""" % (GOOD_OK, GOOD_MISSING) + _DONE

HOSTILE_SERVER = """
import socket, threading, time

def read_head(c):
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data

def http(c):
    head = read_head(c)
    if head is None:
        return
    if head.startswith(b"GET /garbage "):
        c.sendall(bytes(range(256)) * 4)
        return
    answer = b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"
    if head.startswith(b"GET /split "):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(answer)):
            c.send(answer[i:i + 1])
            time.sleep(0.005)
    else:
        c.sendall(answer)
    c.recv(1)  # until the client closes

def redis(c):
    while c.recv(65536):
        c.sendall(b"-ERR Protocol error: invalid bulk length\\r\\n")

def postgres(c):
    c.recv(65536)  # the startup message
    c.sendall(b"R\\x00\\x00\\x00\\x08\\x00\\x00\\x00\\x00Z\\x00\\x00\\x00\\x05I")  # AuthenticationOk, ReadyForQuery
    c.recv(65536)

def sink(c):
    while c.recv(65536):
        c.sendall(bytes(reversed(range(256))))

def serve(port, handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=lambda c=c: (handler(c), c.close()), daemon=True).start()

for port, handler in ((80, http), (6379, redis), (5432, postgres), (9000, sink)):
    threading.Thread(target=serve, args=(port, handler), daemon=True).start()
threading.Event().wait()
"""

HOSTILE_CLIENT = _GO + """
import socket, random
host = sys.argv[1]
rng = random.Random(11)

def talk(port, *messages, answers=True):
    with socket.create_connection((host, port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for message in messages:
            s.sendall(message)
            if answers:
                s.recv(65536)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass

for _ in range(%d):
    talk(9000, bytes(rng.randrange(256) for _ in range(4096)))
    talk(80, b"GET /cut HTTP/1.1\\r\\nHost: x\\r\\nX-Cut: ab", answers=False)
    talk(80, b"GET /big HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + b"a" * (1 << 20) + b"\\r\\n\\r\\n")
    talk(80, b"GET /split HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    talk(80, b"GET /garbage HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    talk(6379, b"*1\\r\\n$x4\\r\\nPING\\r\\n")
    talk(5432, b"\\x00\\x00\\x00\\x08\\x00\\x03\\x00\\x00", b"Q\\x00\\x00\\x00\\x02select 1\\x00", answers=False)
""" % ROUNDS + _DONE


def parse_errors(url: str) -> Counter:
    return Counter({s.labels["protocol"]: s.value for f in families(url) if f.name == "intuition_parse_errors"
                    for s in f.samples if s.name.endswith("_total")})


def finished(env: DockerEnv, container) -> bool:
    try:
        env.exec(container.id, "test", "-e", "/tmp/done")
        return True
    except AssertionError:
        return False


@pytest.mark.docker
def test_hostile_bytes_leave_good_counts_exact(agent_url):
    env = DockerEnv()
    try:
        namespace = env.name("hostile")
        network = env.network("hostile")
        good_server = env.run("good-server", "python3", "-c", GOOD_SERVER, compose=(namespace, "good-server"),
                              network=network)
        hostile_server = env.run("hostile-server", "python3", "-c", HOSTILE_SERVER,
                                 compose=(namespace, "hostile-server"), network=network)
        for container, port in ((good_server, 80), (hostile_server, 80), (hostile_server, 6379),
                                (hostile_server, 5432), (hostile_server, 9000)):
            env.wait_listening(container, port)
        good_client = env.run("good-client", "python3", "-c", GOOD_CLIENT, good_server.ip,
                              compose=(namespace, "good-client"), network=network)
        hostile_client = env.run("hostile-client", "python3", "-c", HOSTILE_CLIENT, hostile_server.ip,
                                 compose=(namespace, "hostile-client"), network=network)
        everyone = {"good-server", "good-client", "hostile-server", "hostile-client"}
        wait_until(lambda: named_services(agent_url, namespace) == everyone, 30, "every container named", 0.5)
        before = parse_errors(agent_url)
        for client in (good_client, hostile_client):  # both at once: hostile bytes while good requests run
            env.exec(client.id, "touch", "/tmp/go")
        for client in (good_client, hostile_client):
            wait_until(lambda: finished(env, client), 120, f"{client.name} done", 0.5)
        # both ends run on this host: the edge is reported at the server's end
        expected = {("http", "200", "server"): GOOD_OK, ("http", "404", "server"): GOOD_MISSING}
        # each waited for: /metrics shows the last drain, which may predate the last client's last requests
        wait_equal(lambda: requests_between(agent_url, namespace, "good-client", "good-server"), expected, 30,
                   "the good client's requests counted exactly", 0.5)
        # the 1 MB header and the status line sent byte by byte are each one 200; the cut request none;
        # each invalid RESP length still got its error reply
        wait_equal(lambda: requests_between(agent_url, namespace, "hostile-client", "hostile-server"),
                   {("http", "200", "server"): 2 * ROUNDS, ("redis", "ERR", "server"): ROUNDS}, 30,
                   "the hostile client's requests counted exactly", 0.5)
        # one framing error per invalid RESP length, per lying PostgreSQL length and per garbage HTTP response,
        # all counted in the kernel (random bytes to port 9000 are no protocol at all: not an error). The
        # metric also counts samples whose bytes do not parse: a sample of the status line sent byte by byte
        # carries the whole line the kernel pieced together (probes/l7.c), so it parses and adds none.
        wait_equal(lambda: parse_errors(agent_url) - before, Counter(redis=ROUNDS, postgres=ROUNDS, http=ROUNDS), 30,
                   "one parse error per hostile round and protocol", 0.5)
    finally:
        env.close()
