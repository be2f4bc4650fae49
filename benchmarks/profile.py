"""Where the BPF time of a request goes: the probes compiled whole and cut short at successive points, each
attached in turn while nginx answers `wrk -t1 -c1` on loopback, with the kernel's run-time accounting on; or, with
--nginx-cpu, what each cut adds to nginx's CPU per request, in benchmarks/throughput.py's slices (`wrk -c8`), which
counts what the accounting leaves out (docs/performance.md, "nginx's CPU, cut by cut").

    sudo .venv/bin/python -m benchmarks.profile [--seconds 3] [--repeats 2]
    sudo .venv/bin/python -m benchmarks.profile --nginx-cpu [--rounds 150]

A cut is a replacement in the probes' text (it must match exactly, so a cut that no longer fits the sources
fails loudly). The difference between two rows is what the code between their cuts costs per request.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator

from benchmarks import bpf_programs, throughput
from benchmarks.overhead import at_least_one
from tests.helpers.servers import running_nginx
from tracer.capture import loader
from tracer.capture.kernel import cgroup_layout

# name -> replacements in the program text; None: compiled without request parsing (capture.l7: false)
CUTS: dict[str, list[tuple[str, str]] | None] = {
    "connections and bytes only (capture.l7: false)": None,
    "+ the socket's L7 state": [(
        "    int side = (dir == DIR_SEND) == (si->key.role == ROLE_CLIENT) ? SIDE_REQUEST : SIDE_RESPONSE;",
        "    return 0;\n    int side = (dir == DIR_SEND) == (si->key.role == ROLE_CLIENT) ? SIDE_REQUEST : SIDE_RESPONSE;")],
    "+ the syscall's registers and buffer": [(
        "    payload_of_syscall(&work->payload, total, ctx, dir, work->now, sent_sk);\n",
        "    payload_of_syscall(&work->payload, total, ctx, dir, work->now, sent_sk);\n    return;\n")],
    "+ parsing, without counting the response": [(
        "        record_request(st, si, PROTO_HTTP, request_completed(st));", "        request_completed(st);")],
    "+ parsing, without keeping request bytes for samples": [(
        "    if (st->pending == 0)\n        remember_request(w, now, held);", "")],
    "all (the agent as shipped)": [],
}


def program(cuts: list[tuple[str, str]]) -> str:
    text = loader.program_text(use_kprobes=False, l7=True)
    for old, new in cuts:
        if old not in text:
            raise SystemExit(f"cut no longer matches the probes: {old!r}")
        text = text.replace(old, new, 1)
    return text


def loaded(cuts: list[tuple[str, str]] | None, line_info: bool = False) -> tuple[object, loader.ProbeInfo, str]:
    """The probes with `cuts` (None: capture.l7 false) compiled, loaded and attached in this process, their parser
    programs in the same module (the agent compiles those in a child): BCC's module, which the caller cleans up,
    the probes' info and, with line_info, the text as BCC's rewriter left it, which the line info's numbers count
    (else ""). line_info: compiled with debug info, the sock length hooks as raw tracepoints, which BCC loads with
    their line info (the BTF-typed ones are loaded without it: tracer/capture/btf_tracepoints.py)."""
    l7 = cuts is not None
    info = loader.ProbeInfo(l7=l7)
    capture = loader.CaptureConfig(l7=l7)
    text = program(cuts) + loader.source_text(("l7_tracepoint.c",)) if l7 else loader.program_text(False, l7=False)
    cflags = loader.build_cflags(capture, info, cgroup_layout())
    rewritten = ""
    if line_info:
        cflags = [flag for flag in cflags if flag != loader.NO_DEBUG_INFO and not flag.startswith("-DSOCK_LENGTH_TP_BTF=")]
        info.sock_length_btf = {}
        b, rewritten = _compiled_with_rewritten_text(text, cflags)
    else:
        b = loader.compile_program(text, cflags)
    try:
        loader._attach_sock_length_hooks(b, info)   # the BTF-typed ones, which BCC does not attach as it compiles
        if l7:
            parsers = loader.verify_l7_parsers(b, info.sock_length_btf)
            loader._install_parsers(b, info, "l7_parsers", loader.L7_PARSERS, parsers)
    except BaseException:
        b.cleanup()
        raise
    return b, info, rewritten


@contextlib.contextmanager
def attached(cuts: list[tuple[str, str]] | None, line_info: bool = False) -> Iterator[str]:
    """loaded()'s probes while the context lasts; yields the rewritten text."""
    b, _, rewritten = loaded(cuts, line_info)
    try:
        yield rewritten
    finally:
        b.cleanup()


def loaded_cuts(stack: contextlib.ExitStack) -> dict[str, list[int]]:
    """Every cut's sock length programs, loaded and detached, and the floor's empty ones, for throughput.measure."""
    modules = {}
    for name, cuts in CUTS.items():
        b, info, _ = loaded(cuts)
        stack.callback(b.cleanup)
        modules[name] = b, info
    return throughput.detached_arms(stack, modules)


def _compiled_with_rewritten_text(text: str, cflags: list[str]):
    """BCC's module of the text, and the text as its rewriter left it, which BCC prints to the process's stderr
    (passed on to it when the compile fails: the compiler's messages are there too)."""
    bcc = loader._bcc()
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            b = bcc.BPF(text=text.encode(), cflags=cflags, debug=bcc.DEBUG_PREPROCESSOR)
        except Exception:
            out.seek(0)
            os.write(saved, out.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        return b, out.read().decode(errors="replace")


def measure_programs(cuts: list[tuple[str, str]] | None, port: int, seconds: int) -> dict[str, float]:
    """BPF ns per request of each program of the probes with `cuts` (by the name the kernel keeps, 15 characters),
    attached to this process while wrk runs."""
    with attached(cuts):
        out, programs = bpf_programs.measured(os.getpid(), lambda: subprocess.run(
            ["wrk", "-t1", "-c1", f"-d{seconds}s", f"http://127.0.0.1:{port}/ok"],
            check=True, capture_output=True, text=True, timeout=seconds + 60).stdout)
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return {p.name: p.run_time_ns / requests for p in programs}


def measure(cuts: list[tuple[str, str]] | None, port: int, seconds: int) -> float:
    """BPF ns per request of the probes with `cuts`, all programs."""
    return sum(measure_programs(cuts, port, seconds).values())


def profile(seconds: int, repeats: int) -> dict[str, list[float]]:
    """cut -> BPF ns per request of each round, sorted."""
    results: dict[str, list[float]] = {name: [] for name in CUTS}
    with running_nginx() as nginx:
        for _ in range(repeats):
            for name, cuts in CUTS.items():
                results[name].append(measure(cuts, nginx.port, seconds))
    return {name: sorted(values) for name, values in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all cuts; the median is printed")
    parser.add_argument("--nginx-cpu", action="store_true",
                        help="measure what each cut adds to nginx's CPU per request instead, in throughput.py's slices")
    parser.add_argument("--rounds", type=at_least_one, default=throughput.ROUNDS,
                        help=f"with --nginx-cpu: rounds of slices of all cuts (default {throughput.ROUNDS})")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    if args.nginx_cpu:
        print(throughput.measured_report(args.rounds, loaded_cuts, list(CUTS)))
        return 0
    for name, values in profile(args.seconds, args.repeats).items():
        print(f"{name:55} {statistics.median(values):6.0f} ns per request  "
              f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
