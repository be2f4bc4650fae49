"""Capture across network namespaces the test builds: connect timeouts and retransmits."""
import os
import subprocess
import sys

import pytest

from tests.helpers.netns import NetNS, veth_pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT = [sys.executable, "-m", "tests.helpers.tcp_client"]
# Addresses exist only inside this test's own namespaces (documentation range, RFC 5737).
ADDR_CLIENT, ADDR_SERVER = "192.0.2.1", "192.0.2.2"
INPUT_CHAIN = """
table inet intu {{
    chain input {{
        type filter hook input priority 0;
        {rule}
    }}
}}
"""


@pytest.fixture
def namespaces():
    created = []

    def make():
        ns = NetNS()
        created.append(ns)
        return ns

    yield make
    for ns in created:
        ns.delete()


@pytest.mark.kernel
def test_connect_timeout_to_blackholed_port(capture, namespaces):
    ns = namespaces()
    ns.nft(INPUT_CHAIN.format(rule="tcp dport 9 drop"))
    proc = subprocess.Popen(ns.argv(*CLIENT, "intu-timeout", "connect", "127.0.0.1", "9", "1"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "ETIMEDOUT", err
    capture.wait_for(lambda c: c.total(tgid=proc.pid).connect_timeout == 1 and c.failure_reasons(proc.pid),
                     what="one connect timeout and its event")
    totals = capture.total(tgid=proc.pid)
    assert (totals.connect_timeout, totals.connect_refused, totals.connect_other, totals.opens) == (1, 0, 0, 0)
    assert capture.failure_reasons(proc.pid) == ["timeout"]


@pytest.mark.kernel
def test_retransmits_match_the_kernels_own_count(capture, namespaces):
    client_ns, server_ns = namespaces(), namespaces()
    client_dev, _ = veth_pair(client_ns, server_ns, ADDR_CLIENT, ADDR_SERVER)
    # one segment per packet: the tracepoint fires per packet, the kernel's RetransSegs counts segments
    client_ns.run("ip", "link", "set", client_dev, "gso_max_segs", "1")
    # drop a fifth of the client's data segments as they arrive at the server
    server_ns.nft(INPUT_CHAIN.format(rule="tcp dport 7000 tcp flags & (syn|fin|rst) == 0 numgen random mod 5 == 0 drop"))
    server = subprocess.Popen(server_ns.argv(sys.executable, "-c", SERVER_SCRIPT, ADDR_SERVER, "7000", str(300 * 200)),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        before = client_ns.snmp("Tcp", "RetransSegs")
        client = subprocess.Popen(client_ns.argv(*CLIENT, "intu-lossy", "chatter", ADDR_SERVER, "7000", "300", "200"),
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        retransmitted = client_ns.snmp("Tcp", "RetransSegs") - before
        assert retransmitted > 0, "the drop rule should have forced retransmits"
        flow = dict(tgid=client.pid, role="client", server_port=7000)
        capture.wait_for(lambda c: c.total(**flow).closes == 1 and c.total(**flow).retransmits >= retransmitted,
                         what=f"{retransmitted} retransmits")
        totals = capture.total(**flow)
        assert totals.retransmits == retransmitted
        assert totals.bytes_sent == 300 * 200
    finally:
        server.kill()
        server.wait()


# Accepts one connection, reads the expected bytes, acknowledges with one byte.
SERVER_SCRIPT = """
import socket, sys
host, port, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((host, port)); s.listen()
print("listening", flush=True)
conn, _ = s.accept()
got = 0
while got < expected:
    chunk = conn.recv(65536)
    if not chunk:
        break
    got += len(chunk)
conn.sendall(b"k")
conn.recv(1)
"""
