"""/api/changes, /api/timeline, replayed service and edge details, and the access log's one row per request,
through Flask's test client over a graph driven with an injected clock."""
import pytest

from tests.unit.graph_fakes import (API, API_IP, WEB, WEB_IP, Endpoint, FakeIdentity, client_for, flow, key,
                                    make_graph, requests, tick)
from tracer.identity.timeline import ContainerEvent
from tracer.capture.records import CLIENT, SERVER, RequestSample

BILLING = Endpoint("billing", "shop", "c-billing")
BILLING_IP = "10.0.0.3"
GET = b"GET /orders HTTP/1.1\r\n\r\n"


@pytest.fixture
def moved():
    """web -> api for 30 s (10% failing from 20 s on), then web -> billing instead; history every 10 s."""
    identity = FakeIdentity(processes={1: WEB, 2: API, 3: BILLING},
                            addresses={WEB_IP: WEB, API_IP: API, BILLING_IP: BILLING})
    graph, clock = make_graph(identity, window_seconds=10, ghost_seconds=600,
                              history={"interval_seconds": 10, "retention_seconds": 600})
    start = clock.now
    for second in range(30):
        failing = 1 if second >= 20 else 0
        tick(graph, clock, flow(key(1, API_IP), {**requests("http", "200", 10 - failing),
                                                 **requests("http", "500", failing)}, opens=1, closes=1))
    for _ in range(30):
        tick(graph, clock, flow(key(1, BILLING_IP), requests("http", "200", 4)))
    return graph, clock, identity, start


def test_changes_lists_new_vanished_and_changed_edges(moved):
    graph, clock, identity, start = moved
    client = client_for(graph, identity)
    body = client.get(f"/api/changes?baseline={start + 15}").get_json()
    web_api = {"client": "web", "client_namespace": "shop", "server": "api", "server_namespace": "shop"}
    web_billing = {**web_api, "server": "billing"}
    assert (body["baseline"], body["now"]) == (start + 11, clock.now)  # the view taken at or before the baseline
    assert (body["new"], body["vanished"], body["changed"]) == ([web_billing], [web_api], [])
    # no history that old: the oldest moment there is
    assert client.get(f"/api/changes?baseline={start - 100}").get_json()["baseline"] == start + 1
    assert client.get("/api/changes?baseline=soon").status_code == 400


def test_changes_flags_a_moved_error_rate():
    from tracer.graph.changes import changes
    graph, clock = make_graph(window_seconds=10, history={"interval_seconds": 10, "retention_seconds": 600})
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 10)))
    before = graph.view()
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), {**requests("http", "200", 8), **requests("http", "500", 2)}))
    body = changes(before, graph.view())
    assert body["new"] == body["vanished"] == []
    assert [(c["server"], c["error_rate"], c["p95_seconds"]) for c in body["changed"]] == [("api", [0.0, 0.2], [0.001, 0.001])]


def test_replayed_service_and_edge_answer_that_moment(moved):
    graph, clock, identity, start = moved
    client = client_for(graph, identity)
    at = start + 25  # the view taken at start + 21: web -> api, with the last second failing
    api = client.get(f"/api/services/api?at={at}").get_json()
    (incoming,) = api["incoming"]
    assert (incoming["requests_per_second"], incoming["errors_per_second"]) == (10.0, 0.1)
    assert incoming["latency_ms"] == {"http": {"count": 100, "p50": 1.0, "p95": 1.0, "p99": 1.0}}
    edge = client.get(f"/api/edges?client=web&server=api&at={at}").get_json()
    assert [(r["status"], r["per_second"], r["total"]) for r in edge["requests"]] == [("200", 9.9, None), ("500", 0.1, None)]
    assert edge["latency_ms"]["http"]["count"] == 100 and edge["latency_ms_total"] is None
    assert edge["connections"] == {"active": 0, "opened_per_second": 1.0, "opened_total": None, "closed_total": None}
    # live, api is a ghost now; and at a moment before any history there is nothing to answer
    live = client.get("/api/services/api").get_json()
    assert live["incoming"][0]["requests_per_second"] == 0.0
    missing = client.get(f"/api/edges?client=web&server=billing&at={at}")
    assert missing.status_code == 404 and "at" in missing.get_json()["error"]
    assert client.get(f"/api/services/api?at={start - 100}").status_code == 404


def test_timeline_has_every_moment_of_history_and_container_events(moved):
    graph, clock, identity, start = moved
    identity.events = [ContainerEvent(start - 50, "start", "api", "shop", "shop-api-1"),
                       ContainerEvent(start + 31, "die", "api", "shop", "shop-api-1")]
    body = client_for(graph, identity).get("/api/timeline").get_json()
    assert body["interval_seconds"] == 10
    assert [(p["t"] - start, p["rps"], p["error_rate"]) for p in body["points"]] == [
        (1, 10.0, 0.0), (11, 10.0, 0.0), (21, 10.0, 0.01), (31, 9.4, 0.0957), (41, 4.0, 0.0), (51, 4.0, 0.0)]
    assert body["events"] == [{"t": start + 31, "kind": "die", "service": "api", "namespace": "shop",
                               "container": "shop-api-1"}]


def test_edge_lists_each_request_once_with_its_reporter():
    graph, clock = make_graph()
    client_end, server_end = key(1, API_IP, CLIENT), key(2, WEB_IP, SERVER)
    both = [RequestSample(k, "http", status, 1500, GET, b"HTTP/1.1 " + status.encode(), clock.now + 1)
            for k in (client_end, server_end) for status in ("200", "503")]
    tick(graph, clock, flow(client_end, requests("http", "200", 2)), flow(server_end, requests("http", "200", 2)),
         events=both)
    edge = client_for(graph, FakeIdentity()).get("/api/edges?client=web&server=api").get_json()
    assert [(s["reporter"], s["status"], s["failed"]) for s in edge["samples"]] == \
        [("server", "200", False), ("server", "503", True)]


def test_a_replayed_service_has_the_containers_of_that_moment():
    from tests.unit.graph_fakes import ServiceInfo, container, shop_identity
    identity = shop_identity()
    identity.service_list = [ServiceInfo("api", "shop", [container("c-api", "shop-api-1", image="api:1")])]
    graph, clock = make_graph(identity, history={"interval_seconds": 10, "retention_seconds": 600})
    then = clock.now + 1
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 1)))
    identity.service_list = [ServiceInfo("api", "shop", [container("c-api-2", "shop-api-2", image="api:2")])]
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 1)))
    client = client_for(graph, identity)
    images = lambda body: [(c["name"], c["image"]) for c in body["containers"]]  # noqa: E731
    assert images(client.get(f"/api/services/api?at={then}").get_json()) == [("shop-api-1", "api:1")]
    assert images(client.get("/api/services/api").get_json()) == [("shop-api-2", "api:2")]
