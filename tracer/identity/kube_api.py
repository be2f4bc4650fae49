"""What the Kubernetes API server adds to a pod's name: its annotations and the workload that owns it.

The container runtime knows a pod's labels but not its annotations nor its owners. Inside a cluster, with
the service account's read-only rights (get pods and replicasets), the agent asks the API server once per
pod, from identity's background worker. Without access (no in-cluster credentials, or the rights refused)
the pod is named from its labels alone, and the API server is not asked again for a while. The same client
lists Services and EndpointSlices for kube_services.py.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, NamedTuple, Optional

import requests

from .kube_naming import Owner

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TIMEOUT_SECONDS = 5
# After a failure (API server away, rights missing), pods are named from labels; ask again after this long.
RETRY_SECONDS = 60.0


class PodFacts(NamedTuple):
    annotations: dict[str, str]
    owners: list[Owner]  # the pod's controller, then that controller's (a ReplicaSet's Deployment)
    labels: dict[str, str]


class KubeApi:
    def __init__(self, base_url: str, token: str, ca_file: Optional[str],
                 clock: Callable[[], float] = time.monotonic):
        self._base = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._session.verify = ca_file if ca_file is not None else True  # None: the system's CAs
        self._clock = clock
        self._failed_at: Optional[float] = None

    @classmethod
    def in_cluster(cls, account_dir: str = SERVICE_ACCOUNT_DIR) -> Optional["KubeApi"]:
        """The API server of the cluster this process runs in, with its service account; None outside one."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        token_file = os.path.join(account_dir, "token")
        if not (host and port and os.path.exists(token_file)):
            return None
        with open(token_file) as f:
            token = f.read().strip()
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", token, os.path.join(account_dir, "ca.crt"))

    def pod(self, namespace: str, name: str) -> Optional[PodFacts]:
        """The pod's annotations and owners; None when the API server cannot tell (now)."""
        if self._failed_at is not None and self._clock() - self._failed_at < RETRY_SECONDS:
            return None
        try:
            pod = self._get(f"/api/v1/namespaces/{namespace}/pods/{name}")
            if pod is None:
                return None  # gone already, or never a pod of this cluster
            owners = []
            owner = _controller(pod)
            if owner is not None:
                owners.append(owner)
                if owner.kind == "ReplicaSet":
                    replicaset = self._get(f"/apis/apps/v1/namespaces/{namespace}/replicasets/{owner.name}")
                    deployment = _controller(replicaset) if replicaset is not None else None
                    if deployment is not None:
                        owners.append(deployment)
        except (requests.RequestException, ValueError) as err:
            if self._failed_at is None:
                log.warning("Kubernetes API server unusable (%s): pods are named from their labels", err)
            self._failed_at = self._clock()
            return None
        self._failed_at = None
        metadata = pod.get("metadata") or {}
        return PodFacts(dict(metadata.get("annotations") or {}), owners, dict(metadata.get("labels") or {}))

    def items(self, path: str) -> list[dict[str, Any]]:
        """Every object of a list (`/api/v1/services`, say); raises when the API server cannot tell."""
        listed = self._get(path)
        if listed is None:
            raise ValueError(f"{path}: not found (an API server older than the chart claims?)")
        return [item for item in listed.get("items") or [] if isinstance(item, dict)]

    def _get(self, path: str) -> Optional[dict[str, Any]]:
        """The object at path; None when it does not exist."""
        response = self._session.get(self._base + path, timeout=TIMEOUT_SECONDS)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()


def _controller(obj: dict[str, Any]) -> Optional[Owner]:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") and ref.get("name"):
            return Owner(ref["kind"], ref["name"])
    return None
