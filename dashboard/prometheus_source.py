"""The cluster view: the dashboard's data read from a Prometheus server that scrapes every node's agent, with
PromQL through its HTTP API (/api/v1/query).

PrometheusGraph answers the questions GraphSource asks of the in-process graph and of identity (view,
view_at, history_span, pairs, edge_reports, services) from the agents' metrics, so the JSON and the Vizceral
rendering are the very code of the one-host path. Counters become the edge's totals, their increase over
the window its recent traffic. What lives only in an agent's memory is absent: request samples, TCP events,
container ids and states, and which way a reset went.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from itertools import accumulate
from urllib.parse import urlsplit

import requests

from tracer.capture.records import CLIENT, LATENCY_BUCKETS, SERVER, RequestCounts
from tracer.graph import EdgeKey, GraphView, Traffic
from tracer.graph.classes import request_class
from tracer.graph.edge import EdgeReport
from tracer.graph.latency import BUCKET_BOUNDS_SECONDS
from tracer.graph.origin import with_error_origins
from tracer.graph.view import EdgeView, assemble_view, edge_view
from tracer.identity.model import ContainerInfo, ServiceInfo
from tracer.metrics import CONNECT_FAILURE_REASONS

from .sources import GraphSource, Unavailable

WINDOW_SECONDS = 60  # rates over the last minute: four scrapes at Prometheus's default 15 s interval
HISTORY_SECONDS = 3600  # how far back the page's timeline reaches
HISTORY_STEP_SECONDS = 60  # resolution of the search for the oldest data in that reach
TIMEOUT_SECONDS = 10
PARALLEL_QUERIES = 8

PAIR = ("client", "client_namespace", "server", "server_namespace")
BY_EDGE = ", ".join(PAIR + ("reporter",))
TCP_COUNTERS = {  # FlowCounters field -> the metric that exports it
    "opens": "intuition_tcp_connections_opened_total",
    "closes": "intuition_tcp_connections_closed_total",
    "bytes_sent": "intuition_tcp_sent_bytes_total",
    "bytes_received": "intuition_tcp_received_bytes_total",
    "retransmits": "intuition_tcp_retransmits_total",
    # the metric counts both directions: all of it lands here, and PrometheusSource.edge says so
    "resets_sent": "intuition_tcp_resets_total",
}
EDGE_METRICS = "intuition_requests_total|intuition_tcp_connections_opened_total|intuition_tcp_connect_failures_total"
AGENTS = "count(intuition_build_info)"
# the `le` bound of each bucket of intuition_request_duration_seconds -> its log2 bucket
BUCKET_OF_BOUND = {bound: i for i, bound in enumerate(BUCKET_BOUNDS_SECONDS)} | {math.inf: LATENCY_BUCKETS - 1}


class Prometheus:
    """Instant queries against one Prometheus server."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--prometheus: expected an http:// or https:// URL, got {url!r}")
        self.url = url.rstrip("/")

    def query(self, promql: str, at: float) -> list[dict]:
        """The result vector of `promql` evaluated at unix time `at`."""
        return self._api("query", {"query": promql, "time": at}, "vector")

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        """The result matrix of `promql` evaluated every `step` seconds from `start` to `end`."""
        return self._api("query_range", {"query": promql, "start": start, "end": end, "step": step}, "matrix")

    def _api(self, endpoint: str, params: dict, result_type: str) -> list[dict]:
        promql = params["query"]
        try:
            response = requests.get(f"{self.url}/api/v1/{endpoint}", params=params, timeout=TIMEOUT_SECONDS)
        except requests.Timeout as e:
            raise Unavailable(f"Prometheus at {self.url} did not answer within {TIMEOUT_SECONDS} s") from e
        except requests.RequestException as e:
            raise Unavailable(f"cannot reach Prometheus at {self.url}: {type(e).__name__}") from e
        try:
            body = response.json()
        except ValueError as e:
            raise Unavailable(f"{self.url} answered HTTP {response.status_code} without JSON: is it Prometheus?") from e
        if body.get("status") != "success":
            raise Unavailable(f"Prometheus at {self.url} refused {promql!r}: {body.get('error', response.status_code)}")
        if body["data"]["resultType"] != result_type:
            raise Unavailable(f"Prometheus at {self.url} answered {promql!r} with a {body['data']['resultType']}")
        return body["data"]["result"]

    def query_all(self, queries: dict[str, str], at: float) -> dict[str, list[dict]]:
        """Several queries at once, by name."""
        with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
            futures = {name: pool.submit(self.query, promql, at) for name, promql in queries.items()}
            return {name: future.result() for name, future in futures.items()}

    def health(self) -> tuple[bool, str]:
        try:
            agents = self.query(AGENTS, time.time())
        except Unavailable as e:
            return False, str(e)
        return True, f"Prometheus at {self.url} answers; {int(value(agents[0])) if agents else 0} agents report to it"


def value(sample: dict) -> float:
    """A sample's value; whole numbers as int, so that exact counts stay exact in the JSON."""
    number = float(sample["value"][1])
    return int(number) if number.is_integer() else number


def edge_key(labels: dict[str, str]) -> EdgeKey:
    # Prometheus leaves out empty labels, such as INTERNET's namespace
    return EdgeKey(*(labels.get(name, "") for name in PAIR), labels.get("reporter", ""))


def selector(pair: tuple[str, str, str, str] | None) -> str:
    """The label matchers of one (client, client_namespace, server, server_namespace), or of every edge."""
    if pair is None:
        return ""
    # a JSON string is a valid PromQL string literal: the same escapes
    return ", ".join(f"{name}={json.dumps(label)}" for name, label in zip(PAIR, pair))


def traffic_queries(matchers: str, window: int | None, latency: bool) -> dict[str, str]:
    """PromQL for the counters of the edges `matchers` selects: their values (window None) or their increase
    over the last `window` seconds, summed over the agents by edge and reporter."""
    def summed(metric: str, by: str = "") -> str:
        series = f"{metric}{{{matchers}}}"
        if window is not None:
            # increase() takes a series' first sample as its start, so an edge whose traffic all came before
            # its first scrape would show none: a series born within the window counts whole
            # (set operators match ignoring the metric name, so `or` adds no series twice)
            series = f"({series} unless {series} offset {window}s) or increase({series}[{window}s])"
        return f"sum by ({BY_EDGE}{by}) ({series})"

    queries = {field: summed(metric) for field, metric in TCP_COUNTERS.items()}
    queries["requests"] = summed("intuition_requests_total", ", protocol, status")
    queries["connect_failures"] = summed("intuition_tcp_connect_failures_total", ", reason")
    if latency:
        queries["latency_buckets"] = summed("intuition_request_duration_seconds_bucket", ", protocol, le")
        queries["latency_sum"] = summed("intuition_request_duration_seconds_sum", ", protocol")
    return queries


def traffic_by_edge(results: dict[str, list[dict]]) -> dict[EdgeKey, Traffic]:
    """The Traffic of every edge in the results of traffic_queries."""
    out: dict[EdgeKey, Traffic] = defaultdict(Traffic)
    for field in TCP_COUNTERS:
        for sample in results[field]:
            tcp = out[edge_key(sample["metric"])].tcp
            setattr(tcp, field, getattr(tcp, field) + value(sample))
    for sample in results["connect_failures"]:
        labels = sample["metric"]
        # a reason newer than this dashboard is still a failure
        field = CONNECT_FAILURE_REASONS.get(labels.get("reason", ""), "connect_other")
        tcp = out[edge_key(labels)].tcp
        setattr(tcp, field, getattr(tcp, field) + value(sample))
    for sample in results["requests"]:
        labels = sample["metric"]
        protocol, status, n = labels.get("protocol", ""), labels.get("status", ""), value(sample)
        traffic = out[edge_key(labels)]
        traffic.requests.setdefault((protocol, status), RequestCounts()).count += n
        traffic.classes[request_class(protocol, status)] += n
    if "latency_buckets" in results:
        _attach_latency(out, latency_by_protocol(results["latency_buckets"], results["latency_sum"]))
    return dict(out)


def latency_by_protocol(buckets: list[dict], sums: list[dict]) -> dict[tuple[EdgeKey, str], RequestCounts]:
    """The log2 histogram and latency sum of each edge and protocol, from the cumulative `le` buckets."""
    cumulative: dict[tuple[EdgeKey, str], list[float | None]] = defaultdict(lambda: [None] * LATENCY_BUCKETS)
    for sample in buckets:
        labels = sample["metric"]
        bound = float(labels["le"])
        if bound not in BUCKET_OF_BOUND:
            raise Unavailable(f"intuition_request_duration_seconds has a bucket le={labels['le']!r} this dashboard "
                              "does not know: are the agents of another version?")
        cumulative[edge_key(labels), labels.get("protocol", "")][BUCKET_OF_BOUND[bound]] = value(sample)
    out = {}
    for key, given in cumulative.items():
        running = list(accumulate(given, lambda before, n: before if n is None else n, initial=0.0))[1:]
        # increase() extrapolates each bucket on its own, which can leave a bucket a hair below the one before
        counts = [max(0.0, n - previous) for n, previous in zip(running, [0.0] + running[:-1])]
        out[key] = RequestCounts(count=running[-1], latency_log2_us=counts)
    for sample in sums:
        key = (edge_key(sample["metric"]), sample["metric"].get("protocol", ""))
        if key in out:
            out[key].latency_sum_us = value(sample) * 1e6
    return out


def _attach_latency(traffic: dict[EdgeKey, Traffic], latency: dict[tuple[EdgeKey, str], RequestCounts]) -> None:
    """The histogram has no status label: Traffic.set_latency puts it on the protocol's first status."""
    for (key, protocol), counts in latency.items():
        if key in traffic:
            traffic[key].set_latency(protocol, counts.latency_log2_us, counts.latency_sum_us)


def active_by_edge(results: list[dict]) -> dict[EdgeKey, int]:
    return {edge_key(sample["metric"]): int(value(sample)) for sample in results}


def busy(traffic: Traffic) -> bool:
    return any(astuple(traffic.tcp)) or any(c.count for c in traffic.requests.values())


def edge_views(recent: dict[EdgeKey, Traffic], active: dict[EdgeKey, int], span: float) -> list[EdgeView]:
    """Views of the edges with traffic in the window or connections open, as the in-process graph keeps."""
    keys = {k for k, t in recent.items() if busy(t)} | {k for k, n in active.items() if n}
    return [edge_view(k, recent.get(k, Traffic()), active.get(k, 0), span) for k in sorted(keys)]


def services_from(service_info: list[dict], container_info: list[dict]) -> list[ServiceInfo]:
    """Every service the agents report, with their containers on every node."""
    containers: dict[tuple[str, str], dict[tuple[str, str], ContainerInfo]] = defaultdict(dict)
    for sample in container_info:
        labels = sample["metric"]
        name, node = labels.get("container", ""), labels.get("node", "")
        # the metrics carry no container id or state: unknown here, not empty
        containers[labels.get("service", ""), labels.get("namespace", "")][name, node] = ContainerInfo(
            id=None, name=name, image=labels.get("image", ""), state=None, node=node, started_at=None,
            task_slot=None)
    keys = {(s["metric"].get("service", ""), s["metric"].get("namespace", "")) for s in service_info}
    return [ServiceInfo(service, namespace, [c for _, c in sorted(containers.get((service, namespace), {}).items())])
            for service, namespace in sorted(keys | set(containers))]


def preferring_server(metric: str, matchers: str = "") -> str:
    """PromQL for the rate of `metric` over the window, each edge counted once: as its server reported it
    where the agent saw that end, else as its client did (as the map does)."""
    def by_pair(reporter: str) -> str:
        labels = ", ".join(filter(None, (matchers, f'reporter="{reporter}"')))
        return f"sum by ({', '.join(PAIR)}) (rate({metric}{{{labels}}}[{WINDOW_SECONDS}s]))"
    return f"sum({by_pair(SERVER)} or {by_pair(CLIENT)})"


# Failed requests, as tracer.graph.classes.request_class tells danger: HTTP statuses other than 1xx-4xx (4xx
# are refused: warning), and any other protocol's status but "ok".
FAILED_HTTP = 'protocol="http", status!~"[1-4][0-9][0-9]"'
FAILED_OTHER = 'protocol!="http", status!="ok"'
TIMELINE_QUERIES = {
    "requests": preferring_server("intuition_requests_total"),
    "failed_http": preferring_server("intuition_requests_total", FAILED_HTTP),
    "failed_other": preferring_server("intuition_requests_total", FAILED_OTHER),
    "resets": preferring_server("intuition_tcp_resets_total"),
    # only a client sees its connects fail
    "connect_failures": f"sum(rate(intuition_tcp_connect_failures_total[{WINDOW_SECONDS}s]))",
}


def timeline_points(series: dict[str, list[dict]]) -> list[dict]:
    """/api/timeline's points from the range answers of TIMELINE_QUERIES (each one series, or none)."""
    by_time: dict[float, dict[str, float]] = defaultdict(lambda: dict.fromkeys(TIMELINE_QUERIES, 0.0))
    for name, result in series.items():
        for matrix in result:
            for t, number in matrix["values"]:
                by_time[float(t)][name] = float(number)
    points = []
    for t, rates in sorted(by_time.items()):
        failures = rates["failed_http"] + rates["failed_other"] + rates["resets"] + rates["connect_failures"]
        requests_per_second = rates["requests"]
        error_rate = min(1.0, failures / requests_per_second) if requests_per_second else float(failures > 0)
        points.append({"t": t, "rps": round(requests_per_second, 3), "error_rate": round(error_rate, 4)})
    return points


def _prefixed(prefix: str, queries: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}{name}": promql for name, promql in queries.items()}


def _unprefixed(prefix: str, results: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {name.removeprefix(prefix): r for name, r in results.items() if name.startswith(prefix)}


class PrometheusGraph:
    """The in-process Graph's and Identity's read side, answered by PromQL."""

    history_interval = HISTORY_STEP_SECONDS

    def __init__(self, prometheus: Prometheus, clock=time.time):
        self._prometheus = prometheus
        self._clock = clock

    def view(self) -> GraphView:
        return self._view(self._clock())

    def view_at(self, timestamp: float) -> GraphView | None:
        """The graph at `timestamp`, None when no agent reported to Prometheus then."""
        return self._view(timestamp, require_agents=True)

    def _view(self, at: float, require_agents: bool = False) -> GraphView | None:
        queries = _prefixed("recent.", traffic_queries("", WINDOW_SECONDS, latency=True))
        queries |= {"active": f"sum by ({BY_EDGE}) (intuition_tcp_active_connections)", "agents": AGENTS,
                    "services": "intuition_service_info", "containers": "intuition_container_info"}
        results = self._prometheus.query_all(queries, at)
        if require_agents and not results["agents"]:
            return None
        views = edge_views(traffic_by_edge(_unprefixed("recent.", results)), active_by_edge(results["active"]),
                           WINDOW_SECONDS)
        return with_error_origins(assemble_view(at, WINDOW_SECONDS, views,
                                                services_from(results["services"], results["containers"])))

    def timeline(self) -> dict:
        """The timeline's throughput and error rate over the history span; the metrics carry no container
        events (those live in each agent's /api/timeline)."""
        span = self.history_span()
        # within the first step of Prometheus's life the history has no aligned moment yet: now alone
        oldest, now = span or (self._clock(), self._clock())
        # steps counted back from now: the newest point is now, when rates surely have two samples
        start = now - (now - oldest) // HISTORY_STEP_SECONDS * HISTORY_STEP_SECONDS
        with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
            futures = {name: pool.submit(self._prometheus.query_range, promql, start, now, HISTORY_STEP_SECONDS)
                       for name, promql in TIMELINE_QUERIES.items()}
            points = timeline_points({name: future.result() for name, future in futures.items()})
        return {"interval_seconds": HISTORY_STEP_SECONDS, "points": points, "events": []}

    def history_span(self) -> tuple[float, float] | None:
        """(oldest, newest) time with agents reporting within the timeline's reach."""
        now = self._clock()
        found = self._prometheus.query(
            f"min_over_time(timestamp({AGENTS})[{HISTORY_SECONDS}s:{HISTORY_STEP_SECONDS}s])", now)
        return (value(found[0]), now) if found else None

    def services(self) -> list[ServiceInfo]:
        results = self._prometheus.query_all(
            {"services": "intuition_service_info", "containers": "intuition_container_info"}, self._clock())
        return services_from(results["services"], results["containers"])

    def pairs(self) -> list[tuple[str, str, str, str]]:
        """Every (client, client_namespace, server, server_namespace) with counters in Prometheus."""
        found = self._prometheus.query(f'count by ({", ".join(PAIR)}) ({{__name__=~"{EDGE_METRICS}"}})',
                                       self._clock())
        return sorted({edge_key(sample["metric"]).pair for sample in found})

    def edge_reports(self, pair: tuple[str, str, str, str]) -> list[EdgeReport]:
        """Each reporter's copy of one edge, the server's first, as Graph.edge_reports gives them."""
        matchers = selector(pair)
        queries = _prefixed("totals.", traffic_queries(matchers, None, latency=True))
        queries |= _prefixed("recent.", traffic_queries(matchers, WINDOW_SECONDS, latency=True))
        queries["active"] = f"sum by ({BY_EDGE}) (intuition_tcp_active_connections{{{matchers}}})"
        results = self._prometheus.query_all(queries, self._clock())
        totals = traffic_by_edge(_unprefixed("totals.", results))
        recent = traffic_by_edge(_unprefixed("recent.", results))
        active = active_by_edge(results["active"])
        reports = []
        for reporter in (SERVER, CLIENT):
            key = EdgeKey(*pair, reporter)
            if key in totals or key in recent or key in active:
                reports.append(EdgeReport(key, totals.get(key, Traffic()), recent.get(key, Traffic()),
                                          float(WINDOW_SECONDS), active.get(key, 0), [], []))
        return reports


class PrometheusSource(GraphSource):
    """The Source of `intuition dashboard --prometheus URL`: GraphSource's answers for a whole cluster."""

    def __init__(self, url: str):
        prometheus = Prometheus(url)
        graph = PrometheusGraph(prometheus)
        super().__init__(graph, identity=graph, health=prometheus.health, collectors=[])

    def timeline(self) -> dict:
        return self._graph.timeline()

    def edge(self, client: str, server: str, client_namespace: str | None = None,
             server_namespace: str | None = None, at: float | None = None) -> dict:
        details = super().edge(client, server, client_namespace, server_namespace, at)
        errors = details["tcp_errors"]
        # intuition_tcp_resets_total does not say which way a reset went: the total, and the split unknown
        errors["resets"] = errors["resets_sent"] + errors["resets_received"]
        errors["resets_sent"] = errors["resets_received"] = None
        return details
