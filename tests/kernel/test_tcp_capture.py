"""Exact TCP capture per process on the real kernel: bytes, opens/closes, failures, resets."""
import contextlib
import os
import socket
import subprocess
import sys

import pytest

from tests.helpers.tcp_server import Server, accept_and_close, exchange, read_exactly, send_one_byte_then_wait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_client(name: str, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    """Start the helper client as its own process; returns it finished, with its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.tcp_client", name, *map(str, args)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def assert_exchange_counted(capture, comm: str, sent: int, received: int) -> None:
    """One connection of the helper client to a server in this process on loopback, counted exactly at both ends."""
    with Server(exchange(sent, received)) as server:
        _, pid = run_client(comm, "exchange", "127.0.0.1", server.port, sent, received)
        client = dict(tgid=pid, role="client", server_port=server.port)
        served = dict(tgid=os.getpid(), role="server", server_port=server.port)
        capture.wait_for(lambda c: c.total(**client).closes == 1 and c.total(**served).closes == 1,
                         what="both ends closed")
    totals = capture.total(**client)
    assert (totals.bytes_sent, totals.bytes_received, totals.opens, totals.closes) == (sent, received, 1, 1)
    totals = capture.total(**served)
    assert (totals.bytes_received, totals.bytes_sent, totals.opens, totals.closes) == (sent, received, 1, 1)


@pytest.mark.kernel
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_exact_bytes_both_ends(capture, host):
    with Server(exchange(123_457, 54_321), host=host) as server:
        _, pid = run_client("intu-bytes", "exchange", host, server.port, 123_457, 54_321)
        client = dict(tgid=pid, role="client", server_port=server.port)
        served = dict(tgid=os.getpid(), role="server", server_port=server.port)
        capture.wait_for(lambda c: c.total(**client).closes == 1 and c.total(**served).closes == 1,
                         what="both ends closed")
    (key, counters), = capture.matching(**client).items()
    assert key.comm == "intu-bytes"
    assert key.peer_addr == host and key.local_addr == host
    assert (counters.bytes_sent, counters.bytes_received, counters.opens) == (123_457, 54_321, 1)
    server_side = capture.total(**served)
    assert (server_side.bytes_received, server_side.bytes_sent, server_side.opens) == (123_457, 54_321, 1)
    assert key.cgroup_id == own_cgroup_inode(capture.collector.probe_info)


@pytest.mark.kernel
def test_an_open_connections_bytes_show_as_they_grow_and_its_close_counts_none_twice(capture):
    """Bytes stay in the socket's entry until its close (probes/common.h): the drain shows them while the
    connection is open (tracer/capture/socket_bytes.py), and the close moves them to the flow without a second
    count at either end."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        ends = [dict(tgid=os.getpid(), role=role, server_port=port) for role in ("client", "server")]

        def moved(c):   # (client sent, server received), (server sent, client received)
            client_end, server_end = (c.total(**end) for end in ends)
            return (client_end.bytes_sent, server_end.bytes_received), (server_end.bytes_sent,
                                                                        client_end.bytes_received)

        with client, served:
            for sent, answered, so_far in ((3_000, 10, ((3_000, 3_000), (10, 10))),
                                           (4_000, 20, ((7_000, 7_000), (30, 30)))):
                client.sendall(b"x" * sent)
                read_exactly(served, sent)
                served.sendall(b"y" * answered)
                read_exactly(client, answered)
                capture.wait_for(lambda c, want=so_far: moved(c) == want, what=f"{so_far} on the open connection")
        capture.wait_for(lambda c: all(c.total(**end).closes == 1 for end in ends), what="one close at each end")
    capture.poll()
    assert moved(capture) == ((7_000, 7_000), (30, 30))


@pytest.mark.kernel
def test_server_flows_tell_apart_the_local_clients_calling_from_one_address(capture):
    with Server(exchange(1_000, 2_000)) as server:
        pids = [run_client(name, "exchange", "127.0.0.1", server.port, 1_000, 2_000)[1]
                for name in ("intu-first", "intu-second")]
        served = dict(tgid=os.getpid(), role="server", server_port=server.port)
        capture.wait_for(lambda c: all(c.total(**served, peer_tgid=pid).closes == 1 for pid in pids),
                         what="a close at the server for each client process")
    for pid in pids:
        totals = capture.total(**served, peer_tgid=pid)
        assert (totals.opens, totals.closes, totals.bytes_received, totals.bytes_sent) == (1, 1, 1_000, 2_000)
    assert capture.total(**served, peer_tgid=0).opens == 0


@pytest.mark.kernel
def test_peeked_bytes_count_once_when_read(capture):
    """A MSG_PEEK read leaves its bytes in the socket: they count when read for real, not twice (both byte paths
    skip peeks: probes/bytes_tracepoint.c here, probes/bytes_kprobe.c where kprobes attach)."""
    with Server(exchange(10, 5_000)) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(b"p" * 10)
            for _ in range(3):
                assert client.recv(1_000, socket.MSG_PEEK)
            read_exactly(client, 5_000)
        mine = dict(tgid=os.getpid(), role="client", server_port=server.port)
        capture.wait_for(lambda c: c.total(**mine).closes == 1, what="the client's close")
    assert (capture.total(**mine).bytes_received, capture.total(**mine).bytes_sent) == (5_000, 10)


def own_cgroup_inode(info) -> int:
    """Inode of this process's cgroup directory in the hierarchy the probes report."""
    with open("/proc/self/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    controller = "" if info.cgroup_mode == "v2" else "memory"
    path = next(p for _, ctrls, p in lines if controller in ctrls.split(",") or ctrls == controller)
    return os.stat(info.cgroup_root + path).st_ino


@pytest.mark.kernel
def test_burst_of_short_connections_counts_every_one(capture):
    with Server(accept_and_close) as server:
        _, pid = run_client("intu-burst", "burst", "127.0.0.1", server.port, 1000)
        client = dict(tgid=pid, role="client", server_port=server.port)
        served = dict(tgid=os.getpid(), role="server", server_port=server.port)
        capture.wait_for(lambda c: c.total(**client).closes >= 1000 and c.total(**served).closes >= 1000,
                         what="1000 closes at each end")
    for side in (client, served):
        totals = capture.total(**side)
        assert (totals.opens, totals.closes) == (1000, 1000), side
    assert len(capture.matching(**client)) == 1, "the client's ephemeral ports must not split the flow"


@pytest.mark.kernel
def test_connect_refused(capture):
    with Server(accept_and_close) as server:
        port = server.port
    result, pid = run_client("intu-refused", "connect", "127.0.0.1", port, 1)
    assert result.stdout.strip() == "ECONNREFUSED"
    # the event follows the counter through the ring buffer: wait for both
    capture.wait_for(lambda c: c.total(tgid=pid).connect_refused == 1 and c.failure_reasons(pid),
                     what="one refused connect and its event")
    totals = capture.total(tgid=pid)
    assert (totals.connect_refused, totals.connect_timeout, totals.opens) == (1, 0, 0)
    assert capture.failure_reasons(pid) == ["refused"]



@pytest.mark.kernel
def test_reset_counted_at_each_end(capture):
    with Server(send_one_byte_then_wait) as server:
        _, pid = run_client("intu-linger", "linger", "127.0.0.1", server.port)
        served = dict(tgid=os.getpid(), role="server", server_port=server.port)
        capture.wait_for(lambda c: c.total(tgid=pid).resets_sent == 1 and c.total(**served).resets_received == 1
                         and len(c.reset_directions(server.port)) == 2,
                         what="a reset sent by the client and received by the server, with their events")
    assert capture.total(tgid=pid).resets_received == 0
    assert capture.total(**served).resets_sent == 0
    assert capture.reset_directions(server.port) == ["received", "sent"]



@pytest.mark.kernel
def test_flows_carry_the_process_name_not_the_threads(capture):
    """Worker threads rename themselves; the service is named after the process."""
    import threading

    from tests.helpers.tcp_client import set_comm

    def connect_from_renamed_thread(port):
        set_comm("intu-worker")  # names the calling thread only
        socket.create_connection(("127.0.0.1", port)).close()

    with Server(accept_and_close) as server:
        worker = threading.Thread(target=connect_from_renamed_thread, args=(server.port,))
        worker.start()
        worker.join()
        flow = dict(tgid=os.getpid(), role="client", server_port=server.port)
        capture.wait_for(lambda c: c.total(**flow).closes == 1, what="the worker's connection closed")
    with open("/proc/self/comm") as f:
        process_name = f.read().strip()
    assert [k.comm for k in capture.matching(**flow)] == [process_name]


@contextlib.contextmanager
def state_changes_skipped(collector):
    """The raw state-change program detached: as if the kernel skipped its runs (it counts such runs in
    recursion_misses, and skips them in bursts on busy hosts)."""
    collector._bpf.detach_raw_tracepoint(tp=b"inet_sock_set_state")
    try:
        yield
    finally:
        collector._bpf.attach_raw_tracepoint(tp=b"inet_sock_set_state", fn_name=b"raw_tracepoint__inet_sock_set_state")


@pytest.mark.kernel
def test_a_close_whose_state_change_run_was_skipped_is_counted_at_destruction(capture):
    """A skipped CLOSE run: the socket's destruction counts the close."""
    with Server(send_one_byte_then_wait) as server:
        client = socket.create_connection(("127.0.0.1", server.port))
        client.recv(1)   # the server wrote: its socket is claimed
        ends = [dict(tgid=os.getpid(), role=role, server_port=server.port) for role in ("client", "server")]
        capture.wait_for(lambda c: all(c.total(**end).opens == 1 for end in ends), what="one open at each end")
        with state_changes_skipped(capture.collector):
            client.close()
            capture.wait_for(lambda c: all(c.total(**end).closes == 1 for end in ends), what="one close at each end")
    for end in ends:
        totals = capture.total(**end)
        assert (totals.opens, totals.closes, totals.connect_other) == (1, 1, 0), end


@pytest.mark.kernel
def test_a_connection_whose_established_run_was_skipped_is_opened_at_its_first_io(capture):
    """Skipped runs for the whole connection: the client's open is counted at its first write, its close at
    the socket's destruction."""
    with Server(exchange(1_000, 2_000)) as server, state_changes_skipped(capture.collector):
        _, pid = run_client("intu-skipped", "exchange", "127.0.0.1", server.port, 1_000, 2_000)
        capture.wait_for(lambda c: c.total(tgid=pid).closes == 1, what="the client's close")
    totals = capture.total(tgid=pid)
    assert (totals.opens, totals.closes, totals.bytes_sent, totals.bytes_received) == (1, 1, 1_000, 2_000)
    assert totals.connect_other == 0
