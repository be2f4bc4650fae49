"""Service and namespace names from Docker labels: the naming contract in the README.

A container's service is, first found: label `intuition.service`; `com.docker.swarm.service.name` without
its `<stack>_` prefix; `com.docker.compose.service`; the container name. Its namespace is
`com.docker.stack.namespace`, else `com.docker.compose.project`, else `default`. Empty label values count
as absent. A process outside any container is `host:<comm>`. An outside peer whose address a local process
resolved through DNS is that name, in namespace `external`.
"""
from __future__ import annotations

from typing import Mapping, Optional

from .model import DEFAULT_NAMESPACE, EXTERNAL_NAMESPACE, HOST_NAMESPACE, Endpoint

SERVICE_LABEL = "intuition.service"
SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"
SWARM_TASK_NAME_LABEL = "com.docker.swarm.task.name"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
STACK_LABEL = "com.docker.stack.namespace"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


def namespace_of(labels: Mapping[str, str]) -> str:
    return labels.get(STACK_LABEL) or labels.get(COMPOSE_PROJECT_LABEL) or DEFAULT_NAMESPACE


def service_of(labels: Mapping[str, str], container_name: str) -> str:
    if labels.get(SERVICE_LABEL):
        return labels[SERVICE_LABEL]
    swarm_service = labels.get(SWARM_SERVICE_LABEL)
    if swarm_service:
        stack = labels.get(STACK_LABEL)
        if stack and swarm_service.startswith(stack + "_") and len(swarm_service) > len(stack) + 1:
            return swarm_service[len(stack) + 1:]
        return swarm_service
    if labels.get(COMPOSE_SERVICE_LABEL):
        return labels[COMPOSE_SERVICE_LABEL]
    name = container_name.lstrip("/")  # Docker's inspect spells names "/web-1"
    if not name:
        raise ValueError("container has no name and no naming label")
    return name


def container_endpoint(labels: Mapping[str, str], container_name: str, container_id: Optional[str]) -> Endpoint:
    return Endpoint(service_of(labels, container_name), namespace_of(labels), container_id)


def host_endpoint(comm: str) -> Endpoint:
    """A process outside any container, named by its command."""
    return Endpoint(f"host:{comm}" if comm else "host", HOST_NAMESPACE, None)


def external_endpoint(dns_name: str) -> Endpoint:
    """An outside peer by the DNS name a local process resolved to its address."""
    return Endpoint(dns_name, EXTERNAL_NAMESPACE, None)


def provisional_endpoint(container_id: str) -> Endpoint:
    """A container we know only by its cgroup (Docker unreachable or its record not fetched yet)."""
    return Endpoint(container_id[:12], DEFAULT_NAMESPACE, container_id, provisional=True)


def task_slot(labels: Mapping[str, str]) -> Optional[int]:
    """The replica slot of a Swarm task, from its task name `<service>.<slot>.<task id>`.

    Global services put the node id where the slot would be: they have no slot.
    """
    parts = labels.get(SWARM_TASK_NAME_LABEL, "").rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None
