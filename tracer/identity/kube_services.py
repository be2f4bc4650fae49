"""Cluster Service IPs, named after the workload behind them.

kube-proxy DNATs a connection to a Service's ClusterIP to one of the Service's pods. The server's end sees
the real addresses, but the client's socket keeps the ClusterIP as its peer: without this table the client's
end of every call through a Service would name its peer INTERNET. With read-only API access (list services
and endpointslices; get pods and replicasets) the agent reads every SERVICES_REFRESH_SECONDS each Service's
ClusterIPs and the pods its EndpointSlices point at, and names the ClusterIPs as those pods are named
(kube_naming.py). When the pods are unknown (no endpoints yet, a pod the API server cannot describe) or name
more than one workload, the ClusterIPs are named `<namespace>/<service name>`. Headless Services (no
ClusterIP) need nothing here: their DNS names resolve to the pods' own IPs.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional

import requests

from . import kube_naming
from .addresses import normalize
from .kube_api import KubeApi
from .model import Endpoint

log = logging.getLogger(__name__)

SERVICES_PATH = "/api/v1/services"
ENDPOINT_SLICES_PATH = "/apis/discovery.k8s.io/v1/endpointslices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # the Service an EndpointSlice belongs to
# A new Service's ClusterIP names INTERNET at the client's end until the next refresh.
SERVICES_REFRESH_SECONDS = 15.0


class PodRef(NamedTuple):
    """A pod an EndpointSlice points at (its `targetRef`)."""

    namespace: str
    name: str
    uid: str


def endpoint_pods(slices: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], set[PodRef]]:
    """(namespace, service name) -> the pods of its endpoints, from EndpointSlices."""
    pods: dict[tuple[str, str], set[PodRef]] = defaultdict(set)
    for endpoint_slice in slices:
        metadata = endpoint_slice.get("metadata") or {}
        namespace, service = metadata.get("namespace"), (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not (namespace and service):
            continue  # a slice a controller other than the Service's keeps, for no Service
        for endpoint in endpoint_slice.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind") == "Pod" and ref.get("name"):
                pods[(namespace, service)].add(PodRef(ref.get("namespace") or namespace, ref["name"], ref.get("uid", "")))
    return pods


def cluster_ips(services: Iterable[Mapping[str, Any]], pods: Mapping[tuple[str, str], set[PodRef]],
                pod_service: Callable[[PodRef], Optional[str]]) -> dict[str, Endpoint]:
    """ClusterIP -> the endpoint it stands for. `pod_service` names a pod's service (None: it cannot tell)."""
    table = {}
    for service in services:
        metadata, spec = service.get("metadata") or {}, service.get("spec") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if not (namespace and name):
            continue
        addresses = _addresses(spec.get("clusterIPs") or [spec.get("clusterIP")], namespace, name)
        if not addresses:
            continue  # headless, or ExternalName: no address of its own
        named = {pod_service(pod) for pod in pods.get((namespace, name), ())}
        workload = next(iter(named)) if len(named) == 1 else None
        endpoint = Endpoint(workload or name, namespace)
        table.update((addr, endpoint) for addr in addresses)
    return table


def _addresses(ips: Iterable[Any], namespace: str, name: str) -> list[str]:
    addresses = []
    for ip in ips:
        if not ip or ip == "None":
            continue
        try:
            addresses.append(normalize(str(ip)))
        except ValueError:
            log.warning("Service %s/%s: skipping its ClusterIP %r, not an address", namespace, name, ip)
    return addresses


class ClusterServices:
    """The ClusterIP table, refreshed from the API server by a thread of identity's; read by the drain."""

    def __init__(self, api: KubeApi):
        self._api = api
        self._pod_services: dict[PodRef, str] = {}  # pods named before: asked about once in their life
        self._by_address: dict[str, Endpoint] = {}  # replaced whole, so readers never see half an update
        self._failing = False

    def get(self, addr: str) -> Optional[Endpoint]:
        return self._by_address.get(addr)

    def refresh(self) -> None:
        """Reread Services and EndpointSlices; on failure keep the last table (names stay) and say why once."""
        try:
            services = self._api.items(SERVICES_PATH)
            pods = endpoint_pods(self._api.items(ENDPOINT_SLICES_PATH))
        except (requests.RequestException, ValueError) as err:
            if not self._failing:
                log.warning("cannot list Services from the Kubernetes API server (%s): ClusterIPs keep the "
                            "names they had", err)
            self._failing = True
            return
        self._failing = False
        wanted = set().union(*pods.values())
        self._pod_services = {pod: known for pod, known in self._pod_services.items() if pod in wanted}
        table = cluster_ips(services, pods, self._pod_service)
        if table != self._by_address:
            log.info("Kubernetes Services name %d ClusterIPs", len(table))
        self._by_address = table

    def _pod_service(self, pod: PodRef) -> Optional[str]:
        known = self._pod_services.get(pod)
        if known is not None:
            return known
        facts = self._api.pod(pod.namespace, pod.name)
        if facts is None:
            return None  # asked again at the next refresh
        service = kube_naming.pod_service(pod.name, facts.labels, facts.annotations, facts.owners)
        self._pod_services[pod] = service
        return service
