"""Ghosts and latency warnings over the history ring, with an injected clock."""
from tests.unit.graph_fakes import API_IP, flow, key, make_graph, requests, tick
from tracer.graph import trends
from tracer.graph.view import GraphView, NodeView


def node(graph, service):
    return next(n for n in graph.view().nodes if n.service == service)


def test_a_slow_edge_and_service_are_warned_against_their_own_range():
    graph, clock = make_graph(window_seconds=2, history={"interval_seconds": 1, "retention_seconds": 600})
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 5, latency_us=2000)))
    assert not graph.view().edges[0].latency_warning
    for _ in range(2):  # the window now holds only slow requests: 300 ms, 150 times the usual 2 ms
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 5, latency_us=300_000)))
    edge, api = graph.view().edges[0], node(graph, "api")
    assert edge.latency_warning and api.latency_warning and api.klass == "warning"
    assert [n.title for n in api.notices if n.title.startswith("p95 latency")] == \
        ["p95 latency 300 ms, 150x its median of 2 ms over the last 10 intervals"]
    # warned views stay out of the range: a slowdown stays flagged while it lasts...
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 5, latency_us=300_000)))
    assert graph.view().edges[0].latency_warning
    # ...until the last BASELINE_VIEWS views were all warned: then it is the new normal
    for _ in range(trends.BASELINE_VIEWS):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 5, latency_us=300_000)))
    assert not graph.view().edges[0].latency_warning


def test_latency_needs_a_range_and_a_real_rise():
    assert trends.latency_notice(1.0, [0.001, 0.001]) is None  # two points are no range yet
    assert trends.latency_notice(0.04, [0.001] * 5) is None  # 40 times slower, but only 39 ms more
    assert trends.latency_notice(0.3, [0.1] * 5) is None  # three times: within what a service does
    assert trends.latency_notice(0.4, [0.1] * 5).title == "p95 latency 400 ms, 4x its median of 100 ms over the last 5 intervals"
    assert trends.latency_notice(None, [0.1] * 5) is None


def test_a_silent_service_is_a_ghost_with_its_last_rate_until_ghost_seconds():
    graph, clock = make_graph(window_seconds=10, ghost_seconds=60)
    for _ in range(10):
        tick(graph, clock, flow(key(1, API_IP), requests("http", "200", 22)))
    last = clock.now
    for _ in range(30):
        tick(graph, clock)
    api = node(graph, "api")
    assert (api.summary.state, api.summary.last_rps, api.summary.last_seen) == ("ghost", 22.0, last)
    assert [n.title for n in api.notices] == ["22 req/s until 13:46:50 UTC, silent since"]
    assert api.klass == "warning"
    for _ in range(31):
        tick(graph, clock)
    assert graph.view().edges == () and graph.view().nodes == ()  # api is known only by its traffic


def test_history_views_are_marked_once():
    view = GraphView(0.0, 10.0, (NodeView("api", "shop"),), ())
    assert trends.mark(view, []) == view
