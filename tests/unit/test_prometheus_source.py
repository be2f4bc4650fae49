"""The translation of Prometheus's query answers into the graph's records: pure functions fed answers in the
exact shape of Prometheus's /api/v1/query."""
from __future__ import annotations

import pytest

from dashboard.prometheus_source import (Prometheus, edge_views, preferring_server, selector, services_from,
                                         timeline_points, traffic_by_edge, traffic_queries, value)
from dashboard.sources import Unavailable
from tracer.graph import EdgeKey
from tracer.graph.details import edge_details
from tracer.graph.edge import EdgeReport
from tracer.graph.view import assemble_view
from tracer.graph.vizceral import render

AT = 1795600000.0
WEB_TO_API = {"client": "web", "client_namespace": "shop", "server": "api", "server_namespace": "shop"}
SERVER_KEY = EdgeKey("web", "shop", "api", "shop", "server")
CLIENT_KEY = EdgeKey("web", "shop", "api", "shop", "client")


def sample(value: str, **labels) -> dict:
    return {"metric": labels, "value": [AT, value]}


def server(value: str, **labels) -> dict:
    return sample(value, **WEB_TO_API, reporter="server", **labels)


def empty_results(**given) -> dict[str, list[dict]]:
    results = {name: [] for name in traffic_queries("", None, latency=True)}
    results.update(given)
    return results


# 8 requests of 1 ms (in the bucket [1024, 2048) us, le="0.002048") and 2 of 5 ms ([4096, 8192) us)
BUCKETS = [server(n, protocol="http", le=le) for le, n in
           (("0.001024", "0"), ("0.002048", "8"), ("0.004096", "8"), ("0.008192", "10"), ("+Inf", "10"))]


def test_requests_become_counts_and_classes():
    traffic = traffic_by_edge(empty_results(requests=[
        server("6", protocol="http", status="200"),
        server("2", protocol="http", status="404"),
        server("2", protocol="http", status="503"),
    ]))
    assert set(traffic) == {SERVER_KEY}
    edge = traffic[SERVER_KEY]
    assert {k: c.count for k, c in edge.requests.items()} == {("http", "200"): 6, ("http", "404"): 2,
                                                             ("http", "503"): 2}
    assert edge.classes == {"normal": 6, "warning": 2, "danger": 2}


def test_tcp_counters_and_connect_failures_by_reason():
    client = dict(WEB_TO_API, reporter="client")
    traffic = traffic_by_edge(empty_results(
        opens=[sample("3", **client)], closes=[sample("2", **client)], bytes_sent=[sample("1500", **client)],
        bytes_received=[sample("900", **client)], retransmits=[sample("4", **client)],
        resets_sent=[sample("1", **client)],
        connect_failures=[sample("5", **client, reason="refused"), sample("1", **client, reason="timeout"),
                          sample("2", **client, reason="a-new-reason")],
    ))
    tcp = traffic[CLIENT_KEY].tcp
    assert (tcp.opens, tcp.closes, tcp.bytes_sent, tcp.bytes_received, tcp.retransmits, tcp.resets_sent) == \
        (3, 2, 1500, 900, 4, 1)
    assert (tcp.connect_refused, tcp.connect_timeout, tcp.connect_other) == (5, 1, 2)


def test_internet_has_no_namespace_label():
    # Prometheus leaves out a label whose value is empty
    traffic = traffic_by_edge(empty_results(opens=[sample("1", client="INTERNET", server="api",
                                                          server_namespace="shop", reporter="server")]))
    assert list(traffic) == [EdgeKey("INTERNET", "", "api", "shop", "server")]


def test_latency_histogram_gives_the_in_process_percentiles():
    totals = traffic_by_edge(empty_results(
        requests=[server("8", protocol="http", status="200"), server("2", protocol="http", status="500")],
        latency_buckets=BUCKETS, latency_sum=[server("0.018", protocol="http")],
    ))[SERVER_KEY]
    # the whole histogram sits on the first status, so that merging by protocol gives it back once
    assert totals.requests["http", "200"].latency_log2_us[10:13] == [8, 0, 2]
    assert totals.requests["http", "200"].latency_sum_us == pytest.approx(18000)
    assert sum(totals.requests["http", "500"].latency_log2_us) == 0
    details = edge_details([EdgeReport(SERVER_KEY, totals, totals, 60.0, 0, [], [])])
    latency = details["latency_ms_total"]["http"]
    assert latency["count"] == 10
    assert latency["p50"] == pytest.approx(1.024 + 1.024 * 5 / 8, abs=0.001)  # linear inside [1024, 2048) us
    assert latency["p99"] == pytest.approx(4.096 + 4.096 * 1.9 / 2, abs=0.001)  # rounded to the microsecond
    assert [(r["status"], r["class"], r["total"], r["per_second"]) for r in details["requests"]] == \
        [("200", "normal", 8, pytest.approx(8 / 60)), ("500", "danger", 2, pytest.approx(2 / 60))]


def test_extrapolated_buckets_never_count_below_zero():
    dipping = [server(n, protocol="redis", le=le) for le, n in (("0.002048", "3.02"), ("0.004096", "3.0"),
                                                              ("+Inf", "3.0"))]
    traffic = traffic_by_edge(empty_results(requests=[server("3", protocol="redis", status="ok")],
                                            latency_buckets=dipping, latency_sum=[]))
    assert min(traffic[SERVER_KEY].requests["redis", "ok"].latency_log2_us) == 0


def test_an_unknown_bucket_bound_is_named():
    with pytest.raises(Unavailable, match="le='0.005'"):
        traffic_by_edge(empty_results(latency_buckets=[server("1", protocol="http", le="0.005")]))


def test_edge_views_keep_busy_edges_and_open_connections():
    recent = traffic_by_edge(empty_results(
        opens=[server("30")],
        requests=[sample("0", client="idle", client_namespace="shop", server="api", server_namespace="shop",
                         reporter="server", protocol="http", status="200")],
    ))
    idle_but_open = EdgeKey("worker", "shop", "db", "shop", "client")
    views = edge_views(recent, {idle_but_open: 2}, 60)
    assert [(v.client, v.opened, v.active) for v in views] == [("web", 0.5, 0), ("worker", 0.0, 2)]


def test_the_views_render_with_the_in_process_renderer():
    recent = traffic_by_edge(empty_results(requests=[server("120", protocol="http", status="200"),
                                                     server("30", protocol="http", status="503")]))
    view = assemble_view(AT, 60, edge_views(recent, {}, 60), services_from([], []))
    graph = render(view, {"live": True})
    [region] = [n for n in graph["nodes"] if n["name"] == "shop"]
    [connection] = region["connections"]
    assert (connection["source"], connection["target"]) == ("web", "api")
    assert connection["metrics"] == {"normal": 2.0, "warning": 0.0, "danger": 0.5}
    assert connection["class"] == "danger"
    assert {n["name"]: n["class"] for n in region["nodes"]} == {"api": "danger", "web": "normal"}


def test_services_with_their_containers_on_every_node():
    services = services_from(
        [sample("1", __name__="intuition_service_info", service="api", namespace="shop", instance="n1:9470"),
         sample("1", __name__="intuition_service_info", service="api", namespace="shop", instance="n2:9470"),
         sample("1", __name__="intuition_service_info", service="db", namespace="shop", instance="n1:9470")],
        [sample("1", service="api", namespace="shop", container="shop-api-2", image="api:1", node="n2"),
         sample("1", service="api", namespace="shop", container="shop-api-1", image="api:1", node="n1")],
    )
    assert [(s.service, s.namespace) for s in services] == [("api", "shop"), ("db", "shop")]
    api = services[0]
    assert [(c.name, c.node, c.image) for c in api.containers] == [("shop-api-1", "n1", "api:1"),
                                                                   ("shop-api-2", "n2", "api:1")]
    assert api.containers[0].id is None and api.containers[0].state is None  # not in the metrics


def test_queries_count_now_or_the_increase_over_the_window():
    now = traffic_queries('client="web"', None, latency=False)
    assert now["opens"] == ('sum by (client, client_namespace, server, server_namespace, reporter) '
                            '(intuition_tcp_connections_opened_total{client="web"})')
    assert "latency_buckets" not in now
    recent = traffic_queries("", 60, latency=True)["latency_sum"]
    assert "increase(intuition_request_duration_seconds_sum{}[60s])" in recent
    assert "unless intuition_request_duration_seconds_sum{} offset 60s" in recent  # series born in the window


def test_selector_escapes_label_values():
    assert selector(("host:a\"b", "host", "INTERNET", "")) == \
        'client="host:a\\"b", client_namespace="host", server="INTERNET", server_namespace=""'


def test_values_keep_whole_numbers_exact():
    assert value(sample("40")) == 40 and isinstance(value(sample("40")), int)
    assert value(sample("0.5")) == 0.5


@pytest.mark.parametrize("url", ["prometheus:9090", "ftp://host", "http://"])
def test_a_url_that_is_not_http_is_refused(url):
    with pytest.raises(ValueError, match="--prometheus"):
        Prometheus(url)


def test_timeline_points_from_range_answers():
    def series(*values):
        return [{"metric": {}, "values": [[t, v] for t, v in values]}]
    points = timeline_points({"requests": series((60, "20"), (120, "10")), "failed_http": series((60, "2")),
                              "failed_other": [], "resets": series((60, "1")),
                              "connect_failures": series((120, "0.5"))})
    assert points == [{"t": 60.0, "rps": 20.0, "error_rate": 0.15}, {"t": 120.0, "rps": 10.0, "error_rate": 0.05}]
    assert timeline_points({"connect_failures": series((60, "1"))}) == [{"t": 60.0, "rps": 0.0, "error_rate": 1.0}]


def test_each_edge_counts_once_in_the_timeline():
    assert preferring_server("intuition_requests_total", 'protocol="http"') == (
        "sum(sum by (client, client_namespace, server, server_namespace) "
        '(rate(intuition_requests_total{protocol="http", reporter="server"}[60s])) or '
        "sum by (client, client_namespace, server, server_namespace) "
        '(rate(intuition_requests_total{protocol="http", reporter="client"}[60s])))')
