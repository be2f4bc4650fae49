"""The agent: probes, identity and the service graph in one process, served over HTTP.

A drain thread owns the collector (BCC wants start, drain and close on one thread): once a second it
drains the kernel's counters and feeds them, named by identity, into the graph. The Flask app reads the
graph from the web server's threads.
"""
from __future__ import annotations

import logging
import signal
import socket
import threading
import time

# waitress: a production WSGI server in pure Python, threads in one process. The graph and prometheus_client's
# custom collectors live in this process's memory, so a pre-fork server (gunicorn) would give each worker an
# empty graph of its own; waitress also needs no compiler and is packaged by Debian.
from waitress import wasyncore
from waitress.server import create_server

from . import __version__
from .collector import Collector
from .config import Config, Listen
from .container_health import CgroupStats, ContainerHealth
from .graph import Graph
from .identity import Identity
from .metrics import IntuitionCollector, SelfStats

log = logging.getLogger(__name__)

DRAIN_INTERVAL = 1.0  # seconds
STALE_DRAIN = 5.0  # seconds without a completed drain before /healthz fails
START_TIMEOUT = 300.0  # compiling the probes takes seconds, more on a busy host


class Agent:
    def __init__(self, config: Config):
        self.config = config
        self.collector = Collector(config.capture)
        self.identity: Identity | None = None
        self.graph: Graph | None = None
        self.container_health: ContainerHealth | None = None
        self._thread = threading.Thread(target=self._run, name="intuition-drain", daemon=True)
        self._started = threading.Event()
        self._stop = threading.Event()
        self._start_error: BaseException | None = None
        self._last_drain = 0.0  # monotonic time of the last drain that reached the graph
        self._drain_error = ""

    def start(self) -> None:
        """Load the probes, connect to Docker and start draining; raises what stopped the probes loading."""
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise TimeoutError(f"the probes did not load within {START_TIMEOUT:.0f} s")
        if self._start_error is not None:
            raise self._start_error

    def _run(self) -> None:
        try:
            self.collector.start()
            info = self.collector.probe_info
            self.container_health = ContainerHealth(CgroupStats(info.cgroup_mode), self.config.history.interval_seconds)
            self.identity = Identity(info.cgroup_root, info.cgroup_mode, on_docker_event=self.container_health.on_event)
            self.identity.start()
            self.graph = Graph(self.identity, self.config, containers=self.container_health)
        except BaseException as e:  # handed to start(), which raises it in the caller's thread
            self._start_error = e
            self.collector.close()
            return
        finally:
            self._started.set()
        try:
            self._drain_every_second()
        finally:
            self.identity.stop()
            self.collector.close()

    def _drain_every_second(self) -> None:
        next_drain = time.monotonic() + DRAIN_INTERVAL
        while not self._stop.wait(max(0.0, next_drain - time.monotonic())):
            next_drain += DRAIN_INTERVAL
            try:
                self.graph.ingest(self.collector.drain())
                self.container_health.sample_if_due(c.id for s in self.identity.services() for c in s.containers)
            except Exception as e:  # keep the agent up; /healthz reports it until a drain succeeds again
                log.exception("drain failed")
                self._drain_error = f"{type(e).__name__}: {e}"
                continue
            self._last_drain = time.monotonic()
            self._drain_error = ""

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def health(self) -> tuple[bool, str]:
        if self.graph is None or self._stop.is_set():
            return False, "probes not attached"
        if not self._last_drain:
            return False, "no drain yet" + (f": {self._drain_error}" if self._drain_error else "")
        age = time.monotonic() - self._last_drain
        if age > STALE_DRAIN:
            return False, f"no drain for {age:.0f} s" + (f": {self._drain_error}" if self._drain_error else "")
        return True, f"probes attached, last drain {age:.1f} s ago"

    def self_stats(self) -> SelfStats:
        return SelfStats(
            version=__version__,
            probes=dict(self.collector.probe_info.hooks),
            events_lost=dict(self.graph.events_lost),
            # malformed traffic the probes met, plus sampled messages that did not parse in user space
            parse_errors={protocol: n + self.collector.parse_errors.get(protocol, 0)
                          for protocol, n in self.graph.parse_errors.totals().items()},
            map_entries=dict(self.collector.map_entries),
            edges_dropped=self.graph.edges_dropped,
            docker_resyncs=self.identity.resyncs,
        )

    def app(self):
        from dashboard.app import create_app
        from dashboard.sources import GraphSource

        metrics = IntuitionCollector(self.graph, self.identity, self.self_stats, self.config.metrics.service_graph,
                                     self.container_health)
        return create_app(GraphSource(self.graph, self.identity, self.health, [metrics], self.container_health),
                          self.config)


class WebServer:
    """waitress serving one WSGI app on one socket; stop() may be called from any thread or a signal handler."""

    def __init__(self, app, listen: Listen):
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        self._socket = socket.create_server((listen.host, listen.port), family=family)
        self._map: dict = {}  # waitress's channels; empty once stop() closed them all, which ends serve()
        self._server = create_server(app, map=self._map, sockets=[self._socket], threads=8, ident="intuition")
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def serve(self) -> None:
        """Serve until stop()."""
        try:
            self._server.run()
        finally:
            self._server.task_dispatcher.shutdown()

    def stop(self) -> None:
        if self._stopping.is_set():  # a second Ctrl-C or SIGTERM while shutting down
            return
        self._stopping.set()
        # closing the channels inside waitress's loop thread keeps it from polling a closed socket
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))


def main(command: str, config: Config, prometheus: str | None = None) -> int:
    """`intuition run`, `intuition agent` and `intuition dashboard`: serve until SIGINT or SIGTERM."""
    if not config.listen.loopback and config.auth.mode == "none":
        log.warning("listening on %s without auth: anyone who reaches it sees the service map", config.listen)
    if command == "dashboard":
        return _dashboard(config, prometheus)
    agent = Agent(config)
    agent.start()
    try:
        _serve(agent.app(), config.listen)
    finally:
        agent.stop()
    return 0


def _dashboard(config: Config, prometheus: str) -> int:
    """The cluster view from Prometheus: no probes, so no root."""
    from dashboard.app import create_app
    from dashboard.prometheus_source import PrometheusSource

    try:
        source = PrometheusSource(prometheus)
    except ValueError as e:
        log.error("%s", e)
        return 2
    healthy, detail = source.health()
    if not healthy:  # it may come up later; until then the page shows no data and /healthz says why
        log.warning("%s", detail)
    _serve(create_app(source, config), config.listen)
    return 0


class ListenError(Exception):
    """The listen address is taken or not this host's."""


def _serve(app, listen: Listen) -> None:
    try:
        server = WebServer(app, listen)
    except OSError as e:
        raise ListenError(f"cannot serve on {listen}: {e.strerror or e}") from e
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop())
    log.info("serving on http://%s/", listen._replace(port=server.port))  # the port chosen for port 0
    server.serve()
