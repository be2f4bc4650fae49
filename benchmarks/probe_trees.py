"""BPF time per request of this tree's probes against another commit's, alternated in one process: each round
attaches each tree's probes in turn while nginx answers `wrk -t1 -c1` on loopback, with the kernel's run-time
accounting on (benchmarks/profile.py's measure_programs), so that the trees see the same minutes of a noisy host;
or, with --nginx-cpu, what each tree's probes add to nginx's CPU per request, in benchmarks/throughput.py's slices.

    sudo .venv/bin/python -m benchmarks.probe_trees --before GIT_REF [--rounds 6] [--seconds 5]
    sudo .venv/bin/python -m benchmarks.probe_trees --before GIT_REF --nginx-cpu [--rounds 150]

Both trees' probes are compiled by this tree's loader with this kernel's defines: a commit whose probes need a
define this loader no longer gives fails to compile, and is out of this benchmark's reach (overhead.py --before
runs the other commit's whole agent instead). Prints, for all programs and for each sock length hook, each tree's
median and the median of the per-round differences, with how many rounds this tree was lower in: a change to one
hook shows there, out of the other hook's noise.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from collections.abc import Callable, Iterator

from benchmarks import profile, side_by_side, throughput
from benchmarks.overhead import at_least_one
from tests.helpers.servers import running_nginx
from tracer.capture import loader

HOOKS = ("sock_se", "sock_re")   # the sock length hooks' programs, as their truncated names end


def part(programs: dict[str, float], hook: str | None) -> float:
    """ns per request of the hook's program (its name ends with `hook`), or of all programs (None)."""
    return sum(ns for name, ns in programs.items() if hook is None or name.endswith(hook))


@contextlib.contextmanager
def probes_from(directory: str) -> Iterator[None]:
    """This tree's loader compiling the probes in `directory` for the block."""
    this_tree = loader.PROBES_DIR
    loader.PROBES_DIR = directory
    try:
        yield
    finally:
        loader.PROBES_DIR = this_tree


def alternated(trees: dict[str, str], rounds: int, seconds: int) -> dict[str, list[dict[str, float]]]:
    """Title -> each round's BPF ns per request per program, for each probes directory in `trees`."""
    results: dict[str, list[dict[str, float]]] = {title: [] for title in trees}
    with running_nginx() as nginx:
        for number in range(1, rounds + 1):
            for title, probes in trees.items():
                with probes_from(probes):
                    results[title].append(profile.measure_programs([], nginx.port, seconds))
            print(f"round {number}: " + ", ".join(f"{title} {part(measured[-1], None):.0f} ns"
                                                   for title, measured in results.items()), flush=True)
    return results


def loaded_trees(trees: dict[str, str]) -> Callable[[contextlib.ExitStack], dict[str, list[int]]]:
    """throughput.measure's arms: each probes directory's programs in `trees` (title -> directory), loaded whole and
    detached, and the floor's empty ones."""
    def load(stack: contextlib.ExitStack) -> dict[str, list[int]]:
        modules = {}
        for title, probes in trees.items():
            with probes_from(probes):
                b, info, _ = profile.loaded([])
            stack.callback(b.cleanup)
            modules[title] = b, info
        return throughput.detached_arms(stack, modules)
    return load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the commit whose probes this tree's are measured against")
    parser.add_argument("--rounds", type=at_least_one,
                        help=f"rounds (default 6; with --nginx-cpu, of slices: {throughput.ROUNDS})")
    parser.add_argument("--seconds", type=int, default=5, help="wrk's duration per tree and round")
    parser.add_argument("--nginx-cpu", action="store_true",
                        help="measure what each tree adds to nginx's CPU per request instead, in throughput.py's slices")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    with side_by_side.source_tree(args.before) as before:
        trees = {"this tree": loader.PROBES_DIR, args.before: os.path.join(before, "probes")}
        if args.nginx_cpu:
            print(throughput.measured_report(args.rounds or throughput.ROUNDS, loaded_trees(trees), list(trees)))
            return 0
        ours, theirs = alternated(trees, args.rounds or 6, args.seconds).values()
    for hook, title in ((None, "all programs"), (HOOKS[0], "the send hook"), (HOOKS[1], "the receive hook")):
        a, b = [part(r, hook) for r in ours], [part(r, hook) for r in theirs]
        differences = [x - y for x, y in zip(a, b)]
        print(f"{title:17} this tree {statistics.median(a):5.0f} ns per request, {args.before} "
              f"{statistics.median(b):5.0f}: {statistics.median(differences):+.0f} (median of rounds), "
              f"lower in {sum(d < 0 for d in differences)} of {len(differences)} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
