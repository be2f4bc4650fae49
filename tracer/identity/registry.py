"""The containers identity knows, shared between the Docker thread (writer) and the drain thread (reader)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Optional

from .addresses import WILDCARDS, AddressTable, normalize
from .model import ContainerRecord, Endpoint, ServiceInfo

# How long a removed container and a released address still name late flows. The collector drains once a
# second, so a minute covers any lag while keeping reuse of an address by a new container safe (that
# reassigns it at once anyway).
RETAIN_SECONDS = 60.0


class ContainerRegistry:
    def __init__(self, clock: Callable[[], float] = time.monotonic, retain: float = RETAIN_SECONDS,
                 on_forget: Callable[[str], None] = lambda container_id: None):
        self._clock = clock
        self._retain = retain
        self._on_forget = on_forget  # told each container id pruned, so that caches keyed by it follow
        self._lock = threading.Lock()
        self._records: dict[str, ContainerRecord] = {}
        self._removed_at: dict[str, float] = {}  # container id -> when Docker destroyed it
        self._addresses = AddressTable(retain)
        self._vips: dict[str, Endpoint] = {}
        self._published: dict[int, list[tuple[str, str]]] = {}  # host port -> [(host ip, container id)]

    def upsert(self, record: ContainerRecord) -> None:
        now = self._clock()
        with self._lock:
            self._records[record.id] = record
            self._removed_at.pop(record.id, None)
            self._index_published()
        self._addresses.set_addresses(record.id, record.addresses, now)

    def remove(self, container_id: str, runtime: str) -> None:
        """The runtime says the container is gone; another runtime's container of that id stays."""
        now = self._clock()
        with self._lock:
            record = self._records.get(container_id)
            if record is not None and record.runtime != runtime:
                return
            if record is not None:
                self._removed_at.setdefault(container_id, now)
            self._index_published()
        self._addresses.set_addresses(container_id, (), now)
        self.prune()

    def replace_all(self, records: Iterable[ContainerRecord], runtime: str) -> None:
        """A full resync of one runtime: exactly these of its containers exist now."""
        records = list(records)
        current = {r.id for r in records}
        for record in records:
            self.upsert(record)
        for container_id in self.known_ids(runtime) - current:
            self.remove(container_id, runtime)

    def set_vips(self, vips: dict[str, Endpoint]) -> None:
        self._vips = dict(vips)

    def known_ids(self, runtime: str) -> set[str]:
        with self._lock:
            return {i for i, r in self._records.items() if r.runtime == runtime} - set(self._removed_at)

    def record(self, container_id: str) -> Optional[ContainerRecord]:
        """A container's record, also for a while after it was removed."""
        return self._records.get(container_id)

    def container_at(self, addr: str) -> Optional[ContainerRecord]:
        owner = self._addresses.owner(addr, self._clock())
        return self._records.get(owner) if owner else None

    def vip(self, addr: str) -> Optional[Endpoint]:
        return self._vips.get(addr)

    def publishes(self, host_addr: str, host_port: int) -> bool:
        """Whether some container publishes this host port on this address (or on every address)."""
        bindings = self._published.get(host_port, ())
        return any(ip in WILDCARDS or normalize(ip) == host_addr for ip, _ in bindings)

    def gateways(self) -> set[str]:
        with self._lock:
            return {g for r in self._records.values() for g in r.gateways}

    def services(self) -> list[ServiceInfo]:
        grouped: dict[tuple[str, str], list] = {}
        with self._lock:
            live = [r for r in self._records.values() if r.id not in self._removed_at]
        for record in live:
            key = (record.endpoint.service, record.endpoint.namespace)
            grouped.setdefault(key, []).append(record.info)
        return [
            ServiceInfo(service, namespace, sorted(infos, key=lambda i: (i.name, i.id)))
            for (service, namespace), infos in sorted(grouped.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]

    def endpoints(self) -> list[tuple[str, Endpoint]]:
        """Every address held now, with its owner's endpoint: containers' IPs and Swarm virtual IPs."""
        held = [(addr, self._records[owner].endpoint) for addr, owner in self._addresses.held() if owner in self._records]
        return sorted(held + list(self._vips.items()))

    def _index_published(self) -> None:
        # caller holds the lock; published ports of running, not removed containers by host port
        index: dict[int, list[tuple[str, str]]] = {}
        for record in self._records.values():
            if record.id in self._removed_at or record.info.state != "running":
                continue
            for port in record.published:
                index.setdefault(port.host_port, []).append((port.host_ip, record.id))
        self._published = index

    def prune(self) -> None:
        """Forget containers and addresses removed longer than the retention ago."""
        now = self._clock()
        with self._lock:
            forgotten = [container_id for container_id, removed in self._removed_at.items()
                         if now - removed > self._retain]
            for container_id in forgotten:
                del self._removed_at[container_id]
                del self._records[container_id]
        self._addresses.prune(now)
        for container_id in forgotten:
            self._on_forget(container_id)

    def cache_entries(self) -> dict[str, int]:
        """Containers known (the removed ones still retained included) and addresses that name one."""
        with self._lock:
            containers = len(self._records)
        return {"containers": containers, "addresses": len(self._addresses)}
