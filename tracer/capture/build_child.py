"""A BPF module built in a child process: BCC's compile is one call that cannot be cut short, and its
process-wide state allows no other compile, nor a module's release, while it runs (docs/performance.md). A child
compiles beside the agent, on another core, and a stop kills it at once.

The agent's side (ChildBuild) starts `python -m <module> <socket fd> <agent pid>` with the descriptors it hands
over (pass_fds), sends a JSON request on a socket pair and reads answers: names beside descriptors (SCM_RIGHTS),
with the child's log records, or the child's error. The child's side (serve) runs the module's build, which may
answer more than once. The child dies with the thread that started it (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

from . import loader

PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_MESSAGE = 1 << 16  # bytes: a request's flags and map descriptors, or an answer with its log records
# the directory that holds the tracer package: the child runs this very code, wherever the agent runs from
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ChildBuild:
    """The child process, seen from the agent. Call answer() and close() in the thread that made it."""

    def __init__(self, module: str, what: str, request: dict, pass_fds: list[int], max_fds: int):
        agent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with child_end:
            self._process = subprocess.Popen(
                [sys.executable, "-m", module, str(child_end.fileno()), str(os.getpid())],
                pass_fds=[child_end.fileno(), *pass_fds], cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL)
        self._what = what  # for errors: "the TLS programs' build process"
        self._max_fds = max_fds
        self._socket = agent_end
        self._socket.send(json.dumps(request).encode())
        self._socket.setblocking(False)  # answer() polls: Python 3.11's recv_fds drops its flags argument

    def answer(self, wait: bool = False) -> dict[str, int] | None:
        """The child's next answer, descriptors by name; None while it works (unless wait). Raises ProbeError with
        the child's reason when it failed, and the child is gone then."""
        if wait:
            select.select([self._socket], [], [])
        try:
            data, fds, _, _ = socket.recv_fds(self._socket, MAX_MESSAGE, self._max_fds)
        except BlockingIOError:
            return None
        except ConnectionResetError:  # it ended before it read the request
            data, fds = b"", []
        if not data:  # its end closed without an answer: only its exit closes it
            code = self._process.wait()
            self.close()
            ended = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise loader.ProbeError(f"{self._what} ended without an answer ({ended})")
        answer = json.loads(data)
        names = answer.get("names", [])
        if len(names) != len(fds):  # descriptors beyond max_fds are dropped
            for fd in fds:
                os.close(fd)
            self.close()
            raise loader.ProbeError(f"{self._what} sent {len(fds)} descriptors for {len(names)} names")
        for name, level, message in answer["log"]:
            logging.getLogger(name).log(level, "%s", message)
        if "error" in answer:
            self.close()
            raise loader.ProbeError(answer["error"])
        return dict(zip(names, fds))

    @property
    def ended(self) -> bool:
        """The child is gone: it failed, or close() ran."""
        return self._socket.fileno() == -1

    def close(self) -> None:
        """Kill the child, whatever it is doing (a compile or a verification ends at once), and reap it."""
        if self._process.returncode is None:
            self._process.kill()
            self._process.wait()
        self._socket.close()


class _KeptRecords(logging.Handler):
    """The child's log records, for the agent to log as its own (loader's warnings about refused parsers)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    def take(self) -> list[tuple[str, int, str]]:
        taken, self.records = self.records, []
        return taken


Send = Callable[[dict[str, int]], None]


def serve(build: Callable[[dict, Send], None]) -> int:
    """The child's main: build(request, send) answers with send(descriptors by name); an exception is its error."""
    child_fd, agent_pid = int(sys.argv[1]), int(sys.argv[2])
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != agent_pid:
        return 1  # the agent ended before the line above: nobody would take the answer
    records = _KeptRecords()
    logging.getLogger().addHandler(records)
    logging.getLogger().setLevel(logging.INFO)
    with socket.socket(fileno=child_fd) as agent:
        request = json.loads(agent.recv(MAX_MESSAGE))

        def send(fds: dict[str, int]) -> None:
            answer = {"names": list(fds), "log": records.take()}
            socket.send_fds(agent, [json.dumps(answer).encode()], list(fds.values()))

        try:
            build(request, send)
        except Exception as e:  # BCC raises a bare Exception for a refused program: the agent logs it
            agent.send(json.dumps({"error": str(e), "log": records.take()}).encode())
            return 1
    return 0
