"""/metrics: a prometheus_client custom collector that builds every family the README lists from the
service graph at scrape time. Edge counters carry service names only: never IPs, ports, pids or container
ids. Nothing here keeps state of its own, so concurrent scrapes cannot race."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from .capture.records import SERVER, RequestCounts
from .graph import EdgeKey, Graph, GraphView, Traffic
from .graph.classes import DANGER, request_class
from .graph.latency import cumulative_buckets

EDGE_LABELS = ["client", "client_namespace", "server", "server_namespace"]
CONNECT_FAILURE_REASONS = {"refused": "connect_refused", "timeout": "connect_timeout", "other": "connect_other"}
# Tempo's connection_type: the datastores are "database", plain services leave it empty (unset)
CONNECTION_TYPE = {"http": "", "redis": "database", "postgres": "database", "mysql": "database"}


@dataclass
class SelfStats:
    """The agent's own health, gathered from the collector, identity and graph at scrape time."""

    version: str
    probes: dict[str, str] = field(default_factory=dict)  # hook -> mechanism
    events_lost: dict[str, int] = field(default_factory=dict)  # source -> events
    parse_errors: dict[str, int] = field(default_factory=dict)  # protocol -> messages that did not parse
    map_entries: dict[str, int] = field(default_factory=dict)  # BPF map -> entries
    identity_cache_entries: dict[str, int] = field(default_factory=dict)  # identity cache -> entries
    edges_dropped: int = 0
    docker_resyncs: int = 0


class IntuitionCollector:
    def __init__(self, graph: Graph, identity, stats: Callable[[], SelfStats], service_graph: bool,
                 containers=None):
        self._graph = graph
        self._containers = containers  # tracer.container_health.ContainerHealth, when the agent follows them
        self._identity = identity
        self._stats = stats
        self._service_graph = service_graph

    def describe(self) -> list[Metric]:
        # a registry that describes collectors would otherwise scrape once at registration
        return []

    def collect(self) -> Iterator[Metric]:
        edges = self._graph.edges()
        yield from edge_families(edges)
        yield from inventory_families(self._identity)
        yield error_origin_family(self._graph.view())
        if self._containers is not None:
            yield from container_health_families(self._identity, self._containers)
        yield from self_families(self._stats())
        if self._service_graph:
            yield from service_graph_families(edges)


def _labels(key: EdgeKey) -> list[str]:
    return [key.client, key.client_namespace, key.server, key.server_namespace]


def _histogram(family: HistogramMetricFamily, labels: list[str], counts: RequestCounts) -> None:
    buckets = [(floatToGoString(bound), n) for bound, n in cumulative_buckets(counts.latency_log2_us)]
    family.add_metric(labels, buckets, sum_value=counts.latency_sum_us / 1e6)


def edge_families(edges: list[tuple[EdgeKey, Traffic, int]]) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "intuition_requests_total", "Requests between two services by protocol and outcome, as the reporter saw them.",
        labels=EDGE_LABELS + ["protocol", "status", "reporter"])
    duration = HistogramMetricFamily(
        "intuition_request_duration_seconds",
        "Time from a request's first byte to its response's first byte. Buckets are the kernel's powers of two "
        "of microseconds.",
        labels=EDGE_LABELS + ["protocol", "reporter"])
    tcp = {
        "opens": CounterMetricFamily("intuition_tcp_connections_opened_total", "TCP connections established.",
                                     labels=EDGE_LABELS + ["reporter"]),
        "closes": CounterMetricFamily("intuition_tcp_connections_closed_total", "TCP connections closed.",
                                      labels=EDGE_LABELS + ["reporter"]),
        "bytes_sent": CounterMetricFamily("intuition_tcp_sent_bytes_total", "Bytes the reporter sent.",
                                          labels=EDGE_LABELS + ["reporter"]),
        "bytes_received": CounterMetricFamily("intuition_tcp_received_bytes_total", "Bytes the reporter received.",
                                              labels=EDGE_LABELS + ["reporter"]),
        "retransmits": CounterMetricFamily("intuition_tcp_retransmits_total", "TCP segments the reporter retransmitted.",
                                           labels=EDGE_LABELS + ["reporter"]),
    }
    resets = CounterMetricFamily("intuition_tcp_resets_total", "TCP resets the reporter sent or received.",
                                 labels=EDGE_LABELS + ["reporter"])
    failures = CounterMetricFamily("intuition_tcp_connect_failures_total", "TCP connects that failed, by reason.",
                                   labels=EDGE_LABELS + ["reason", "reporter"])
    active = GaugeMetricFamily("intuition_tcp_active_connections", "TCP connections open now.",
                               labels=EDGE_LABELS + ["reporter"])
    for key, totals, open_now in edges:
        labels = _labels(key)
        for (protocol, status), counts in totals.requests.items():
            requests.add_metric(labels + [protocol, status, key.reporter], counts.count)
        for protocol, counts in totals.latency_by_protocol().items():
            _histogram(duration, labels + [protocol, key.reporter], counts)
        for attribute, family in tcp.items():
            family.add_metric(labels + [key.reporter], getattr(totals.tcp, attribute))
        resets.add_metric(labels + [key.reporter], totals.tcp.resets_sent + totals.tcp.resets_received)
        if key.reporter != SERVER:  # only a client's connect can fail
            for reason, attribute in CONNECT_FAILURE_REASONS.items():
                failures.add_metric(labels + [reason, key.reporter], getattr(totals.tcp, attribute))
        active.add_metric(labels + [key.reporter], open_now)
    yield requests
    yield duration
    yield from tcp.values()
    yield resets
    yield failures
    yield active


def inventory_families(identity) -> Iterator[Metric]:
    services = InfoMetricFamily("intuition_service", "A service Intuition knows, with its namespace.")
    containers = InfoMetricFamily("intuition_container", "A container and the service it belongs to.")
    endpoints = InfoMetricFamily("intuition_endpoint", "An IP address and the service behind it, for naming peers "
                                                       "that another node's agent sees.")
    node_of = {}
    for info in identity.services():
        services.add_metric([], {"service": info.service, "namespace": info.namespace})
        for c in info.containers:
            node_of[c.id] = c.node
            containers.add_metric([], {"service": info.service, "namespace": info.namespace, "container": c.name,
                                       "image": c.image, "node": c.node})
    this_node = socket.gethostname()
    for ip, endpoint in identity.endpoints():
        endpoints.add_metric([], {"ip": ip, "service": endpoint.service, "namespace": endpoint.namespace,
                                  "node": node_of.get(endpoint.container_id, this_node)})
    yield services
    yield containers
    yield endpoints


def error_origin_family(view: GraphView) -> Metric:
    family = GaugeMetricFamily("intuition_service_error_origin", "1 where errors start: the service fails while "
                               "its dependencies are healthy; else 0.", labels=["service", "namespace"])
    for node in view.nodes:
        family.add_metric([node.service, node.namespace], int(bool(node.errors and node.errors.origin)))
    return family


def container_health_families(identity, containers) -> Iterator[Metric]:
    labels = ["service", "namespace", "container"]
    cpu = CounterMetricFamily("intuition_container_cpu_seconds_total", "CPU time of the container's cgroup.",
                              labels=labels)
    memory = GaugeMetricFamily("intuition_container_memory_bytes", "Memory the container's cgroup uses.",
                               labels=labels)
    limit = GaugeMetricFamily("intuition_container_memory_limit_bytes", "The container's memory limit; absent "
                              "without one.", labels=labels)
    restarts = CounterMetricFamily("intuition_container_restarts_total", "Times the container started again "
                                   "after it died, since the agent started.", labels=labels)
    oom_kills = CounterMetricFamily("intuition_container_oom_kills_total", "Times the kernel killed a process of "
                                    "the container for memory, since the agent started.", labels=labels)
    for info in identity.services():
        for c in info.containers:
            names = [info.service, info.namespace, c.name]
            usage = containers.usage(c.id)
            if usage is not None:
                cpu.add_metric(names, usage.cpu_seconds)
                memory.add_metric(names, usage.memory_bytes)
                if usage.memory_limit_bytes is not None:
                    limit.add_metric(names, usage.memory_limit_bytes)
            restarted, killed = containers.counts(c.id)
            restarts.add_metric(names, restarted)
            oom_kills.add_metric(names, killed)
    yield from (cpu, memory, limit, restarts, oom_kills)


def self_families(stats: SelfStats) -> Iterator[Metric]:
    yield InfoMetricFamily("intuition_build", "The running Intuition.", value={"version": stats.version})
    probes = InfoMetricFamily("intuition_probe", "Which mechanism each kernel hook uses on this host.")
    for hook, mechanism in sorted(stats.probes.items()):
        probes.add_metric([], {"hook": hook, "mechanism": mechanism})
    yield probes
    yield _by_label(CounterMetricFamily("intuition_events_lost_total", "Kernel events lost before user space "
                                        "read them.", labels=["source"]), stats.events_lost)
    yield _by_label(CounterMetricFamily("intuition_parse_errors_total", "Messages that did not parse as their "
                                        "protocol, in the kernel or in samples.", labels=["protocol"]), stats.parse_errors)
    yield _by_label(GaugeMetricFamily("intuition_bpf_map_entries", "Entries in each BPF map, counted every few "
                                      "seconds.", labels=["map"]), stats.map_entries)
    yield _by_label(GaugeMetricFamily("intuition_identity_cache_entries", "Entries in each cache that names "
                                      "containers: containers, addresses, cgroups, tasks.", labels=["cache"]),
                    stats.identity_cache_entries)
    yield CounterMetricFamily("intuition_edges_dropped_total",
                              "Flow updates folded into the edge named `other` because the edge cap was reached.",
                              value=stats.edges_dropped)
    yield CounterMetricFamily("intuition_docker_resyncs_total", "Full resyncs with the Docker engine.",
                              value=stats.docker_resyncs)


def _by_label(family: Metric, values: dict[str, int]) -> Metric:
    for label, n in sorted(values.items()):
        family.add_metric([label], n)
    return family


def service_graph_families(edges: list[tuple[EdgeKey, Traffic, int]]) -> Iterator[Metric]:
    """Tempo's service-graph names, so Grafana's service map reads Intuition unchanged. One reporter per
    (client, server): the server's when the agent saw that end."""
    labels = ["client", "server", "connection_type"]
    total = CounterMetricFamily("traces_service_graph_request_total", "Requests between two services.", labels=labels)
    failed = CounterMetricFamily("traces_service_graph_request_failed_total", "Requests that failed.", labels=labels)
    seconds = HistogramMetricFamily("traces_service_graph_request_server_seconds",
                                    "Server-side request duration.", labels=labels)
    preferred = {key.pair: (key, totals) for key, totals, _ in sorted(edges, key=lambda e: e[0].reporter == SERVER)}
    merged: dict[tuple[str, str, str], tuple[int, int, RequestCounts]] = {}
    for key, totals in preferred.values():
        for (protocol, status), counts in totals.requests.items():
            group = (key.client, key.server, CONNECTION_TYPE.get(protocol, ""))
            n, bad, latency = merged.get(group, (0, 0, RequestCounts()))
            latency.add(counts)
            failed_now = counts.count if request_class(protocol, status) == DANGER else 0
            merged[group] = (n + counts.count, bad + failed_now, latency)
    for group, (n, bad, latency) in sorted(merged.items()):
        total.add_metric(list(group), n)
        failed.add_metric(list(group), bad)
        _histogram(seconds, list(group), latency)
    yield total
    yield failed
    yield seconds
