"""The JSON API, /metrics negotiation, security headers and authentication through Flask's test client."""
import base64

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.unit.graph_fakes import (API, API_IP, WEB, WEB_IP, Endpoint, FakeIdentity, ServiceInfo, client_for, container,
                                    flow, key, make_graph, requests, tick)
from tracer.capture.records import CLIENT, SERVER

OTHER_API = Endpoint("api", "billing", "c-api-2")


@pytest.fixture
def shop():
    """A graph with web -> api in shop (seen from both ends) and web -> api in billing, one drain old."""
    identity = FakeIdentity(
        processes={1: WEB, 2: API},
        addresses={WEB_IP: WEB, API_IP: API, "10.0.1.2": OTHER_API},
        services=[ServiceInfo("api", "shop", [container("c-api", "shop-api-1")]),
                  ServiceInfo("web", "shop", [container("c-web", "shop-web-1")])],
    )
    graph, clock = make_graph(identity, history={"interval_seconds": 10, "retention_seconds": 600})
    tick(graph, clock,
         flow(key(1, API_IP, CLIENT), {**requests("http", "200", 9), **requests("http", "500", 1)}, opens=1, closes=1),
         flow(key(2, WEB_IP, SERVER), {**requests("http", "200", 9), **requests("http", "500", 1)}, opens=1, closes=1),
         flow(key(1, "10.0.1.2", CLIENT), requests("http", "200", 2)))
    return graph, clock, identity


def test_graph_is_vizceral_json_with_history_metadata(shop):
    graph, clock, identity = shop
    response = client_for(graph, identity).get("/api/graph")
    assert response.status_code == 200
    data = response.get_json()
    assert [n["name"] for n in data["nodes"]] == ["INTERNET", "billing", "shop"]
    assert data["metadata"]["live"] is True
    assert data["metadata"]["history"]["oldest"] == clock.now
    region = data["nodes"][2]
    assert {(c["source"], c["target"]) for c in region["connections"]} == {("web", "api"), ("web", "billing/api")}


def test_graph_at_answers_from_history(shop):
    graph, clock, identity = shop
    then = clock.now
    for _ in range(30):
        tick(graph, clock)
    client = client_for(graph, identity)
    live = client.get("/api/graph").get_json()
    silent = [c for n in live["nodes"][1:] for c in n["connections"]]
    assert {c["metadata"]["intuition"]["state"] for c in silent} == {"ghost"}
    assert all(c["metrics"] == {"normal": 0.0, "warning": 0.0, "danger": 0.0} for c in silent)
    past = client.get(f"/api/graph?at={then + 5}").get_json()
    assert past["metadata"]["live"] is False
    shop_region = next(n for n in past["nodes"] if n["name"] == "shop")
    web_api = next(c for c in shop_region["connections"] if c["target"] == "api")
    assert web_api["metrics"] == {"normal": 9.0, "warning": 0.0, "danger": 1.0}
    missing = client.get(f"/api/graph?at={then - 100}")
    assert missing.status_code == 404 and "history covers" in missing.get_json()["error"]
    assert client.get("/api/graph?at=yesterday").get_json() == {"error": "at: expected unix seconds, got 'yesterday'"}
    assert client.get("/api/graph?at=nan").status_code == 400


def test_services_list_containers_and_edges(shop):
    graph, _, identity = shop
    client = client_for(graph, identity)
    services = {(s["name"], s["namespace"]): s for s in client.get("/api/services").get_json()["services"]}
    assert set(services) == {("api", "shop"), ("web", "shop"), ("api", "billing")}
    api = services["api", "shop"]
    assert api["containers"][0]["name"] == "shop-api-1" and api["containers"][0]["state"] == "running"
    (incoming,) = api["incoming"]
    assert (incoming["client"], incoming["reporter"], incoming["requests_per_second"]) == ("web", SERVER, 10.0)
    assert incoming["error_ratio"] == 0.1
    assert [n["title"] for n in api["notices"]] == [
        "10% of requests to api fail", "errors start here: 10% of requests fail, its dependencies are healthy"]


def test_one_service_needs_its_namespace_when_the_name_is_ambiguous(shop):
    graph, _, identity = shop
    client = client_for(graph, identity)
    ambiguous = client.get("/api/services/api")
    assert ambiguous.status_code == 400 and "?namespace=" in ambiguous.get_json()["error"]
    api = client.get("/api/services/api?namespace=shop").get_json()
    assert api["incoming"][0]["latency_ms"]["http"]["count"] == 10
    web = client.get("/api/services/web").get_json()
    assert {e["server_namespace"] for e in web["outgoing"]} == {"shop", "billing"}
    assert client.get("/api/services/nope").status_code == 404


def test_edge_details(shop):
    graph, _, identity = shop
    client = client_for(graph, identity)
    assert client.get("/api/edges?client=web").get_json() == {"error": "server: required"}
    assert client.get("/api/edges?client=web&server=api").status_code == 400
    details = client.get("/api/edges?client=web&server=api&server_namespace=shop").get_json()
    assert details["reporter"] == SERVER and details["reporters"] == [SERVER, CLIENT]
    assert {(r["status"], r["total"]) for r in details["requests"]} == {("200", 9), ("500", 1)}
    assert client.get("/api/edges?client=web&server=db").status_code == 404


def test_healthz_follows_the_agent(shop):
    graph, _, identity = shop
    assert client_for(graph, identity).get("/healthz").status_code == 200
    down = client_for(graph, identity, healthy=(False, "no drain for 12 s")).get("/healthz")
    assert down.status_code == 503 and down.get_json() == {"healthy": False, "detail": "no drain for 12 s"}


def test_metrics_negotiates_openmetrics(shop):
    graph, _, identity = shop
    client = client_for(graph, identity)
    plain = client.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in parse_text(plain.get_data(as_text=True))}
    assert "intuition_requests" in families
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_openmetrics(om.get_data(as_text=True))}
    assert families["intuition_build"].type == "info"


def test_security_headers_on_api_responses(shop):
    graph, _, identity = shop
    response = client_for(graph, identity).get("/api/services")
    assert "worker-src 'self' blob:" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_bearer_token(shop):
    graph, _, identity = shop
    client = client_for(graph, identity, auth={"mode": "bearer", "token": "t0ken"})
    assert client.get("/api/graph").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert client.get("/api/graph", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_basic_auth(shop):
    graph, _, identity = shop
    client = client_for(graph, identity, auth={"mode": "basic", "username": "ops", "password": "pw"})
    denied = client.get("/")
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    good = base64.b64encode(b"ops:pw").decode()
    assert client.get("/api/services", headers={"Authorization": f"Basic {good}"}).status_code == 200


@pytest.mark.parametrize("auth, good", [
    ({"mode": "bearer", "token": "t0ken"}, "Bearer t0ken"),
    ({"mode": "basic", "username": "ops", "password": "pw"}, f"Basic {base64.b64encode(b'ops:pw').decode()}"),
])
def test_credentials_are_compared_in_constant_time(shop, monkeypatch, auth, good):
    """Both a wrong and the right Authorization go through hmac.compare_digest, whose time does not depend on
    where the first differing byte is (an == would return at it, telling an attacker how much was right)."""
    compared = []

    def compare_digest(given, expected):
        compared.append((given, expected))
        return given == expected

    monkeypatch.setattr("dashboard.app.hmac.compare_digest", compare_digest)
    graph, _, identity = shop
    client = client_for(graph, identity, auth=auth)
    assert client.get("/api/graph", headers={"Authorization": good[:-1] + "x"}).status_code == 401
    assert client.get("/api/graph", headers={"Authorization": good}).status_code == 200
    assert compared == [((good[:-1] + "x").encode(), good.encode()), (good.encode(), good.encode())]


def test_security_headers_on_metrics_errors_and_401s(shop):
    graph, _, identity = shop
    open_client = client_for(graph, identity)
    guarded = client_for(graph, identity, auth={"mode": "bearer", "token": "t0ken"})
    for response in (open_client.get("/metrics"), open_client.get("/api/no-such-thing"),
                     open_client.get("/no-such-page"), guarded.get("/api/graph"), guarded.get("/metrics")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_api_paths_and_methods_answer_json(shop):
    graph, _, identity = shop
    client = client_for(graph, identity)
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["error"].startswith("404 Not Found")
    wrong_method = client.post("/api/graph")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"].startswith("405")


def test_no_endpoint_changes_state(shop):
    graph, _, identity = shop
    app = client_for(graph, identity).application
    for rule in app.url_map.iter_rules():
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
