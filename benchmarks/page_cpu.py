"""What the map page costs the browser: CPU of headless Chromium (software rendering, as on a machine
without a GPU) showing the map, as a share of one core.

The page is served by the real dashboard app fed with synthetic traffic (tests/browser/synthetic_agent.py),
busy: every edge of the shop namespace carries requests, two of them failing. Each scene is loaded, left
to settle, then measured: user and system time of every Chromium process (browser, renderer, GPU
process, where SwiftShader draws) over the wall time.

    .venv/bin/python -m benchmarks.page_cpu [--seconds 30] [--old REV]

--old REV measures the same scenes with the page's JavaScript and CSS of git revision REV too (served
over the current HTML shell and API), side by side: `--old c525b1f` is the page before issue 12.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from werkzeug.middleware.shared_data import SharedDataMiddleware

from benchmarks.side_by_side import source_tree
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, PAGE_PROBE, LoopbackServer
from tests.browser.synthetic_agent import SyntheticAgent
from tests.helpers.docker_env import wait_until

SCENES = [("busy region view", "#/shop"), ("global view", "#/")]
SETTLE_SECONDS = 8
TICKS = os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """Every process under root (chromedriver: Chromium and its helpers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return out


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    with tempfile.TemporaryDirectory(prefix="intuition-bench-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_PROBE})
            yield driver
        finally:
            driver.quit()


def measure(url: str, seconds: float) -> float:
    """Chromium's CPU showing url, in cores (1.0 = one core busy)."""
    with chromium() as driver:
        driver.get(url)
        wait_until(lambda: driver.execute_script("return !!(window.__viz && window.__viz.currentGraph)"), 60,
                   "the map to load")
        time.sleep(SETTLE_SECONDS)
        pids = descendants(driver.service.process.pid)
        before = cpu_seconds(pids)
        started = time.monotonic()
        time.sleep(seconds)
        after = cpu_seconds(pids)
        wall = time.monotonic() - started
    return sum(after[pid] - before[pid] for pid in after if pid in before) / wall


@contextlib.contextmanager
def page_of_revision(agent: SyntheticAgent, revision: str) -> Iterator[str]:
    """The dashboard with revision's dashboard/static served over the current one."""
    with source_tree(revision) as tree:
        app = SharedDataMiddleware(agent.app, {"/ui/static": str(Path(tree) / "dashboard" / "static")})
        with LoopbackServer(app) as server:
            yield server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per scene")
    parser.add_argument("--old", metavar="REV", help="also measure the page of this git revision")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with SyntheticAgent() as agent:
        agent.failing = True
        agent.fifth_failing = True
        pages = {"this page": contextlib.nullcontext(None)}
        if args.old:
            pages[f"page of {args.old}"] = page_of_revision(agent, args.old)
        results: dict[str, dict[str, float]] = {}
        with LoopbackServer(agent.app) as server:
            for label, context in pages.items():
                with context as url:
                    for scene, route in SCENES:
                        results.setdefault(scene, {})[label] = measure(f"{url or server.url}/{route}", args.seconds)
    labels = list(pages)
    print(f"{'Chromium CPU, share of one core':34}" + "".join(f"{label:>22}" for label in labels))
    for scene, by_page in results.items():
        print(f"{scene:34}" + "".join(f"{by_page[label] * 100:21.0f}%" for label in labels))


if __name__ == "__main__":
    main()
