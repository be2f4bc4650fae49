"""DNS answers reach user space from the probes: a UDP socket connected to port 53 and TCP connections to port
53, with or without the length read alone first. What names nothing stays in the kernel: NXDOMAIN, the length
prefix alone, the server's reads of queries. A socket that is not connected is not seen (probes/dns.c says why).
Client and server run in a network namespace the test creates, the server on its port 53."""
import os
import subprocess
import sys

import pytest

from tests.helpers.netns import NetNS
from tracer.protocols.dns import Answer, decode_answers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDRESS = "203.0.113.10"
CLIENT = """
import select, socket, sys, time
import dns.message

def query(name):
    return dns.message.make_query(name, "A").to_wire()

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("127.0.0.1", 53))
for name in ("api.example.com", "missing.example.com"):
    udp.send(query(name))
    udp.recv(4096)
unconnected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
unconnected.sendto(query("api.example.com"), ("127.0.0.1", 53))
unconnected.recvfrom(4096)
tcp = socket.create_connection(("127.0.0.1", 53))
wire = query("api.example.com")
tcp.sendall(len(wire).to_bytes(2, "big") + wire)
length = int.from_bytes(tcp.recv(2, socket.MSG_WAITALL), "big")   # the length alone, then the message
tcp.recv(length, socket.MSG_WAITALL)
wire = query("www.example.com")
tcp.sendall(len(wire).to_bytes(2, "big") + wire)
deadline = time.monotonic() + 30
while True:   # until the whole answer is there, so that one read takes the length and the message
    peeked = tcp.recv(4096, socket.MSG_PEEK)
    if len(peeked) >= 2 and len(peeked) == 2 + int.from_bytes(peeked[:2], "big"):
        break
    assert time.monotonic() < deadline, "no whole answer"
    select.select([tcp], [], [], 1)
tcp.recv(4096)
print("done", flush=True)
"""


@pytest.fixture
def dns_server():
    netns = NetNS("dns")
    server = subprocess.Popen(netns.argv(sys.executable, "tests/helpers/dns_server.py", "127.0.0.1", "53",
                                         f"api.example.com={ADDRESS}", "www.example.com=api.example.com"),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening", server.stderr.read()
        yield netns, server.pid
    finally:
        server.kill()
        server.wait()
        netns.delete()


@pytest.mark.kernel
def test_answers_read_on_connected_udp_and_on_tcp_reach_user_space_and_nothing_else(capture, dns_server):
    netns, server_pid = dns_server
    client = subprocess.Popen(netns.argv(sys.executable, "-c", CLIENT), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    out, err = client.communicate(timeout=120)
    assert out.strip() == "done", err
    read_by = lambda pid: [a for a in capture.dns if a.key.tgid == pid]
    capture.wait_for(lambda c: len(read_by(client.pid)) >= 3, what="the client's three answers")
    capture.poll()  # the client has exited: everything it read was in the ring buffer before this drain
    answers = sorted((a.transport, decode_answers(a.message, a.transport, a.length)) for a in read_by(client.pid))
    assert answers == [("tcp", [Answer(ADDRESS, "api.example.com", 300)]),
                       ("tcp", [Answer(ADDRESS, "www.example.com", 300)]),
                       ("udp", [Answer(ADDRESS, "api.example.com", 300)])]
    assert read_by(server_pid) == []
    assert capture.lost["dns_budget"] == 0


FLOOD = 1000
FLOOD_CLIENT = """
import socket, sys
import dns.message, dns.rrset
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.connect(("127.0.0.1", 53))
query = dns.message.make_query("api.example.com", "A")
reply = dns.message.make_response(query)
reply.answer.append(dns.rrset.from_text("api.example.com.", 300, "IN", "A", "203.0.113.10"))
query, reply = query.to_wire(), reply.to_wire()
for _ in range(int(sys.argv[1])):
    client.send(query)
    _, source = server.recvfrom(4096)
    server.sendto(reply, source)
    client.recv(4096)
print("done", flush=True)
"""


@pytest.mark.kernel
def test_a_flood_of_answers_is_held_to_the_budget_and_what_it_holds_back_is_counted(capture):
    from tracer.capture.probe_constants import DNS_ANSWERS_PER_SECOND

    netns = NetNS("dns")
    try:
        client = subprocess.Popen(netns.argv(sys.executable, "-c", FLOOD_CLIENT, str(FLOOD)), cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = client.communicate(timeout=120)
        assert out.strip() == "done", err
    finally:
        netns.delete()
    mine = lambda c: sum(1 for a in c.dns if a.key.tgid == client.pid)
    # held back by the budget, or by a full ring buffer (nothing drained it while the loop ran)
    counted = lambda c: mine(c) + c.lost["dns_budget"] + c.lost["ringbuf"]
    capture.wait_for(lambda c: counted(c) >= FLOOD, what=f"{FLOOD} answers sent or counted lost")
    # the loop takes well under 3 s: at most three seconds' budgets went out, and the budget held the rest back
    assert 0 < mine(capture) <= 3 * DNS_ANSWERS_PER_SECOND
    assert capture.lost["dns_budget"] >= FLOOD - 3 * DNS_ANSWERS_PER_SECOND
