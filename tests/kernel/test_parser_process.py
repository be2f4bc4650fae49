"""The child process that builds the L7 parsers beside the start (tracer/capture/parser_process.py): the start's
programs share its maps and its parsers count requests (the L7 tests, on the session's collector), and a child
that fails is reported while the agent still starts and counts bytes exactly."""
import json
import logging
import subprocess
import time

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.capture import Capture
from tests.kernel.test_tcp_capture import assert_exchange_counted
from tracer.capture import btf_tracepoints, loader, parser_process
from tracer.capture.loader import PROBES_DIR, ProbeError

pytestmark = pytest.mark.kernel


class WithoutLimits(parser_process.ParserBuild):
    """A child handed no -D limits: its sources do not compile."""

    def __init__(self, cflags, program_cache, sock_length_btf):
        super().__init__([f"-I{PROBES_DIR}"], program_cache, sock_length_btf)


class KilledAtOnce(parser_process.ParserBuild):
    """A child that dies before it answers, as in a crash."""

    def __init__(self, cflags, program_cache, sock_length_btf):
        super().__init__(cflags, program_cache, sock_length_btf)
        self._process.kill()


def fdinfo(fd: int, field: str) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return int(next(line.split()[1] for line in f if line.startswith(f"{field}:")))


def map_ids_of_program(fd: int) -> set[int]:
    """The ids of the maps a loaded program uses (bpf_prog_info.map_ids, as bpftool shows them)."""
    shown = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id", str(fdinfo(fd, "prog_id"))],
                                      check=True, capture_output=True, text=True, timeout=30).stdout)
    return set(shown["map_ids"])


def test_the_start_shares_the_parser_modules_maps(collector):
    """The parsers and the tracepoints count in the same maps: every map a parser uses is one of the start's
    module's (a parser on maps of its own would count where the drain never looks)."""
    start_maps = {fdinfo(fd, "map_id") for fd in loader.module_maps(collector._bpf).values()}
    parsers = {name: fn.fd for name, fn in collector._bpf.funcs.items() if name.startswith(b"l7_parse_")}
    assert sorted(parsers) == sorted(name.encode() for name in loader.L7_PARSERS)
    for name, fd in parsers.items():
        used = map_ids_of_program(fd)
        assert {fdinfo(loader.module_maps(collector._bpf)["l7_scratch"], "map_id")} <= used, name
        assert used <= start_maps, name


@pytest.mark.parametrize("build, reason", [
    (WithoutLimits, "BCC could not compile or load the probes"),
    (KilledAtOnce, "the L7 parsers' build process ended without an answer (killed by signal 9)"),
])
def test_a_failed_parser_build_is_reported_and_bytes_still_count(monkeypatch, caplog, build, reason):
    from tracer.capture.collector import Collector

    monkeypatch.setattr(parser_process, "ParserBuild", build)
    caplog.set_level(logging.ERROR, logger="tracer.capture.loader")
    collector = Collector(loader.CaptureConfig(tls=False, program_cache=""))
    try:
        collector.start()
    except ProbeError as e:
        skip_or_fail(f"probes cannot load: {e}")
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and errors[0].startswith("the L7 parsers are not loaded, their protocols count as "
                                                         "bytes only: "), errors
        assert reason in errors[0]
        assert not [hook for hook in collector.probe_info.hooks if hook.startswith("l7_parse_")]
        capture = Capture(collector)
        assert_exchange_counted(capture, "intu-noparse", 65_537, 4_321)
    finally:
        collector.close()


def test_a_compiling_start_verifies_its_hooks_together_before_it_waits_for_the_parsers(collector, monkeypatch):
    """A start that compiles loads (verifies) its two BTF-typed sock length hooks at the same time, in threads of
    their own, and before it asks the child for its parsers, which the child verifies meanwhile
    (tracer/capture/loader.py, _verify_sock_length_hooks); the start's counts stay exact."""
    from tracer.capture.collector import Collector

    if not collector.probe_info.sock_length_btf:
        skip_or_fail("this kernel takes no BTF-typed raw tracepoints")
    loads: dict[str, tuple[float, float]] = {}
    asked_for_parsers: list[float] = []
    load_tracing, parser_programs = btf_tracepoints.load, parser_process.ParserBuild.programs

    def timed_load(name, *args):
        started = time.monotonic()
        try:
            return load_tracing(name, *args)
        finally:
            loads[name] = (started, time.monotonic())

    def programs(build):
        asked_for_parsers.append(time.monotonic())
        return parser_programs(build)

    monkeypatch.setattr(btf_tracepoints, "load", timed_load)
    monkeypatch.setattr(parser_process.ParserBuild, "programs", programs)
    started = Collector(loader.CaptureConfig(tls=False, program_cache=""))
    started.start()
    try:
        send, receive = (loads[loader.TP_BTF_PREFIX + event] for event in ("sock_send_length", "sock_recv_length"))
        assert max(send[0], receive[0]) < min(send[1], receive[1]), loads  # each began before the other ended
        assert max(send[1], receive[1]) <= asked_for_parsers[0], (loads, asked_for_parsers)
        assert sorted(hook for hook in started.probe_info.hooks if hook.startswith("l7_parse_")) == \
            sorted(loader.L7_PARSERS)
        assert_exchange_counted(Capture(started), "intu-hooksnow", 65_537, 4_321)
    finally:
        started.close()
