"""The API server's word on a pod (annotations, owners), from a stand-in API server on loopback."""
import pytest

from tests.helpers.kube_api_server import TOKEN, kube_api_server

from tracer.identity import cri
from tracer.identity.kube_api import RETRY_SECONDS, KubeApi, PodFacts
from tracer.identity.kube_naming import Owner

def owned_by(kind, name):
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": True}]


OBJECTS = {
    "/api/v1/namespaces/shop/pods/web-5d9c7b8f4-x7k2p": {"metadata": {
        "annotations": {"intuition.service": "storefront"}, "labels": {"pod-template-hash": "5d9c7b8f4"},
        "ownerReferences": owned_by("ReplicaSet", "web-5d9c7b8f4")}},
    "/apis/apps/v1/namespaces/shop/replicasets/web-5d9c7b8f4": {"metadata": {
        "ownerReferences": owned_by("Deployment", "web")}},
    "/api/v1/namespaces/shop/pods/db-0": {"metadata": {"ownerReferences": [
        {"kind": "Node", "name": "n1", "controller": False}, *owned_by("StatefulSet", "db")]}},
    "/api/v1/namespaces/shop/pods/bare": {"metadata": {}},
}


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def api_server():
    with kube_api_server(OBJECTS) as server:
        yield server


def test_owners_and_annotations_of_pods(api_server):
    api = KubeApi(api_server.url, TOKEN, None)
    assert api.pod("shop", "web-5d9c7b8f4-x7k2p") == PodFacts(
        {"intuition.service": "storefront"}, [Owner("ReplicaSet", "web-5d9c7b8f4"), Owner("Deployment", "web")],
        {"pod-template-hash": "5d9c7b8f4"})
    assert api.pod("shop", "db-0") == PodFacts({}, [Owner("StatefulSet", "db")], {})
    assert api.pod("shop", "bare") == PodFacts({}, [], {})


def test_a_pod_the_api_server_does_not_know_leaves_the_others_asked(api_server):
    api = KubeApi(api_server.url, TOKEN, None)
    assert api.pod("shop", "made-by-hand") is None
    assert api.pod("shop", "db-0") is not None


def test_refused_rights_fall_back_to_labels_and_ask_again_later(api_server):
    clock = Clock()
    api = KubeApi(api_server.url, TOKEN, None, clock)
    api_server.refuse = True
    assert api.pod("shop", "db-0") is None
    api_server.refuse = False
    asked = len(api_server.requests)
    clock.now += RETRY_SECONDS - 1
    assert api.pod("shop", "db-0") is None and len(api_server.requests) == asked  # not asked again yet
    clock.now += 2
    assert api.pod("shop", "db-0") == PodFacts({}, [Owner("StatefulSet", "db")], {})


def test_api_facts_name_the_pod_over_its_labels():
    sandbox = {"ID": "a" * 64, "Labels": {"io.kubernetes.pod.name": "web-5d9c7b8f4-x7k2p", "io.kubernetes.pod.namespace": "shop",
                                          "pod-template-hash": "5d9c7b8f4", "io.cri-containerd.kind": "sandbox"}}
    facts = PodFacts({}, [Owner("ReplicaSet", "web-5d9c7b8f4"), Owner("Deployment", "frontend")], {})
    def service(pod):
        return cri.record_from_info(sandbox, pod, "n", 1, "running", None).endpoint.service

    assert service(cri.pod_of(sandbox, facts)) == "frontend"
    assert service(cri.pod_of(sandbox)) == "web"


def test_in_cluster_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert KubeApi.in_cluster(str(tmp_path)) is None  # outside a cluster
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api = KubeApi.in_cluster(str(tmp_path))
    assert api._base == "https://10.96.0.1:443" and api._session.headers["Authorization"] == f"Bearer {TOKEN}"
    assert api._session.verify == str(tmp_path / "ca.crt")
