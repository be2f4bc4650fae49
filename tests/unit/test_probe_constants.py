"""The numbers shared by the probes and the agent are defined once, in tracer/capture/probe_constants.py."""
import glob
import os
import re

from tracer.capture import loader
from tracer.capture.probe_constants import LOST_COUNTERS, PROTOCOL_IDS, compiler_defines


def test_no_probe_source_defines_a_shared_number_again():
    shared = set(compiler_defines())
    for path in glob.glob(os.path.join(loader.PROBES_DIR, "*.[ch]")):
        with open(path) as f:
            defined = set(re.findall(r"^#define\s+(\w+)", f.read(), re.M))
        assert not defined & shared, f"{os.path.basename(path)} defines {sorted(defined & shared)} again"


def test_indexes_are_distinct_and_dense():
    defines = compiler_defines()
    assert sorted(defines[name] for name in LOST_COUNTERS) == list(range(defines["LOST_COUNT"]))
    assert sorted(number for number, _ in PROTOCOL_IDS.values()) == list(range(1, defines["PROTO_COUNT"]))
