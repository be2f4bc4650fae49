"""Starts from the program cache (tracer/capture/program_cache.py) on the real kernel: a warm start compiles no
program, attaches the very programs a cold start compiled and counts exactly; a corrupt, refused or
world-writable cache file falls back to a compile, which rewrites it."""
import base64
import json
import logging
import os
import re
import shutil
import tempfile

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.capture import Capture
from tests.helpers.l7 import server_counts
from tests.helpers.tcp_server import Server, exchange
from tests.kernel.test_l7_http import curl
from tests.kernel.test_tcp_capture import run_client
from tracer.capture import loader
from tracer.capture.program_cache import ProgramCache, decode

EXIT_ONLY = base64.b64encode(bytes([0x95, 0, 0, 0, 0, 0, 0, 0])).decode()  # r0 never set: the verifier refuses it


def started(directory: str):
    """A collector started with its program cache in directory (TLS off: its child compiles a module of its own)."""
    from tracer.capture.collector import Collector
    from tracer.capture.loader import ProbeError

    collector = Collector(loader.CaptureConfig(tls=False, program_cache=directory))
    try:
        collector.start()
    except ProbeError as e:
        skip_or_fail(f"probes cannot load: {e}")
    return collector


def program_tags(collector) -> dict[str, str]:
    """Each loaded program's name -> the kernel's tag, a hash of its instructions with map descriptors zeroed."""
    tags = {}
    for name, fn in collector._bpf.funcs.items():
        with open(f"/proc/self/fdinfo/{fn.fd}") as f:
            tags[name.decode()] = next(line.split()[1] for line in f if line.startswith("prog_tag:"))
    return tags


def attached(collector) -> tuple[dict[str, str], list, list]:
    b = collector._bpf
    return dict(collector.probe_info.hooks), sorted(b.tracepoint_fds), sorted(b.raw_tracepoint_fds)


@pytest.fixture(scope="module")
def cold():
    """A cold start's cache directory, its one file and what it attached."""
    if os.geteuid() != 0:
        skip_or_fail("kernel tests need root")
    directory = tempfile.mkdtemp(prefix="progcache-")
    try:
        collector = started(directory)
        try:
            assert not collector.probe_info.from_cache
            facts = {"tags": program_tags(collector), "attached": attached(collector)}
        finally:
            collector.close()
        path, = (os.path.join(directory, name) for name in os.listdir(directory))
        facts |= {"directory": directory, "path": path}
        with open(path, "rb") as f:
            facts["content"] = f.read()
        yield facts
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def cache(cold):
    """The cold start's file as it was written, restored for each test."""
    with open(cold["path"], "wb") as f:
        f.write(cold["content"])
    os.chmod(cold["path"], 0o600)
    return cold


@pytest.mark.kernel
def test_a_warm_start_compiles_nothing_attaches_the_same_programs_and_counts_exactly(cache, nginx):
    collector = started(cache["directory"])
    try:
        assert collector.probe_info.from_cache
        lib = loader._bcc().libbcc.lib
        assert lib.bpf_num_functions(collector._bpf.module) == 0, "clang emitted programs"
        assert program_tags(collector) == cache["tags"]
        assert attached(collector) == cache["attached"]
        assert len(cache["tags"]) >= 10 and any(name.startswith("l7_parse_") for name in cache["tags"])
        capture = Capture(collector)
        with Server(exchange(123_457, 54_321)) as server:
            _, pid = run_client("intu-cached", "exchange", "127.0.0.1", server.port, 123_457, 54_321)
            client = dict(tgid=pid, role="client", server_port=server.port)
            served = dict(tgid=os.getpid(), role="server", server_port=server.port)
            capture.wait_for(lambda c: c.total(**client).closes == 1 and c.total(**served).closes == 1,
                             what="both ends closed")
        totals = capture.total(**client)
        assert (totals.bytes_sent, totals.bytes_received, totals.opens, totals.closes) == (123_457, 54_321, 1, 1)
        totals = capture.total(**served)
        assert (totals.bytes_received, totals.bytes_sent, totals.opens, totals.closes) == (123_457, 54_321, 1, 1)
        statuses = curl(nginx.port, [f"/ok/{i}" for i in range(30)] + [f"/missing/{i}" for i in range(7)])
        want = {"200": 30, "404": 7}
        assert {s: statuses.count(s) for s in want} == want
        capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == want, what=f"{want} at the server end")
    finally:
        collector.close()
    with open(cache["path"], "rb") as f:
        assert f.read() == cache["content"], "a warm start rewrote the cache"


def corrupt(path: str, how: str) -> None:
    if how == "garbage":
        with open(path, "wb") as f:
            f.write(b'{"key": "trunc')
    elif how == "refused":  # a well-formed entry whose first program the verifier refuses
        with open(path) as f:
            entry = json.load(f)
        entry["programs"][0] |= {"insns": EXIT_ONLY, "maps": {}}
        with open(path, "w") as f:
            json.dump(entry, f)
    else:
        os.chmod(path, 0o666)


@pytest.mark.kernel
@pytest.mark.parametrize("how, reason", [
    ("garbage", "malformed entry"),
    ("refused", "the kernel refused program"),
    ("world-writable", r"writable by group or others \(mode 0666\)"),
])
def test_an_unusable_cache_file_falls_back_to_a_compile_that_rewrites_it(cache, caplog, how, reason):
    corrupt(cache["path"], how)
    caplog.set_level(logging.WARNING, logger="tracer.capture.loader")
    collector = started(cache["directory"])
    try:
        assert not collector.probe_info.from_cache
        assert program_tags(collector) == cache["tags"]
        assert attached(collector) == cache["attached"]
    finally:
        collector.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and cache["path"] in warnings[0], warnings
    assert re.search(reason, warnings[0]), warnings[0]
    assert os.stat(cache["path"]).st_mode & 0o777 == 0o600
    key = os.path.basename(cache["path"])[len("start-"):-len(".json")]
    assert shape(ProgramCache(cache["directory"]).read("start", key)) == shape(decode(key, cache["content"]))


def shape(programs) -> list:
    """What a compile writes, but for the map descriptors, which are this process's numbers of the moment."""
    return [(p.name, p.prog_type, p.attach_type, p.maps, len(p.insns)) for p in programs]
