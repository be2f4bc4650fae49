"""Where the probes' time goes, part by part, as the CPU spends it: nginx answers wrk on loopback while
`perf record -a -g` samples every CPU, with the floor (empty programs on the agent's hooks), with the agent
counting connections and bytes only (`capture.l7: false`) and with the agent parsing requests (the default).

    sudo .venv/bin/python -m benchmarks.perf_parts [--seconds 10] [--frequency 999] [--before GIT_REF]

A sample is the hook's when its call chain passes through the kernel's tracepoint-to-BPF call
(`bpf_trace_run<N>`). It is put down to the function the program called (a helper, or a map operation the JIT
calls directly: the part's name says what the probes use it for), to the program's own instructions when it was
in them, or to the hook itself when it was in neither (the tracepoint's call into the program). Each sample
stands for its period of CPU time, so a part's time per request is its periods over wrk's requests: both ends of
each request (wrk's and nginx's) are in it. Unlike the kernel's run-time accounting (benchmarks/overhead.py),
this adds no clock reads to each run, and it sees the hook's own cost, which the accounting leaves out.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from benchmarks import overhead, side_by_side
from benchmarks.load import Load, wrk
from tests.helpers.servers import Nginx, running_nginx

HOOK_FRAME = re.compile(r"bpf_trace_run\d+$")
PROGRAM_FRAME = re.compile(r"bpf_prog_[0-9a-f]{16}_(\w+)$")
OWN_CODE = "the programs' own instructions"
HOOK = "the hook: the tracepoint's call into the program"
T = TypeVar("T")

# what the probes use them for (probes/common.h, l7_payload.c, l7.c) -> the functions a program calls for it: helpers,
# and what the verifier puts in their place (a hash lookup calls the map's own lookup, bpf_ktime_get_ns the clock)
USES = {
    "hash map lookups: the socket's entry at each run, a response's count": [
        "__htab_map_lookup_elem", "lookup_nulls_elem_raw", "htab_map_hash"],
    "hash map updates and deletes: a new socket, flow or count; a closed socket": [
        "htab_map_update_elem", "htab_map_delete_elem", "htab_lru_map_update_elem", "htab_lru_map_delete_elem",
        "htab_lru_map_lookup_elem"],
    "copies from user memory: request and response bytes, writev's and sendmsg's iovecs": ["bpf_probe_read_user"],
    "reads of kernel memory: the syscall's registers, an untracked socket's fields": ["bpf_probe_read_kernel"],
    "the current task and its registers": ["bpf_get_current_task_btf", "bpf_get_current_task", "bpf_task_pt_regs"],
    "the clock: a request's start, a response's latency": ["bpf_ktime_get_ns", "ktime_get_mono_fast_ns"],
    "returns through the CPU's return thunk (a speculation mitigation)": ["srso_alias_return_thunk",
                                                                           "srso_return_thunk"],
}
PARTS = {function: use for use, functions in USES.items() for function in functions}


@dataclass
class Profile:
    """One arm's samples under the hook, as CPU nanoseconds."""
    requests: int = 0
    total_ns: int = 0                                     # every sample's period, any CPU, any code
    parts: Counter = field(default_factory=Counter)       # part -> ns
    programs: Counter = field(default_factory=Counter)    # program name (as the kernel cut it) -> ns

    @property
    def hook_ns(self) -> int:
        return sum(self.parts.values())

    def per_request(self, ns: float) -> float:
        return ns / self.requests if self.requests else 0.0


def program_call(frames: list[str]) -> tuple[str, int] | None:
    """(part, index in frames of the program's frame, -1 for the hook's own) of a sample whose call chain, leaf
    first, is `frames`; None when it is not the hook's."""
    hook = next((i for i, frame in enumerate(frames) if HOOK_FRAME.match(frame)), None)
    if hook is None:
        return None
    programs = [i for i in range(hook) if PROGRAM_FRAME.match(frames[i])]
    if not programs:
        return HOOK, -1
    caller = programs[-1]   # the tracepoint's program: a tail call's target replaces its frame, it adds none
    if caller == 0:
        return OWN_CODE, caller
    callee = frames[caller - 1]
    return PARTS.get(callee, f"other: {callee}"), caller


def part_of(frames: list[str]) -> tuple[str, str] | None:
    """(part, program) of a sample whose call chain, leaf first, is `frames`; None when it is not the hook's."""
    found = program_call(frames)
    if found is None:
        return None
    part, caller = found
    return part, PROGRAM_FRAME.match(frames[caller])[1] if caller >= 0 else ""


def samples(script: str) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Each sample of `perf script -F period,ip,sym` output (a period line, then the call chain, leaf first): its
    period (ns of CPU time: the cpu-clock event) and its call chain as (address, symbol)."""
    for block in script.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines or not lines[0].strip().isdigit():
            continue
        chain = []
        for line in lines[1:]:
            fields = line.split()
            if fields:
                chain.append((int(fields[0], 16), fields[-1]))
        yield int(lines[0]), chain


def add_samples(profile: Profile, script: str) -> None:
    """Adds `perf script -F period,ip,sym` output to profile."""
    for period, chain in samples(script):
        profile.total_ns += period
        found = part_of([symbol for _, symbol in chain])
        if found:
            part, program = found
            profile.parts[part] += period
            if program:
                profile.programs[program] += period


def record(workload: Callable[[], T], frequency: int, command: str | None = None) -> tuple[T, str]:
    """perf on every CPU, with call chains, while workload runs: its result and the samples as `perf script -F
    period,ip,sym` prints them; with `command`, only that command's samples."""
    with tempfile.TemporaryDirectory(prefix="intuition-perf-") as tmp:
        data = os.path.join(tmp, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-a", "-g", "-e", "cpu-clock", "-F", str(frequency), "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            result = workload()
        finally:
            perf.send_signal(signal.SIGINT)
            _, err = perf.communicate(timeout=120)
        if perf.returncode not in (0, -signal.SIGINT):   # perf ends itself with the SIGINT it was sent
            raise RuntimeError(f"perf record failed ({perf.returncode}): {err.strip()}")
        only = ["--comms", command] if command else []
        script = subprocess.run(["perf", "script", "-i", data, "-F", "period,ip,sym"] + only, check=True,
                                capture_output=True, text=True, timeout=600).stdout
    return result, script


def recorded(nginx: Nginx, seconds: int, frequency: int, load: Load) -> Profile:
    """perf on every CPU while wrk runs: the samples under the hook, over wrk's requests."""
    (requests, _), script = record(lambda: wrk(nginx.port, seconds, load), frequency)
    profile = Profile(requests=requests)
    add_samples(profile, script)
    return profile


def arm_profile(arm: str, nginx: Nginx, args: argparse.Namespace, before: str | None, load: Load) -> Profile:
    if arm == "floor":
        with overhead.floor(classic=False):
            return recorded(nginx, args.seconds, args.frequency, load)
    with side_by_side.agent(l7=arm.startswith("l7"), root=before if arm.endswith("before") else side_by_side.ROOT) \
            as (_, url):
        side_by_side.wait_settled(url)
        return recorded(nginx, args.seconds, args.frequency, load)


def report(profiles: dict[str, Profile]) -> str:
    lines = []
    for arm, profile in profiles.items():
        hook = profile.hook_ns or 1
        lines.append(f"{overhead.ARM_TITLES[arm]}: {profile.requests} requests, "
                     f"{profile.per_request(profile.hook_ns):.0f} ns per request under the hook "
                     f"({100 * profile.hook_ns / max(profile.total_ns, 1):.1f}% of all CPU time sampled)")
        for part, ns in profile.parts.most_common():
            lines.append(f"  {100 * ns / hook:5.1f}%  {profile.per_request(ns):6.0f} ns  {part}")
        programs = ", ".join(f"{name} {profile.per_request(ns):.0f} ns" for name, ns in profile.programs.most_common())
        lines.append(f"  by program (its own instructions and what it called): {programs}")
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=overhead.at_least_one, default=10, help="wrk duration per arm (default 10)")
    parser.add_argument("--frequency", type=overhead.at_least_one, default=999,
                        help="perf samples per second per CPU (default 999: more samples disturb the caches the probes use)")


def benchmark(args: argparse.Namespace, before: str | None) -> str:
    if shutil.which("perf") is None:
        raise SystemExit("perf not found: install it (Debian: apt-get install linux-perf)")
    load = Load(overhead.WRK_CONNECTIONS)
    arms = ["floor", "l4", "l7"] + (["l4 before", "l7 before"] if before else [])
    print(f"nginx + wrk -t1 -c{load.connections} {load.path} on loopback, {args.seconds} s per arm, perf at "
          f"{args.frequency} Hz, {os.cpu_count()} CPUs, kernel {os.uname().release}", flush=True)
    with running_nginx() as nginx:
        return report({arm: arm_profile(arm, nginx, args, before, load) for arm in arms})


def main(argv: list[str] | None = None) -> int:
    return side_by_side.run(__doc__, argv, options, benchmark, needs_root="perf samples the kernel and the agent "
                            "loads BPF programs")


if __name__ == "__main__":
    sys.exit(main())
