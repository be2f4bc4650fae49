"""Where errors start, on crafted graphs: origins, victims, blast radius, their notices, JSON and metric."""
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.graph_fakes import FakeIdentity, client_for, flow, key, make_graph, requests, tick
from tracer.graph.origin import Caller, ErrorRole, error_roles
from tracer.graph.view import EdgeView
from tracer.identity import Endpoint
from tracer.capture.records import CLIENT

NS = "shop"


def edge(client: str, server: str, ok: float = 10.0, fail: float = 0.0, refused_4xx: float = 0.0,
         connect_failures: float = 0.0, resets: float = 0.0, namespace: str = NS, slow: bool = False) -> EdgeView:
    """An edge's rates; slow: it carries a latency warning."""
    return EdgeView(client, namespace, server, namespace, "server", normal=ok, warning=refused_4xx, danger=fail,
                    bytes_to_server=0.0, bytes_to_client=0.0, opened=0.0, active=0,
                    connect_failures=connect_failures, resets=resets, retransmits=0.0, latency_warning=slow)


def roles(*edges: EdgeView) -> dict:
    return {service: role for (service, _), role in error_roles(tuple(edges)).items()}


def test_chain_failing_at_its_end_starts_at_the_end():
    found = roles(edge("a", "b", ok=6, fail=4), edge("b", "c", ok=6, fail=4))
    assert found["c"] == ErrorRole(True, 0.4, blast_radius=(Caller("a", NS, 0.4), Caller("b", NS, 0.4)))
    assert found["b"] == ErrorRole(False, 0.4, origins=(("c", NS),))
    assert found["a"] == ErrorRole(False, 0.0, origins=(("c", NS),))


def test_failing_middle_with_a_healthy_dependency_is_the_origin():
    found = roles(edge("a", "b", ok=5, fail=5), edge("b", "c", ok=10))
    assert found["b"].origin and found["b"].error_share == 0.5
    assert found["b"].blast_radius == (Caller("a", NS, 0.5),)
    assert found["a"].origins == (("b", NS),)
    assert "c" not in found


def test_two_independent_origins():
    found = roles(edge("a", "b", fail=10), edge("x", "y", fail=10), edge("y", "z"))
    assert {s for s, r in found.items() if r.origin} == {"b", "y"}
    assert found["a"].origins == (("b", NS),) and found["x"].origins == (("y", NS),)
    assert found["b"].blast_radius == (Caller("a", NS, 0.5),)


def test_a_victim_of_two_origins_points_to_both():
    found = roles(edge("a", "b", fail=10), edge("a", "c", fail=10))
    assert found["a"].origins == (("b", NS), ("c", NS))


def test_client_side_4xx_alone_makes_no_origin():
    assert roles(edge("a", "b", ok=1, refused_4xx=9), edge("b", "c")) == {}


def test_refused_connects_to_a_stopped_service_make_it_the_origin():
    found = roles(edge("a", "b", ok=0, fail=5), edge("b", "c", ok=0, connect_failures=5))
    assert found["c"].origin and found["c"].error_share == 1.0
    assert found["b"].origins == (("c", NS),) and found["a"].origins == (("c", NS),)


def test_resets_count_against_the_server():
    assert roles(edge("a", "b", ok=10, resets=2))["b"].origin


def test_a_few_failures_below_the_error_share_are_no_origin():
    assert roles(edge("a", "b", ok=99, fail=1)) == {}


def test_a_failing_cycle_has_victims_but_no_origin():
    found = roles(edge("a", "b", fail=10), edge("b", "a", fail=10))
    assert not any(r.origin for r in found.values())
    assert found["a"].origins == () and found["b"].origins == ()


def test_latency_starts_where_a_service_slowed_but_its_calls_did_not():
    found = roles(edge("a", "b", slow=True), edge("b", "c", slow=True), edge("c", "d"))
    assert set(found) == {"c"}
    assert found["c"].latency_origin and not found["c"].origin


def test_no_latency_warning_no_latency_origin():
    assert roles(edge("a", "b"), edge("b", "c")) == {}


# --- through the graph, the API and /metrics ---------------------------------------------------------

A, B, C = (Endpoint(name, NS, f"c-{name}") for name in "abc")
B_IP, C_IP = "10.0.0.2", "10.0.0.3"


def chain_graph():
    """a -> b -> c, seen at the clients, where c answers 4 of 10 requests with 500."""
    identity = FakeIdentity(processes={1: A, 2: B}, addresses={B_IP: B, C_IP: C})
    graph, clock = make_graph(identity)
    tick(graph, clock,
         flow(key(1, B_IP, CLIENT), {**requests("http", "200", 6), **requests("http", "502", 4)}),
         flow(key(2, C_IP, CLIENT), {**requests("http", "200", 6), **requests("http", "500", 4)}))
    return graph, identity


def test_origin_and_victims_in_notices_api_and_metric():
    graph, identity = chain_graph()
    nodes = {n.service: n for n in graph.view().nodes}
    assert nodes["c"].notices[-1].title == "errors start here: 40% of requests fail, its dependencies are healthy"
    assert nodes["c"].klass == "danger"
    assert nodes["b"].notices[-1].title == "errors come from c"
    assert nodes["a"].notices[-1].title == "errors come from c"

    client = client_for(graph, identity)
    region = next(n for n in client.get("/api/graph").get_json()["nodes"] if n["name"] == NS)
    meta = {n["name"]: n["metadata"]["errors"] for n in region["nodes"]}
    assert meta["c"] == {"origin": True, "error_share": 0.4, "origins": [],
                         "blast_radius": [{"service": "a", "namespace": NS, "error_share": 0.4},
                                          {"service": "b", "namespace": NS, "error_share": 0.4}],
                         "latency_origin": False}
    assert meta["b"]["origins"] == [{"service": "c", "namespace": NS}] and not meta["b"]["origin"]
    service = client.get("/api/services/b").get_json()
    assert service["errors"]["origins"] == [{"service": "c", "namespace": NS}]

    text = client.get("/metrics").get_data(as_text=True)
    origin = {s.labels["service"]: s.value for f in text_string_to_metric_families(text)
              if f.name == "intuition_service_error_origin" for s in f.samples}
    assert origin == {"a": 0, "b": 0, "c": 1}


def test_latency_origin_from_the_graphs_latency_warnings():
    identity = FakeIdentity(processes={1: A, 2: B}, addresses={B_IP: B, C_IP: C})
    graph, clock = make_graph(identity, window_seconds=10)
    for slow in [False] * 60 + [True] * 10:  # c takes 200 ms instead of 1 ms over the last 10 s
        tick(graph, clock,
             flow(key(1, B_IP, CLIENT), requests("http", "200", 5, latency_us=202_000 if slow else 2_000)),
             flow(key(2, C_IP, CLIENT), requests("http", "200", 5, latency_us=200_000 if slow else 1_000)))
    nodes = {n.service: n for n in graph.view().nodes}
    assert nodes["c"].notices[-1].title == "slowness starts here: it slowed down, its dependencies did not"
    assert nodes["c"].errors.latency_origin
    assert not nodes["b"].errors.latency_origin and not nodes["a"].errors.latency_origin
