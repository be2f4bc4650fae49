"""Starts from the program cache (tracer/capture/program_cache.py) on the real kernel: a warm start compiles no
program, neither in the agent nor in the parsers' child (tracer/capture/parser_process.py), attaches the very
programs a cold start compiled and counts exactly; a corrupt, refused or world-writable cache file of either module
falls back to a compile, which rewrites it."""
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
from tests.kernel.test_l7_http import curl
from tests.kernel.test_tcp_capture import assert_exchange_counted
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


def cache_files(directory: str) -> dict[str, str]:
    """module -> its one file in the cache directory (start-<key>.json, parsers-<key>.json)."""
    files = {name.split("-")[0]: os.path.join(directory, name) for name in os.listdir(directory)}
    assert len(files) == len(os.listdir(directory)), os.listdir(directory)
    return files


@pytest.fixture(scope="module")
def cold():
    """A cold start's cache directory, its file of each module and what it attached."""
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
        facts |= {"directory": directory, "paths": cache_files(directory), "contents": {}}
        assert sorted(facts["paths"]) == [loader.PARSER_MODULE, loader.START_MODULE]
        for module, path in facts["paths"].items():
            with open(path, "rb") as f:
                facts["contents"][module] = f.read()
        yield facts
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def cache(cold):
    """The cold start's files as they were written, restored for each test."""
    for module, path in cold["paths"].items():
        with open(path, "wb") as f:
            f.write(cold["contents"][module])
        os.chmod(path, 0o600)
    return cold


@pytest.mark.kernel
def test_a_warm_start_compiles_nothing_attaches_the_same_programs_and_counts_exactly(cache, nginx, caplog):
    caplog.set_level(logging.INFO, logger="tracer.capture.loader")
    collector = started(cache["directory"])
    try:
        assert collector.probe_info.from_cache
        lib = loader._bcc().libbcc.lib
        assert lib.bpf_num_functions(collector._bpf.module) == 0, "clang emitted programs"
        # the parsers' child logs through the agent: it loaded its module from the cache too, and cached nothing
        messages = [r.getMessage() for r in caplog.records]
        assert sorted(m for m in messages if m.startswith("probes loaded from the program cache")) == \
            [f"probes loaded from the program cache {path}, not compiled" for path in sorted(cache["paths"].values())]
        assert not [m for m in messages if m.startswith("compiled programs cached")]
        assert program_tags(collector) == cache["tags"]
        assert attached(collector) == cache["attached"]
        assert len(cache["tags"]) >= 10 and any(name.startswith("l7_parse_") for name in cache["tags"])
        capture = Capture(collector)
        assert_exchange_counted(capture, "intu-cached", 123_457, 54_321)
        statuses = curl(nginx.port, [f"/ok/{i}" for i in range(30)] + [f"/missing/{i}" for i in range(7)])
        want = {"200": 30, "404": 7}
        assert {s: statuses.count(s) for s in want} == want
        capture.wait_for(lambda c: server_counts(c, nginx.port, "http") == want, what=f"{want} at the server end")
    finally:
        collector.close()
    for module, path in cache["paths"].items():
        with open(path, "rb") as f:
            assert f.read() == cache["contents"][module], f"a warm start rewrote the {module} module's cache"


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
@pytest.mark.parametrize("module", [loader.START_MODULE, loader.PARSER_MODULE])
def test_an_unusable_cache_file_falls_back_to_a_compile_that_rewrites_it(cache, caplog, how, reason, module):
    """The parsers' module's fallback compile comes after its child sent the agent its maps: it takes them over."""
    path = cache["paths"][module]
    corrupt(path, how)
    caplog.set_level(logging.WARNING, logger="tracer.capture.loader")
    collector = started(cache["directory"])
    try:
        assert collector.probe_info.from_cache == (module != loader.START_MODULE)
        assert program_tags(collector) == cache["tags"]
        assert attached(collector) == cache["attached"]
    finally:
        collector.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and path in warnings[0], warnings
    assert re.search(reason, warnings[0]), warnings[0]
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = os.path.basename(path)[len(f"{module}-"):-len(".json")]
    assert shape(ProgramCache(cache["directory"]).read(module, key)) == shape(decode(key, cache["contents"][module]))


def shape(programs) -> list:
    """What a compile writes, but for the map descriptors, which are this process's numbers of the moment."""
    return [(p.name, p.prog_type, p.attach_type, p.maps, len(p.insns)) for p in programs]
