"""The service graph with an injected clock: rates, reporter preference, caps, history, monotonic totals."""
import tracemalloc

import pytest

from tests.unit.graph_fakes import (API, API_IP, INTERNET, WEB, WEB_IP, Endpoint, FakeIdentity, ServiceInfo, container,
                                    flow, key, make_graph, requests, shop_identity, tick)
from tracer.graph import OTHER, EdgeKey
from tracer.graph.graph import HOLD_DRAINS, NAMING_DRAINS
from tracer.identity import HOST
from tracer.capture.records import CLIENT, SERVER, ConnectFailure, FlowKey, RequestSample

def only_edge(graph):
    (edge,) = graph.view().edges
    return edge


def test_rates_average_the_sliding_window():
    graph, clock = make_graph(window_seconds=10, ghost_seconds=30)
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 5), opens=2, closes=2, bytes_sent=1000))
    edge = only_edge(graph)
    assert (edge.client, edge.server, edge.reporter) == ("web", "api", CLIENT)
    assert edge.normal == 5.0 and edge.warning == 0 and edge.danger == 0
    assert edge.bytes_to_server == 1000.0 and edge.opened == 2.0 and edge.active == 0
    # five quiet seconds later half the window is empty
    for _ in range(5):
        tick(graph, clock)
    assert only_edge(graph).normal == 2.5
    # once the window holds nothing the edge is a ghost with the rate it had until its last traffic
    for _ in range(5):
        tick(graph, clock)
    ghost = only_edge(graph)
    assert (ghost.state, ghost.normal, ghost.last_rps, ghost.last_seen) == ("ghost", 0.0, 5.0, clock.now - 10)
    assert [n.title for n in ghost.notices] == ["5 req/s until 13:46:50 UTC, silent since"]
    # and leaves the map ghost_seconds after that traffic
    for _ in range(20):
        tick(graph, clock)
    assert only_edge(graph).state == "ghost"
    tick(graph, clock)
    assert graph.view().edges == ()


def test_young_agent_averages_over_the_time_it_has_run():
    graph, clock = make_graph(window_seconds=10)
    tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 3)))
    tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 3)))
    assert only_edge(graph).normal == 3.0


def test_classes_follow_status():
    graph, clock = make_graph()
    reqs = {**requests("http", "200", 10), **requests("http", "302", 2), **requests("http", "404", 3),
            **requests("http", "503", 5)}
    clock.now += 9  # a full window since the graph started
    tick(graph, clock, flow(key(1, API_IP), reqs))
    edge = only_edge(graph)
    assert (edge.normal, edge.warning, edge.danger) == (1.2, 0.3, 0.5)
    assert edge.klass == "danger"
    assert [n.title for n in edge.notices] == ["25% of requests fail", "15% of requests are refused (4xx)"]


def test_http2_classes_follow_status_and_grpc_errors_are_danger():
    graph, clock = make_graph()
    reqs = {**requests("http2", "200", 6), **requests("http2", "404", 2), **requests("http2", "unknown", 1),
            **requests("grpc", "OK", 4), **requests("grpc", "NOT_FOUND", 3)}
    tick(graph, clock, flow(key(1, API_IP, port=50051), reqs))
    edge = only_edge(graph)
    assert (edge.normal, edge.warning, edge.danger) == (10.0, 2.0, 4.0)


def test_redis_and_postgres_errors_are_danger():
    graph, clock = make_graph()
    reqs = {**requests("redis", "ok", 7), **requests("redis", "WRONGTYPE", 2), **requests("postgres", "42601", 1)}
    tick(graph, clock, flow(key(1, API_IP, port=6379), reqs))
    edge = only_edge(graph)
    assert (edge.normal, edge.warning, edge.danger) == (7.0, 0.0, 3.0)


def test_server_view_is_preferred_and_connect_failures_come_from_the_client():
    graph, clock = make_graph()
    tick(
        graph,
        clock,
        flow(key(1, API_IP, CLIENT), requests("http", "200", 4), bytes_sent=100, bytes_received=900,
             connect_refused=2),
        flow(key(2, WEB_IP, SERVER), requests("http", "200", 5), bytes_sent=950, bytes_received=110),
    )
    edge = only_edge(graph)
    assert edge.reporter == SERVER
    assert edge.normal == 5.0
    assert (edge.bytes_to_server, edge.bytes_to_client) == (110.0, 950.0)
    assert edge.connect_failures == 2.0
    assert "2 failed connects in the last 1 s" in [n.title for n in edge.notices]
    # the metrics keep both reporters apart
    reporters = {k.reporter: totals.requests[("http", "200")].count for k, totals, _ in graph.edges()}
    assert reporters == {CLIENT: 4, SERVER: 5}


def test_node_notices_and_class_from_incoming_edges_and_containers():
    services = [ServiceInfo("api", "shop", [container("c1", "shop-api-1", state="restarting")]),
                ServiceInfo("idle", "shop", [container("c2", "shop-idle-1")])]
    identity = FakeIdentity(processes={1: WEB, 2: API}, addresses={API_IP: API}, services=services)
    graph, clock = make_graph(identity)
    tick(graph, clock, flow(key(1, API_IP), {**requests("http", "200", 97), **requests("http", "500", 3)}))
    nodes = {n.service: n for n in graph.view().nodes}
    assert set(nodes) == {"api", "idle", "web"}
    assert [(n.title, n.severity) for n in nodes["api"].notices] == [
        ("3% of requests to api fail", 1),
        ("container shop-api-1 is restarting", 2),
    ]
    assert nodes["api"].klass == "danger"
    assert nodes["web"].notices == () and nodes["idle"].klass == "normal"


def test_open_connections_keep_an_idle_edge_on_the_map():
    graph, clock = make_graph(window_seconds=10, ghost_seconds=15)
    tick(graph, clock, flow(key(1, API_IP), opens=3, closes=1))
    for _ in range(15):
        tick(graph, clock)
    edge = only_edge(graph)
    assert (edge.state, edge.active) == ("ghost", 2)
    tick(graph, clock)  # no longer news: an idle pool
    edge = only_edge(graph)
    assert edge.active == 2 and edge.opened == 0 and edge.state == "live"


def test_totals_stay_monotonic_when_the_container_is_replaced():
    identity = shop_identity()
    graph, clock = make_graph(identity)
    tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 10), opens=1, closes=1))
    # the api container restarts: new id, new address, same service
    identity.addresses = {"10.0.0.3": Endpoint("api", "shop", "c-api-2")}
    tick(graph, clock, flow(key(1, "10.0.0.3"), requests("http", "200", 5), opens=1, closes=1))
    ((edge_key, totals, _),) = graph.edges()
    assert edge_key == EdgeKey("web", "shop", "api", "shop", CLIENT)
    assert totals.requests[("http", "200")].count == 15 and totals.tcp.opens == 2


def test_statuses_over_the_cap_fold_into_other_but_keep_their_class():
    graph, clock = make_graph(caps={"max_statuses_per_edge": 2})
    reqs = {**requests("http", "200", 1), **requests("http", "404", 1)}
    tick(graph, clock, flow(key(1, API_IP), reqs))
    tick(graph, clock, flow(key(1, API_IP), {**requests("http", "500", 2), **requests("http", "503", 3)}))
    ((_, totals, _),) = graph.edges()
    assert {k: v.count for k, v in totals.requests.items()} == {
        ("http", "200"): 1, ("http", "404"): 1, ("http", OTHER): 5}
    assert only_edge(graph).danger == 2.5


def test_edges_over_the_cap_fold_into_other_and_are_counted():
    identity = FakeIdentity(addresses={f"10.1.0.{i}": Endpoint(f"svc{i}", "ns", None) for i in range(5)})
    graph, clock = make_graph(identity, caps={"max_edges": 3})
    tick(graph, clock, *[flow(key(9, f"10.1.0.{i}"), requests("http", "200", 1)) for i in range(5)])
    keys = {k for k, _, _ in graph.edges()}
    assert len(keys) == 4
    assert EdgeKey(OTHER, OTHER, OTHER, OTHER, CLIENT) in keys
    other = next(t for k, t, _ in graph.edges() if k.server == OTHER)
    assert other.requests[("http", "200")].count == 2
    assert graph.edges_dropped == 2


def test_idle_edges_make_room_once_history_no_longer_reaches_them():
    identity = FakeIdentity(addresses={f"10.1.0.{i}": Endpoint(f"svc{i}", "ns", None) for i in range(3)})
    graph, clock = make_graph(identity, caps={"max_edges": 2}, history={"interval_seconds": 10,
                                                                          "retention_seconds": 60})
    tick(graph, clock, flow(key(9, "10.1.0.0")), flow(key(9, "10.1.0.1")))
    clock.now += 61
    tick(graph, clock, flow(key(9, "10.1.0.2")))
    assert {k.server for k, _, _ in graph.edges()} == {"svc2"}
    assert graph.edges_dropped == 0


def test_memory_stays_flat_while_ten_thousand_client_addresses_come_and_go():
    graph, clock = make_graph(caps={"max_edges": 50})
    server_flow = lambda addr: flow(key(2, addr, SERVER), requests("http", "200", 1), opens=1, closes=1)

    def churn(start):
        for batch in range(start, start + 5000, 100):
            tick(graph, clock, *[server_flow(f"198.51.{n // 256 % 256}.{n % 256}") for n in range(batch, batch + 100)])

    churn(0)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    churn(5000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 200_000
    ((edge_key, totals, _),) = graph.edges()
    assert (edge_key.client, edge_key.server) == (INTERNET.service, "api")
    assert totals.requests[("http", "200")].count == 10_000


def test_history_answers_with_the_view_of_that_time():
    graph, clock = make_graph(window_seconds=10, history={"interval_seconds": 10, "retention_seconds": 30})
    first = clock.now + 1
    tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 4)))
    for _ in range(60):
        tick(graph, clock)
    oldest, newest = graph.history_span()
    assert newest - oldest == 20  # three views of 30 s retention
    assert graph.view_at(oldest - 1) is None
    assert graph.view_at(newest + 100).timestamp == newest
    graph2, clock2 = make_graph(window_seconds=10, history={"interval_seconds": 10, "retention_seconds": 3600})
    tick(graph2, clock2, flow(key(1, API_IP), requests("http", "200", 4)))
    for _ in range(30):
        tick(graph2, clock2)
    assert graph2.view_at(first).edges[0].normal == 4.0
    assert [(e.state, e.last_rps) for e in graph2.view_at(first + 25).edges] == [("ghost", 0.4)]
    assert [e.state for e in graph2.view().edges] == ["ghost"]


def test_samples_and_events_are_kept_per_edge_and_bounded():
    graph, clock = make_graph(caps={"samples_per_edge": 3})
    k = key(1, API_IP)
    samples = [RequestSample(k, "http", "500", 1500, b"GET /x?token=abc HTTP/1.1\r\n", b"HTTP/1.1 500", clock.now + i)
               for i in range(5)]
    tick(graph, clock, flow(k, requests("http", "500", 5)), events=samples + [ConnectFailure(k, "refused", 7.0)])
    (report,) = graph.edge_reports(("web", "shop", "api", "shop"))
    assert [s["time"] for s in report.samples] == [clock.now - 1 + i for i in (2, 3, 4)]
    first = report.samples[0]
    assert (first["operation"], first["target"], first["status"], first["latency_ms"]) == ("GET", "/x", "500", 1.5)
    assert first["reporter"] == CLIENT
    assert not [s for s in report.samples if "abc" in repr(s)]
    assert report.events == [{"time": 7.0, "reporter": CLIENT, "kind": "connect_failure", "reason": "refused"}]


def test_flows_that_carry_no_edge_are_left_out():
    graph, clock = make_graph()
    tick(graph, clock, flow(key(7, "203.0.113.1", SERVER, comm="docker-proxy"), requests("http", "200", 1)))
    assert graph.edges() == []


def test_lost_events_accumulate():
    graph, clock = make_graph()
    tick(graph, clock, lost={"ringbuf": 3})
    tick(graph, clock, lost={"ringbuf": 2, "flows_map_full": 1})
    assert graph.events_lost == {"ringbuf": 5, "flows_map_full": 1}


@pytest.mark.parametrize("field", ["max_edges", "samples_per_edge"])
def test_caps_must_be_positive(field):
    with pytest.raises(ValueError, match=f"caps.{field}"):
        make_graph(caps={field: 0})


class PairingIdentity(FakeIdentity):
    """Like the real pairing: a peer on this host is `host` until a server flow on its port has been seen."""

    def __init__(self):
        super().__init__()
        self.servers: dict[int, Endpoint] = {}

    def name_flows(self, keys):
        for k in keys:
            if k.role == SERVER:
                self.servers[k.server_port] = Endpoint(f"host:{k.comm}", "host", None)
        return [(Endpoint(f"host:{k.comm}", "host", None),
                 self.servers.get(k.server_port, HOST) if k.role == CLIENT else Endpoint("host:curl", "host", None))
                for k in keys]


def test_a_flow_waits_for_the_local_socket_that_names_its_peer():
    graph, clock = make_graph(PairingIdentity())
    client = key(1, "127.0.0.1", CLIENT, port=8080, comm="curl")
    tick(graph, clock, flow(client, opens=1))   # the server's first counts come a drain later
    assert graph.edges() == []
    tick(graph, clock, flow(key(2, "127.0.0.1", SERVER, port=8080, comm="nginx"), opens=1),
         flow(client, requests("http", "200", 1), closes=1))
    opens = {k: totals.tcp.opens for k, totals, _ in graph.edges()}
    assert opens == {EdgeKey("host:curl", "host", "host:nginx", "host", CLIENT): 1,
                     EdgeKey("host:curl", "host", "host:nginx", "host", SERVER): 1}


class LateDockerIdentity(FakeIdentity):
    """A container whose record identity gets only after `late` drains: named by its id until then."""

    def __init__(self, late: int):
        super().__init__(addresses={API_IP: API})
        self.late = late

    def name_flows(self, keys):
        self.late -= 1
        local = Endpoint("c-short", "default", "c-short", provisional=True) if self.late >= 0 else WEB
        return [(local, API) for _ in keys]


@pytest.mark.parametrize("late, named", [(NAMING_DRAINS, "web"), (NAMING_DRAINS + 1, "c-short")])
def test_a_container_named_by_its_id_waits_a_few_drains_for_its_name(late, named):
    graph, clock = make_graph(LateDockerIdentity(late))
    tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 3), opens=1))
    for _ in range(NAMING_DRAINS):
        tick(graph, clock)
    ((edge_key, totals, _),) = graph.edges()
    assert edge_key == EdgeKey(named, "default" if named == "c-short" else "shop", "api", "shop", CLIENT)
    assert totals.tcp.opens == 1


def test_a_peer_on_this_host_that_never_shows_is_named_host_after_the_wait():
    graph, clock = make_graph(PairingIdentity())
    tick(graph, clock, flow(key(1, "127.0.0.1", CLIENT, port=9, comm="curl"), connect_refused=1))
    for _ in range(HOLD_DRAINS):
        tick(graph, clock)
    ((edge_key, totals, _),) = graph.edges()
    assert edge_key == EdgeKey("host:curl", "host", "host", "host", CLIENT)
    assert totals.tcp.connect_refused == 1


class UndescribedClientIdentity(FakeIdentity):
    """Like the real pairing for a client container Docker has not described yet: its address names nothing,
    so a server flow's peer is INTERNET until the client's own socket has been seen (tracer/identity/peers.py)."""

    def __init__(self):
        super().__init__()
        self.clients: set[str] = set()

    def name_flows(self, keys):
        self.clients |= {k.local_addr for k in keys if k.role == CLIENT}
        return [(WEB, API) if k.role == CLIENT else (API, WEB if k.peer_addr in self.clients else INTERNET)
                for k in keys]


def server_flow_from(peer: str, peer_tgid: int) -> FlowKey:
    return FlowKey(cgroup_id=0, tgid=2, comm="api", role=SERVER, local_addr=API_IP, peer_addr=peer,
                   server_port=80, peer_tgid=peer_tgid)


def test_a_server_flow_from_a_local_client_waits_a_drain_for_the_clients_socket():
    """The collector reads the flows map and then the requests map while the probes count: a new connection's
    server requests can be drained one drain before its client's flow."""
    graph, clock = make_graph(UndescribedClientIdentity())
    client = FlowKey(cgroup_id=0, tgid=1, comm="web", role=CLIENT, local_addr=WEB_IP, peer_addr=API_IP, server_port=80)
    tick(graph, clock, flow(server_flow_from(WEB_IP, peer_tgid=1), requests("http", "200", 1), opens=1))
    assert graph.edges() == []
    tick(graph, clock, flow(client, opens=1))
    opens = {k: totals.tcp.opens for k, totals, _ in graph.edges()}
    assert opens == {EdgeKey("web", "shop", "api", "shop", SERVER): 1, EdgeKey("web", "shop", "api", "shop", CLIENT): 1}


@pytest.mark.parametrize("peer_tgid, drains", [(0, 0), (7, HOLD_DRAINS)])
def test_an_unpaired_peer_is_internet_at_once_unless_the_kernel_saw_a_local_client(peer_tgid, drains):
    graph, clock = make_graph(UndescribedClientIdentity())
    tick(graph, clock, flow(server_flow_from("198.51.100.7", peer_tgid), requests("http", "200", 1), opens=1))
    for _ in range(drains):
        assert graph.edges() == []
        tick(graph, clock)
    ((edge_key, totals, _),) = graph.edges()
    assert edge_key == EdgeKey("INTERNET", "", "api", "shop", SERVER) and totals.tcp.opens == 1
