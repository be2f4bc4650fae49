"""Where the probes' own instructions spend their time, function by function and line by line, as the CPU spends
it: the probes (L7 on) compiled with debug info and attached in this process, nginx answering wrk on loopback, and
`perf record -a -g` sampling every CPU (benchmarks/perf_parts.py puts the same samples down to parts).

    sudo .venv/bin/python -m benchmarks.perf_lines [--seconds 30] [--frequency 999] [--top 30] [--command nginx]

A sample in a program's own instructions is put down to the source line its address was compiled from (the line
info the kernel keeps with a program loaded with BTF: benchmarks/program_lines.py); a sample in a function the
program called (a helper, a map operation) to the line of the call, and to the chain of kernel functions it was in
(what a user copy spends on its checks, for one). A line of a function inlined into a program is
that function's line, so a function's time is its own work wherever it was inlined. Times are CPU nanoseconds per
request, both ends (wrk's and nginx's); `--command nginx` keeps nginx's samples only: the parsing end's, the
server's, which parses each request and its response. To carry line info the sock length hooks are loaded as raw
tracepoints here, not BTF-typed ones (benchmarks/profile.py, attached): the code parsing a request is the same in
both, but for the I/O's time, which a raw tracepoint reads from the clock where a BTF-typed one reads the TCP
socket's (probes/l7_io.c, io_time), and the syscall's registers, which a raw tracepoint gets from helpers where a
BTF-typed one finds them on the task's kernel stack (probes/l7_payload.c, syscall_regs).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections import Counter

from benchmarks import bpf_programs, overhead, perf_parts, profile
from benchmarks.load import Load, wrk
from benchmarks.program_lines import ProgramLines, SourceLine, program_lines
from tests.helpers.servers import running_nginx

CALL = re.compile(r"(\w+)\s*\(")


LINE_DIRECTIVE = re.compile(r'#line 1 "([^"]+)"$')


def files_of(rewritten: str) -> dict[str, list[str]]:
    """Each probe source's lines as BCC's rewriter left them (its edits may add lines), by the names that
    tracer/capture/loader.py's `#line 1 "<name>"` directives give them."""
    files: dict[str, list[str]] = {}
    lines = None
    for text in rewritten.splitlines():
        directive = LINE_DIRECTIVE.match(text)
        if directive:
            lines = files.setdefault(directive[1], [])
        elif lines is not None:
            lines.append(text)
    return files


def is_definition(line: str) -> bool:
    """A line at column 0 that begins a function (or a macro's use that makes one, such as L7_PARSER)."""
    return bool(line) and line[0] not in " \t#/{}*" and "(" in line and not line.rstrip().endswith(";")


def function_of(files: dict[str, list[str]], where: SourceLine) -> str:
    """file: function of a source line, the function being the last definition at or above it."""
    lines = files.get(os.path.basename(where.file), [])
    name = next((CALL.search(lines[i])[1] for i in range(min(where.line, len(lines)) - 1, -1, -1)
                 if is_definition(lines[i])), "?")
    return f"{os.path.basename(where.file)}: {name}"


def line_text(files: dict[str, list[str]], where: SourceLine) -> str:
    lines = files.get(os.path.basename(where.file), [])
    text = lines[where.line - 1].strip() if 0 < where.line <= len(lines) else ""
    return f"{os.path.basename(where.file)}:{where.line}  {text}"


class Attribution:
    """The hook's samples, put down to source lines."""

    def __init__(self, programs: list[ProgramLines]):
        self.programs = programs
        self.own: Counter[SourceLine] = Counter()              # line -> ns in its own instructions
        self.calls: Counter[tuple[SourceLine, str]] = Counter()  # (line of the call, part) -> ns in what it called
        self.inside: Counter[tuple[str, str]] = Counter()        # (part, the kernel functions down to the sample) -> ns
        self.other: Counter[str] = Counter()                   # the hook itself, or code no line info covers

    def line_at(self, address: int) -> SourceLine | None:
        return next((line for p in self.programs if (line := p.line_at(address))), None)

    def add(self, script: str) -> None:
        for period, chain in perf_parts.samples(script):
            found = perf_parts.program_call([symbol for _, symbol in chain])
            if found is None:
                continue
            part, caller = found
            if caller < 0:
                self.other[part] += period
                continue
            # a caller's frame holds its return address: the call's own line is the byte before it
            where = self.line_at(chain[caller][0] - (caller > 0))
            if where is None:
                self.other[f"{part}, outside the programs' line info"] += period
            elif caller == 0:
                self.own[where] += period
            else:
                self.calls[(where, part)] += period
                self.inside[(part, " > ".join(symbol for _, symbol in reversed(chain[:caller])))] += period


def report(a: Attribution, files: dict[str, list[str]], requests: int, top: int) -> str:
    per = (lambda ns: ns / requests) if requests else (lambda ns: 0.0)
    own = sum(a.own.values())
    functions: Counter[str] = Counter()
    for where, ns in a.own.items():
        functions[function_of(files, where)] += ns
    out = [f"{requests} requests; under the hook {per(own + sum(a.calls.values()) + sum(a.other.values())):.0f} "
           f"ns per request, of which the programs' own instructions {per(own):.0f}", "",
           "Own instructions by function (ns per request, share of own):"]
    out += [f"  {per(ns):6.1f}  {100 * ns / own:5.1f}%  {name}" for name, ns in functions.most_common()]
    out += ["", f"Own instructions, the {top} costliest lines:"]
    out += [f"  {per(ns):6.1f}  {line_text(files, where)}" for where, ns in a.own.most_common(top)]
    out += ["", "Calls out of the programs, by the line that calls (ns per request in what it called):"]
    out += [f"  {per(ns):6.1f}  {line_text(files, where)}  [{part}]" for (where, part), ns in a.calls.most_common(top)]
    out += ["", "Inside the calls, by the kernel functions down to the sample (ns per request):"]
    out += [f"  {per(ns):6.1f}  {path}  [{part}]" for (part, path), ns in a.inside.most_common(top)]
    out += ["", "Not in the programs' code:"]
    out += [f"  {per(ns):6.1f}  {part}" for part, ns in a.other.most_common()]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    perf_parts.options(parser)
    parser.set_defaults(seconds=30)
    parser.add_argument("--top", type=overhead.at_least_one, default=30, help="lines listed (default 30)")
    parser.add_argument("--command", metavar="NAME", help="only the samples of this command (nginx: the parsing end)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: perf samples the kernel and the probes are loaded here")
    if shutil.which("perf") is None:
        raise SystemExit("perf not found: install it (Debian: apt-get install linux-perf)")
    load = Load(overhead.WRK_CONNECTIONS)
    print(f"nginx + wrk -t1 -c{load.connections} {load.path} on loopback, {args.seconds} s, perf at {args.frequency} "
          f"Hz, {os.cpu_count()} CPUs, kernel {os.uname().release}", flush=True)
    with running_nginx() as nginx, profile.attached([], line_info=True) as rewritten:
        attribution = Attribution([program_lines(i) for i in bpf_programs.program_ids(os.getpid())])
        (requests, _), script = perf_parts.record(lambda: wrk(nginx.port, args.seconds, load), args.frequency,
                                                    args.command)
    attribution.add(script)
    print(report(attribution, files_of(rewritten), requests, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
