"""Identity: cgroup/pid/IP -> container -> service, from the kernel's facts and the Docker engine.

The rest of the agent uses only what is exported here; nothing else talks to Docker.
"""
from .identity import Identity
from .model import HOST, INTERNET, ContainerInfo, Endpoint, ServiceInfo

__all__ = ["Identity", "Endpoint", "ServiceInfo", "ContainerInfo", "HOST", "INTERNET"]
