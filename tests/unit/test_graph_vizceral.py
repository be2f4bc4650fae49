"""The graph as Vizceral JSON and as edge details."""
import pytest

from tests.unit.graph_fakes import (API, API_IP, WEB, WEB_IP, Endpoint, FakeIdentity, flow, key, make_graph, requests,
                                    tick)
from tracer.graph.details import edge_details
from tracer.graph.vizceral import render
from tracer.capture.records import CLIENT, SERVER, LATENCY_BUCKETS, RequestCounts

EVIL = "<img src=x onerror=alert(1)>"
DB = Endpoint("db", "infra", "c-db")
XSS = Endpoint(EVIL, "shop", "c-evil")


def shop():
    identity = FakeIdentity(
        processes={1: WEB, 2: API, 3: XSS},
        addresses={WEB_IP: WEB, API_IP: API, "10.0.0.3": DB, "10.0.0.4": XSS},
    )
    graph, clock = make_graph(identity)
    clock.now += 9
    tick(
        graph,
        clock,
        flow(key(1, "203.0.113.7", SERVER), requests("http", "200", 30)),  # INTERNET -> web
        flow(key(1, API_IP), {**requests("http", "200", 18), **requests("http", "500", 2)}),  # web -> api
        flow(key(2, "10.0.0.3", port=6379), requests("redis", "ok", 40)),  # api -> infra/db
        flow(key(1, "10.0.0.4"), requests("http", "503", 10)),  # web -> the evil name
        flow(key(2, "10.0.0.9", port=5432), connect_refused=3),  # api -> INTERNET, refused
    )
    return graph


def test_global_view_has_internet_and_one_region_per_namespace():
    data = render(shop().view(), {"live": True})
    assert data["renderer"] == "global" and data["entryNode"] == "INTERNET"
    assert [n["name"] for n in data["nodes"]] == ["INTERNET", "infra", "shop"]
    assert data["metadata"] == {"live": True}
    between = {(c["source"], c["target"]): c["metrics"] for c in data["connections"]}
    assert between == {
        ("INTERNET", "shop"): {"normal": 3.0, "warning": 0.0, "danger": 0.0},
        ("shop", "INTERNET"): {"normal": 0.0, "warning": 0.0, "danger": 0.3},
        ("shop", "infra"): {"normal": 4.0, "warning": 0.0, "danger": 0.0},
    }


def test_region_holds_its_services_their_neighbours_and_connections():
    data = render(shop().view(), {})
    region = next(n for n in data["nodes"] if n["name"] == "shop")
    assert region["renderer"] == "region" and region["class"] == "danger"
    names = {n["name"] for n in region["nodes"]}
    assert names == {"web", "api", EVIL, "INTERNET", "infra/db"}
    assert all(n["renderer"] == "focusedChild" for n in region["nodes"])
    connections = {(c["source"], c["target"]): c for c in region["connections"]}
    assert connections["web", "api"]["metrics"] == {"normal": 1.8, "warning": 0.0, "danger": 0.2}
    assert connections["web", "api"]["class"] == "danger"
    assert connections["api", "infra/db"]["metrics"]["normal"] == 4.0
    assert connections["api", "INTERNET"]["metrics"]["danger"] == 0.3
    assert connections["INTERNET", "web"]["metadata"]["reporter"] == SERVER
    assert region["maxVolume"] == 6.0  # 1.5 x the busiest connection (api -> infra/db)


def test_notices_are_escaped_for_vizceral_raw_html():
    data = render(shop().view(), {})
    region = next(n for n in data["nodes"] if n["name"] == "shop")
    evil = next(n for n in region["nodes"] if n["metadata"]["service"] == EVIL)
    titles = [n["title"] for n in evil["notices"]]
    assert titles[0] == "100% of requests to &lt;img src=x onerror=alert(1)&gt; fail"
    assert evil["class"] == "danger"
    assert "<img" not in str([n.get("notices") for n in region["nodes"]])


def test_without_services_the_global_view_holds_only_internet():
    identity = FakeIdentity(processes={2: API})
    graph, _ = make_graph(identity)
    identity.service_list = []
    data = render(graph.view(), {})
    assert [n["name"] for n in data["nodes"]] == ["INTERNET"]


def test_edge_details_prefer_the_server_and_list_samples_newest_first():
    graph, clock = make_graph()
    clock.now += 9
    latency = [0] * LATENCY_BUCKETS
    latency[10] = 8
    reqs = {("http", "200"): RequestCounts(8, 8 * 1500, latency), **requests("http", "404", 2, 3000)}
    tick(
        graph,
        clock,
        flow(key(1, API_IP, CLIENT), reqs, connect_timeout=1, opens=3, bytes_sent=10),
        flow(key(2, WEB_IP, SERVER), reqs, opens=2, closes=1, bytes_sent=500, bytes_received=20, retransmits=4),
    )
    details = edge_details(graph.edge_reports(("web", "shop", "api", "shop")))
    assert details["reporter"] == SERVER and details["reporters"] == [SERVER, CLIENT]
    assert details["requests"] == [
        {"protocol": "http", "status": "200", "class": "normal", "per_second": 0.8, "total": 8},
        {"protocol": "http", "status": "404", "class": "warning", "per_second": 0.2, "total": 2},
    ]
    latency_ms = details["latency_ms"]["http"]
    assert latency_ms["count"] == 10
    assert latency_ms["p50"] == pytest.approx(1.664)
    assert latency_ms["p99"] == 3.994  # 2048 + 2048 * 0.95 us, in ms to the microsecond
    assert details["bytes"] == {"to_server_per_second": 2.0, "to_client_per_second": 50.0,
                                "to_server_total": 20, "to_client_total": 500}
    assert details["connections"] == {"active": 1, "opened_per_second": 0.2, "opened_total": 2, "closed_total": 1}
    assert details["tcp_errors"]["connect_failures"] == {"refused": 0, "timeout": 1, "other": 0}
    assert details["tcp_errors"]["retransmits"] == 4


def intuition_of(items):
    return {item.get("name") or (item["source"], item["target"]): item["metadata"]["intuition"] for item in items}


def test_global_view_carries_each_namespaces_true_rate_and_error_rate():
    data = render(shop().view(), {})
    nodes = intuition_of(data["nodes"])
    # the centre: every request on the host (3 + 2 + 4 + 1 per second), failing: 0.2 + 1 requests, 0.3 connects
    assert nodes["INTERNET"]["rps"] == 10.0 and nodes["INTERNET"]["error_rate"] == 0.15
    # shop serves INTERNET -> web, web -> api and web -> the evil name: its internal traffic included
    assert (nodes["shop"]["rps"], nodes["shop"]["error_rate"]) == (6.0, 0.2)
    assert (nodes["infra"]["rps"], nodes["infra"]["error_rate"]) == (4.0, 0.0)
    assert nodes["infra"]["state"] == "live" and nodes["infra"]["latency_warning"] is False
    assert nodes["infra"]["p99_seconds"] == 0.001  # every request took 1 ms
    between = intuition_of(data["connections"])
    assert between["INTERNET", "shop"]["rps"] == 3.0 and between["shop", "infra"]["rps"] == 4.0
    assert (between["shop", "INTERNET"]["rps"], between["shop", "INTERNET"]["error_rate"]) == (0.0, 1.0)


def test_every_region_node_and_connection_carries_its_numbers():
    data = render(shop().view(), {})
    region = next(n for n in data["nodes"] if n["name"] == "shop")
    assert region["metadata"]["intuition"]["rps"] == 6.0
    nodes = intuition_of(region["nodes"])
    assert nodes["api"] == {"rps": 2.0, "error_rate": 0.1, "p99_seconds": 0.001, "state": "live",
                            "last_seen": 1_000_010.0, "last_rps": None, "latency_warning": False,
                            "incomplete": False, "incomplete_reason": None}
    assert nodes["web"]["rps"] == 3.0  # what it serves: INTERNET's requests
    connections = intuition_of(region["connections"])
    assert set(connections) == {(c["source"], c["target"]) for c in region["connections"]}
    assert connections["web", "api"]["error_rate"] == 0.1
    assert all(set(i) == set(nodes["api"]) for i in list(nodes.values()) + list(connections.values()))


def test_edges_whose_samples_or_events_were_lost_in_the_window_are_incomplete():
    graph, clock = make_graph()
    tick(graph, clock,
         flow(key(1, API_IP), requests("http", "500", 50), events_lost=7),   # web -> api: 7 samples dropped
         flow(key(2, "10.0.0.9", port=5432), requests("postgres", "ok", 5)))  # api -> INTERNET: all there
    region = next(n for n in render(graph.view(), {})["nodes"] if n["name"] == "shop")
    connections = intuition_of(region["connections"])
    assert connections["web", "api"]["incomplete"] is True
    assert connections["web", "api"]["incomplete_reason"].startswith("7 request samples or TCP events lost")
    assert (connections["api", "INTERNET"]["incomplete"], connections["api", "INTERNET"]["incomplete_reason"]) == \
        (False, None)
    details = edge_details(graph.edge_reports(("web", "shop", "api", "shop")))
    assert details["incomplete"] is True and details["incomplete_reason"].startswith("7 request samples")
    assert details["requests"][0]["total"] == 50   # the counts themselves are whole
    for _ in range(10):   # the window (10 s) moves past the loss
        tick(graph, clock, flow(key(1, API_IP), requests("http", "500", 1)))
    region = next(n for n in render(graph.view(), {})["nodes"] if n["name"] == "shop")
    assert intuition_of(region["connections"])["web", "api"]["incomplete"] is False
    assert edge_details(graph.edge_reports(("web", "shop", "api", "shop")))["incomplete"] is False
