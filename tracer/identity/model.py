"""The names identity hands to the rest of the agent, and what it keeps about each container."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

DEFAULT_NAMESPACE = "default"
# Processes outside containers and unseen local peers: kept out of the namespaces of real services, so that
# e.g. the dashboard's own polling by a browser on this host does not show up in one.
HOST_NAMESPACE = "host"
# Outside peers named by the DNS names local processes resolved to their addresses (dns_names.py).
EXTERNAL_NAMESPACE = "external"


class Endpoint(NamedTuple):
    """One end of a flow as users name it."""

    service: str  # e.g. "api", "host:curl", "INTERNET", "api.example.com"
    namespace: str  # e.g. "shop", "default", "host", "external"; "" for INTERNET
    container_id: Optional[str] = None  # 64-hex for containers, None otherwise
    provisional: bool = False  # a container named by its id while identity waits for its record


INTERNET = Endpoint("INTERNET", "", None)
# A local address whose socket owner we did not see (no flow of a host process matched it).
HOST = Endpoint("host", HOST_NAMESPACE, None)


class ContainerInfo(NamedTuple):
    id: str
    name: str
    image: str
    state: str  # Docker's State.Status: created, running, paused, restarting, exited, dead
    node: str
    started_at: Optional[float]  # unix seconds; None if never started
    task_slot: Optional[int]  # Swarm replica slot; None outside replicated Swarm services


class ServiceInfo(NamedTuple):
    service: str
    namespace: str
    containers: list[ContainerInfo]


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str  # "0.0.0.0" or "::" when bound to every address
    host_port: int
    container_port: int


@dataclass(frozen=True)
class ContainerRecord:
    """Everything identity needs about one container, taken from one `docker inspect` (or its runtime's
    equivalent)."""

    info: ContainerInfo
    endpoint: Endpoint
    pid: int  # main process on the host, 0 when not running
    addresses: tuple[str, ...]  # its IPs on every network it is attached to
    gateways: tuple[str, ...]  # its networks' gateways: addresses of this host
    published: tuple[PublishedPort, ...]
    host_network: bool  # shares the host's network namespace (--network host)
    runtime: str = "docker"  # the source that reported it: each resync replaces only its own containers

    @property
    def id(self) -> str:
        return self.info.id

    def publishes(self, container_port: int) -> bool:
        return any(p.container_port == container_port for p in self.published)
