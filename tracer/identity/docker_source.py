"""The only code that talks to Docker: list containers at start, follow the event stream, and after the
daemon restarts or the socket drops, reconnect with backoff and resync fully.

The daemon keeps a short event backlog and none across its restarts, so every (re)connection opens the
event stream first, then lists and inspects every container: nothing that happens in between is missed.
The event thread itself only reads events: Docker calls they cause (inspecting a container, listing
services) are scheduled on identity's background worker, in order, so that a container's start is never
stuck behind them. On start it notes the container's cgroups and names it from the event's labels at once:
the container may run for a moment only.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Hashable, Optional

import docker
import requests

from .containers import record_from_inspect, record_from_start_event, service_vips
from .model import ContainerRecord, Endpoint
from .registry import ContainerRegistry
from .timeline import ContainerEvents

log = logging.getLogger(__name__)

RUNTIME = "docker"  # ContainerRecord.runtime of the containers this source reports

# Reconnect quickly (the issue asks for a resync within 5 s of the daemon's return) without spinning.
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 2.0
API_TIMEOUT_SECONDS = 10
# Container events that can change what we know (state, name, networks); destroy removes it.
CONTAINER_ACTIONS = frozenset({"start", "restart", "die", "pause", "unpause", "rename", "update"})
EVENT_TYPES = ["container", "network", "service"]
DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)

Schedule = Callable[[Hashable, Callable[[], None]], None]  # (key, job): run job on the background worker


class DockerSource:
    def __init__(self, registry: ContainerRegistry, node: str, docker_url: Optional[str],
                 learn: Callable[[str, int], None], network_changed: Callable[[], None], schedule: Schedule,
                 events: ContainerEvents, on_event: Callable[[dict], None] = lambda event: None):
        self._registry = registry
        self._events = events
        self._node = node
        self._docker_url = docker_url
        self._learn = learn  # (container id, pid or 0): remember the container's cgroups while it runs
        self._network_changed = network_changed  # networks came or went (host addresses may have changed)
        self._schedule = schedule
        self._on_event = on_event  # every event, for whoever follows containers' lives (tracer/container_health)
        self._stopping = threading.Event()
        self._stream: Any = None
        self._thread: Optional[threading.Thread] = None
        self._worker_api: Optional[docker.APIClient] = None  # used by background jobs only
        self.connected = False
        self.resyncs = 0  # full resyncs done, the first listing included

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="identity-docker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join()

    def inspect_later(self, container_id: str) -> None:
        """Fetch one container in the background (also for one seen in a flow before Docker told us)."""
        self._schedule(("inspect", container_id), lambda: self._on_worker(self._inspect, container_id))

    def _client(self) -> docker.APIClient:
        kwargs = {"base_url": self._docker_url} if self._docker_url else docker.utils.kwargs_from_env()
        return docker.APIClient(version="auto", timeout=API_TIMEOUT_SECONDS, **kwargs)

    def _run(self) -> None:
        backoff, outage_logged = BACKOFF_FIRST_SECONDS, False
        while not self._stopping.is_set():
            reason = "event stream ended"
            try:
                self._follow(self._client())
                if self.connected:
                    backoff = BACKOFF_FIRST_SECONDS
            except DOCKER_ERRORS as err:
                reason = str(err)
            except Exception:  # a bug here must not end naming for good: report it, reconnect
                log.exception("Docker event handling failed")
                reason = "internal error"
            was_connected, self.connected = self.connected, False
            if self._stopping.is_set():
                break
            if was_connected or not outage_logged:
                log.warning("Docker unreachable (%s): naming processes by cgroup and command until it returns",
                            reason)
                outage_logged = True
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _follow(self, api: docker.APIClient) -> None:
        self._stream = api.events(decode=True, filters={"type": EVENT_TYPES})
        if self._stopping.is_set():  # stop() ran before the stream existed
            self._stream.close()
            return
        count = self._resync(api)
        self.connected = True
        log.info("Docker connected: %d containers", count)
        for event in self._stream:
            self._handle(event)
            self._on_event(event)

    def _resync(self, api: docker.APIClient) -> int:
        records = []
        for summary in api.containers(all=True):
            try:
                records.append(record_from_inspect(api.inspect_container(summary["Id"]), self._node))
            except docker.errors.NotFound:
                continue  # removed since the listing
            except ValueError as err:
                log.error("skipping container %s: %s", summary["Id"][:12], err)
        self._registry.replace_all(records, RUNTIME)
        self._events.seed(records)
        for record in records:
            self._learn(record.id, record.pid)
        self._registry.set_vips(_vips(api))
        self._network_changed()
        self.resyncs += 1
        return len(records)

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("Type")
        action = event.get("Action", "").split(":")[0]  # "health_status: healthy" -> "health_status"
        actor = event.get("Actor") or {}
        if kind == "container":
            self._events.record(event)
            container_id = actor.get("ID", "")
            if action == "start":
                self._learn(container_id, 0)
                if self._registry.record(container_id) is None:
                    self._upsert_from_event(event)
            if action in CONTAINER_ACTIONS:
                self.inspect_later(container_id)
            elif action == "destroy":  # queued behind any inspection of it, which must not revive it
                self._schedule(("remove", container_id), lambda: self._registry.remove(container_id, RUNTIME))
        elif kind == "network":
            container_id = (actor.get("Attributes") or {}).get("container")
            if container_id and action in ("connect", "disconnect"):
                self.inspect_later(container_id)
            self._network_changed()
        elif kind == "service":
            self._schedule("vips", lambda: self._on_worker(self._refresh_vips))

    def _upsert_from_event(self, event: dict[str, Any]) -> None:
        try:
            record = record_from_start_event(event["Actor"], self._node, event.get("timeNano", 0) / 1e9)
        except ValueError as err:
            log.error("%s", err)
            return
        self._registry.upsert(record)

    def _on_worker(self, job: Callable[..., None], *args: Any) -> None:
        """Run a Docker job on the worker's own client; quiet when Docker is down (the event thread says so).
        A failure is tried once more on a new client: after a daemon restart the old connection is dead."""
        for attempt in (1, 2):
            try:
                if self._worker_api is None:
                    self._worker_api = self._client()
                job(self._worker_api, *args)
                return
            except DOCKER_ERRORS as err:
                self._worker_api = None
                if attempt == 2:
                    log.debug("Docker call from the background failed: %s", err)

    def _inspect(self, api: docker.APIClient, container_id: str) -> None:
        try:
            record: ContainerRecord = record_from_inspect(api.inspect_container(container_id), self._node)
        except docker.errors.NotFound:
            self._registry.remove(container_id, RUNTIME)
            return
        except ValueError as err:
            log.error("skipping container %s: %s", container_id[:12], err)
            return
        self._registry.upsert(record)
        self._learn(record.id, record.pid)

    def _refresh_vips(self, api: docker.APIClient) -> None:
        self._registry.set_vips(_vips(api))


def _vips(api: docker.APIClient) -> dict[str, Endpoint]:
    """Swarm services' virtual IPs; only a manager can list services."""
    vips: dict[str, Endpoint] = {}
    if (api.info().get("Swarm") or {}).get("ControlAvailable"):
        for service in api.services():
            try:
                vips.update(service_vips(service))
            except ValueError as err:
                log.error("skipping Swarm service: %s", err)
    return vips
