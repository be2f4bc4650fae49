"""Kubernetes Services' ClusterIPs named by the workload behind them: the table from recorded API objects, its
refresh from a stand-in API server, and the client end of a call through a ClusterIP in peer naming."""
import pytest

from tests.helpers.kube_api_server import TOKEN, kube_api_server
from tests.unit.test_identity_kube_api import owned_by
from tests.unit.test_identity_peers import WEB, container, flow, host_addresses, names
from tracer.identity.kube_api import KubeApi
from tracer.identity.kube_services import (ENDPOINT_SLICES_PATH, SERVICE_NAME_LABEL, SERVICES_PATH,
                                           ClusterServices, PodRef, cluster_ips, endpoint_pods)
from tracer.identity.model import INTERNET, Endpoint
from tracer.identity.peers import PeerResolver
from tracer.identity.registry import ContainerRegistry
from tracer.capture.records import CLIENT


def service(namespace, name, *cluster_ips, kind="ClusterIP"):
    """A Service as `GET /api/v1/services` lists it (the fields read here, and a few around them)."""
    spec = {"type": kind, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}
    if kind == "ExternalName":
        spec = {"type": kind, "externalName": "db.example.com"}
    elif cluster_ips:
        spec.update(clusterIP=cluster_ips[0], clusterIPs=list(cluster_ips))
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"svc-{name}", "resourceVersion": "812"},
            "spec": spec, "status": {"loadBalancer": {}}}


def endpoint_slice(namespace, service_name, *pods, suffix="x7k2p"):
    """An EndpointSlice as `GET /apis/discovery.k8s.io/v1/endpointslices` lists it: one endpoint per pod."""
    return {
        "metadata": {"name": f"{service_name}-{suffix}", "namespace": namespace, "generateName": f"{service_name}-",
                     "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                SERVICE_NAME_LABEL: service_name},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service_name,
                                          "uid": f"svc-{service_name}", "controller": True}]},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.244.1.{i + 10}"], "conditions": {"ready": True}, "nodeName": "node-b",
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": f"uid-{pod}"}}
                      for i, pod in enumerate(pods)],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


WORKLOADS = {"web-5d9c7b8f4-x7k2p": "web", "web-5d9c7b8f4-q8m4z": "web", "api-0": "api", "web-canary-0": "canary"}


def by_pod_name(pod):
    return WORKLOADS.get(pod.name)


def table(services, slices):
    return cluster_ips(services, endpoint_pods(slices), by_pod_name)


def test_a_cluster_ip_is_named_by_the_workload_of_its_pods():
    assert table([service("shop", "web-svc", "10.96.0.20")],
                 [endpoint_slice("shop", "web-svc", "web-5d9c7b8f4-x7k2p"),
                  endpoint_slice("shop", "web-svc", "web-5d9c7b8f4-q8m4z", suffix="b9cdf")]) == {
        "10.96.0.20": Endpoint("web", "shop")}


def test_every_cluster_ip_of_a_dual_stack_service_is_named_and_ipv6_is_canonical():
    assert table([service("shop", "api", "10.96.0.30", "fd00:10:96:0:0::1e")],
                 [endpoint_slice("shop", "api", "api-0")]) == {
        "10.96.0.30": Endpoint("api", "shop"), "fd00:10:96::1e": Endpoint("api", "shop")}


@pytest.mark.parametrize("slices, why", [
    ([], "no endpoints yet"),
    ([endpoint_slice("shop", "front", "web-5d9c7b8f4-x7k2p", "web-canary-0")], "two workloads behind it"),
    ([endpoint_slice("shop", "front", "web-5d9c7b8f4-x7k2p", "made-by-hand")], "a pod that cannot be named"),
    ([endpoint_slice("other", "front", "api-0")], "a slice of another namespace's Service of that name"),
])
def test_without_one_known_workload_the_service_name_stands(slices, why):
    assert table([service("shop", "front", "10.96.0.40")], slices) == {"10.96.0.40": Endpoint("front", "shop")}, why


def test_services_without_a_cluster_ip_and_bad_addresses_name_nothing():
    services = [service("shop", "headless", "None"), service("shop", "db", kind="ExternalName"),
                service("shop", "odd", "10.96.0.999"), {"metadata": {"name": "no-namespace"}, "spec": {}},
                service("shop", "api", "10.96.0.30")]
    assert table(services, []) == {"10.96.0.30": Endpoint("api", "shop")}


def test_endpoints_that_are_not_pods_are_left_out():
    external = endpoint_slice("shop", "api", "api-0")
    external["endpoints"].append({"addresses": ["192.0.2.7"], "conditions": {"ready": True}})
    external["endpoints"].append({"addresses": ["192.0.2.8"], "targetRef": {"kind": "Node", "name": "n1"}})
    orphan = endpoint_slice("shop", "", "web-canary-0")  # made by hand, for no Service
    assert endpoint_pods([external, orphan]) == {("shop", "api"): {PodRef("shop", "api-0", "uid-api-0")}}


POD_OBJECTS = {
    "/api/v1/namespaces/shop/pods/web-5d9c7b8f4-x7k2p": {"metadata": {
        "labels": {"pod-template-hash": "5d9c7b8f4"}, "ownerReferences": owned_by("ReplicaSet", "web-5d9c7b8f4")}},
    "/apis/apps/v1/namespaces/shop/replicasets/web-5d9c7b8f4": {"metadata": {
        "ownerReferences": owned_by("Deployment", "web")}},
    "/api/v1/namespaces/shop/pods/api-0": {"metadata": {
        "labels": {"app.kubernetes.io/name": "orders"}, "ownerReferences": owned_by("StatefulSet", "api")}},
}


def cluster_objects():
    """What a stand-in API server holds: two Services with their slices and pods."""
    return {
        SERVICES_PATH: {"kind": "ServiceList", "items": [service("shop", "web", "10.96.0.20"),
                                                         service("shop", "api", "10.96.0.30")]},
        ENDPOINT_SLICES_PATH: {"kind": "EndpointSliceList", "items": [
            endpoint_slice("shop", "web", "web-5d9c7b8f4-x7k2p"), endpoint_slice("shop", "api", "api-0")]},
        **POD_OBJECTS,
    }


@pytest.fixture
def cluster():
    """(ClusterServices over a stand-in API server, that server)."""
    with kube_api_server(cluster_objects()) as server:
        yield ClusterServices(KubeApi(server.url, TOKEN, None)), server


def test_refresh_names_cluster_ips_from_the_api_server(cluster):
    services, server = cluster
    services.refresh()
    assert (services.get("10.96.0.20"), services.get("10.96.0.30")) == (Endpoint("web", "shop"), Endpoint("orders", "shop"))
    assert services.get("10.96.0.99") is None
    pods_asked = [p for p in server.requests if "/pods/" in p]
    services.refresh()
    assert [p for p in server.requests if "/pods/" in p] == pods_asked  # each pod asked about once
    assert sorted(pods_asked) == ["/api/v1/namespaces/shop/pods/api-0", "/api/v1/namespaces/shop/pods/web-5d9c7b8f4-x7k2p"]


def test_a_refused_list_keeps_the_names_it_had(cluster):
    services, server = cluster
    services.refresh()
    server.refuse = True
    services.refresh()
    assert services.get("10.96.0.20") == Endpoint("web", "shop")


def test_pods_the_api_server_does_not_describe_leave_the_service_name(cluster):
    services, server = cluster
    for path in POD_OBJECTS:
        del server.objects[path]
    services.refresh()
    assert services.get("10.96.0.20") == Endpoint("web", "shop")  # the Service's own name: same here by chance
    assert services.get("10.96.0.30") == Endpoint("api", "shop")  # not "orders": its pod could not be read


def test_a_client_calling_a_cluster_ip_names_the_workload_not_internet(tmp_path):
    registry = ContainerRegistry()
    registry.upsert(WEB)
    known = {"10.96.0.30": Endpoint("orders", "shop")}
    peers = PeerResolver(registry, host_addresses(tmp_path, registry), cluster_ip=known.get)
    assert names(peers, (flow(CLIENT, "172.17.0.3", "10.96.0.30", 80), container(WEB)),
                 (flow(CLIENT, "172.17.0.3", "10.96.0.31", 80), container(WEB))) == [Endpoint("orders", "shop"), INTERNET]
