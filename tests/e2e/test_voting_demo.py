"""The voting-app demo as a new user runs it: `scripts/demo.sh up` from nothing (images built offline, a
Swarm, the stack `voting`, the agent), the stack's graph with traffic on every edge, each fault switch seen
on the map and in /metrics within 10 s and cleared when flipped back, the region view in Chromium (the
README's screenshot), and `scripts/demo.sh down` leaving nothing of it behind.

The tests run in file order on one demo: the faults after the healthy views, `down` last.
"""
from __future__ import annotations

import math
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from tests.browser.conftest import artifacts, chromium  # noqa: F401 (fixtures the browser test uses)
from tests.browser.map_page import MapPage, drawn_fraction
from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import DockerEnv, wait_until
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.docker, pytest.mark.browser]

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"
STACK = "voting"
SERVICES = {"vote", "redis", "worker", "db", "result", "loadgen"}
EDGES = [("INTERNET", "vote"), ("vote", "redis"), ("worker", "redis"), ("worker", "db"), ("result", "db"),
         ("INTERNET", "result")]
DEMO_IMAGE_LABEL = "org.intuition.demo=voting"  # examples/voting-app/Dockerfile labels every image
UP_SECONDS = 900  # from nothing: six images built, probes compiled
TRAFFIC_SECONDS = 120
FAULT_SECONDS = 10  # the promise: a flipped switch shows within 10 s
CLEAR_SECONDS = 60  # the map's window is 10 s, and flipping back restarts the service's tasks
METRICS_INTERVAL = 1.0  # /metrics is judged on what changed between two scrapes this far apart
READ_SECONDS = 0.2  # how often a watch reads: when a fault shows is then known to this much, not to a second


def demo_sh(*args: str, timeout: float) -> str:
    done = subprocess.run(["bash", str(DEMO), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"demo.sh {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Demo(NamedTuple):
    url: str
    env: DockerEnv
    swarm_before: str  # LocalNodeState before `up`: `down` must leave it so

    def up(self) -> str:
        return demo_sh("up", "--listen", self.url.removeprefix("http://"), timeout=UP_SECONDS)

    def containers(self) -> set[str]:
        return {c["Id"] for c in self.env.api.containers(filters={"label": f"com.docker.stack.namespace={STACK}"})}


@pytest.fixture(scope="module")
def demo():
    env = DockerEnv(exclusive=True)  # Swarm is the daemon's, shared by every test: ours alone meanwhile
    try:
        demo_sh("down", timeout=300)  # from nothing: no stack, image or agent of an earlier run
        running = Demo(f"http://127.0.0.1:{free_port()}", env, env.api.info()["Swarm"]["LocalNodeState"])
        url = running.url
        out = running.up()
        assert f"{url}/#/{STACK}" in out, out
        wait_for_every_edge(url, lambda metrics: sum(metrics.values()) > 0, "traffic")
        yield running
    finally:
        try:
            demo_sh("down", timeout=300)
        finally:
            env.close()


def region(url: str) -> dict:
    graph = requests.get(f"{url}/api/graph", timeout=10).json()
    return next((n for n in graph["nodes"] if n["name"] == STACK), {"nodes": [], "connections": []})


def edge_metrics(url: str, edge: tuple[str, str]) -> dict[str, float]:
    found = (c["metrics"] for c in region(url)["connections"] if (c["source"], c["target"]) == edge)
    return next(found, {"normal": 0.0, "warning": 0.0, "danger": 0.0})


def wait_for_every_edge(url: str, shows: Callable[[dict[str, float]], bool], what: str) -> None:
    """Until every edge's metrics show `what`, for TRAFFIC_SECONDS at most; the region in the error."""
    try:
        wait_until(lambda: all(shows(edge_metrics(url, edge)) for edge in EDGES), TRAFFIC_SECONDS, what, 1)
    except AssertionError as error:
        raise AssertionError(f"{error} on every edge of {EDGES}; the region: {region(url)}") from None


def danger(edge: tuple[str, str]) -> Callable[[str], bool]:
    return lambda url: edge_metrics(url, edge)["danger"] > 0


def added(earlier: dict, later: dict, name: str, **labels: str) -> float:
    """How much the samples of `name` that carry `labels` (any other labels summed over) grew."""
    def total(samples: dict) -> float:
        return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)
    return total(later) - total(earlier)


def median_seconds(earlier: dict, later: dict, **labels: str) -> float:
    """The median of intuition_request_duration_seconds over the requests between two scrapes, found as
    Prometheus' histogram_quantile does; NaN without requests."""
    name = "intuition_request_duration_seconds_bucket"
    bounds = sorted({(float(dict(ls)["le"]), dict(ls)["le"]) for (n, ls), _ in later.items()
                     if n == name and set(labels.items()) <= ls})
    counts = [added(earlier, later, name, le=le, **labels) for _, le in bounds]  # cumulative, as exported
    if not counts or counts[-1] == 0:
        return math.nan
    rank, lower, below = counts[-1] / 2, 0.0, 0.0
    for (bound, _), count in zip(bounds, counts):
        if count >= rank:
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return math.nan


def edge_p50_ms(url: str, client: str, server: str) -> float:
    detail = requests.get(f"{url}/api/edges", params={"client": client, "server": server,
                                                       "server_namespace": STACK}, timeout=10).json()
    return detail["latency_ms"].get("http", {}).get("p50") or 0.0


class Fault(NamedTuple):
    switch: str  # scripts/demo.sh fault <switch> on|off
    in_api: Callable[[str], bool]  # the agent's JSON API shows it
    in_metrics: Callable[[dict, dict], bool]  # /metrics shows it between two scrapes


FAULTS = {
    "vote answers 500": Fault(
        "vote-500", danger(("INTERNET", "vote")),
        lambda a, b: added(a, b, "intuition_requests_total", client="INTERNET", server="vote", status="500",
                           reporter="server") > 0),
    "worker writes to a missing table": Fault(
        "worker-42P01", danger(("worker", "db")),
        lambda a, b: added(a, b, "intuition_requests_total", client="worker", server="db", protocol="postgres",
                           status="42P01", reporter="server") > 0),
    "result slows by 300 ms": Fault(
        "result-slow", lambda url: edge_p50_ms(url, "INTERNET", "result") > 300,
        lambda a, b: median_seconds(a, b, client="INTERNET", server="result", reporter="server") > 0.3),
    "redis goes away": Fault(
        "redis-away", danger(("vote", "redis")),
        lambda a, b: added(a, b, "intuition_tcp_connect_failures_total", client="vote", server="redis") > 0),
}


def watch(url: str, fault: Fault, test: Callable[[bool, bool], bool], timeout: float) -> None:
    """Until test(in /metrics, in the JSON API) holds, read every READ_SECONDS, judging /metrics by what changed
    since the newest scrape at least METRICS_INTERVAL older."""
    deadline = time.monotonic() + timeout
    scrapes = deque([(time.monotonic(), scrape(url))])
    while True:
        time.sleep(READ_SECONDS)
        now, later = time.monotonic(), scrape(url)
        while len(scrapes) > 1 and now - scrapes[1][0] >= METRICS_INTERVAL:
            scrapes.popleft()
        then, earlier = scrapes[0]
        if now - then >= METRICS_INTERVAL and test(fault.in_metrics(earlier, later), fault.in_api(url)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {region(url)['connections']}")
        scrapes.append((now, later))


def flip(fault: Fault, on: bool) -> None:
    demo_sh("fault", fault.switch, "on" if on else "off", timeout=60)


def test_the_stack_on_the_map_with_traffic_on_every_edge(demo):
    nodes = {n["name"] for n in region(demo.url)["nodes"]}
    assert SERVICES | {"INTERNET"} <= nodes
    # the stack's first requests may fail while it starts (vote answers 503 until it reaches redis), and the map
    # shows them so: healthy requests on every edge follow once every service answers
    wait_for_every_edge(demo.url, lambda metrics: metrics["normal"] > 0, "healthy requests")


def test_vote_lists_its_two_containers_with_their_task_slots(demo):
    vote = requests.get(f"{demo.url}/api/services/vote", params={"namespace": STACK}, timeout=10).json()
    containers = vote["containers"]
    assert sorted(c["task_slot"] for c in containers) == [1, 2]
    for c in containers:
        assert c["name"].startswith(f"{STACK}_vote.{c['task_slot']}.") and c["state"] == "running"
        assert c["image"].startswith("intuition-voting/vote")


def test_up_again_changes_nothing(demo):
    before = demo.containers()
    assert len(before) == len(SERVICES) + 1  # vote has two
    assert "the agent is running already" in demo.up()
    assert demo.containers() == before


def test_the_region_view_shows_the_services_and_moving_dots(demo, chromium, artifacts):  # noqa: F811
    page = MapPage(chromium, demo.url)
    page.open(f"#/{STACK}")
    page.wait_for_view([STACK])
    page.wait_for_names(SERVICES | {"INTERNET"})
    page.node_point("vote")  # the layout has settled
    before = page.canvas()
    assert drawn_fraction(before) > 0.003, "the region view is blank"
    page.wait_for_moving_dots()
    page.save(artifacts / "voting-region.png")  # the README's screenshot (docs/screenshot.png)


@pytest.mark.parametrize("name", FAULTS)
def test_a_fault_switch_shows_within_10_s_and_clears(demo, name):
    fault = FAULTS[name]
    seen: dict[str, float] = {}  # where it showed first -> seconds after the switch

    def shown(in_metrics: bool, in_api: bool) -> bool:
        for where, now in (("/metrics", in_metrics), ("api", in_api)):
            if now:
                seen.setdefault(where, time.monotonic() - start)
        return len(seen) == 2

    flip(fault, on=True)
    start = time.monotonic()  # the switch is flipped once demo.sh returns (result-slow's file written in its container)
    try:
        watch(demo.url, fault, shown, FAULT_SECONDS)
    finally:
        back = time.monotonic()
        flip(fault, on=False)
    print(f"{name}: shown after {seen}")
    assert seen["/metrics"] <= FAULT_SECONDS and seen["api"] <= FAULT_SECONDS, seen
    watch(demo.url, fault, lambda in_metrics, in_api: not (in_metrics or in_api), CLEAR_SECONDS)
    print(f"{name}: cleared {time.monotonic() - back:.1f} s after the switch went back")


def test_down_leaves_nothing_behind(demo):
    demo_sh("down", timeout=300)
    api = demo.env.api
    assert api.containers(all=True, filters={"label": f"com.docker.stack.namespace={STACK}"}) == []
    assert [n["Name"] for n in api.networks() if n["Name"].startswith(f"{STACK}_")] == []
    assert api.images(filters={"label": DEMO_IMAGE_LABEL}) == []
    assert [t for i in api.images() for t in i["RepoTags"] or [] if t.startswith("intuition-voting/")] == []
    assert api.info()["Swarm"]["LocalNodeState"] == demo.swarm_before
    if demo.swarm_before == "active":
        assert [s["Spec"]["Name"] for s in api.services() if s["Spec"]["Name"].startswith(f"{STACK}_")] == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{demo.url}/healthz", timeout=5)
