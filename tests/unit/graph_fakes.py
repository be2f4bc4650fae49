"""A tiny stand-in for tracer.identity.Identity and builders of collector records, for pure logic tests."""
from __future__ import annotations

from dashboard.app import create_app
from dashboard.sources import GraphSource
from tracer.config import parse_config
from tracer.graph import Graph
from tracer.metrics import IntuitionCollector, SelfStats
from tracer.identity import INTERNET, ContainerInfo, Endpoint, ServiceInfo
from tracer.capture.records import CLIENT, LATENCY_BUCKETS, Drain, FlowCounters, FlowDelta, FlowKey, RequestCounts


def container(id: str, name: str, state: str = "running", image: str = "busybox", node: str = "node-1"):
    return ContainerInfo(id, name, image, state, node, started_at=0.0, task_slot=None)


class FakeIdentity:
    """Processes by tgid and peers by address; anything else is host:<comm> or INTERNET."""

    def __init__(self, processes: dict[int, Endpoint] | None = None, addresses: dict[str, Endpoint] | None = None,
                 services: list[ServiceInfo] | None = None):
        self.processes = processes or {}
        self.addresses = addresses or {}
        self.service_list = services or []
        self.events: list = []  # tracer.identity.timeline.ContainerEvent, oldest first

    def name_flows(self, keys: list[FlowKey]) -> list[tuple[Endpoint, Endpoint] | None]:
        """docker-proxy's accepting half carries no edge, as with the real identity."""
        named = []
        for k in keys:
            local = self.processes.get(k.tgid, Endpoint(f"host:{k.comm}", "host", None))
            named.append(None if k.comm == "docker-proxy" else (local, self.addresses.get(k.peer_addr, INTERNET)))
        return named

    def services(self) -> list[ServiceInfo]:
        return self.service_list

    def endpoints(self) -> list[tuple[str, Endpoint]]:
        return sorted(self.addresses.items())

    def container_events(self, since: float) -> list:
        return [e for e in self.events if e.t >= since]


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(tgid: int, peer: str, role: str = CLIENT, port: int = 80, comm: str = "") -> FlowKey:
    return FlowKey(cgroup_id=0, tgid=tgid, comm=comm or f"p{tgid}", role=role, local_addr="10.0.0.99",
                   peer_addr=peer, server_port=port)


def requests(protocol: str, status: str, count: int, latency_us: int = 1000) -> dict:
    """`count` requests that each took `latency_us`."""
    histogram = [0] * LATENCY_BUCKETS
    histogram[max(0, latency_us.bit_length() - 1)] = count
    return {(protocol, status): RequestCounts(count, count * latency_us, histogram)}


def flow(flow_key: FlowKey, reqs: dict | None = None, **counters) -> FlowDelta:
    return FlowDelta(flow_key, FlowCounters(**counters), dict(reqs or {}))


WEB = Endpoint("web", "shop", "c-web")
API = Endpoint("api", "shop", "c-api")
WEB_IP, API_IP = "10.0.0.1", "10.0.0.2"


def shop_identity() -> FakeIdentity:
    return FakeIdentity(processes={1: WEB, 2: API}, addresses={WEB_IP: WEB, API_IP: API})


def make_graph(identity=None, **config):
    clock = Clock()
    return Graph(identity or shop_identity(), parse_config(config), clock=clock), clock


def tick(graph, clock, *flows, events=(), lost=None):
    """One collector pass, a second after the previous one."""
    clock.now += 1
    graph.ingest(Drain(clock.now, list(flows), list(events), dict(lost or {})))


def client_for(graph, identity, healthy=(True, "draining"), **config):
    """Flask test client of the real application over this graph."""
    stats = lambda: SelfStats(version="0.0.0")
    source = GraphSource(graph, identity, lambda: healthy, [IntuitionCollector(graph, identity, stats, False)])
    return create_app(source, parse_config(config)).test_client()
