"""The API server's word on a pod (annotations, owners), from a stand-in API server on loopback."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tracer.identity import cri
from tracer.identity.kube_api import RETRY_SECONDS, KubeApi, PodFacts
from tracer.identity.kube_naming import Owner

TOKEN = "s3cret-token"


def owned_by(kind, name):
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": True}]


OBJECTS = {
    "/api/v1/namespaces/shop/pods/web-5d9c7b8f4-x7k2p": {"metadata": {
        "annotations": {"intuition.service": "storefront"},
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
    """Serves OBJECTS to the right bearer token; 403 to any other, and for everything while `refuse` is set."""
    state = {"refuse": False, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append(self.path)
            if state["refuse"] or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(403)
                self.end_headers()
                return
            body = OBJECTS.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def test_owners_and_annotations_of_pods(api_server):
    url, _ = api_server
    api = KubeApi(url, TOKEN, None)
    assert api.pod("shop", "web-5d9c7b8f4-x7k2p") == PodFacts(
        {"intuition.service": "storefront"}, [Owner("ReplicaSet", "web-5d9c7b8f4"), Owner("Deployment", "web")])
    assert api.pod("shop", "db-0") == PodFacts({}, [Owner("StatefulSet", "db")])
    assert api.pod("shop", "bare") == PodFacts({}, [])


def test_a_pod_the_api_server_does_not_know_leaves_the_others_asked(api_server):
    url, state = api_server
    api = KubeApi(url, TOKEN, None)
    assert api.pod("shop", "made-by-hand") is None
    assert api.pod("shop", "db-0") is not None


def test_refused_rights_fall_back_to_labels_and_ask_again_later(api_server):
    url, state = api_server
    clock = Clock()
    api = KubeApi(url, TOKEN, None, clock)
    state["refuse"] = True
    assert api.pod("shop", "db-0") is None
    state["refuse"] = False
    asked = len(state["requests"])
    clock.now += RETRY_SECONDS - 1
    assert api.pod("shop", "db-0") is None and len(state["requests"]) == asked  # not asked again yet
    clock.now += 2
    assert api.pod("shop", "db-0") == PodFacts({}, [Owner("StatefulSet", "db")])


def test_api_facts_name_the_pod_over_its_labels():
    sandbox = {"ID": "a" * 64, "Labels": {"io.kubernetes.pod.name": "web-5d9c7b8f4-x7k2p", "io.kubernetes.pod.namespace": "shop",
                                          "pod-template-hash": "5d9c7b8f4", "io.cri-containerd.kind": "sandbox"}}
    facts = PodFacts({}, [Owner("ReplicaSet", "web-5d9c7b8f4"), Owner("Deployment", "frontend")])
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
