"""Identity: cgroup/pid/IP -> container -> service, from the kernel's facts and the container runtimes
(the Docker engine, containerd for Kubernetes pods).

The rest of the agent uses only what is exported here; nothing else talks to a runtime.
"""
from .identity import Identity
from .kube_api import KubeApi
from .model import EXTERNAL_NAMESPACE, HOST, INTERNET, ContainerInfo, Endpoint, ServiceInfo

__all__ = ["Identity", "KubeApi", "Endpoint", "ServiceInfo", "ContainerInfo", "HOST", "INTERNET", "EXTERNAL_NAMESPACE"]
