"""The TLS uprobes' programs and their copy of the parsers (probes/l7_tls_uprobes.c), compiled and verified in a
child process after the start, so that neither the start nor a stop waits for them (docs/performance.md).

Compiling them is one BCC call of about 2 s that cannot be cut short, and BCC's process-wide state allows no
other compile, nor a module's release, while it runs: in the agent's process a SIGTERM had to wait for it. A
child is killed at once instead. It compiles the programs as a BPF module of its own with the start's flags and,
before any of them loads, makes each of its maps the start's: it gets the start's map descriptors (pass_fds)
and dup2s each onto its own map of that name, since the kernel takes a program's maps from the descriptors
BCC compiled into its instructions. It sends the loaded programs' descriptors back over a socket pair
(SCM_RIGHTS) and exits; the collector's drain installs them (loader.adopt_tls). The child dies with the
thread that started it (PR_SET_PDEATHSIG): the collector's, which kills it in close(). Where the program cache
holds the module's programs (tracer/capture/program_cache.py), the child compiles the maps only and loads them.

Run as `python -m tracer.capture.tls_process <socket fd> <agent pid>`; the request (flags, maps, attach type,
the program cache's directory) and the answer (program names beside their descriptors, the child's log
records, or its error) are JSON messages on the socket.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys

from . import loader
from .loader import L7_TLS_PARSERS, TLS_CALLS, ProbeError

PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_MESSAGE = 1 << 16  # bytes: the request's flags and map descriptors, or the answer with its log records
MAX_PROGRAMS = len(L7_TLS_PARSERS) + len(TLS_CALLS) + 1  # the parsers, the entry programs and the return
# the directory that holds the tracer package: the child runs this very code, wherever the agent runs from
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TlsBuild:
    """The child process that builds the TLS programs, seen from the collector. Start it once the start's
    module is loaded; call result() from the drain and close() at the stop, in the thread that made it."""

    def __init__(self, maps: dict[str, int], cflags: list[str], attach_type: int, program_cache: str):
        agent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with child_end:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child_end.fileno()), str(os.getpid())],
                pass_fds=[child_end.fileno(), *maps.values()], cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL)
        self._socket = agent_end
        self._socket.send(json.dumps({"cflags": cflags, "maps": maps, "attach_type": attach_type,
                                      "program_cache": program_cache}).encode())
        self._socket.setblocking(False)  # result() polls: Python 3.11's recv_fds drops its flags argument

    def result(self) -> dict[str, int] | None:
        """The loaded programs' descriptors by name, once the child sent them; None while it works. Raises
        ProbeError with the child's reason when it failed. After an answer the child is gone."""
        try:
            data, fds, _, _ = socket.recv_fds(self._socket, MAX_MESSAGE, MAX_PROGRAMS)
        except BlockingIOError:
            return None
        if not data:  # its end closed without an answer: only its exit closes it
            code = self._process.wait()
            self.close()
            ended = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise ProbeError(f"the TLS programs' build process ended without an answer ({ended})")
        self.close()
        answer = json.loads(data)
        names = answer.get("programs", [])
        if len(names) != len(fds):  # descriptors beyond MAX_PROGRAMS are dropped
            for fd in fds:
                os.close(fd)
            raise ProbeError(f"the TLS programs' build process sent {len(fds)} descriptors for {len(names)} programs")
        for name, level, message in answer["log"]:
            logging.getLogger(name).log(level, "%s", message)
        if "error" in answer:
            raise ProbeError(answer["error"])
        return dict(zip(names, fds))

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


def _share_maps(module, start_maps: dict[str, int]) -> None:
    """Make each map of the TLS module the start's map of its name; raises ProbeError for a map the start's
    module lacks (the uprobes would count where the tracepoints and the drain never look)."""
    for name, fd in loader.module_maps(module).items():
        if name not in start_maps:
            raise ProbeError(f"map {name} of the TLS uprobes' module is not in the start's module")
        os.dup2(start_maps[name], fd, inheritable=False)


def _build(request: dict) -> dict[str, int]:
    """The TLS module's programs loaded: from the program cache where it holds them (loader.build_module), else
    compiled, and then cached."""
    def share_maps(module) -> None:
        _share_maps(module, request["maps"])

    module = loader.build_module(loader.source_text(loader.TLS_SOURCES), request["cflags"], request["program_cache"],
                                 loader.TLS_MODULE, share_maps)
    programs = loader.load_tls(module.b, request["attach_type"])
    module.save(request["attach_type"])
    return programs


def main(child_fd: int, agent_pid: int) -> int:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != agent_pid:
        return 1  # the agent ended before the line above: nobody would take the answer
    records = _KeptRecords()
    logging.getLogger().addHandler(records)
    logging.getLogger().setLevel(logging.INFO)
    with socket.socket(fileno=child_fd) as agent:
        request = json.loads(agent.recv(MAX_MESSAGE))
        try:
            programs = _build(request)
        except Exception as e:  # BCC raises a bare Exception for a refused program: the agent logs it
            agent.send(json.dumps({"error": str(e), "log": records.records}).encode())
            return 1
        answer = {"programs": list(programs), "log": records.records}
        socket.send_fds(agent, [json.dumps(answer).encode()], list(programs.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
