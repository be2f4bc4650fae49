"""The Helm chart (charts/intuition): `helm lint`, `helm template` with default and other values (Helm's own
Go SDK, bundled by helm-python-sdk), and every manifest checked against the Kubernetes API schemas of each
version the chart claims (kubernetes-validate)."""
import hashlib
import os

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from tracer.agent import NODE_NAME_VARIABLE, node_name

CHART = os.path.join(os.path.dirname(__file__), "..", "..", "charts", "intuition")
CRD_GROUP = "monitoring.coreos.com/"  # the Prometheus Operator's kinds: no schema in kubernetes-validate
OTHER_VALUES = {
    "privileged": False,
    "priorityClassName": "system-node-critical",
    "config": {"window_seconds": 30, "listen": "127.0.0.1:1", "auth": {"mode": "bearer", "token": "t0ken"}},
    "port": 9999,
    "runtimeSockets": ["/run/k3s/containerd/containerd.sock", "/var/run/docker.sock"],
    "image": {"repository": "registry.example/intuition", "tag": "1.2.3"},
    "nodeSelector": {"node-role.example/observed": "yes"},
    "resources": {"requests": {"cpu": "50m"}},
    "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "prom"}},
    "podMonitor": {"enabled": True},
    "serviceAccount": {"name": "observer"},
    "rbac": {"create": False},
}


def claimed_versions() -> list[str]:
    """The Kubernetes versions kubernetes-validate knows that Chart.yaml's kubeVersion (">=1.X.0-0") admits."""
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        claim = yaml.safe_load(f)["kubeVersion"]
    assert claim.startswith(">=") and claim.endswith(".0-0"), claim
    floor = tuple(int(p) for p in claim[2:-2].split(".")[:2])
    versions = sorted({v for v in all_versions() if tuple(int(p) for p in v.split(".")[:2]) >= floor},
                      key=lambda v: tuple(int(p) for p in v.split(".")))
    assert versions, f"kubernetes-validate knows no version the chart claims ({claim})"
    return versions


def render(values: dict) -> dict[str, dict]:
    """kind -> the one manifest of that kind."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values, name="intuition", namespace="monitoring")
    docs = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {d["kind"]: d for d in docs}


def test_the_chart_lints_clean():
    report = helm.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # INFO ("icon is recommended") only


@pytest.mark.parametrize("values", [{}, OTHER_VALUES], ids=["default", "other"])
def test_rendered_manifests_are_valid_for_every_claimed_kubernetes_version(values):
    manifests = render(values)
    for version in claimed_versions():
        for kind, doc in manifests.items():
            if doc["apiVersion"].startswith(CRD_GROUP):
                continue
            kubernetes_validate.validate(doc, version, strict=True)


def test_default_daemonset_runs_privileged_on_every_node_with_what_the_agent_reads():
    manifests = render({})
    assert sorted(manifests) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Service",
                                 "ServiceAccount"]
    pod = manifests["DaemonSet"]["spec"]["template"]["spec"]
    agent = pod["containers"][0]
    assert pod["hostPID"] is True and pod["automountServiceAccountToken"] is True and agent["securityContext"]["privileged"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert "priorityClassName" not in pod
    mounts = {m["mountPath"] for m in agent["volumeMounts"]}
    assert {"/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/cgroup", "/lib/modules", "/usr/src",
            "/run/containerd/containerd.sock", "/etc/intuition"} <= mounts
    assert agent["args"] == ["agent", "--config", "/etc/intuition/config.yaml"]
    assert agent["env"] == [{"name": NODE_NAME_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    assert yaml.safe_load(manifests["ConfigMap"]["data"]["config.yaml"]) == {"listen": "0.0.0.0:9470"}
    assert manifests["Service"]["spec"]["ports"][0]["port"] == 9470


def test_other_values_reach_the_manifests():
    manifests = render(OTHER_VALUES)
    assert sorted(manifests) == ["ConfigMap", "DaemonSet", "PodMonitor", "Service", "ServiceAccount",
                                 "ServiceMonitor"]
    pod = manifests["DaemonSet"]["spec"]["template"]["spec"]
    agent = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False  # no API rights: no token in the pod
    assert agent["securityContext"]["privileged"] is False
    assert agent["securityContext"]["capabilities"] == {
        "add": ["BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"], "drop": ["ALL"]}
    assert pod["priorityClassName"] == "system-node-critical"
    # Helm merges maps: a default key stays unless set to null
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "node-role.example/observed": "yes"}
    assert pod["serviceAccountName"] == manifests["ServiceAccount"]["metadata"]["name"] == "observer"
    assert agent["image"] == "registry.example/intuition:1.2.3"
    assert agent["resources"] == {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    sockets = [v["hostPath"] for v in pod["volumes"] if v["name"].startswith("runtime-")]
    assert sockets == [{"path": "/run/k3s/containerd/containerd.sock", "type": "Socket"},
                       {"path": "/var/run/docker.sock", "type": "Socket"}]
    # the chart owns the listen address: the pod must serve on its port, on the pod's address
    assert yaml.safe_load(manifests["ConfigMap"]["data"]["config.yaml"]) == {
        "listen": "0.0.0.0:9999", "window_seconds": 30, "auth": {"mode": "bearer", "token": "t0ken"}}
    assert manifests["ServiceMonitor"]["metadata"]["labels"]["release"] == "prom"
    assert manifests["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "http"
    assert manifests["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"] == "http"


def test_rbac_is_read_only_and_bound_to_the_agent_account():
    manifests = render({})
    assert manifests["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]}]
    binding = manifests["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == manifests["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "intuition", "namespace": "monitoring"}]


def test_config_checksum_follows_the_config():
    def checksum_and_config(values):
        manifests = render(values)
        annotation = manifests["DaemonSet"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return annotation, manifests["ConfigMap"]["data"]["config.yaml"]

    default, default_config = checksum_and_config({})
    changed, changed_config = checksum_and_config({"config": {"window_seconds": 30}})
    assert default == hashlib.sha256(default_config.rstrip("\n").encode()).hexdigest()
    assert changed == hashlib.sha256(changed_config.rstrip("\n").encode()).hexdigest() != default
    assert checksum_and_config({"podLabels": {"team": "obs"}})[0] == default


def test_a_service_monitor_without_the_service_is_refused_by_name():
    with pytest.raises(Exception, match="serviceMonitor.enabled needs service.enabled"):
        render({"serviceMonitor": {"enabled": True}, "service": {"enabled": False}})


def test_the_agent_names_its_node_from_the_variable_the_chart_sets(monkeypatch):
    monkeypatch.setenv(NODE_NAME_VARIABLE, "node-7")
    assert node_name() == "node-7"
    monkeypatch.delenv(NODE_NAME_VARIABLE)
    assert node_name() == os.uname().nodename
