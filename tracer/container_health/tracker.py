"""What happened to each container (restarts, OOM kills, exit codes, from Docker's event stream) and a short
series of its CPU and memory (sampled from the cgroup files every history interval), as the service panel,
the metrics and the services' notices show them. Docker's thread writes events, the drain thread samples,
HTTP threads read: one lock."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Optional

from tracer.graph.view import ERROR, WARN, GraphView, Notice

from .cgroup_stats import CgroupStats, Usage

RECENT_SECONDS = 600.0  # a restart or OOM kill gives its service a notice for this long
AT_LIMIT_SHARE = 0.9  # memory at or above this share of the limit is "at its memory limit"
SERIES_LENGTH = 30  # samples kept per container: 5 minutes at the default history interval


@dataclass
class _Record:
    restarts: int = 0
    oom_kills: int = 0
    exit_code: Optional[int] = None  # of its last exit
    died: bool = False  # its last lifecycle event was a death: a start now is a restart
    last_restart: float = 0.0  # unix time
    last_oom_kill: float = 0.0
    series: deque = field(default_factory=lambda: deque(maxlen=SERIES_LENGTH))  # (time, cpu s, memory bytes)


class ContainerHealth:
    def __init__(self, stats: CgroupStats, interval_seconds: float, clock: Callable[[], float] = time.time):
        self._stats = stats
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._last_sample = 0.0

    def on_event(self, event: dict) -> None:
        """One event of Docker's stream (Engine API: Type, Action, Actor.ID, Actor.Attributes, time)."""
        if event.get("Type") != "container":
            return
        action = event.get("Action", "")
        actor = event.get("Actor") or {}
        container_id = actor.get("ID", "")
        now = event.get("timeNano", 0) / 1e9 or self._clock()
        with self._lock:
            record = self._records.setdefault(container_id, _Record())
            if action == "die":
                record.died = True
                code = (actor.get("Attributes") or {}).get("exitCode", "")
                record.exit_code = int(code) if code.lstrip("-").isdigit() else None
            elif action == "start":
                if record.died:
                    record.restarts += 1
                    record.last_restart = now
                record.died = False
            elif action == "oom":
                record.oom_kills += 1
                record.last_oom_kill = now
            elif action == "destroy":
                del self._records[container_id]

    def sample_if_due(self, container_ids: Iterable[str]) -> None:
        """Add every running container's CPU and memory to its series, once per interval."""
        now = self._clock()
        if now - self._last_sample < self._interval:
            return
        self._last_sample = now
        usages = {cid: self._stats.read(cid) for cid in container_ids}
        with self._lock:
            for container_id, usage in usages.items():
                if usage is not None:
                    record = self._records.setdefault(container_id, _Record())
                    record.series.append((now, usage.cpu_seconds, usage.memory_bytes))

    def usage(self, container_id: str) -> Optional[Usage]:
        return self._stats.read(container_id)

    def counts(self, container_id: str) -> tuple[int, int]:
        """(restarts, OOM kills) seen since the agent started."""
        with self._lock:
            record = self._records.get(container_id, _Record())
            return record.restarts, record.oom_kills

    def container_json(self, container_id: str) -> dict:
        """One container's health for /api/services: usage now, events, and its series with CPU as cores."""
        usage = self.usage(container_id)
        with self._lock:
            record = self._records.get(container_id, _Record())
            series = list(record.series)
            facts = (record.restarts, record.oom_kills, record.exit_code)
        return {
            "cpu_seconds": usage and usage.cpu_seconds,
            "memory_bytes": usage and usage.memory_bytes,
            "memory_limit_bytes": usage and usage.memory_limit_bytes,
            "restarts": facts[0],
            "oom_kills": facts[1],
            "exit_code": facts[2],
            "series": [{"time": t, "cpu_cores": (cpu - prev_cpu) / (t - prev_t), "memory_bytes": memory}
                       for (prev_t, prev_cpu, _), (t, cpu, memory) in zip(series, series[1:])
                       if t > prev_t and cpu >= prev_cpu],
        }

    def notices(self, containers: list) -> tuple[Notice, ...]:
        """A service's notices from its containers (identity's ContainerInfo): recent OOM kills and restarts,
        and memory at its limit."""
        now = self._clock()
        out = []
        for container in containers:
            with self._lock:
                record = self._records.get(container.id, _Record())
                oom, restart, code = record.last_oom_kill, record.last_restart, record.exit_code
            if now - oom <= RECENT_SECONDS:
                out.append(Notice(f"container {container.name} was OOM-killed", ERROR))
            if now - restart <= RECENT_SECONDS:
                exited = "" if code is None else f" after exiting with code {code}"
                out.append(Notice(f"container {container.name} restarted{exited}", WARN))
            usage = self.usage(container.id) if container.state == "running" else None
            if usage and usage.memory_limit_bytes and usage.memory_bytes >= AT_LIMIT_SHARE * usage.memory_limit_bytes:
                share = usage.memory_bytes / usage.memory_limit_bytes
                out.append(Notice(f"container {container.name} uses {100 * share:.0f}% of its memory limit", WARN))
        return tuple(out)

    def annotate(self, view: GraphView, services: list) -> GraphView:
        """The view with each service's container notices added (services: identity's ServiceInfo)."""
        containers = {(s.service, s.namespace): s.containers for s in services}
        nodes = []
        for node in view.nodes:
            extra = self.notices(containers.get((node.service, node.namespace), []))
            nodes.append(node._replace(notices=node.notices + extra) if extra else node)
        return view._replace(nodes=tuple(nodes))
