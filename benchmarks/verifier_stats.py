"""The verifier's work per program of a cold start: the start's module and the parsers' module compiled as the
agent compiles them (L7 on, the sock length hooks BTF-typed), then each program loaded once more with the
verifier's statistics (BPF_PROG_LOAD's log level 4): its instructions, the instructions the verifier processed,
its states, and the verification time the kernel measured.

    sudo .venv/bin/python -m benchmarks.verifier_stats [--repeats 3]

Each program is loaded alone, one after the other, so the times do not share the cores as a start's threads do
(tracer/capture/loader.py, verify_parsers). The kprobe variant and the TLS module are not loaded.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import statistics

from tracer.capture import btf_tracepoints, loader
from tracer.capture.kernel import cgroup_layout

BPF_PROG_TYPE_TRACEPOINT = 5  # enum bpf_prog_type
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_LOG_STATS = 4  # the verifier's log: its statistics only
LOG_SIZE = 1 << 16
STATS = re.compile(r"verification time (\d+) usec.*?processed (\d+) insns .*?total_states (\d+) peak_states (\d+)",
                   re.S)


def program_kind(name: str, info: loader.ProbeInfo) -> tuple[int, int, int] | None:
    """(program type, expected attach type, attach BTF id) the agent loads the program named `name` with."""
    if name.startswith("tracepoint__"):
        return BPF_PROG_TYPE_TRACEPOINT, 0, 0
    if name.startswith("raw_tracepoint__"):
        return BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0
    event = name[len(loader.TP_BTF_PREFIX):] if name.startswith(loader.TP_BTF_PREFIX) else None
    if event in info.sock_length_btf:
        return btf_tracepoints.BPF_PROG_TYPE_TRACING, btf_tracepoints.BPF_TRACE_RAW_TP, info.sock_length_btf[event]
    if name in loader.L7_PARSERS:  # tracing programs of the hooks' prototype (loader.verify_l7_parsers)
        return (btf_tracepoints.BPF_PROG_TYPE_TRACING, btf_tracepoints.BPF_TRACE_RAW_TP,
                info.sock_length_btf[loader.PARSERS_TRACEPOINT])
    return None


def verifier_stats(name: str, insns: bytes, license: bytes, kind: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """(verification µs, instructions processed, total states, peak states) of one load of the program."""
    log = ctypes.create_string_buffer(LOG_SIZE)
    prog_type, attach_type, attach_btf_id = kind
    fd = btf_tracepoints.prog_load(prog_type, attach_type, attach_btf_id, name, insns, license, BPF_LOG_STATS, log)
    if fd < 0:
        raise SystemExit(f"the kernel refused {name}: {os.strerror(ctypes.get_errno())}")
    os.close(fd)
    found = STATS.search(log.value.decode(errors="replace"))
    if not found:
        raise SystemExit(f"no verifier statistics for {name}")
    return tuple(int(group) for group in found.groups())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="loads per program; the time is their median")
    args = parser.parse_args()
    info = loader.ProbeInfo()
    cflags = loader.build_cflags(loader.CaptureConfig(), info, cgroup_layout())
    if not info.sock_length_btf:
        raise SystemExit("the sock length hooks are not BTF-typed on this kernel: the agent parses no requests")
    lib = loader._bcc().libbcc.lib
    modules = {"start": loader.program_text(use_kprobes=False, l7=True),
               "parsers": loader.source_text(loader.PARSER_SOURCES)}
    print(f"{'module':8} {'program':40} {'insns':>6} {'processed':>10} {'states':>7} {'peak':>6} {'verifier ms':>12}")
    total_ms = 0.0
    for module, text in modules.items():
        b = loader.compile_program(text, cflags, attach=False)
        for index in range(lib.bpf_num_functions(b.module)):
            name = lib.bpf_function_name(b.module, index).decode()
            kind = program_kind(name, info)
            if kind is None:
                continue
            insns = loader.function_instructions(b, name.encode())
            runs = [verifier_stats(name, insns, lib.bpf_module_license(b.module), kind) for _ in range(args.repeats)]
            ms = statistics.median(run[0] for run in runs) / 1000
            total_ms += ms
            _, processed, states, peak = runs[0]
            print(f"{module:8} {name:40} {len(insns) // 8:6} {processed:10} {states:7} {peak:6} {ms:12.1f}")
        b.cleanup()
    print(f"all programs: {total_ms:.0f} ms of verification")


if __name__ == "__main__":
    main()
