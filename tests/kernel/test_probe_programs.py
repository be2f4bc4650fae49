"""The probe programs themselves: the kprobe fallback passes the verifier here, and the Python mirrors
of the C structs match what the compiler laid out."""
import ctypes as ct

import pytest

from tracer import flows, loader
from tracer.kernel import cgroup_layout


@pytest.mark.kernel
def test_kprobe_bytes_programs_pass_the_verifier(collector):
    bcc = loader._bcc()
    info = loader.ProbeInfo()
    b = loader.compile_program(loader.program_text(use_kprobes=True),
                               loader.build_cflags(loader.CaptureConfig(), info, cgroup_layout()))
    try:
        for _, entry, ret in loader.KPROBE_BYTES:
            for name in (entry, ret):
                assert b.load_func(name.encode(), bcc.BPF.KPROBE).fd > 0
    finally:
        b.cleanup()


@pytest.mark.kernel
@pytest.mark.parametrize("table, side, mirror", [
    ("flows", "Key", flows.FlowKeyStruct),
    ("flows", "Leaf", flows.FlowStatsStruct),
])
def test_ctypes_mirrors_match_the_compiled_layout(collector, table, side, mirror):
    compiled = getattr(collector._bpf[table.encode()], side)
    assert ct.sizeof(compiled) == ct.sizeof(mirror)
    for name, _ in mirror._fields_:
        assert getattr(compiled, name).offset == getattr(mirror, name).offset, name
