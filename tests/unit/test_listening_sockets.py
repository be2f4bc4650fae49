"""Listening ports per network namespace from /proc (tracer/capture/listening_sockets.py), on a fake /proc."""
import os

from tracer.capture.known_namespaces import pids_by_netns
from tracer.capture.listening_sockets import listening_ports_by_netns, parse_listening_ports

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
TCP = HEADER + (
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1127 1\n"
    "   1: 0100007F:C350 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2256 1\n"
    "   2: 0100007F:04D2 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2257 1\n"
)
TCP6 = HEADER + (
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 3001 1\n"
)


def test_only_listening_sockets_count():
    assert parse_listening_ports(TCP) == {2024, 50000}   # the connection from port 1234 is not a listener
    assert parse_listening_ports(TCP6) == {8080}
    assert parse_listening_ports(HEADER) == set()


def fake_process(proc, pid: str, netns_file, tcp: str, tcp6: str | None) -> None:
    os.makedirs(proc / pid / "ns")
    os.makedirs(proc / pid / "net")
    os.link(netns_file, proc / pid / "ns" / "net")   # one inode per namespace, as /proc shows it
    (proc / pid / "net" / "tcp").write_text(tcp)
    if tcp6 is not None:
        (proc / pid / "net" / "tcp6").write_text(tcp6)


def test_each_namespace_once_with_its_ipv4_and_ipv6_listeners(tmp_path):
    proc = tmp_path / "proc"
    host, container = tmp_path / "host-netns", tmp_path / "container-netns"
    host.write_text("")
    container.write_text("")
    fake_process(proc, "1", host, TCP, TCP6)
    fake_process(proc, "20", host, TCP, TCP6)   # the same namespace through another process: the same tables
    fake_process(proc, "300", container, HEADER + TCP.splitlines(keepends=True)[2], None)   # IPv6 off
    (proc / "self").mkdir()
    pids = pids_by_netns(str(proc))
    assert {netns: sorted(seen) for netns, seen in pids.items()} == {host.stat().st_ino: [1, 20],
                                                                      container.stat().st_ino: [300]}
    by_netns = listening_ports_by_netns(pids, str(proc))
    assert by_netns == {host.stat().st_ino: {2024, 50000, 8080}, container.stat().st_ino: {50000}}


def test_a_process_that_exits_while_read_is_left_out(tmp_path):
    proc = tmp_path / "proc"
    (proc / "42" / "ns").mkdir(parents=True)   # no ns/net: the process is gone
    assert pids_by_netns(str(proc)) == {}
    assert listening_ports_by_netns({7: [42]}, str(proc)) == {}   # its tables are gone too


def test_a_namespace_is_read_through_the_next_process_when_one_has_exited(tmp_path):
    proc = tmp_path / "proc"
    netns = tmp_path / "netns"
    netns.write_text("")
    fake_process(proc, "5", netns, TCP, None)
    assert listening_ports_by_netns({netns.stat().st_ino: [4, 5]}, str(proc)) == {netns.stat().st_ino: {2024, 50000}}
