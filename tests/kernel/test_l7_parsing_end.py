"""Which end parses a connection's requests: the server end when both ends are sockets on this host that see
the same tuple, the client end when NAT hides its server (here DNAT in the client's namespace). The other
end counts bytes only. Client and server run in namespaces the test creates, linked by a veth pair."""
import os
import subprocess
import sys

import pytest

from tests.helpers.http_status_server import http_status_request, http_status_response
from tests.helpers.l7 import request_counts
from tests.helpers.netns import NetNS, veth_pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Addresses exist only inside this test's own namespaces (documentation ranges, RFC 5737).
ADDR_CLIENT, ADDR_SERVER, ADDR_VIRTUAL = "192.0.2.1", "192.0.2.2", "198.51.100.10"
SERVER_PORT, VIRTUAL_PORT = 7010, 80
STATUSES = ["200"] * 6 + ["404"] * 3 + ["503"] * 2
WANT = {"200": 6, "404": 3, "503": 2}
DNAT = f"""
table ip intu {{
    chain output {{
        type nat hook output priority -100;
        ip daddr {ADDR_VIRTUAL} tcp dport {VIRTUAL_PORT} dnat to {ADDR_SERVER}:{SERVER_PORT}
    }}
}}
"""


@pytest.fixture
def linked():
    """A client and a server namespace, linked by a veth pair; the client routes everything over it."""
    client_ns, server_ns = NetNS(), NetNS()
    try:
        client_dev, _ = veth_pair(client_ns, server_ns, ADDR_CLIENT, ADDR_SERVER)
        client_ns.run("ip", "route", "add", "default", "dev", client_dev)
        yield client_ns, server_ns
    finally:
        client_ns.delete()
        server_ns.delete()


def converse(client_ns: NetNS, server_ns: NetNS, host: str, port: int) -> int:
    """The STATUSES exchanged on one connection from the client namespace to host:port; the client writes only
    once the server has accepted. Returns the client's pid."""
    server = subprocess.Popen(server_ns.argv(sys.executable, "-m", "tests.helpers.http_status_server",
                                             ADDR_SERVER, str(SERVER_PORT)),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening", server.stderr.read()
        client = subprocess.Popen(client_ns.argv(sys.executable, "-m", "tests.helpers.tcp_client", "intu-parse-end",
                                                 "http", host, str(port), *STATUSES),
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        assert client.stdout.readline().strip() == "connected", client.stderr.read()
        assert server.stdout.readline().strip() == "accepted"
        _, err = client.communicate("go\n", timeout=60)
        assert client.returncode == 0, err
        server.wait(timeout=30)
        return client.pid
    finally:
        server.kill()
        server.wait()


def client_counts(capture, pid: int) -> dict[str, int]:
    """status -> HTTP requests counted at the client process's end."""
    out: dict[str, int] = {}
    for key, statuses in capture.requests.items():
        if key.tgid == pid and key.role == "client":
            for (_, status), counts in statuses.items():
                out[status] = out.get(status, 0) + counts.count
    return out


REQUEST_BYTES = sum(len(http_status_request(s)) for s in STATUSES)
RESPONSE_BYTES = sum(len(http_status_response(s)) for s in STATUSES)


@pytest.mark.kernel
def test_both_ends_on_this_host_the_server_end_parses(capture, linked):
    client_pid = converse(*linked, ADDR_SERVER, SERVER_PORT)
    client = dict(tgid=client_pid, role="client", server_port=SERVER_PORT)
    capture.wait_for(lambda c: request_counts(c, SERVER_PORT, "server", "http") == WANT
                     and c.total(**client).closes == 1,
                     what=f"{WANT} at the server end and the client's close")
    capture.poll()
    assert client_counts(capture, client_pid) == {}
    totals = capture.total(**client)
    assert (totals.opens, totals.bytes_sent, totals.bytes_received) == (1, REQUEST_BYTES, RESPONSE_BYTES)


@pytest.mark.kernel
def test_server_behind_dnat_the_client_end_parses_too(capture, linked):
    client_ns, server_ns = linked
    client_ns.nft(DNAT)
    client_pid = converse(client_ns, server_ns, ADDR_VIRTUAL, VIRTUAL_PORT)
    client = dict(tgid=client_pid, role="client", server_port=VIRTUAL_PORT)
    capture.wait_for(lambda c: client_counts(c, client_pid) == WANT
                     and request_counts(c, SERVER_PORT, "server", "http") == WANT
                     and c.total(**client).closes == 1,
                     what=f"{WANT} at the client end (port {VIRTUAL_PORT}) and at the server end ({SERVER_PORT})")
    totals = capture.total(**client)
    assert (totals.opens, totals.bytes_sent, totals.bytes_received) == (1, REQUEST_BYTES, RESPONSE_BYTES)
