"""The agent as a process: SIGKILL leaves no BPF program behind, a restarted agent counts the traffic of
connections that were open before it started (with their roles from the listeners it reads at start, not
from the ports), and SIGTERM detaches cleanly within 2 s."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import ssl  # noqa: F401  maps the system's libssl into this process, for the TLS test to find
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.agent_metrics import scrape
from tests.helpers.agent_process import AgentProcess
from tests.helpers.docker_env import wait_equal, wait_until
from tests.helpers.tcp_server import Server

pytestmark = pytest.mark.kernel
CLIENT_COMM = "intu-sig-cli"
ROUND_BYTES = 1000
ROUNDS = 3
DETACH_SECONDS = 2.0
TLS_LIBRARY_FILES = 3


def edge_bytes(url: str, name: str, reporter: str) -> float:
    """Bytes on the edge from the test's client process to this test process, as `reporter` saw them."""
    edge = {("client", f"host:{CLIENT_COMM}"), ("server", f"host:{own_comm()}"), ("reporter", reporter)}
    return sum(value for (sample, labels), value in scrape(url).items() if sample == name and edge <= set(labels))


def reversed_edges(url: str) -> list:
    """Byte counters on an edge from this test process to the client: the roles taken backwards."""
    return [labels for (sample, labels), _ in scrape(url).items()
            if sample.startswith("intuition_tcp_") and ("server", f"host:{CLIENT_COMM}") in labels]


def own_comm() -> str:
    """This process's name: the echo servers run in it."""
    with open("/proc/self/comm") as f:
        return f.read().strip()


def loaded_program_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out)}


@pytest.fixture(autouse=True)
def root_and_bpftool():
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes")
    if subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0:
        skip_or_fail("bpftool is not installed (scripts/setup.sh --test installs it)")


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def server_on_a_high_port() -> Server:
    """An echo server on a port above any port its client could connect from, so that guessing "the lower
    port is the server" would get the roles of a connection that predates the agent backwards; the agent
    knows them from the listeners it reads at start (tracer/capture/listening_sockets.py)."""
    for port in range(50000, 50100):
        try:
            return Server(echo, port=port)
        except OSError:
            continue
    raise AssertionError("no free port from 50000 to 50100")


def free_low_port() -> int:
    """A port for the client to connect from, far below the server's."""
    for port in range(1234, 1334):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port from 1234 to 1334")


def tls_build(agent: AgentProcess) -> int:
    """The pid of the agent's child that compiles the TLS programs (tracer/capture/tls_process.py), once it has
    loaded libbcc: its main() ran, which first asks to die with the agent (PR_SET_PDEATHSIG)."""
    for children in glob.glob(f"/proc/{agent.process.pid}/task/*/children"):
        for pid in open(children).read().split():
            try:
                if "tracer.capture.tls_process" in open(f"/proc/{pid}/cmdline").read() and \
                        "libbcc" in open(f"/proc/{pid}/maps").read():
                    return int(pid)
            except OSError:
                continue  # ended meanwhile
    return 0


def process_gone(pid: int) -> bool:
    """No such process, or a zombie its new parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_sigkill_leaves_no_program_and_a_restart_counts_open_connections():
    with server_on_a_high_port() as server:
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.tcp_client", CLIENT_COMM, "on-stdin", "127.0.0.1", str(server.port),
             str(ROUND_BYTES), str(free_low_port())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert client.stdout.readline().strip() == "connected"  # open before any agent runs
            first = AgentProcess()
            try:
                programs = first.program_ids()
                assert len(programs) >= 5 and programs <= loaded_program_ids()
                build = wait_until(lambda: tls_build(first), 60, "the TLS programs' build process to compile")
            finally:
                first.kill()
            wait_until(lambda: not programs & loaded_program_ids(), 10, "the killed agent's programs to be unloaded")
            wait_until(lambda: process_gone(build), 10, "the killed agent's TLS build process to end")

            second = AgentProcess()
            try:
                for _ in range(ROUNDS):
                    client.stdin.write("go\n")
                    client.stdin.flush()
                    assert client.stdout.readline().strip() == "done"
                expected = ROUNDS * ROUND_BYTES
                # the edge runs from the client to this process (the server), as each end reports it; waited for
                # together: a drain between the last round's send and its echo shows the sent bytes complete and
                # the echoed ones not yet, and /metrics shows that drain for up to a second
                counters = [(name, reporter) for name in ("intuition_tcp_sent_bytes_total",
                                                          "intuition_tcp_received_bytes_total")
                            for reporter in ("client", "server")]
                wait_equal(lambda: {counter: edge_bytes(second.url, *counter) for counter in counters},
                           dict.fromkeys(counters, expected), 30, f"{expected} bytes each way, seen at both ends")
                assert reversed_edges(second.url) == []
            finally:
                second.kill()
        finally:
            client.stdin.close()
            client.wait(30)


def assert_sigterm_detaches_in_time(agent: AgentProcess) -> None:
    programs = agent.program_ids()
    assert programs and programs <= loaded_program_ids()
    started = time.monotonic()
    agent.process.send_signal(signal.SIGTERM)
    assert agent.process.wait(30) == 0
    wait_until(lambda: not programs & loaded_program_ids(), 30, "the agent's programs to be unloaded")
    assert time.monotonic() - started <= DETACH_SECONDS


def test_sigterm_detaches_within_two_seconds():
    """Right after the start, while a child process compiles the TLS programs: the stop kills it."""
    agent = AgentProcess()
    try:
        build = wait_until(lambda: tls_build(agent), 60, "the TLS programs' build process to compile")
        assert_sigterm_detaches_in_time(agent)
        assert process_gone(build)
    finally:
        agent.kill()


def files_with_uprobes(pid: int) -> set[tuple[int, int]]:
    """(device, inode) of each file that process pid has uprobes on: as uprobe-multi links (their fdinfo names
    the file) or as perf events (bpftool's perf list)."""
    paths = set()
    for fdinfo in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            with open(fdinfo) as f:
                fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except OSError:
            continue  # closed meanwhile
        if fields.get("link_type", "").strip() in ("uprobe_multi", "uretprobe_multi"):
            paths.add(fields["path"].strip())
    perf = json.loads(subprocess.run(["bpftool", "-j", "perf", "list"], capture_output=True, text=True,
                                     check=True).stdout)
    paths |= {a["filename"] for a in perf if a.get("pid") == pid and a.get("fd_type") in ("uprobe", "uretprobe")}
    found = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # its process or container is gone
        found.add((st.st_dev, st.st_ino))
    return found


def test_sigterm_detaches_within_two_seconds_with_tls_libraries_attached(tmp_path):
    """Steady state: the TLS programs installed and their uprobes attached to three libssl files that live
    processes map, as three container images with their own OpenSSL would be (tracer/capture/uprobe_links.py)."""
    libssl = next(line.split()[-1] for line in open(f"/proc/{os.getpid()}/maps") if "/libssl.so" in line)
    holders, copies = [], set()
    for n in range(TLS_LIBRARY_FILES):
        copy = tmp_path / str(n) / os.path.basename(libssl)
        copy.parent.mkdir()
        shutil.copy(libssl, copy)
        copies.add((copy.stat().st_dev, copy.stat().st_ino))
        holders.append(subprocess.Popen([sys.executable, "-c", f"import ctypes, sys; ctypes.CDLL({str(copy)!r}); "
                                         "sys.stdin.read()"], stdin=subprocess.PIPE))
    agent = AgentProcess()
    try:
        wait_until(lambda: copies <= files_with_uprobes(agent.process.pid), 60, "uprobes on the three copies", 0.5)
        assert_sigterm_detaches_in_time(agent)
    finally:
        agent.kill()
        for holder in holders:
            holder.stdin.close()
            holder.wait(30)
