"""The service graph of real containers: Compose-labelled shop/web -> shop/api -> shop/cache (redis-server),
built offline, with known traffic; checked through /metrics and /api/graph of a running agent."""
from __future__ import annotations

from typing import NamedTuple

import pytest
import requests

from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import DockerEnv, wait_until
from tests.helpers.shop_apps import API, WEB

OK_REQUESTS, FAILING_REQUESTS = 40, 5

SHOP = {"client_namespace": "shop", "server_namespace": "shop"}


class Shop(NamedTuple):
    url: str
    before: dict[tuple, float]  # /metrics before web sent anything: the agent may have seen an earlier test's shop

    def added(self, name: str, **labels) -> float:
        sample = (name, frozenset(labels.items()))
        return scrape(self.url).get(sample, 0) - self.before.get(sample, 0)


@pytest.fixture(scope="module")
def shop(agent_url):
    """The three containers, once web has sent all its requests."""
    env = DockerEnv()
    try:
        network = env.network("shop")
        cache = env.run("cache", "redis-server", "--port", "6379", "--save", "", "--appendonly", "no",
                        "--protected-mode", "no", compose=("shop", "cache"), network=network)
        env.wait_listening(cache, 6379)
        api = env.run("api", "python3", "-c", API, cache.ip, compose=("shop", "api"), network=network)
        env.wait_listening(api, 80)
        before = scrape(agent_url)
        web = env.run("web", "python3", "-c", WEB, api.ip, str(OK_REQUESTS), str(FAILING_REQUESTS),
                      compose=("shop", "web"), network=network)
        wait_until(lambda: b"done" in env.api.logs(web.id), 120, "web to send its requests", 0.5)
        yield Shop(agent_url, before)
    finally:
        env.close()


def shop_region(url: str) -> dict:
    graph = requests.get(f"{url}/api/graph", timeout=10).json()
    return next((n for n in graph["nodes"] if n["name"] == "shop"), {"nodes": [], "connections": []})


@pytest.mark.docker
def test_edges_between_the_shop_containers(shop):
    # the map first: the edges stay on it for the sliding window (10 s) after the traffic
    def region_with_both_edges():
        region = shop_region(shop.url)
        edges = {(c["source"], c["target"]) for c in region["connections"]}
        return region if {("web", "api"), ("api", "cache")} <= edges else None

    region = wait_until(region_with_both_edges, 10, "web -> api -> cache on the map")
    assert {"web", "api", "cache"} <= {n["name"] for n in region["nodes"]}
    total = OK_REQUESTS + FAILING_REQUESTS
    opened, closed = "intuition_tcp_connections_opened_total", "intuition_tcp_connections_closed_total"
    web_api = dict(client="web", server="api", reporter="server", **SHOP)
    api_cache = dict(client="api", server="cache", reporter="server", **SHOP)
    # a connection's close can reach a later drain than its open: wait for every count, each exact
    counts = [(opened, web_api), (opened, api_cache), (opened, dict(web_api, reporter="client")), (closed, web_api)]
    wait_until(lambda: all(shop.added(name, **labels) == total for name, labels in counts),
               30, f"{total} connections opened on web -> api (both reporters) and api -> cache, closed on web -> api",
               0.5)


@pytest.mark.docker
def test_requests_and_their_classes_on_the_map(shop):
    web_api = dict(client="web", server="api", protocol="http", reporter="server", **SHOP)
    requests_total = "intuition_requests_total"
    wait_until(lambda: shop.added(requests_total, status="200", **web_api) == OK_REQUESTS
               and shop.added(requests_total, status="500", **web_api) == FAILING_REQUESTS, 30,
               f"{OK_REQUESTS} requests with status 200 and {FAILING_REQUESTS} with 500 on web -> api", 0.5)
    web_to_api = next(c for c in shop_region(shop.url)["connections"] if (c["source"], c["target"]) == ("web", "api"))
    assert web_to_api["metrics"]["normal"] > 0 and web_to_api["metrics"]["danger"] > 0
