"""How soon the agent shows what happens: from starting it to /healthz 200 (probes attached, first drain
done), and from the first request of a new edge to that edge in /api/graph; with --before, the agent of
another commit measured the same way in the same run, start by start in turn. Each agent that has a program
cache (tracer/capture/program_cache.py) starts twice in each round: cold (its cache cleared, so it compiles, as
the first start on a host does) and warm (from the programs the cold start cached); one from before the cache
starts once, with its defaults.

    sudo .venv/bin/python -m benchmarks.freshness [--repeats 3] [--before GIT_REF]

A new edge is a client no one has seen: curl copied under a fresh name (a host process is `host:<comm>`,
docs/architecture.md) making one request to nginx on loopback.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchmarks import side_by_side
from tests.helpers.servers import running_nginx

EDGE_TIMEOUT = 60.0
POLL_SECONDS = 0.02


def names_in_graph(url: str) -> set[tuple[str, str]]:
    """(source, target) of every connection anywhere in the Vizceral JSON."""
    with urllib.request.urlopen(f"{url}/api/graph", timeout=10) as response:
        graph = json.load(response)
    found, stack = set(), [graph]
    while stack:
        node = stack.pop()
        found |= {(c["source"], c["target"]) for c in node.get("connections", [])}
        stack += node.get("nodes", [])
    return found


def edge_seconds(url: str, nginx_port: int, client: str) -> float:
    """Seconds from `client`'s one request to nginx until /api/graph has the edge from host:<client>."""
    started = time.monotonic()
    subprocess.run([client, "-sS", "-o", "/dev/null", f"http://127.0.0.1:{nginx_port}/ok"], check=True, timeout=60)
    name = f"host:{os.path.basename(client)}"
    while not any(source == name for source, _ in names_in_graph(url)):
        if time.monotonic() - started > EDGE_TIMEOUT:
            raise RuntimeError(f"no edge from {name} in /api/graph after {EDGE_TIMEOUT:.0f} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def has_cache(root: str) -> bool:
    return os.path.exists(os.path.join(root, "tracer", "capture", "program_cache.py"))


def arms(before: str | None) -> dict[str, tuple[str, bool]]:
    """Title -> (source root, whether its start clears its program cache first): each tree with a program cache
    cold then warm, one without it with its defaults."""
    out = {}
    for tree, root in side_by_side.trees(before).items():
        if has_cache(root):
            out |= {f"{tree}, cold cache": (root, True), f"{tree}, warm cache": (root, False)}
        else:
            out[tree] = (root, False)
    return out


def measure(repeats: int, before: str | None) -> dict[str, dict[str, list[float]]]:
    """arm -> {"start": seconds per start, "edge": seconds per new edge}."""
    starts = arms(before)
    results = {arm: {"start": [], "edge": []} for arm in starts}
    with running_nginx() as nginx, tempfile.TemporaryDirectory(prefix="perf-fresh-") as folder:
        # each tree's own cache: the trees' probes differ, and a cold start clears only its tree's
        caches = {root: os.path.join(folder, f"program-cache-{number}")
                  for number, root in enumerate(side_by_side.trees(before).values())}
        for n in range(repeats):
            for index, (arm, (root, cold)) in enumerate(starts.items()):
                if cold:
                    shutil.rmtree(caches[root], ignore_errors=True)
                started = time.monotonic()
                with side_by_side.agent(l7=True, root=root,
                                        program_cache=caches[root] if has_cache(root) else None) as (_, url):
                    results[arm]["start"].append(time.monotonic() - started)
                    client = shutil.copy(shutil.which("curl"), os.path.join(folder, f"fresh-{n}-{index}"))
                    results[arm]["edge"].append(edge_seconds(url, nginx.port, client))
                print(f"{arm}: start {results[arm]['start'][-1]:.2f} s, "
                      f"new edge {results[arm]['edge'][-1]:.2f} s", flush=True)
    return results


def report(results: dict[str, dict[str, list[float]]]) -> str:
    lines = [f"{'agent':28} {'start to /healthz 200 (s)':>26} {'request to edge in /api/graph (s)':>34}"]
    for tree, values in results.items():
        lines.append(f"{tree:28} {statistics.median(values['start']):26.2f} {statistics.median(values['edge']):34.2f}")
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="starts of each agent (default 3)")


def main(argv: list[str] | None = None) -> int:
    return side_by_side.run(__doc__, argv, options, lambda args, before: report(measure(args.repeats, before)))


if __name__ == "__main__":
    sys.exit(main())
