"""/metrics families built from the graph, parsed back with prometheus_client's own parsers."""
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.unit.graph_fakes import (API, API_IP, WEB, WEB_IP, FakeIdentity, ServiceInfo, container, flow, key,
                                    make_graph, requests, tick)
from tracer.metrics import IntuitionCollector, SelfStats
from tracer.capture.records import CLIENT, SERVER

EDGE = {"client": "web", "client_namespace": "shop", "server": "api", "server_namespace": "shop"}


def scrape(service_graph=False, openmetrics=False):
    identity = FakeIdentity(
        processes={1: WEB, 2: API},
        addresses={WEB_IP: WEB, API_IP: API},
        services=[ServiceInfo("api", "shop", [container("c-api", "shop-api-1", image="api:1", node="n1")]),
                  ServiceInfo("web", "shop", [container("c-web", "shop-web-1", image="web:1", node="n1")])],
    )
    graph, clock = make_graph(identity)
    tick(
        graph,
        clock,
        flow(key(1, API_IP, CLIENT), {**requests("http", "200", 7, 3000), **requests("http", "500", 1, 3000)},
             opens=3, closes=1, bytes_sent=100, bytes_received=2000, connect_refused=2, resets_received=1),
        flow(key(2, WEB_IP, SERVER), {**requests("http", "200", 7, 1000), **requests("http", "500", 1, 1000)},
             opens=2, closes=1, bytes_sent=2000, bytes_received=100, retransmits=5),
    )
    stats = SelfStats(version="9.9.9", probes={"bytes": "tracepoint", "lifecycle": "tracepoint"},
                      events_lost={"ringbuf": 4}, parse_errors={"http": 0, "redis": 2}, map_entries={"flows": 12},
                      identity_cache_entries={"containers": 3, "tasks": 40},
                      edges_dropped=0, docker_resyncs=1)
    registry = CollectorRegistry()
    registry.register(IntuitionCollector(graph, identity, lambda: stats, service_graph))
    if openmetrics:
        text = om_exposition.generate_latest(registry).decode()
        return {f.name: f for f in parse_openmetrics(text)}, text
    text = generate_latest(registry).decode()
    return {f.name: f for f in parse_text(text)}, text


def value(family, sample_name=None, **labels):
    matches = [s.value for s in family.samples
               if s.labels == labels and (sample_name is None or s.name == sample_name)]
    assert len(matches) == 1, (labels, family.samples)
    return matches[0]


def test_request_counters_per_reporter_with_exact_labels():
    families, _ = scrape()
    requests_total = families["intuition_requests"]
    assert requests_total.type == "counter"
    assert value(requests_total, **EDGE, protocol="http", status="200", reporter="server") == 7
    assert value(requests_total, **EDGE, protocol="http", status="500", reporter="client") == 1
    label_names = {name for s in requests_total.samples for name in s.labels}
    assert label_names == set(EDGE) | {"protocol", "status", "reporter"}


def test_duration_histogram_uses_power_of_two_buckets():
    families, text = scrape()
    duration = families["intuition_request_duration_seconds"]
    assert duration.type == "histogram"
    server = dict(EDGE, protocol="http", reporter="server")
    assert value(duration, "intuition_request_duration_seconds_count", **server) == 8
    assert value(duration, "intuition_request_duration_seconds_sum", **server) == pytest.approx(0.008)
    # 1000 us falls in [512, 1024) us: under le=0.001024 but not under 0.000512
    assert value(duration, "intuition_request_duration_seconds_bucket", **server, le="0.001024") == 8
    assert value(duration, "intuition_request_duration_seconds_bucket", **server, le="0.000512") == 0
    assert value(duration, "intuition_request_duration_seconds_bucket", **server, le="+Inf") == 8
    assert "_created" not in text


def test_tcp_families():
    families, _ = scrape()
    client, server = dict(EDGE, reporter="client"), dict(EDGE, reporter="server")
    assert value(families["intuition_tcp_connections_opened"], **client) == 3
    assert value(families["intuition_tcp_connections_closed"], **server) == 1
    assert value(families["intuition_tcp_active_connections"], **client) == 2
    assert families["intuition_tcp_active_connections"].type == "gauge"
    assert value(families["intuition_tcp_sent_bytes"], **server) == 2000
    assert value(families["intuition_tcp_received_bytes"], **client) == 2000
    assert value(families["intuition_tcp_retransmits"], **server) == 5
    assert value(families["intuition_tcp_resets"], **client) == 1
    failures = families["intuition_tcp_connect_failures"]
    assert value(failures, **client, reason="refused") == 2
    assert value(failures, **client, reason="timeout") == 0
    assert {s.labels["reporter"] for s in failures.samples} == {"client"}


def test_inventory_and_self_metrics():
    families, _ = scrape()
    assert value(families["intuition_service_info"], service="api", namespace="shop") == 1
    assert value(families["intuition_container_info"], service="web", namespace="shop", container="shop-web-1",
                 image="web:1", node="n1") == 1
    assert value(families["intuition_endpoint_info"], ip=API_IP, service="api", namespace="shop", node="n1") == 1
    assert value(families["intuition_build_info"], version="9.9.9") == 1
    assert value(families["intuition_probe_info"], hook="bytes", mechanism="tracepoint") == 1
    assert value(families["intuition_events_lost"], source="ringbuf") == 4
    assert value(families["intuition_parse_errors"], protocol="redis") == 2
    assert value(families["intuition_parse_errors"], protocol="http") == 0
    assert value(families["intuition_bpf_map_entries"], map="flows") == 12
    assert value(families["intuition_identity_cache_entries"], cache="containers") == 3
    assert value(families["intuition_identity_cache_entries"], cache="tasks") == 40
    assert value(families["intuition_edges_dropped"]) == 0
    assert value(families["intuition_docker_resyncs"]) == 1


def test_no_ips_ports_pids_or_container_ids_on_edge_metrics():
    _, text = scrape()
    edge_lines = [line for line in text.splitlines() if line.startswith(("intuition_requests", "intuition_tcp"))]
    assert edge_lines
    for forbidden in (API_IP, WEB_IP, "c-api", "c-web", "p1", ":80"):
        assert not [line for line in edge_lines if forbidden in line], forbidden


def test_openmetrics_exposition_parses():
    families, text = scrape(openmetrics=True)
    assert text.endswith("# EOF\n")
    assert value(families["intuition_requests"], **EDGE, protocol="http", status="200", reporter="server") == 7
    assert families["intuition_service"].type == "info"
    assert "_created" not in text


def test_service_graph_names_only_when_enabled():
    families, _ = scrape()
    assert not [name for name in families if name.startswith("traces_")]
    families, _ = scrape(service_graph=True)
    labels = {"client": "web", "server": "api", "connection_type": ""}
    assert value(families["traces_service_graph_request"], **labels) == 8  # the server's view
    assert value(families["traces_service_graph_request_failed"], **labels) == 1
    seconds = families["traces_service_graph_request_server_seconds"]
    assert value(seconds, "traces_service_graph_request_server_seconds_count", **labels) == 8
