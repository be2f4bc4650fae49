"""The map's numbers and history against known traffic of real containers, watched by a live agent with a
short history interval: the global view's numbers as Vizceral draws them, one access-log row per request,
replay, latency warnings, /api/changes, ghosts of a paused client, and the timeline's container events.

The tests run in file order on one set of containers: api (HTTP, 500 on /fail, slow while /tmp/slow
exists) in its own Compose project; web sends exact bursts to it (docker exec, so each one is over when the
call returns); poller calls it without end until it is paused.
"""
from __future__ import annotations

import re
import time
from typing import NamedTuple

import pytest
import requests

from tests.browser.conftest import open_chromium
from tests.browser.map_page import MapPage
from tests.helpers.agent import running_agent
from tests.helpers.docker_env import Container, DockerEnv, wait_until
from tests.helpers.shop_apps import REQUESTS, SLOW_API

pytestmark = [pytest.mark.browser, pytest.mark.docker]

WINDOW_SECONDS = 20  # the first burst's exact numbers last about as long
CONFIG = {"window_seconds": WINDOW_SECONDS, "history": {"interval_seconds": 1, "retention_seconds": 600}}
OK, FAILING = 60, 6  # the first burst: 3.3 requests a second over the window, 9.09% failing
RPS, ERROR_RATE = 3.3, 0.0909
SLOW_SECONDS = 0.3

# about five requests a second for at most ten minutes
POLLER = r"""
import sys, time, urllib.request
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    urllib.request.urlopen(f"http://{sys.argv[1]}/", timeout=10).read()
    time.sleep(0.2)
"""

# Runs in the page before its scripts: every canvas keeps the texts drawn on it since it was last cleared,
# which is how Vizceral draws a node's numbers (into a texture for WebGL).
TEXT_PROBE = """
const fillText = CanvasRenderingContext2D.prototype.fillText;
const clearRect = CanvasRenderingContext2D.prototype.clearRect;
CanvasRenderingContext2D.prototype.clearRect = function (...args) {
  this.canvas.__texts = [];
  return clearRect.apply(this, args);
};
CanvasRenderingContext2D.prototype.fillText = function (text, ...args) {
  (this.canvas.__texts = this.canvas.__texts || []).push(String(text));
  return fillText.call(this, text, ...args);
};
"""

DRAWN = """
const node = window.__viz && window.__viz.currentGraph && window.__viz.currentGraph.nodes[arguments[0]];
const canvas = node && node.getView() && node.getView().textCanvas;
return canvas && canvas.__texts ? {texts: canvas.__texts.slice(), facts: node.metadata.intuition} : null;
"""


class Truth(NamedTuple):
    url: str
    env: DockerEnv
    namespace: str
    api: Container
    web: Container
    network: str


class Moment(NamedTuple):
    at: float  # a time at which the first burst's numbers were exact
    region: dict  # the namespace's node on the global view then


@pytest.fixture(scope="module")
def truth():
    env = DockerEnv()
    try:
        with running_agent(CONFIG) as url:
            namespace = env.name("mdtruth")
            network = env.network("mdtruth")
            api = env.run("api", "python3", "-c", SLOW_API, compose=(namespace, "api"), network=network)
            env.wait_listening(api, 80)
            web = env.run("web", "sleep", "3600", compose=(namespace, "web"), network=network)
            yield Truth(url, env, namespace, api, web, network)
    finally:
        env.close()


def get(truth: Truth, path: str, **params) -> requests.Response:
    return requests.get(f"{truth.url}{path}", params=params, timeout=10)


def region_of(graph: dict, namespace: str) -> dict:
    return next((n for n in graph["nodes"] if n["name"] == namespace), None)


def connection(region: dict, source: str, target: str) -> dict | None:
    return next((c for c in region["connections"] if (c["source"], c["target"]) == (source, target)), None)


def burst(truth: Truth, ok: int, failing: int) -> None:
    truth.env.exec(truth.web.id, "python3", "-c", REQUESTS, truth.api.ip, str(ok), str(failing))


def numbers(text: str) -> float:
    match = re.fullmatch(r"([0-9,]+(?:\.[0-9]+)?)%?", text)
    assert match, f"not a number as Vizceral draws it: {text!r}"
    return float(match.group(1).replace(",", ""))


@pytest.fixture(scope="module")
def first_burst(truth: Truth, chromium_module) -> Moment:
    """66 requests in a second or two; the moment the window holds all of them (and the page, open already,
    draws them). The burst waits for the agent's window to fill: a younger agent averages over its age, so
    its rates would fall until then and read exactly 3.3 only for a moment; from now on they read it until
    the burst leaves the window, about 18 s."""
    page = MapPage(chromium_module, truth.url)
    page.open("#/")
    wait_until(lambda: get(truth, "/api/graph").json()["metadata"]["window_seconds"] == WINDOW_SECONDS,
               WINDOW_SECONDS + 30, "the agent's rate window to fill", 0.2)
    burst(truth, OK, FAILING)

    def exact():
        graph = get(truth, "/api/graph").json()
        region = region_of(graph, truth.namespace)
        return Moment(time.time(), region) if region and region["metadata"]["intuition"]["rps"] == RPS else None
    return wait_until(exact, 30, "the window to hold the whole burst", 0.2)


@pytest.fixture(scope="module")
def chromium_module():
    """One headless Chromium for the module, recording the texts drawn on canvases."""
    with open_chromium(TEXT_PROBE) as driver:
        yield driver


def edge_params(truth: Truth, client: str, **more) -> dict:
    return {"client": client, "server": "api", "client_namespace": truth.namespace,
            "server_namespace": truth.namespace, **more}


def test_the_global_view_draws_each_namespaces_true_numbers(truth, first_burst, chromium_module):
    facts = first_burst.region["metadata"]["intuition"]
    assert (facts["rps"], facts["error_rate"], facts["state"]) == (RPS, ERROR_RATE, "live")
    page = MapPage(chromium_module, truth.url)

    def drawn(name: str):
        found = page.js(DRAWN, name)
        if not found or len(found["texts"]) != 4:
            return None
        top, rate, bottom, errors = found["texts"]
        return (top, numbers(rate), bottom, numbers(errors)), found["facts"]

    # the namespace's node: its own rate and error rate, all of its traffic being internal
    page.wait(lambda: (drawn(truth.namespace) or (None,))[0] == ("RPS", RPS, "ERROR RATE", 9.09),
              "the namespace's node to draw 3.3 requests a second, 9.09% failing", timeout=15)

    # the centre: the total the agent counts (other tests' traffic on this host included), as drawn
    def total_matches():
        found = drawn("INTERNET")
        if found is None:
            return None
        (top, total, _, _), internet = found
        return top == "TOTAL RPS" and internet["rps"] >= RPS and abs(total - internet["rps"]) < 0.051
    page.wait(total_matches, "the centre to draw the total request rate", timeout=15)


def test_the_access_log_lists_each_request_once_with_its_reporter(truth, first_burst):
    edge = get(truth, "/api/edges", **edge_params(truth, "web")).json()
    assert edge["reporters"] == ["server", "client"]
    assert {(r["status"], r["total"]) for r in edge["requests"]} == {("200", OK), ("500", FAILING)}
    samples = edge["samples"]
    assert samples and {s["reporter"] for s in samples} == {"server"}
    assert all(s["failed"] == (s["status"] == "500") for s in samples)
    assert sum(s["failed"] for s in samples) <= FAILING
    assert len({(s["time"], s["target"]) for s in samples}) == len(samples)


def test_replay_answers_of_that_moment(truth, first_burst):
    at = first_burst.at + 2  # a history view of the exact numbers (one is taken every second)
    wait_until(lambda: get(truth, "/api/graph").json()["metadata"]["history"]["newest"] >= at, 10, "history at t")
    past = get(truth, "/api/graph", at=at).json()
    assert region_of(past, truth.namespace)["metadata"]["intuition"]["rps"] == RPS
    edge = get(truth, "/api/edges", **edge_params(truth, "web", at=at)).json()
    assert [(r["status"], r["per_second"], r["total"]) for r in edge["requests"]] == [("200", 3.0, None),
                                                                                     ("500", 0.3, None)]
    api = get(truth, "/api/services/api", namespace=truth.namespace, at=at).json()
    assert [(e["client"], e["requests_per_second"], e["errors_per_second"]) for e in api["incoming"]] == \
        [("web", RPS, 0.3)]
    assert get(truth, "/api/edges", **edge_params(truth, "web", at=1)).status_code == 404


def test_a_slow_service_turns_warning_with_a_latency_notice(truth, first_burst):
    def failures_gone():  # the first burst's 500s keep the api danger while the window holds them
        api = next(n for n in region_of(get(truth, "/api/graph").json(), truth.namespace)["nodes"] if n["name"] == "api")
        return api["metadata"]["intuition"]["error_rate"] == 0
    wait_until(failures_gone, WINDOW_SECONDS + 15, "the first burst's failures to leave the window", 0.5)
    burst(truth, 10, 0)  # fast ones: a fresh range for the api's p95
    history = get(truth, "/api/graph").json()["metadata"]["history"]["newest"]
    wait_until(lambda: get(truth, "/api/graph").json()["metadata"]["history"]["newest"] >= history + 3, 15,
               "three history views of the fast requests")
    truth.env.exec(truth.api.id, "sh", "-c", f"echo {SLOW_SECONDS} > /tmp/slow")
    try:
        burst(truth, 10, 0)  # 10 of about 90 requests in the window, each 300 ms: the p95 is theirs
    finally:
        truth.env.exec(truth.api.id, "rm", "/tmp/slow")

    def warned():
        region = region_of(get(truth, "/api/graph").json(), truth.namespace)
        api = next(n for n in region["nodes"] if n["name"] == "api")
        web_api = connection(region, "web", "api")
        return (api, web_api) if api["metadata"]["intuition"]["latency_warning"] else None
    api, web_api = wait_until(warned, 30, "the api to be warned of its latency", 0.5)
    assert api["class"] == "warning" and web_api["metadata"]["intuition"]["latency_warning"] is True
    (notice,) = [n["title"] for n in api["notices"] if "latency" in n["title"]]
    found = re.fullmatch(r"p95 latency ([0-9.]+) ms, [0-9]+x its median of [0-9.]+ ms over the last [0-9]+ intervals",
                         notice)
    assert found and 262 <= float(found.group(1)) <= 525, notice  # the log2 bucket of 300 ms


@pytest.fixture(scope="module")
def poller(truth: Truth) -> Container:
    started = truth.env.run("poller", "python3", "-c", POLLER, truth.api.ip, compose=(truth.namespace, "poller"),
                            network=truth.network)
    wait_until(lambda: connection(region_of(get(truth, "/api/graph").json(), truth.namespace), "poller", "api"), 30,
               "poller -> api on the map", 0.5)
    return started


def test_changes_list_a_new_edge_and_a_vanished_one(truth, first_burst, poller):
    def web_silent():
        web_api = connection(region_of(get(truth, "/api/graph").json(), truth.namespace), "web", "api")
        return web_api["metadata"]["intuition"]["state"] == "ghost"
    wait_until(web_silent, WINDOW_SECONDS + 15, "web -> api to go silent", 0.5)
    changes = get(truth, "/api/changes", baseline=first_burst.at + 2).json()
    mine = lambda edges: [e for e in edges if e["server_namespace"] == truth.namespace]
    edge = {"client_namespace": truth.namespace, "server": "api", "server_namespace": truth.namespace}
    assert mine(changes["new"]) == [{"client": "poller", **edge}]
    assert mine(changes["vanished"]) == [{"client": "web", **edge}]
    assert changes["baseline"] <= first_burst.at + 2 < changes["now"]


def test_a_paused_client_leaves_a_ghost_with_its_last_rate(truth, poller):
    truth.env.api.pause(poller.id)

    def ghost():
        region = region_of(get(truth, "/api/graph").json(), truth.namespace)
        node = next(n for n in region["nodes"] if n["name"] == "poller")
        edge = connection(region, "poller", "api")
        return (node, edge) if edge["metadata"]["intuition"]["state"] == "ghost" else None
    node, edge = wait_until(ghost, WINDOW_SECONDS + 15, "poller -> api to be a ghost", 0.5)
    facts = edge["metadata"]["intuition"]
    assert edge["metrics"] == {"normal": 0.0, "warning": 0.0, "danger": 0.0}
    # it sleeps 0.2 s between requests: at most 5 a second, and the window's span, measured between drains,
    # can be a little shorter than the time its requests took (5.05 was seen)
    assert 0 < facts["last_rps"] <= 5.5
    # the rate it had when last seen: what the map showed then, as history kept it
    then = region_of(get(truth, "/api/graph", at=facts["last_seen"]).json(), truth.namespace)
    assert abs(connection(then, "poller", "api")["metadata"]["intuition"]["rps"] - facts["last_rps"]) <= 0.5
    assert node["metadata"]["intuition"]["state"] == "ghost"
    until = time.strftime("%H:%M:%S UTC", time.gmtime(facts["last_seen"]))
    assert f"{facts['last_rps']:.3g} req/s until {until}, silent since" in [n["title"] for n in node["notices"]]


def test_the_timeline_has_the_container_events(truth, poller):
    timeline = get(truth, "/api/timeline").json()
    assert timeline["interval_seconds"] == 1 and len(timeline["points"]) >= 10
    mine = [(e["kind"], e["service"]) for e in timeline["events"] if e["namespace"] == truth.namespace]
    assert ("start", "poller") in mine
