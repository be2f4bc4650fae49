"""Where errors start, end to end: front -> mid -> back in real containers under load, with back failing
(500s, or stopped). Within 10 s the running agent's /api/graph and /metrics name back as the origin and
front and mid as its victims."""
from __future__ import annotations

from typing import NamedTuple

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.docker_env import Container, DockerEnv, wait_until
from tests.helpers.shop_apps import FAILING_BACKEND, LOAD, PROXY

LOAD_SECONDS = 180  # front's load stops by itself after this; the test ends well before
ORIGIN_DEADLINE = 10  # seconds from the failure to the origin on the map and the metric


class Chain(NamedTuple):
    url: str
    env: DockerEnv
    namespace: str
    back: Container


@pytest.fixture
def chain(agent_url):
    env = DockerEnv()
    try:
        namespace = env.name("chain")  # a namespace of its own: the session's agent has seen other tests
        network = env.network("chain")
        back = env.run("back", "python3", "-c", FAILING_BACKEND, compose=(namespace, "back"), network=network)
        env.wait_listening(back, 80)
        mid = env.run("mid", "python3", "-c", PROXY, back.ip, compose=(namespace, "mid"), network=network)
        env.wait_listening(mid, 80)
        env.run("front", "python3", "-c", LOAD, mid.ip, str(LOAD_SECONDS), compose=(namespace, "front"),
                network=network)
        chain = Chain(agent_url, env, namespace, back)
        wait_until(lambda: healthy_traffic(chain), 30, "front -> mid -> back on the map without errors", 0.5)
        yield chain
    finally:
        env.close()


def errors_on_map(chain: Chain) -> dict[str, dict]:
    """Each service of the chain's region: its error role from /api/graph."""
    graph = requests.get(f"{chain.url}/api/graph", timeout=10).json()
    region = next((n for n in graph["nodes"] if n["name"] == chain.namespace), {"nodes": [], "connections": []})
    return {n["name"]: n["metadata"]["errors"] for n in region["nodes"]}


def healthy_traffic(chain: Chain) -> bool:
    graph = requests.get(f"{chain.url}/api/graph", timeout=10).json()
    region = next((n for n in graph["nodes"] if n["name"] == chain.namespace), {"connections": []})
    edges = {(c["source"], c["target"]): c["metrics"] for c in region["connections"]}
    chain_edges = [edges.get(("front", "mid")), edges.get(("mid", "back"))]
    return all(m and m["normal"] > 0 and m["danger"] == 0 for m in chain_edges)


def origin_metric(chain: Chain) -> dict[str, float]:
    text = requests.get(f"{chain.url}/metrics", timeout=10).text
    return {s.labels["service"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "intuition_service_error_origin" for s in f.samples
            if s.labels["namespace"] == chain.namespace}


def back_is_the_origin(chain: Chain):
    """The map's and the metric's verdicts once both say back is the origin and front, mid its victims."""
    errors = errors_on_map(chain)
    if not all(name in errors for name in ("front", "mid", "back")) or not errors["back"]["origin"]:
        return None
    metric = origin_metric(chain)
    return (errors, metric) if metric.get("back") == 1 else None


def assert_back_is_the_origin(chain: Chain, what: str) -> None:
    errors, metric = wait_until(lambda: back_is_the_origin(chain), ORIGIN_DEADLINE, f"back as the origin {what}", 0.5)
    back = {"service": "back", "namespace": chain.namespace}
    for victim in ("front", "mid"):
        assert not errors[victim]["origin"] and errors[victim]["origins"] == [back]
    assert {c["service"] for c in errors["back"]["blast_radius"]} == {"front", "mid"}
    assert all(c["error_share"] > 0 for c in errors["back"]["blast_radius"])
    assert metric == {"front": 0, "mid": 0, "back": 1}


@pytest.mark.docker
def test_a_backend_answering_500_is_where_errors_start(chain):
    assert origin_metric(chain) == {"front": 0, "mid": 0, "back": 0}
    assert not any(role["origin"] or role["origins"] for role in errors_on_map(chain).values())
    chain.env.exec(chain.back.id, "sh", "-c", ": > /tmp/fail")
    assert_back_is_the_origin(chain, "after it answers 500")


@pytest.mark.docker
def test_a_stopped_backend_is_where_errors_start(chain):
    chain.env.api.kill(chain.back.id)
    assert_back_is_the_origin(chain, "after it stopped")
