"""What happened to containers, from the Docker event stream, for the dashboard's timeline: starts, deaths,
OOM kills, and a service's first container on a new image. Bounded: the oldest events are forgotten."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable, NamedTuple

from . import naming
from .model import ContainerRecord

MAX_EVENTS = 2000
KINDS = {"start": "start", "die": "die", "oom": "oom"}  # Docker's action -> the timeline's kind
NEW_IMAGE = "image"


class ContainerEvent(NamedTuple):
    t: float  # unix seconds
    kind: str  # start | die | oom | image
    service: str
    namespace: str
    container: str


class ContainerEvents:
    def __init__(self, max_events: int = MAX_EVENTS):
        self._lock = threading.Lock()
        self._events: deque[ContainerEvent] = deque(maxlen=max_events)
        self._images: dict[tuple[str, str], str] = {}  # (service, namespace) -> the image it last started

    def seed(self, records: Iterable[ContainerRecord]) -> None:
        """The images services run now (a full listing), so that the next new one is noticed."""
        with self._lock:
            for record in records:
                if record.info.state == "running":
                    self._images[record.endpoint.service, record.endpoint.namespace] = record.info.image

    def record(self, event: dict[str, Any]) -> None:
        """One container event of Docker's stream; actions other than start, die and oom are ignored."""
        kind = KINDS.get(event.get("Action", ""))
        if kind is None:
            return
        actor = event.get("Actor") or {}
        attributes = dict(actor.get("Attributes") or {})
        name, image = attributes.pop("name", ""), attributes.pop("image", "")
        endpoint = naming.container_endpoint(attributes, name, actor.get("ID"))
        when = event.get("timeNano", 0) / 1e9 or float(event.get("time", 0))
        service = (endpoint.service, endpoint.namespace)
        with self._lock:
            self._events.append(ContainerEvent(when, kind, *service, name))
            if kind == "start":
                before = self._images.get(service)
                self._images[service] = image
                if before is not None and image != before:
                    self._events.append(ContainerEvent(when, NEW_IMAGE, *service, name))

    def since(self, t: float) -> list[ContainerEvent]:
        """The events at or after unix time `t`, oldest first."""
        with self._lock:
            return [e for e in self._events if e.t >= t]
