"""The map page end to end: a live agent (real probes, real Docker) watching offline-built containers that
exchange HTTP and Redis traffic, seen in headless Chromium.

livemap/web calls livemap/api (which calls livemap/cache, redis-server) and a container labelled with a
hostile service name, on a path holding <script>, until the test tells it to fail or stop. In file order the
last two inject 500s and then stop the traffic; each test also passes alone.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.map_page import MapPage, drawn_fraction
from tests.helpers.shop_apps import API  # an HTTP server that INCRs the cache per request, 500 on /fail
from tests.helpers.docker_env import Container, DockerEnv, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.docker]

NAMESPACE = "livemap"
EVIL = "<img src=x onerror=alert(1)>"
EVIL_PATH = "/<script>alert(1)</script>"
REPLAY_SNAPSHOTS = 4

# web: about ten rounds a second for at most ten minutes; /tmp/fail turns its api calls into /fail,
# /tmp/stop ends the traffic (the container stays, so that its name stays known)
WEB = r"""
import os, sys, time, urllib.error, urllib.request
api, evil, evil_path = sys.argv[1:4]
deadline = time.monotonic() + 600
while time.monotonic() < deadline and not os.path.exists("/tmp/stop"):
    path = "/fail" if os.path.exists("/tmp/fail") else "/"
    for url in (f"http://{api}{path}", f"http://{evil}{evil_path}"):
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except urllib.error.HTTPError as error:
            error.read()
    time.sleep(0.1)
time.sleep(3600)
"""


class LiveMap(NamedTuple):
    url: str
    env: DockerEnv
    web: Container
    api: Container
    busy_since: float  # when the map first showed web -> api


def region(url: str) -> dict:
    graph = requests.get(f"{url}/api/graph", timeout=10).json()
    return next((n for n in graph["nodes"] if n["name"] == NAMESPACE), {"nodes": [], "connections": []})


def ghost(url: str, client: str, server: str) -> bool:
    found = [c for c in region(url)["connections"] if (c["source"], c["target"]) == (client, server)]
    return bool(found) and found[0]["metadata"]["intuition"]["state"] == "ghost"


def connected(url: str, *pairs: tuple[str, str]) -> bool:
    return set(pairs) <= {(c["source"], c["target"]) for c in region(url)["connections"]}


@pytest.fixture(scope="module")
def livemap(agent_url):
    env = DockerEnv()
    try:
        network = env.network(NAMESPACE)
        cache = env.run("cache", "redis-server", "--port", "6379", "--save", "", "--appendonly", "no",
                        "--protected-mode", "no", compose=(NAMESPACE, "cache"), network=network)
        env.wait_listening(cache, 6379)
        api = env.run("api", "python3", "-c", API, cache.ip, compose=(NAMESPACE, "api"), network=network)
        evil = env.run("evil", "python3", "-m", "http.server", "80", compose=(NAMESPACE, "evil"),
                       labels={"intuition.service": EVIL}, network=network)
        env.wait_listening(api, 80)
        env.wait_listening(evil, 80)
        web = env.run("web", "python3", "-c", WEB, api.ip, evil.ip, EVIL_PATH, compose=(NAMESPACE, "web"),
                      network=network)
        wait_until(lambda: connected(agent_url, ("web", "api"), ("api", "cache"), ("web", EVIL)), 60,
                   "web -> api -> cache and web -> evil on the map")
        yield LiveMap(agent_url, env, web, api, time.time())
    finally:
        env.close()


@pytest.fixture
def page(chromium, livemap) -> MapPage:
    return MapPage(chromium, livemap.url)


def test_map_draws_the_live_services_with_moving_traffic(page, artifacts):
    page.open("#/")
    page.wait_for_names({"INTERNET", NAMESPACE})
    page.node_point(NAMESPACE)
    assert drawn_fraction(page.canvas()) > 0.01, "the global view is blank"
    page.save(artifacts / "live-global.png")

    page.click_at(page.node_point(NAMESPACE))
    page.wait_for_view([NAMESPACE])
    page.wait_for_names({"web", "api", "cache", EVIL})
    page.node_point("api")
    before = page.canvas()
    assert drawn_fraction(before) > 0.003, "the region view is blank"  # four nodes and thin lines
    page.wait_for_moving_dots()
    assert page.freshness()[0] == "live"
    page.save(artifacts / "live-region.png")


def test_clicking_a_service_shows_its_containers(page, livemap, artifacts):
    page.open(f"#/{NAMESPACE}")
    page.click_at(page.node_point("api"))
    text = page.wait_for_panel(livemap.api.name)
    assert f"service in {NAMESPACE}" in text
    assert f"{livemap.api.name} {livemap.env.image} running" in text
    assert "cache" in text and "web" in text  # its edges out and in
    history = page.driver.find_element(By.ID, "history")
    page.wait(history.is_enabled, "the agent's first history to reach the timeline", timeout=60)
    page.save(artifacts / "live-service.png")


def test_clicking_an_edge_opens_its_panel_and_back_returns(page, artifacts):
    page.open("#/")
    page.click_at(page.node_point(NAMESPACE))
    page.wait_for_view([NAMESPACE])
    page.click_at(page.edge_point("web", "api"))
    text = page.wait_for_panel("RECENT REQUESTS")
    assert "http 200" in text
    assert page.hash() == f"#/{NAMESPACE}?client=web&server=api"
    page.save(artifacts / "live-edge.png")

    page.driver.back()
    page.wait_for_view([])
    assert page.hash() == "#/"




def test_edge_panel_shows_recent_request_samples(page):
    page.open(f"#/{NAMESPACE}?client=web&server=api")
    page.wait_for_panel("GET / 200")


def test_hostile_service_name_shows_as_text(page, livemap):
    policy = requests.get(livemap.url + "/", timeout=10).headers["Content-Security-Policy"]
    assert "worker-src 'self' blob:" in policy
    page.open(f"#/{NAMESPACE}")
    page.click_at(page.node_point(EVIL))
    assert page.wait_for_panel(livemap.env.name("evil")).startswith(f"×\nPause\n{EVIL}\n")
    assert page.js("return document.querySelectorAll('#details img, #details script').length") == 0
    assert page.alerts() == []
    assert page.csp_violations() == []


def test_hostile_request_path_shows_as_text(page):
    page.open(f"#/{NAMESPACE}")
    page.click_at(page.edge_point("web", EVIL))
    page.wait_for_panel(f"GET {EVIL_PATH} 404")
    assert page.js("return document.querySelectorAll('#details img, #details script').length") == 0
    assert page.alerts() == []
    assert page.csp_violations() == []


def test_injected_500s_turn_the_edge_red_with_a_notice_within_5_s(page, livemap):
    page.open(f"#/{NAMESPACE}")
    page.wait_for_names({"web", "api"})
    red = page.watch("window.__viz.currentGraph.connections['web--api']?.getVolume('danger') > 0")
    livemap.env.exec(livemap.web.id, "sh", "-c", "echo > /tmp/fail")
    failing = time.time()  # web's next round (0.1 s) calls /fail: the clock leaves out docker exec's own time
    assert page.seen_at(red, "red dots on web -> api") - failing <= 5, "the edge took longer than 5 s to turn red"
    notices = "return (window.__viz.currentGraph.nodes.api.notices || []).map((n) => n.title)"
    assert any("of requests to api fail" in title for title in page.js(notices))
    page.click_at(page.node_point("api"))
    page.wait_for_panel("of requests to api fail")


def snapshots_since(url: str, since: float) -> int:
    """Snapshots in the agent's history (one each 10 s) taken after `since`."""
    return sum(1 for point in requests.get(f"{url}/api/timeline", timeout=10).json()["points"] if point["t"] > since)


def test_stopped_traffic_leaves_a_ghost_and_replay_shows_it_live(page, livemap):
    # the replay below goes back two 10 s steps from the end of the traffic: the history must hold more of it than
    # that, which the tests before this one may or may not have taken the time for
    wait_until(lambda: snapshots_since(livemap.url, livemap.busy_since) >= REPLAY_SNAPSHOTS, 120,
               f"{REPLAY_SNAPSHOTS} snapshots of the busy map in the history", 1)
    livemap.env.exec(livemap.web.id, "sh", "-c", "echo > /tmp/stop")
    wait_until(lambda: ghost(livemap.url, "web", "api"), 60, "web -> api to turn into a ghost")
    page.open(f"#/{NAMESPACE}")
    state = "const c = window.__viz.currentGraph.connections['web--api']; return c && c.metadata.intuition.state"
    page.wait(lambda: page.js(state) == "ghost", "web -> api drawn as a ghost")
    page.wait(lambda: {"source": "web", "target": "api", "kind": "ghost"} in page.js("return window.intuitionTestHooks.marks()"),
              "the ghost's dashed line")

    slider = page.driver.find_element(By.ID, "history")
    # the slider moves 10 s a step; the history keeps a snapshot every 10 s: aim well after the traffic began
    steps = int((time.time() - livemap.busy_since) / 10) - 2
    slider.send_keys(*[Keys.ARROW_LEFT] * steps)
    page.wait(lambda: page.js(state) == "live", "web -> api replayed live")
    assert "at=" in page.hash()
    assert page.freshness()[0] == "replay"
