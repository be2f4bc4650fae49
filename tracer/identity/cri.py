"""Kubernetes containers as the container runtime (containerd) describes them -> identity records.

Kubernetes runs each pod as a sandbox container (the pod's network namespace, and the pod's labels) plus
its app containers, all labelled by the runtime's CRI plugin with the pod's name, namespace and UID. An app
container carries no pod labels of its own: its service is named from its sandbox's. The pod's IP belongs
to the sandbox: only the sandbox's record holds it.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, NamedTuple, Optional, Sequence

from . import kube_naming
from .kube_api import PodFacts
from .model import ContainerInfo, ContainerRecord, Endpoint

RUNTIME = "containerd"  # ContainerRecord.runtime of these records
KIND_LABEL = "io.cri-containerd.kind"  # "sandbox" or "container"


class Pod(NamedTuple):
    """What a pod's sandbox says about the pod: its labels, and the OCI annotations the runtime passed on;
    with what the API server adds when it was asked: the pod's own annotations and its owners."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owners: Optional[Sequence[kube_naming.Owner]] = None  # None: unknown (the labels tell the workload)


def is_sandbox(info: Mapping[str, Any]) -> bool:
    return (info.get("Labels") or {}).get(KIND_LABEL) == "sandbox"


def is_pod_container(info: Mapping[str, Any]) -> bool:
    """Whether Kubernetes made it: other clients' containers in the namespace are not named here."""
    labels = info.get("Labels") or {}
    return bool(labels.get(kube_naming.POD_NAME_LABEL) and labels.get(kube_naming.POD_NAMESPACE_LABEL))


def pod_uid(info: Mapping[str, Any]) -> str:
    return (info.get("Labels") or {}).get(kube_naming.POD_UID_LABEL, "")


def pod_of(sandbox: Mapping[str, Any], api_facts: Optional[PodFacts] = None) -> Pod:
    annotations = dict(_spec(sandbox).get("annotations") or {})
    if api_facts is None:
        return Pod(dict(sandbox.get("Labels") or {}), annotations)
    return Pod(dict(sandbox.get("Labels") or {}), {**annotations, **api_facts.annotations}, api_facts.owners)


def cgroup_path(info: Mapping[str, Any]) -> Optional[str]:
    """The container's cgroup path below a hierarchy's root, from its OCI spec's `linux.cgroupsPath`.

    The cgroupfs driver writes the path itself (`/kubepods/burstable/pod<uid>/<id>`); the systemd driver
    writes `<slice>:<prefix>:<name>` (`kubepods-burstable-pod<uid>.slice:cri-containerd:<id>`), which
    systemd places at `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
    cri-containerd-<id>.scope`: each dash in a slice's name is one level deeper.
    """
    path = (_spec(info).get("linux") or {}).get("cgroupsPath") or ""
    if not path:
        return None
    parts = path.split(":")
    if len(parts) != 3 or "/" in path:
        return path if path.startswith("/") else "/" + path
    slice_name, prefix, name = parts
    return slice_path(slice_name) + f"/{prefix}-{name}.scope"


def slice_path(slice_name: str) -> str:
    """Where systemd puts a slice: `a-b.slice` is `/a.slice/a-b.slice`; `-.slice` and "" are the root."""
    if not slice_name or slice_name == "-.slice":
        return ""
    if not slice_name.endswith(".slice"):
        raise ValueError(f"not a systemd slice name: {slice_name!r}")
    words = slice_name[: -len(".slice")].split("-")
    return "".join("/" + "-".join(words[: i + 1]) + ".slice" for i in range(len(words)))


def record_from_info(info: Mapping[str, Any], pod: Optional[Pod], node: str, pid: int, state: str,
                     started_at: Optional[float], addresses: tuple[str, ...] = (),
                     host_network: bool = False) -> ContainerRecord:
    """One container's record from containerd's description of it (`ctr containers info`).

    `pod`: its sandbox's description, None when the sandbox is unknown (then its own labels name it);
    `pid`: its task's process, 0 when it runs none; `state`: running, created or exited, as Docker says."""
    try:
        container_id, labels = info["ID"], dict(info.get("Labels") or {})
        pod_name = labels[kube_naming.POD_NAME_LABEL]
        namespace = labels[kube_naming.POD_NAMESPACE_LABEL]
    except KeyError as err:
        raise ValueError(f"container without {err}: {str(info)[:200]}") from None
    pod_labels = {**labels, **pod.labels} if pod is not None else labels
    annotations = pod.annotations if pod is not None else {}
    owners = pod.owners if pod is not None else None
    container_name = labels.get(kube_naming.CONTAINER_NAME_LABEL)
    info_name = f"{pod_name}/{container_name}" if container_name and not is_sandbox(info) else pod_name
    service = kube_naming.pod_service(pod_name, pod_labels, annotations, owners)
    return ContainerRecord(
        info=ContainerInfo(id=container_id, name=info_name, image=info.get("Image") or "",
                           state=state, node=node, started_at=started_at, task_slot=None),
        endpoint=Endpoint(service, namespace, container_id),
        pid=pid,
        addresses=addresses,
        gateways=(),
        published=(),
        host_network=host_network,
        runtime=RUNTIME,
    )


def _spec(info: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = info.get("Spec")
    return spec if isinstance(spec, Mapping) else {}


def event_from_line(line: str) -> Optional[tuple[str, str, dict[str, Any]]]:
    """(namespace, topic, payload) from one line of `ctr events`: `<date> <time> <zone> <zone name>
    <namespace> <topic> <json>`; None for a line of another shape (ctr's own messages)."""
    fields = line.split(" ", 6)
    if len(fields) != 7 or not fields[5].startswith("/"):
        return None
    try:
        payload = json.loads(fields[6])
    except ValueError:
        return None
    return (fields[4], fields[5], payload) if isinstance(payload, dict) else None
