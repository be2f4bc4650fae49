"""containerd's descriptions of Kubernetes containers -> identity records; cgroup paths; events; and two
runtimes side by side in one registry."""
import pytest

from tests.unit.identity_samples import record
from tracer.identity import cri
from tracer.identity.model import Endpoint
from tracer.identity.registry import ContainerRegistry

SANDBOX_ID, APP_ID = "a" * 64, "b" * 64
UID = "3f1c2e8a-6b0d-4c1e-9a57-2d8e6f4b1c90"
POD_LABELS = {"io.kubernetes.pod.name": "web-5d9c7b8f4-x7k2p", "io.kubernetes.pod.namespace": "shop",
              "io.kubernetes.pod.uid": UID}


def info(container_id, labels, cgroups_path="", annotations=None):
    """A `ctr containers info` document, cut to what identity reads (and a few fields it does not)."""
    return {"ID": container_id, "Labels": labels, "Image": "registry.k8s.io/pause:3.9",
            "Runtime": {"Name": "io.containerd.runc.v2"}, "CreatedAt": "2026-11-27T13:36:37.756334674Z",
            "Spec": {"ociVersion": "1.0.2-dev", "annotations": annotations or {},
                     "linux": {"cgroupsPath": cgroups_path, "namespaces": [{"type": "network"}]}}}


SANDBOX = info(SANDBOX_ID, {**POD_LABELS, "pod-template-hash": "5d9c7b8f4", "io.cri-containerd.kind": "sandbox"},
               f"kubepods-burstable-pod{UID.replace('-', '_')}.slice:cri-containerd:{SANDBOX_ID}")
APP = info(APP_ID, {**POD_LABELS, "io.kubernetes.container.name": "web", "io.cri-containerd.kind": "container"},
           f"/kubepods/burstable/pod{UID}/{APP_ID}")


def test_a_sandbox_names_its_pod_and_holds_the_pod_ip():
    rec = cri.record_from_info(SANDBOX, cri.pod_of(SANDBOX), "node-1", 4242, "running", 1700000000.0,
                               ("10.244.1.7",))
    assert rec.endpoint == Endpoint("web", "shop", SANDBOX_ID)
    assert (rec.info.name, rec.info.state, rec.info.node, rec.info.started_at) == (
        "web-5d9c7b8f4-x7k2p", "running", "node-1", 1700000000.0)
    assert (rec.pid, rec.addresses, rec.runtime, rec.host_network) == (4242, ("10.244.1.7",), "containerd", False)


def test_an_app_container_is_named_from_its_sandbox_labels():
    rec = cri.record_from_info(APP, cri.pod_of(SANDBOX), "node-1", 0, "exited", None)
    assert rec.endpoint == Endpoint("web", "shop", APP_ID)
    assert (rec.info.name, rec.info.state, rec.addresses) == ("web-5d9c7b8f4-x7k2p/web", "exited", ())


def test_without_its_sandbox_an_app_container_is_named_from_its_own_labels():
    record = cri.record_from_info(APP, None, "n", 1, "running", None)
    assert record.endpoint == Endpoint("web-5d9c7b8f4-x7k2p", "shop", APP_ID)


def test_an_annotation_the_runtime_passed_on_names_the_pod():
    sandbox = info(SANDBOX_ID, SANDBOX["Labels"], annotations={"intuition.service": "storefront"})
    assert cri.record_from_info(APP, cri.pod_of(sandbox), "n", 1, "running", None).endpoint.service == "storefront"


def test_only_kubernetes_containers_are_pod_containers():
    assert cri.is_pod_container(APP) and cri.is_sandbox(SANDBOX) and not cri.is_sandbox(APP)
    assert not cri.is_pod_container(info("c" * 64, {"io.kubernetes.pod.name": "x"}))
    with pytest.raises(ValueError, match="io.kubernetes.pod.namespace"):
        cri.record_from_info(info("c" * 64, {"io.kubernetes.pod.name": "x"}), None, "n", 0, "created", None)


@pytest.mark.parametrize("cgroups_path, path", [
    (f"/kubepods/burstable/pod{UID}/{APP_ID}", f"/kubepods/burstable/pod{UID}/{APP_ID}"),
    (f"kubepods/pod{UID}/{APP_ID}", f"/kubepods/pod{UID}/{APP_ID}"),
    (f"kubepods-burstable-pod{UID.replace('-', '_')}.slice:cri-containerd:{APP_ID}",
     f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice/"
     f"cri-containerd-{APP_ID}.scope"),
    (f"kubepods-pod1.slice:crio:{APP_ID}", f"/kubepods.slice/kubepods-pod1.slice/crio-{APP_ID}.scope"),
    (f"-.slice:cri-containerd:{APP_ID}", f"/cri-containerd-{APP_ID}.scope"),
    ("", None),
])
def test_cgroup_paths_of_both_drivers(cgroups_path, path):
    assert cri.cgroup_path(info(APP_ID, {}, cgroups_path)) == path


def test_a_systemd_path_that_names_no_slice_is_an_error():
    with pytest.raises(ValueError, match="slice"):
        cri.cgroup_path(info(APP_ID, {}, f"kubepods:cri-containerd:{APP_ID}"))


def test_event_lines_of_ctr_events():
    line = ('2026-11-27 13:36:47.667093304 +0000 UTC k8s.io /tasks/start '
            '{"container_id":"' + APP_ID + '","pid":21239}')
    assert cri.event_from_line(line) == ("k8s.io", "/tasks/start", {"container_id": APP_ID, "pid": 21239})
    assert cri.event_from_line("ctr: failed to dial") is None
    assert cri.event_from_line("2026-11-27 13:36:47 +0000 UTC k8s.io /tasks/start {not json") is None


def test_each_runtime_resyncs_and_removes_only_its_own_containers():
    registry = ContainerRegistry()
    docker = record(1, "db", labels={"com.docker.compose.project": "shop"}, networks={"bridge": "172.17.0.2"})
    pod = cri.record_from_info(SANDBOX, cri.pod_of(SANDBOX), "n", 7, "running", None, ("10.244.1.7",))
    registry.upsert(docker)
    registry.upsert(pod)
    registry.replace_all([], "docker")  # Docker knows no container now: the pod stays
    registry.remove(SANDBOX_ID, "docker")  # Docker's "no such container" for a pod's id changes nothing
    assert registry.known_ids("containerd") == {SANDBOX_ID} and registry.known_ids("docker") == set()
    assert registry.container_at("10.244.1.7").endpoint == Endpoint("web", "shop", SANDBOX_ID)
    registry.replace_all([], "containerd")
    assert registry.known_ids("containerd") == set()
