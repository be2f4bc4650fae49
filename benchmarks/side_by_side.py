"""The agent of this tree and, with --before GIT_REF, the agent of another commit, measured in the same run:
the command line the agent benchmarks share (overhead.py, agent_cost.py, freshness.py), the other commit's
files exported with git archive (page_cpu.py takes an older page from there too), and either tree's
`intuition agent` run until /healthz answers.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator

from tests.helpers.docker_env import wait_until
from tests.helpers.servers import free_port, stop
from tracer.agent import TLS_PENDING

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def source_tree(ref: str) -> Iterator[str]:
    """The repository's files at a git ref, exported to a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="intuition-before-") as tree:
        archive = subprocess.run(["git", "-C", ROOT, "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        yield tree


def trees(before: str | None) -> dict[str, str]:
    """Title -> source root of each agent to measure: this tree, and the exported --before tree if any."""
    return {"this tree": ROOT} | ({"previous design": before} if before else {})


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the agent exited with {process.returncode} before /healthz answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    # polled every 20 ms: benchmarks/freshness.py times the start by it
    wait_until(healthy, timeout, f"{url} to answer 200", interval=0.02)


def wait_settled(url: str, timeout: float = 180.0) -> None:
    """Until the agent at url has verified its TLS programs, which it does after /healthz first answers 200
    (tracer/agent.py): load measured before would share the cores with the verifier."""
    def settled() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return TLS_PENDING not in json.load(response)["detail"]

    wait_until(settled, timeout, f"{url} to verify its TLS programs")


@contextlib.contextmanager
def agent(l7: bool, root: str = ROOT, program_cache: str | None = None):
    """`intuition agent` of the source tree at root, with L7 parsing on or off, once /healthz answers: its
    process and base URL. program_cache: the directory of its compiled programs, where not the default (a tree
    from before the cache knows no such key)."""
    cache = f", program_cache: {json.dumps(program_cache)}" if program_cache is not None else ""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as config:
        config.write(f"capture: {{l7: {'true' if l7 else 'false'}{cache}}}\n")
        config.flush()
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "tracer", "agent", "--config", config.name,
                                    "--listen", f"127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
            yield process, f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def run(doc: str, argv: list[str] | None, options: Callable[[argparse.ArgumentParser], None],
        benchmark: Callable[[argparse.Namespace, str | None], str],
        needs_root: str = "the agent loads BPF programs") -> int:
    """A benchmark's command line: its own options and --before, as root (needs_root says why). Runs
    benchmark(args, the exported --before tree or None) and prints the report it returns."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    options(parser)
    parser.add_argument("--before", metavar="GIT_REF", help="also measure the agent of this commit, side by side")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error(f"needs root: {needs_root}")
    with (source_tree(args.before) if args.before else contextlib.nullcontext()) as before:
        print(benchmark(args, before))
    return 0
