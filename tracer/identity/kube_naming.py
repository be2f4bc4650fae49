"""Service and namespace names of Kubernetes pods: the Kubernetes rule in docs/architecture.md ("Identity").

A pod's namespace is its Kubernetes namespace. Its service is, first found: the `intuition.service`
annotation or label; the `app.kubernetes.io/name` label; the workload that owns it (Deployment, StatefulSet,
DaemonSet, Job); the pod name. Empty values count as absent.

The workload comes from the pod's owner references when the API server tells them (a ReplicaSet is named
`<deployment>-<pod-template-hash>`, or owned by its Deployment when that is known too). On a node without
API access the pod's own labels tell it: the controllers stamp every pod they make with a label of their own
(`pod-template-hash`, `statefulset.kubernetes.io/pod-name`, `controller-revision-hash` with
`pod-template-generation`, `batch.kubernetes.io/job-name`), and name the pod after the workload.
"""
from __future__ import annotations

import re
from typing import Mapping, NamedTuple, Optional, Sequence

from .naming import SERVICE_LABEL

APP_NAME_LABEL = "app.kubernetes.io/name"
# Labels the container runtime's CRI plugin puts on every pod sandbox and container.
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
# Labels the workload controllers put on the pods they make.
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # Deployment (through its ReplicaSet)
STATEFULSET_POD_LABEL = "statefulset.kubernetes.io/pod-name"
REVISION_HASH_LABEL = "controller-revision-hash"  # StatefulSet and DaemonSet
DAEMONSET_GENERATION_LABEL = "pod-template-generation"  # DaemonSet only
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")  # the second before Kubernetes 1.27

# The random suffix the API server appends to generateName: 5 characters from this alphabet (no vowels, no
# 0/1/3 that read as letters).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_POD_SUFFIX = re.compile(f"-[{_SAFE}]{{5}}$")
_STATEFUL_ORDINAL = re.compile(r"-\d+$")


class Owner(NamedTuple):
    """One controller owner reference of a pod (or of its ReplicaSet): `kind` as the API spells it."""

    kind: str
    name: str


def pod_service(pod_name: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                owners: Optional[Sequence[Owner]] = None) -> str:
    """The pod's service. `owners`: the pod's controller chain from the API server (the pod's owner first,
    then that owner's owner), or None when the API server was not asked: then the labels tell."""
    if not pod_name:
        raise ValueError("pod without a name")
    named = annotations.get(SERVICE_LABEL) or labels.get(SERVICE_LABEL) or labels.get(APP_NAME_LABEL)
    if named:
        return named
    workload = workload_from_owners(owners, labels) if owners is not None else workload_from_labels(pod_name, labels)
    return workload or pod_name


def workload_from_owners(owners: Sequence[Owner], labels: Mapping[str, str]) -> Optional[str]:
    """The workload from owner references: a ReplicaSet stands for its Deployment."""
    if not owners:
        return None
    kind, name = owners[0]
    if kind != "ReplicaSet":
        return name or None
    if len(owners) > 1 and owners[1].kind == "Deployment" and owners[1].name:
        return owners[1].name
    return strip_template_hash(name, labels.get(POD_TEMPLATE_HASH_LABEL, ""))


def strip_template_hash(replicaset: str, template_hash: str) -> str:
    """A Deployment's name from its ReplicaSet's `<deployment>-<pod-template-hash>`. Pods of a ReplicaSet
    that no Deployment made carry no hash label: that ReplicaSet is the workload, its name kept whole."""
    if template_hash and replicaset.endswith("-" + template_hash) and len(replicaset) > len(template_hash) + 1:
        return replicaset[: -len(template_hash) - 1]
    return replicaset


def workload_from_labels(pod_name: str, labels: Mapping[str, str]) -> Optional[str]:
    """The workload from the labels its controller stamps on the pod, and the pod's name."""
    for label in JOB_NAME_LABELS:
        if labels.get(label):
            return labels[label]
    if labels.get(STATEFULSET_POD_LABEL) == pod_name and _STATEFUL_ORDINAL.search(pod_name):
        return _STATEFUL_ORDINAL.sub("", pod_name) or None
    template_hash = labels.get(POD_TEMPLATE_HASH_LABEL)
    if template_hash:  # <deployment>-<hash>-<suffix>
        replicaset = _POD_SUFFIX.sub("", pod_name)
        if replicaset != pod_name and replicaset.endswith("-" + template_hash):
            return replicaset[: -len(template_hash) - 1] or None
        return None
    if labels.get(REVISION_HASH_LABEL) and labels.get(DAEMONSET_GENERATION_LABEL):  # <daemonset>-<suffix>
        daemonset = _POD_SUFFIX.sub("", pod_name)
        return daemonset if daemonset != pod_name and daemonset else None
    return None
