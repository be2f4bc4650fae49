"""The agent: probes, identity and the service graph in one process, served over HTTP.

A drain thread owns the collector (BCC wants start, drain and close on one thread): once a second it
drains the kernel's counters and feeds them, named by identity, into the graph. Whoever serves the graph
(the command line puts the dashboard's app on it) reads it from other threads.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from . import __version__
from .capture.collector import Collector
from .config import Config

if TYPE_CHECKING:
    from .container_health import ContainerHealth
    from .graph import Graph
    from .identity import Identity
    from .metrics import SelfStats

log = logging.getLogger(__name__)
NODE_NAME_VARIABLE = "INTUITION_NODE_NAME"  # set where the hostname is not the node's (a pod: charts/intuition)


def node_name() -> str:
    """The node this agent runs on, as container_info and endpoint_info name it."""
    return os.environ.get(NODE_NAME_VARIABLE) or socket.gethostname()

DRAIN_INTERVAL = 1.0  # seconds
STALE_DRAIN = 5.0  # seconds without a completed drain before /healthz fails
START_TIMEOUT = 300.0  # compiling the probes takes seconds, more on a busy host
TLS_PENDING = "TLS programs still verifying, TLS plaintext not parsed yet"  # in /healthz while so


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
            # imported once the probes load: tracer/cli.py imports them meanwhile (docs/performance.md, "The agent's
            # imports beside the probes' load")
            from .container_health import CgroupStats, ContainerHealth
            from .graph import Graph
            from .identity import Identity, KubeApi
            info = self.collector.probe_info
            self.container_health = ContainerHealth(CgroupStats(info.cgroup_mode), self.config.history.interval_seconds)
            cluster = self.config.cluster
            self.identity = Identity(info.cgroup_root, info.cgroup_mode, node=node_name(),
                                     on_docker_event=self.container_health.on_event,
                                     cluster_prometheus=cluster.prometheus,
                                     cluster_refresh_seconds=cluster.refresh_seconds,
                                     kube_api=KubeApi.in_cluster())
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
            # identity's threads stop while the probes detach: a SIGTERM has 2 s for both (docs/reliability.md)
            identity_stop = threading.Thread(target=self.identity.stop, name="intuition-identity-stop")
            identity_stop.start()
            self.collector.close()
            identity_stop.join()

    def _drain_every_second(self) -> None:
        next_drain = time.monotonic()  # the first at once: /healthz answers 200 from the first drain on
        while not self._stop.wait(max(0.0, next_drain - time.monotonic())):
            next_drain += DRAIN_INTERVAL
            try:
                drain = self.collector.drain()
                self.identity.learn_dns(drain.dns)  # before the graph names this drain's flows by them
                self.graph.ingest(drain)
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
        tls = f"; {TLS_PENDING}" if self.collector.tls_pending else ""
        return True, f"probes attached, last drain {age:.1f} s ago{tls}"

    def self_stats(self) -> SelfStats:
        from .metrics import SelfStats
        return SelfStats(
            version=__version__,
            probes=dict(self.collector.probe_info.hooks),
            events_lost=dict(self.graph.events_lost),
            # malformed traffic the probes met, plus sampled messages that did not parse in user space
            parse_errors={**{protocol: n + self.collector.parse_errors.get(protocol, 0)
                             for protocol, n in self.graph.parse_errors.totals().items()},
                          "dns": self.identity.dns_parse_errors},
            map_entries=dict(self.collector.map_entries),
            identity_cache_entries=self.identity.cache_entries(),
            edges_dropped=self.graph.edges_dropped,
            docker_resyncs=self.identity.resyncs,
        )
