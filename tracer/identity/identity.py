"""Identity: the one interface through which the agent turns kernel facts into container and service names."""
from __future__ import annotations

import os
import socket
from typing import Callable, Iterable, Optional, Sequence

from tracer.capture.records import DnsAnswer, FlowKey
from tracer.protocols.dns import decode_answers
from tracer.protocols.parsing import ParseError

from .addresses import HostAddresses
from .background import Background
from .cgroup_watch import CgroupWatch
from .cgroups import CgroupFs
from .containerd_source import ContainerdSource
from .kube_api import KubeApi
from .kube_services import SERVICES_REFRESH_SECONDS, ClusterServices
from .dns_names import DnsNames
from .docker_source import DockerSource
from .local import LocalResolver
from .model import INTERNET, ContainerRecord, Endpoint, ServiceInfo
from .naming import host_endpoint, provisional_endpoint
from .peers import PROXY_COMM, LocalEnd, PeerResolver
from .registry import ContainerRegistry
from .remote import RemoteEndpoints
from .timeline import ContainerEvent, ContainerEvents

# Host addresses change only with interfaces and Docker networks (those also trigger a refresh).
PERIODIC_SECONDS = 5.0
# containerd's socket where Kubernetes distributions put it (kubeadm and most; k3s): each one found is followed.
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock")


class Identity:
    """Names both ends of flows. Lookups never wait for Docker: they answer from what is known and queue
    the rest for a background thread. Use `name_flows` for a drain (it pairs flows to tell published-port
    traffic from direct calls); `local`/`peer` name single ends from addresses alone. With a cluster
    Prometheus, addresses of other nodes' containers are named as their agents publish them. With a
    Kubernetes API server (`kube_api`: `KubeApi.in_cluster()` inside a cluster), pods are named by their
    workloads and Services' ClusterIPs by the workloads behind them. Outside addresses are named by the DNS
    names the local ends resolved to them (`learn_dns`)."""

    def __init__(self, cgroup_root: str, cgroup_mode: str, node: str = socket.gethostname(),
                 docker_url: Optional[str] = None, proc_root: str = "/proc",
                 containerd_sockets: Sequence[str] = CONTAINERD_SOCKETS,
                 on_docker_event: Callable[[dict], None] = lambda event: None,
                 cluster_prometheus: str = "", cluster_refresh_seconds: float = 30.0,
                 kube_api: Optional[KubeApi] = None):
        self.node = node
        self._registry = ContainerRegistry(on_forget=lambda container_id: self._local.forget(container_id))
        self._cgroups = CgroupFs(cgroup_root, cgroup_mode, proc_root)
        self._host_addresses = HostAddresses(proc_root, self._registry.gateways)
        self._background = Background("identity-background", self._periodic, PERIODIC_SECONDS)
        self._local = LocalResolver(self._cgroups, self._search_later)
        self._cgroup_watch = CgroupWatch(self._cgroups, self._local.remember)
        # a thread of its own: a slow Prometheus must not hold up container inspections
        remote = RemoteEndpoints(cluster_prometheus, node) if cluster_prometheus else None
        self._remote = Background("identity-remote", remote.refresh, cluster_refresh_seconds) if remote else None
        # with API access: ClusterIPs named by the workload behind them, in a thread of their own too
        services = ClusterServices(kube_api) if kube_api else None
        self._services = (Background("identity-kube-services", services.refresh, SERVICES_REFRESH_SECONDS)
                          if services else None)
        self._dns_names = DnsNames()
        self.dns_parse_errors = 0  # DNS answers whose bytes were no DNS message
        self._peers = PeerResolver(self._registry, self._host_addresses, remote=remote.get if remote else None,
                                   cluster_ip=services.get if services else None, dns_name=self._dns_names.name)
        self._events = ContainerEvents()
        self._docker = DockerSource(self._registry, node, docker_url, self._learn, self._refresh_addresses_later,
                                    self._background.submit, self._events, on_docker_event)
        sockets = [path for path in containerd_sockets if os.path.exists(path)]
        self._containerd = [ContainerdSource(self._registry, node, path, proc_root, self._learn,
                                             self._background.submit, kube_api) for path in sockets]

    def start(self) -> None:
        self._host_addresses.refresh()
        self._background.start()
        self._cgroup_watch.start()
        self._docker.start()
        for source in self._containerd:
            source.start()
        for thread in (self._remote, self._services):
            if thread is not None:
                thread.start()

    def stop(self) -> None:
        for thread in (self._remote, self._services):
            if thread is not None:
                thread.stop()
        for source in self._containerd:
            source.stop()
        self._docker.stop()
        self._cgroup_watch.stop()
        self._background.stop()

    @property
    def docker_connected(self) -> bool:
        return self._docker.connected

    @property
    def containerd_connected(self) -> bool:
        """Whether every containerd socket found is followed (True when there is none)."""
        return all(source.connected for source in self._containerd)

    @property
    def resyncs(self) -> int:
        return self._docker.resyncs

    def cache_entries(self) -> dict[str, int]:
        """Entries of each identity cache, for intuition_identity_cache_entries: containers and addresses
        (removed ones retained a minute, tracer/identity/registry.py), cgroup ids and processes."""
        return {**self._registry.cache_entries(), **self._local.cache_entries()}

    def local(self, cgroup_id: int, tgid: int, comm: str) -> Endpoint:
        return self._local_end(cgroup_id, tgid, comm).endpoint

    def peer(self, addr: str, local: Endpoint) -> Endpoint:
        """The other end from its address alone: without pairing, an address of this host is `host`."""
        record = self._registry.record(local.container_id) if local.container_id else None
        end = LocalEnd(local, record, _in_host_netns(local, record), is_proxy=False)
        return self._peers.by_address(addr, end)

    def name_flows(self, keys: Iterable[FlowKey]) -> list[Optional[tuple[Endpoint, Endpoint]]]:
        """(local end, peer) for each flow key of one drain, in order; None for a flow that carries no edge
        of its own (docker-proxy accepting a published port's traffic: the container's flows count it)."""
        keys = list(keys)
        ends = [self._local_end(k.cgroup_id, k.tgid, k.comm) for k in keys]
        peers = self._peers.name_flows(keys, ends)
        return [None if peer is None else (end.endpoint, peer) for end, peer in zip(ends, peers)]

    def learn_dns(self, answers: Iterable[DnsAnswer]) -> None:
        """Remember the names in the DNS answers local processes read, for naming the addresses they call
        (the drain thread calls it before naming the same drain's flows)."""
        for answer in answers:
            try:
                found = decode_answers(answer.message, answer.transport, answer.length)
            except ParseError:
                self.dns_parse_errors += 1
                continue
            if found:
                reader = self._local_end(answer.key.cgroup_id, answer.key.tgid, answer.key.comm).endpoint
                self._dns_names.learn(reader.container_id, found)

    def services(self) -> list[ServiceInfo]:
        return self._registry.services()

    def endpoints(self) -> list[tuple[str, Endpoint]]:
        return self._registry.endpoints()

    def container_events(self, since: float) -> list[ContainerEvent]:
        """Containers that started, died, were OOM-killed or brought a new image, at or after `since`."""
        return self._events.since(since)

    def _local_end(self, cgroup_id: int, tgid: int, comm: str) -> LocalEnd:
        container_id = self._local.resolve(cgroup_id, tgid, comm)
        if container_id is None:  # a host process (or one gone before we could tell: the best guess)
            if comm == PROXY_COMM:
                return LocalEnd(INTERNET, None, host_netns=True, is_proxy=True)
            return LocalEnd(host_endpoint(comm), None, host_netns=True, is_proxy=False)
        record = self._registry.record(container_id)
        if record is None:
            self._docker.inspect_later(container_id)
            for source in self._containerd:
                source.inspect_later(container_id)
            return LocalEnd(provisional_endpoint(container_id), None, host_netns=False, is_proxy=False)
        return LocalEnd(record.endpoint, record, record.host_network, is_proxy=False)

    def _learn(self, container_id: str, pid: int, runtime_paths: Sequence[str] = ()) -> None:
        if container_id:
            self._local.learn_container(container_id, pid, runtime_paths)

    def _search_later(self, cgroup_id: int) -> None:
        self._background.submit(("search", cgroup_id), lambda: self._local.search(cgroup_id))

    def _refresh_addresses_later(self) -> None:
        self._background.submit("addresses", self._host_addresses.refresh)

    def _periodic(self) -> None:
        self._host_addresses.refresh()
        self._registry.prune()
        self._local.forget_exited_host_processes()
        for source in self._containerd:
            source.periodic()


def _in_host_netns(endpoint: Endpoint, record: Optional[ContainerRecord]) -> bool:
    if record is not None:
        return record.host_network
    return endpoint.container_id is None
