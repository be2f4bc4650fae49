"""The other end of a flow, from its address, and published-port traffic shown as INTERNET -> service.

Addresses are tried in this order: a container's IP (from its networks), a Swarm virtual IP (its service),
a Kubernetes Service's ClusterIP (the workload behind it), loopback inside a container (that same container),
an address of this host, another node's container (remote.py), the DNS name the local end resolved to the
address (dns_names.py, namespace `external`), anything else (INTERNET).

Flow keys carry no client port, so the other end of a flow is found by pairing it with the flows of this
host's own sockets (every drain notes them all before naming any):
- a client's peer (addr, server port) pairs with a server flow whose local end is (addr, server port);
- a server's peer addr pairs with a client flow from that addr to this server address and port, and with
  that client's process when the kernel could tell it (peer_tgid: the client runs on this host).
An address of this host (loopback from a host process, a host interface, a Docker network's gateway) is
named after the process whose socket pairs with it, else it is `host`. Any other address is INTERNET unless
it pairs with a socket of this host (a container Docker has not described yet, for one) or another node's
agent publishes it (remote.py). When several processes without peer_tgid pair with one server flow (same
address, same port), the server-side counters cannot be split: the most recently seen one is named.

Published ports. docker-proxy relays a published port: it accepts the outside client (its server flow) and
connects to the container from the network's gateway address (its client flow). With the userland proxy off,
DNAT rewrites the destination and the container sees the original client, or the gateway for traffic that
started on the host. In both cases a host process that calls the container's IP directly ALSO arrives from
the gateway address, so the address alone cannot tell them apart. We tell them apart by the pairing above:
- the container's server flow whose peer pairs with docker-proxy's client flow is INTERNET -> service; one
  that pairs with another host process's client flow is host:<comm> -> service;
- unpaired, a server flow from the gateway to a published container port counts as INTERNET (DNAT);
- docker-proxy's own client flow to the container is INTERNET -> service (its local end is INTERNET);
- docker-proxy's server flow is the relay's front half: it carries no edge of its own (the container's
  flows already count the traffic), so `name` returns None for it;
- a client calling a published port (the pair is docker-proxy, or the port is published on that address)
  is client -> INTERNET: the published port is the service's public entrance.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional, Sequence

from tracer.capture.records import CLIENT, FlowKey

from .addresses import HostAddresses, is_loopback, normalize
from .model import HOST, INTERNET, ContainerRecord, Endpoint
from .naming import external_endpoint
from .registry import ContainerRegistry

PROXY_COMM = "docker-proxy"
# How long a socket seen in one drain still pairs with flows of later drains.
SOCKET_TTL_SECONDS = 60.0


class LocalEnd(NamedTuple):
    endpoint: Endpoint
    record: Optional[ContainerRecord]  # None for a host process or a container not fetched yet
    host_netns: bool  # a host process, or a container on the host's network
    is_proxy: bool  # docker-proxy relaying a published port


class _Seen(NamedTuple):
    endpoint: Endpoint
    is_proxy: bool


class _Sockets:
    """Local sockets by address, with when each owner was last seen."""

    def __init__(self) -> None:
        self._seen: dict[tuple, dict[_Seen, float]] = {}

    def add(self, key: tuple, seen: _Seen, now: float) -> None:
        self._seen.setdefault(key, {})[seen] = now

    def pick(self, key: tuple) -> Optional[_Seen]:
        owners = self._seen.get(key)
        if not owners:
            return None
        # latest first; on a tie a real process before the proxy, then by name, so the answer is stable
        return max(owners, key=lambda s: (owners[s], not s.is_proxy, s.endpoint))

    def prune(self, now: float) -> None:
        for key, owners in list(self._seen.items()):
            for seen, last in list(owners.items()):
                if now - last > SOCKET_TTL_SECONDS:
                    del owners[seen]
            if not owners:
                del self._seen[key]


class PeerResolver:
    """Names peers for the drain thread (only that thread calls it)."""

    def __init__(self, registry: ContainerRegistry, host_addresses: HostAddresses,
                 clock: Callable[[], float] = time.monotonic,
                 remote: Optional[Callable[[str], Optional[Endpoint]]] = None,
                 cluster_ip: Optional[Callable[[str], Optional[Endpoint]]] = None,
                 dns_name: Callable[[Optional[str], str], Optional[str]] = lambda reader, addr: None):
        self._registry = registry
        self._host_addresses = host_addresses
        self._remote = remote  # another node's endpoint at an address, if one is published
        self._cluster_ip = cluster_ip  # the workload behind a Kubernetes Service's ClusterIP (kube_services.py)
        self._dns_name = dns_name  # (container id or None for the host, address) -> the name it resolved
        self._clock = clock
        self._servers = _Sockets()  # (local addr, server port)
        self._clients = _Sockets()  # (local addr, peer addr, server port)
        self._client_tasks = _Sockets()  # (local addr, peer addr, server port, tgid)

    def name_flows(self, keys: Sequence[FlowKey], ends: Sequence[LocalEnd]) -> list[Optional[Endpoint]]:
        """The peer of each flow of one drain (None: docker-proxy's accepting half, which carries no edge).
        All sockets are noted first, so pairing does not depend on the order of the keys."""
        now = self._clock()
        for key, local in zip(keys, ends):
            self._observe(key, local, now)
        for sockets in (self._servers, self._clients, self._client_tasks):
            sockets.prune(now)
        return [self._name(key, local) for key, local in zip(keys, ends)]

    def _observe(self, key: FlowKey, local: LocalEnd, now: float) -> None:
        local_addr = normalize(key.local_addr)
        if is_loopback(local_addr) and not local.host_netns:
            return  # a container's own loopback: it pairs with nothing outside that container
        seen = _Seen(local.endpoint, local.is_proxy)
        if key.role == CLIENT:
            client = (local_addr, normalize(key.peer_addr), key.server_port)
            self._clients.add(client, seen, now)
            self._client_tasks.add(client + (key.tgid,), seen, now)
        else:
            self._servers.add((local_addr, key.server_port), seen, now)

    def by_address(self, addr: str, local: LocalEnd) -> Endpoint:
        """The peer from its address alone, without pairing."""
        addr = normalize(addr)
        known = self._known(addr, local)
        if known is not None:
            return known
        if is_loopback(addr) or addr in self._host_addresses:
            return HOST
        return self._elsewhere(addr, local)

    def _known(self, addr: str, local: LocalEnd) -> Optional[Endpoint]:
        """A container's IP, a Swarm virtual IP, a Kubernetes ClusterIP, or loopback inside a container."""
        record = self._registry.container_at(addr)
        if record is not None:
            return record.endpoint
        vip = self._registry.vip(addr) or (self._cluster_ip and self._cluster_ip(addr))
        if vip is not None:
            return vip
        if is_loopback(addr) and not local.host_netns:
            return local.endpoint
        return None

    def _elsewhere(self, addr: str, local: LocalEnd) -> Endpoint:
        """An address that is neither this host's nor paired: another node's published endpoint, the name the
        local end resolved to it, or INTERNET."""
        remote = self._remote and self._remote(addr)
        if remote:
            return remote
        name = self._dns_name(local.endpoint.container_id, addr)
        return external_endpoint(name) if name else INTERNET

    def _client_task(self, key: FlowKey, peer_addr: str) -> Optional[_Seen]:
        """The client socket of a server flow whose client process the kernel named (FlowKey.peer_tgid). It
        comes before the address: containers that come and go within one drain can take the same address
        one after the other, and their requests to one server differ only in their client process."""
        if key.role == CLIENT or not key.peer_tgid:
            return None
        return self._client_tasks.pick((peer_addr, normalize(key.local_addr), key.server_port, key.peer_tgid))

    def _other_end(self, key: FlowKey, peer_addr: str) -> Optional[_Seen]:
        """The local socket at the other end of this flow, if we saw one."""
        if key.role == CLIENT:
            return self._servers.pick((peer_addr, key.server_port))
        return self._clients.pick((peer_addr, normalize(key.local_addr), key.server_port))

    def _name(self, key: FlowKey, local: LocalEnd) -> Optional[Endpoint]:
        if local.is_proxy and key.role != CLIENT:
            return None
        peer_addr = normalize(key.peer_addr)
        client_task = self._client_task(key, peer_addr)
        if client_task is not None:
            return INTERNET if client_task.is_proxy else client_task.endpoint
        known = self._known(peer_addr, local)
        if known is not None:
            return known
        other = self._other_end(key, peer_addr)
        if not (is_loopback(peer_addr) or peer_addr in self._host_addresses):
            # not ours by address, but a socket of this host: a container not inspected yet, say
            return other.endpoint if other else self._elsewhere(peer_addr, local)
        if key.role == CLIENT:
            if (other and other.is_proxy) or self._registry.publishes(peer_addr, key.server_port):
                return INTERNET
            return other.endpoint if other else HOST
        if other is not None:
            return INTERNET if other.is_proxy else other.endpoint
        if local.record is not None and local.record.publishes(key.server_port):
            return INTERNET
        return HOST
