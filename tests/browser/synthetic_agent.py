"""The real dashboard app and service graph, fed with synthetic traffic instead of the kernel's.

The page's own logic is tested against the agent's real HTTP layer (dashboard.app, dashboard.api,
dashboard.sources) and graph (tracer.graph), so the JSON it reads is the JSON the agent serves. Only the
collector and Docker are replaced: a thread drains a known set of flows into the graph once a second.
Tests switch on 500s, freeze the agent, make its API fail, stop a service, add an edge, and read which
paths the browser asked for. Until five minutes before the test started, `web` also called `legacy`: the
replay tests look for it (it is no ghost by then: ghosts last GHOST_SECONDS here).
"""
from __future__ import annotations

import threading
import time

from flask import jsonify, request

from dashboard.app import create_app
from dashboard.sources import GraphSource
from tests.unit.graph_fakes import FakeIdentity, flow, key, requests
from tracer.config import parse_config
from tracer.container_health import CgroupStats, ContainerHealth
from tracer.graph import Graph
from tracer.identity import ContainerInfo, Endpoint, ServiceInfo
from tracer.identity.timeline import ContainerEvent
from tracer.capture.records import SERVER, Drain, RequestSample

XSS_SERVICE = "<img src=x onerror=alert(1)>"
XSS_PATH = '/<script>alert("path")</script>'
# what stays readable of a Redis command and a SQL statement once redacted (tracer/protocols/redact.py): the
# key, and identifiers such as a quoted table name
XSS_REDIS_KEY = "<img src=x onerror=alert(2)>"
XSS_SQL_TABLE = '"<script>alert(3)</script>"'
LONG_SERVICE = "inventory-reconciliation-worker"
BACKFILL_SECONDS = 600  # of history made up at start
LEGACY_UNTIL = 300  # seconds before the start
GHOST_SECONDS = 20
HANG_LIMIT_SECONDS = 60  # a hung request is answered after this at the latest

# service, namespace, containers (name, image)
SERVICES = [
    ("web", "shop", [("web-1", "shop/web:1.4"), ("web-2", "shop/web:1.4")]),
    ("api", "shop", [("api-1", "shop/api:2.0")]),
    ("cache", "shop", [("cache-1", "redis:7")]),
    ("db", "shop", [("db-1", "postgres:15")]),
    (XSS_SERVICE, "shop", [("evil-1", "evil:latest")]),
    (LONG_SERVICE, "shop", [("inventory-1", "shop/inventory:0.9")]),
    ("legacy", "shop", [("legacy-1", "shop/legacy:0.1")]),
    ("payments", "billing", [("payments-1", "billing/payments:3")]),
    ("ledger", "billing", [("ledger-1", "billing/ledger:3")]),
]
OUTSIDE = "198.51.100.7"  # a client no container owns: INTERNET (never contacted, only named in records)

# client, server: HTTP requests per second (200, 404, 500)
EDGES = {
    ("INTERNET", "web"): (40, 0, 0),
    ("web", "api"): (28, 2, 0),
    ("api", "cache"): (55, 0, 0),
    ("api", "db"): (12, 0, 0),
    ("api", XSS_SERVICE): (0, 0, 3),
    (LONG_SERVICE, "db"): (2, 0, 0),
    ("api", "payments"): (5, 0, 0),
    ("payments", "ledger"): (6, 0, 0),
}
LEGACY_EDGE = ("web", "legacy")
FAILING_EDGE = ("api", "db")
SAMPLED_EDGE = ("web", "api")
REDIS_EDGE = ("api", "cache")  # its samples are Redis commands, api -> db's are SQL (its counts stay HTTP's)
SQL_EDGE = ("api", "db")
FIFTH_FAILING_EDGE = ("web", "api")  # 40 ok and 10 500s a second when switched on
NEW_EDGE = ("web", "cache")
LOSSY_EDGE = ("api", "cache")  # the ring buffer drops some of its samples every second: an incomplete edge
LONG_TARGET = "/reports/" + "quarterly-revenue-by-region-" * 8


def postgres_query(sql: str) -> bytes:
    """A PostgreSQL Query message, as a client sends it."""
    body = sql.encode() + b"\x00"
    return b"Q" + (len(body) + 4).to_bytes(4, "big") + body


def container_id(name: str) -> str:
    return f"{name}-0123456789ab"


class SyntheticAgent:
    def __init__(self) -> None:
        self.started = time.time()
        self.failing = False  # api -> db answers half its requests with 500
        self.fifth_failing = False  # web -> api answers a fifth of its requests with 500
        self.new_edge = False  # web starts calling cache
        self.down = False  # the API answers 503, as a proxy in front of a stopped agent would
        self.frozen = False  # no drains, and the graph's clock stops: its data goes stale
        self.answering = threading.Event()  # cleared: /api/graph requests hang, as behind a stuck proxy
        self.answering.set()
        self.stopped: set[str] = set()  # services whose containers are gone
        self.paths: list[str] = []  # every path the browser asked for
        self.failures: dict[str, int] = {}  # path: how many more of its requests fail (503), as a dropped file would
        self.now = self.started - BACKFILL_SECONDS
        self.tgids = {name: 100 + i for i, (name, _, _) in enumerate(SERVICES)}
        self.ips = {name: f"10.0.7.{10 + i}" for i, (name, _, _) in enumerate(SERVICES)}
        endpoints = {name: Endpoint(name, ns, f"c-{i}") for i, (name, ns, _) in enumerate(SERVICES)}
        self.identity = FakeIdentity(
            processes={self.tgids[n]: e for n, e in endpoints.items()},
            addresses={self.ips[n]: e for n, e in endpoints.items()},
        )
        config = parse_config({"ghost_seconds": GHOST_SECONDS})
        # what Docker's event stream told: legacy went away, cache was OOM-killed and came back
        self.identity.events = [
            ContainerEvent(self.started - LEGACY_UNTIL, "die", "legacy", "shop", "legacy-1"),
            ContainerEvent(self.started - 100, "oom", "cache", "shop", "cache-1"),
            ContainerEvent(self.started - 95, "start", "cache", "shop", "cache-1"),
        ]
        # containers' health from Docker events the tests send (container_event); no cgroup holds these ids
        self.containers = ContainerHealth(CgroupStats("v2"), 10, clock=lambda: self.now)
        self.graph = Graph(self.identity, config, clock=lambda: self.now, containers=self.containers)
        self.app = create_app(GraphSource(self.graph, self.identity, lambda: (True, "synthetic"), [], self.containers),
                              config)
        self.app.before_request(self.before_request)
        self.stop = threading.Event()
        while self.now < self.started:
            self.drain(self.now + 1)
        self.thread = threading.Thread(target=self.run, name="synthetic-agent", daemon=True)

    def __enter__(self) -> "SyntheticAgent":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            if not self.frozen:
                self.drain(time.time())

    def container_event(self, action: str, container: str, **attributes: str) -> None:
        """A Docker event about one container (by name), now."""
        self.containers.on_event({"Type": "container", "Action": action, "timeNano": int(self.now * 1e9),
                                  "Actor": {"ID": container_id(container), "Attributes": attributes}})

    def before_request(self):
        self.paths.append(request.path)
        if self.failures.get(request.path, 0) > 0:
            self.failures[request.path] -= 1
            return "dropped by the test", 503
        if self.down and request.path.startswith("/api/"):
            return jsonify(error="the agent is stopped"), 503
        if request.path == "/api/graph":
            self.answering.wait(HANG_LIMIT_SECONDS)
        return None

    def legacy_gone(self, now: float) -> bool:
        return now >= self.started - LEGACY_UNTIL

    def update_services(self, now: float) -> None:
        gone = self.stopped | ({"legacy"} if self.legacy_gone(now) else set())
        self.identity.service_list = [
            ServiceInfo(name, ns, [ContainerInfo(container_id(c), c, image, "running", "synthetic-host",
                                                 self.started - 3725, None) for c, image in containers])
            for name, ns, containers in SERVICES if name not in gone
        ]

    def edges(self, now: float) -> dict[tuple[str, str], tuple[int, int, int]]:
        edges = dict(EDGES)
        if not self.legacy_gone(now):
            edges[LEGACY_EDGE] = (8, 0, 0)
        if self.failing:
            edges[FAILING_EDGE] = (6, 0, 6)
        if self.fifth_failing:
            edges[FIFTH_FAILING_EDGE] = (40, 0, 10)
        if self.new_edge:
            edges[NEW_EDGE] = (7, 0, 0)
        return {pair: rates for pair, rates in edges.items() if not self.stopped & set(pair)}

    def drain(self, now: float) -> None:
        """One collector pass: each edge's requests of the last second, as its server saw them."""
        self.update_services(now)
        wobble = int(now) % 3  # so that rates move a little on every refresh
        flows, events = [], []
        for (client, server), rates in self.edges(now).items():
            counts = {}
            for status, count in zip(("200", "404", "500"), rates):
                if count:
                    counts.update(requests("http", status, count + wobble, latency_us=1500 + 1000 * wobble))
            peer = OUTSIDE if client == "INTERNET" else self.ips[client]
            server_key = key(self.tgids[server], peer, SERVER)
            flows.append(flow(server_key, counts, opens=1, closes=1, bytes_received=300 * sum(rates),
                              bytes_sent=1500 * sum(rates), events_lost=2 if (client, server) == LOSSY_EDGE else 0))
            if (client, server) == SAMPLED_EDGE:
                events.append(RequestSample(server_key, "http", "200", 3400, f"GET {XSS_PATH} HTTP/1.1\r\n\r\n".encode(),
                                            b"HTTP/1.1 200 OK\r\n\r\n", now - 0.5))
                events.append(RequestSample(server_key, "http", "201", 18700, b"POST /orders HTTP/1.1\r\n\r\n",
                                            b"HTTP/1.1 201 Created\r\n\r\n", now - 0.2))
                events.append(RequestSample(server_key, "http", "500", 9100, f"GET {LONG_TARGET} HTTP/1.1\r\n\r\n".encode(),
                                            b"HTTP/1.1 500 Internal Server Error\r\n\r\n", now - 0.8))
            if (client, server) == REDIS_EDGE:
                key_bytes = XSS_REDIS_KEY.encode()
                events.append(RequestSample(server_key, "redis", "ok", 200,
                                            b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key_bytes), key_bytes),
                                            b"$-1\r\n", now - 0.4))
            if (client, server) == SQL_EDGE:
                events.append(RequestSample(server_key, "postgres", "ok", 900, postgres_query(
                    f"SELECT * FROM {XSS_SQL_TABLE} WHERE id = 42"), b"C\x00\x00\x00\x0dSELECT 1\x00", now - 0.3))
        self.now = now
        self.graph.ingest(Drain(now, flows, events, {}))
