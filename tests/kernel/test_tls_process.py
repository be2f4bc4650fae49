"""The child process that builds the TLS programs (tracer/capture/tls_process.py): its failures come back as
the agent's errors, a close kills it whatever it is doing, and it dies with the thread that started it."""
import logging
import os
import shutil
import signal
import tempfile
import threading

import pytest

from tests.helpers.docker_env import wait_until
from tracer.capture.loader import PROBES_DIR, ProbeError, module_maps
from tracer.capture.tls_process import MAX_PROGRAMS, TlsBuild

pytestmark = pytest.mark.kernel
BUILD_TIMEOUT = 120.0  # seconds: a compile on a busy host


def failure(build: TlsBuild) -> str:
    """The ProbeError text the build ends with; fails if it sends programs instead."""
    def answered():
        try:
            return build.result() is not None and "programs"
        except ProbeError as e:
            return str(e)
    reason = wait_until(answered, BUILD_TIMEOUT, "the TLS build's answer", 0.2)
    assert reason != "programs"
    return reason


def test_a_compile_error_is_the_builds_error(collector):
    """Without the start's -D limits the sources do not compile: the child says so and has ended."""
    build = TlsBuild(dict.fromkeys(("sockets",), 0), [f"-I{PROBES_DIR}"], -1, "")
    try:
        assert "BCC could not compile or load the probes" in failure(build)
        # it exits 1 after answering; an answer read before that exit has the child killed (TlsBuild.close)
        assert build._process.returncode in (1, -signal.SIGKILL)
    finally:
        build.close()


def test_a_map_the_start_lacks_is_named(collector):
    """Every map of the TLS module must be the start's: one it was not handed fails the build, by name."""
    build = TlsBuild({}, collector.probe_info.cflags, collector.probe_info.uprobe_multi or -1, "")
    try:
        assert failure(build).endswith("of the TLS uprobes' module is not in the start's module")
    finally:
        build.close()


def test_close_kills_the_build_while_it_compiles(collector):
    build = TlsBuild({}, collector.probe_info.cflags, -1, "")
    build.close()
    assert build._process.returncode == -signal.SIGKILL


def compiling(pid: int) -> bool:
    """The child has loaded libbcc to compile: its main() ran, and set PR_SET_PDEATHSIG first."""
    with open(f"/proc/{pid}/maps") as f:
        return "libbcc" in f.read()


def test_the_build_dies_with_the_thread_that_started_it(collector):
    """PR_SET_PDEATHSIG: the agent's drain thread starts it; were the agent to crash, it would not go on."""
    started, release = [], threading.Event()

    def start_and_wait():
        started.append(TlsBuild({}, collector.probe_info.cflags, -1, ""))
        release.wait(BUILD_TIMEOUT)

    thread = threading.Thread(target=start_and_wait)
    thread.start()
    build = wait_until(lambda: started and started[0], 30, "the build to start")
    try:
        wait_until(lambda: compiling(build._process.pid), BUILD_TIMEOUT, "the build to compile")
        release.set()
        thread.join()
        wait_until(lambda: build._process.poll() is not None, 30, "the build to end with its thread")
        assert build._process.returncode == -signal.SIGKILL
    finally:
        release.set()
        build.close()


def test_a_second_build_loads_the_programs_the_first_cached(collector, caplog):
    """The child keeps its module's programs in the program cache, and the next child loads them from it."""
    directory = tempfile.mkdtemp(prefix="progcache-")
    caplog.set_level(logging.INFO, logger="tracer.capture.loader")
    names = []
    try:
        for _ in range(2):
            build = TlsBuild(module_maps(collector._bpf), collector.probe_info.cflags,
                             collector.probe_info.uprobe_multi or -1, directory)
            try:
                programs = wait_until(build.result, BUILD_TIMEOUT, "the TLS build's programs", 0.2)
            finally:
                build.close()
            for fd in programs.values():
                os.close(fd)
            names.append(sorted(programs))
        messages = [record.getMessage() for record in caplog.records]
        cached, = [m for m in messages if m.startswith("compiled programs cached in")]
        loaded, = [m for m in messages if m.startswith("probes loaded from the program cache")]
        assert os.path.join(directory, "tls-") in cached and os.path.join(directory, "tls-") in loaded
        assert names[0] == names[1] and len(names[0]) == MAX_PROGRAMS
    finally:
        shutil.rmtree(directory)
