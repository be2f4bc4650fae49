"""Kubernetes naming rules (docs/architecture.md, "Identity"): precedence, owners, odd names."""
import pytest

from tracer.identity.kube_naming import Owner, pod_service, strip_template_hash, workload_from_labels

DEPLOYMENT = ("web-5d9c7b8f4-x7k2p", {"pod-template-hash": "5d9c7b8f4"})
STATEFUL = ("db-12", {"statefulset.kubernetes.io/pod-name": "db-12", "controller-revision-hash": "db-6b8f5"})
DAEMON = ("agent-z8t4q", {"controller-revision-hash": "5f7d8", "pod-template-generation": "3"})


def test_intuition_service_annotation_wins_over_the_label_and_everything_else():
    name, labels = DEPLOYMENT
    labels = {**labels, "intuition.service": "from-label", "app.kubernetes.io/name": "app"}
    assert pod_service(name, labels, {"intuition.service": "from-annotation"}) == "from-annotation"
    assert pod_service(name, labels, {}) == "from-label"


def test_app_kubernetes_io_name_wins_over_the_workload():
    name, labels = DEPLOYMENT
    assert pod_service(name, {**labels, "app.kubernetes.io/name": "storefront"}, {}) == "storefront"


def test_empty_values_count_as_absent():
    name, labels = DEPLOYMENT
    labels = {**labels, "intuition.service": "", "app.kubernetes.io/name": ""}
    assert pod_service(name, labels, {"intuition.service": ""}) == "web"


@pytest.mark.parametrize("pod, workload", [(DEPLOYMENT, "web"), (STATEFUL, "db"), (DAEMON, "agent")])
def test_workload_from_the_labels_its_controller_stamps(pod, workload):
    name, labels = pod
    assert pod_service(name, labels, {}) == workload


def test_job_pods_are_named_by_their_job_label_new_and_old():
    assert pod_service("backup-28934120-abcde", {"batch.kubernetes.io/job-name": "backup-28934120"}, {}) \
        == "backup-28934120"
    assert pod_service("migrate-q2w4e", {"job-name": "migrate"}, {}) == "migrate"


def test_a_bare_pod_is_named_by_itself():
    assert pod_service("debug-shell", {}, {}) == "debug-shell"


@pytest.mark.parametrize("name, labels", [
    ("web-x7k2p", {"pod-template-hash": "5d9c7b8f4"}),  # the hash is not in the name: not a Deployment's pod
    ("web-5d9c7b8f4-AAAAA", {"pod-template-hash": "5d9c7b8f4"}),  # no generated suffix
    ("db", {"statefulset.kubernetes.io/pod-name": "db"}),  # no ordinal
    ("db-0", {"statefulset.kubernetes.io/pod-name": "other-0"}),  # the label names another pod
    ("agent", {"controller-revision-hash": "5f7d8", "pod-template-generation": "1"}),  # no suffix
    ("agent-z8t4q", {"controller-revision-hash": "5f7d8"}),  # a StatefulSet's label without its pod-name
])
def test_odd_names_fall_back_to_the_pod_name(name, labels):
    assert workload_from_labels(name, labels) is None
    assert pod_service(name, labels, {}) == name


def test_names_with_dashes_and_digits_keep_everything_before_the_generated_parts():
    assert pod_service("my-app-v2-7f9c6d5b8-qw2zx", {"pod-template-hash": "7f9c6d5b8"}, {}) == "my-app-v2"
    assert pod_service("kafka-broker-2-10", {"statefulset.kubernetes.io/pod-name": "kafka-broker-2-10"}, {}) \
        == "kafka-broker-2"


def test_owner_references_name_the_workload():
    name, labels = DEPLOYMENT
    assert pod_service(name, labels, {}, [Owner("ReplicaSet", "web-5d9c7b8f4")]) == "web"
    assert pod_service(name, labels, {}, [Owner("ReplicaSet", "web-5d9c7b8f4"), Owner("Deployment", "frontend")]) \
        == "frontend"
    assert pod_service("db-0", {}, {}, [Owner("StatefulSet", "db")]) == "db"
    assert pod_service("agent-z8t4q", {}, {}, [Owner("DaemonSet", "agent")]) == "agent"
    assert pod_service("job-x", {}, {}, [Owner("Job", "nightly")]) == "nightly"


def test_owner_references_given_and_empty_mean_a_bare_pod_even_with_controller_labels():
    name, labels = DEPLOYMENT
    assert pod_service(name, labels, {}, []) == name


def test_labels_still_win_over_owner_references():
    assert pod_service("db-0", {"app.kubernetes.io/name": "postgres"}, {}, [Owner("StatefulSet", "db")]) == "postgres"


@pytest.mark.parametrize("replicaset, template_hash, deployment", [
    ("web-5d9c7b8f4", "5d9c7b8f4", "web"),
    ("web-5d9c7b8f4", "", "web-5d9c7b8f4"),  # a ReplicaSet no Deployment made: its pods carry no hash
    ("web-5d9c7b8f4", "other", "web-5d9c7b8f4"),
    ("5d9c7b8f4", "5d9c7b8f4", "5d9c7b8f4"),  # nothing would be left
    ("a-b-c-6f7d8", "6f7d8", "a-b-c"),
])
def test_replicaset_hash_stripping(replicaset, template_hash, deployment):
    assert strip_template_hash(replicaset, template_hash) == deployment


def test_a_pod_without_a_name_is_an_error():
    with pytest.raises(ValueError, match="without a name"):
        pod_service("", {}, {})
