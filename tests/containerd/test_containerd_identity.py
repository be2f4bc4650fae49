"""Kubernetes pods on containerd, without Docker: a private containerd, pods made as the CRI plugin makes
them (labels, pod cgroups of both drivers' layouts, a network namespace per pod), real traffic, real probes.
Flows are named `<namespace>/<workload>` from both ends, also with Docker running beside containerd."""
import os
import subprocess

import pytest

from tests.docker.conftest import Edges, docker_env, start_identity  # noqa: F401 (docker_env: a fixture)
from tests.helpers.cgroups import cgroup2_hierarchy
from tests.helpers.containerd_env import DEPLOYMENT_POD, LAYOUTS, PORT, STATEFUL_POD, ContainerdEnv, Task, shop
from tests.helpers.docker_env import wait_until, wget_loop
from tests.helpers.kube_api_server import TOKEN, kube_api_server
from tracer import doctor
from tracer.doctor import OK, Check
from tracer.identity import INTERNET, Endpoint, Identity, KubeApi
from tracer.identity.kube_services import ENDPOINT_SLICES_PATH, SERVICE_NAME_LABEL, SERVICES_PATH

pytestmark = [pytest.mark.kernel]


def listed_in(identity: Identity, namespace: str, service: str, state: str = "") -> set[str]:
    """Ids of the containers identity lists under the service (in that state, when given)."""
    return {c.id for s in identity.services() if (s.namespace, s.service) == (namespace, service)
            for c in s.containers if c.state == state or not state}


def wait_named(identity: Identity, container_id: str, namespace: str, service: str) -> None:
    wait_until(lambda: container_id in listed_in(identity, namespace, service, "running"), 30,
               f"identity to name {container_id[:12]} {namespace}/{service}")


def web_calls_api(collector, identity: Identity, env: ContainerdEnv, web: Task, url: str) -> Edges:
    """web GETs url 5 times; asserts that exactly 5 connections shop/web -> shop/api are seen from each end."""
    edges = Edges(collector, identity)
    env.exec(web, *wget_loop(url, 5))
    edges.wait_for(lambda e: e.opens("shop/web", "shop/api", "client") >= 5
                   and e.opens("shop/web", "shop/api", "server") >= 5, "shop/web -> shop/api from both ends")
    edges.poll()
    assert edges.opens("shop/web", "shop/api", "client") == 5
    assert edges.opens("shop/web", "shop/api", "server") == 5
    return edges


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_pods_are_named_by_workload_from_both_ends(collector, containerd_env, layout, tmp_path):
    identity = start_identity(docker_url=f"unix://{tmp_path}/no-docker.sock",
                              containerd_sockets=[containerd_env.socket])
    try:
        wait_until(lambda: identity.containerd_connected, 30, "identity to follow containerd")
        web, api, api_sandbox, api_ip, _ = shop(containerd_env, layout)
        wait_named(identity, web.id, "shop", "web")
        wait_named(identity, api.id, "shop", "api")
        edges = web_calls_api(collector, identity, containerd_env, web, f"http://{api_ip}:{PORT}/")
        assert {(s.namespace, s.service): sorted(c.name for c in s.containers) for s in identity.services()} == {
            ("shop", "api"): ["api-0", "api-0/api"],
            ("shop", "web"): [DEPLOYMENT_POD[0], f"{DEPLOYMENT_POD[0]}/web"]}
        assert (api_ip, Endpoint("api", "shop", api_sandbox)) in identity.endpoints()  # the pod IP, for peers
        containerd_env.remove(web.id)
        wait_until(lambda: web.id not in listed_in(identity, "shop", "web"), 30, "the deletion to be seen")
    finally:
        identity.stop()


def test_docker_and_containerd_at_once(collector, containerd_env, docker_env):
    """One identity follows both runtimes: pods by workload, Docker's Compose containers as ever, each
    runtime's calls counted exactly from both ends."""
    project, net = docker_env.name("k8s-shop"), docker_env.network("k8s-shop")
    docker_api = docker_env.run("api", "python3", "-m", "http.server", "80", compose=(project, "api"), network=net)
    docker_web = docker_env.run("web", "sleep", "600", compose=(project, "web"), network=net)
    docker_env.wait_listening(docker_api, 80)
    identity = start_identity(containerd_sockets=[containerd_env.socket])  # Docker at its usual socket
    try:
        wait_until(lambda: identity.containerd_connected, 30, "identity to follow containerd")
        web, api, _, api_ip, _ = shop(containerd_env, "cgroupfs")
        wait_named(identity, web.id, "shop", "web")
        wait_named(identity, api.id, "shop", "api")
        assert docker_web.id in listed_in(identity, project, "web", "running")
        edges = web_calls_api(collector, identity, containerd_env, web, f"http://{api_ip}:{PORT}/")
        docker_env.exec(docker_web.id, *wget_loop(f"http://{docker_api.ip}/", 3))
        docker_edge = (f"{project}/web", f"{project}/api")
        edges.wait_for(lambda e: e.opens(*docker_edge, "client") >= 3 and e.opens(*docker_edge, "server") >= 3,
                       f"{docker_edge} from both ends")
        edges.poll()
        assert [edges.opens(*docker_edge, reporter) for reporter in ("client", "server")] == [3, 3]
        assert [edges.opens("shop/web", "shop/api", reporter) for reporter in ("client", "server")] == [5, 5]
    finally:
        identity.stop()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_v2_pod_cgroups_name_the_containerd_container(containerd_env, layout, tmp_path):
    """The cgroup v2 path: a process in a v2 directory laid out like the kubelet's drivers is named by the
    containerd container whose id the directory carries."""
    web_ns = containerd_env.netns()
    pod = containerd_env.pod("shop", *DEPLOYMENT_POD, web_ns, layout)
    web = containerd_env.container(pod, "web", "sleep", "600")
    with cgroup2_hierarchy() as root:
        relative = LAYOUTS[layout].format(uid=pod.uid, uid_=pod.uid.replace("-", "_"), id=web.id)
        made = []
        path = root
        for part in relative.strip("/").split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                made.append(path)
        proc = subprocess.Popen(["sh", "-c", f'echo $$ > "{path}/cgroup.procs" && exec sleep 600'])
        identity = Identity(root, "v2", docker_url=f"unix://{tmp_path}/no-docker.sock",
                            containerd_sockets=[containerd_env.socket])
        identity.start()
        try:
            wait_until(lambda: open(f"/proc/{proc.pid}/comm").read().strip() == "sleep", 10, "the process to exec")
            named = Endpoint("web", "shop", web.id)
            wait_until(lambda: identity.local(os.stat(path).st_ino, proc.pid, "sleep") == named, 30,
                       "the v2 cgroup named after its pod")
        finally:
            proc.kill()
            proc.wait()
            identity.stop()
            for directory in reversed(made):
                os.rmdir(directory)


CLUSTER_IP, SERVICE_PORT = "10.96.77.10", 80  # only ever routed inside the web pod's namespace


def cluster_objects(api_pod_ip: str) -> dict:
    """The API server's view: Service shop/api-svc, its one endpoint the api-0 pod, owned by StatefulSet api."""
    return {
        SERVICES_PATH: {"items": [{"metadata": {"namespace": "shop", "name": "api-svc"},
                                   "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "clusterIPs": [CLUSTER_IP]}}]},
        ENDPOINT_SLICES_PATH: {"items": [{
            "metadata": {"namespace": "shop", "name": "api-svc-b9cdf", "labels": {SERVICE_NAME_LABEL: "api-svc"}},
            "endpoints": [{"addresses": [api_pod_ip], "targetRef": {"kind": "Pod", "namespace": "shop", "name": "api-0"}}]}]},
        "/api/v1/namespaces/shop/pods/api-0": {"metadata": {
            "labels": STATEFUL_POD[1],
            "ownerReferences": [{"kind": "StatefulSet", "name": "api", "controller": True}]}},
    }


def test_a_call_through_a_cluster_ip_is_named_by_the_services_workload_at_the_client_end(
        collector, containerd_env, tmp_path):
    """kube-proxy's DNAT, made with nft in the client pod's namespace: the client's socket keeps the ClusterIP
    as its peer, which names the workload behind the Service (from the API server), not INTERNET."""
    web, api, _, api_ip, web_ns = shop(containerd_env, "cgroupfs")
    web_ns.run("ip", "route", "add", f"{CLUSTER_IP}/32", "via", api_ip)
    web_ns.nft(f"""
table ip k8s-proxy {{
    chain output {{
        type nat hook output priority -100;
        ip daddr {CLUSTER_IP} tcp dport {SERVICE_PORT} dnat to {api_ip}:{PORT}
    }}
}}
""")
    with kube_api_server(cluster_objects(api_ip)) as api_server:
        identity = start_identity(docker_url=f"unix://{tmp_path}/no-docker.sock",
                                  containerd_sockets=[containerd_env.socket],
                                  kube_api=KubeApi(api_server.url, TOKEN, None))
        try:
            wait_named(identity, web.id, "shop", "web")
            wait_named(identity, api.id, "shop", "api")
            web_end = Endpoint("web", "shop", web.id)
            wait_until(lambda: identity.peer(CLUSTER_IP, web_end) == Endpoint("api", "shop"), 30,
                       "the ClusterIP to be named from the API server")
            edges = web_calls_api(collector, identity, containerd_env, web, f"http://{CLUSTER_IP}:{SERVICE_PORT}/")
            assert edges.opens("shop/web", INTERNET.service, "client") == 0
        finally:
            identity.stop()


def test_doctor_reads_the_daemons_version_through_ctr(containerd_env):
    version = subprocess.run(["containerd", "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    assert doctor.check_containerd([containerd_env.socket]) == [
        Check("containerd", OK, f"{version} at {containerd_env.socket}, Kubernetes pods named by workload")]
