"""Docker API documents -> identity records: `docker inspect` of a container, Swarm services' virtual IPs."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

from . import naming
from .addresses import normalize
from .model import ContainerInfo, ContainerRecord, Endpoint, PublishedPort

_DOCKER_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def parse_docker_time(text: str) -> Optional[float]:
    """Unix seconds from Docker's RFC 3339 nanosecond timestamps; None for its "never" (year 1)."""
    if not text or text.startswith("0001-01-01"):
        return None
    match = _DOCKER_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"unreadable Docker timestamp {text!r}")
    whole, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return seconds + (int(fraction[:9].ljust(9, "0")) / 1e9 if fraction else 0.0)


def record_from_inspect(attrs: dict[str, Any], node: str) -> ContainerRecord:
    """One container's record from its `docker inspect` document (API 1.41 and later)."""
    try:
        container_id = attrs["Id"]
        name = attrs["Name"].lstrip("/")
        config, state, host_config = attrs["Config"], attrs["State"], attrs["HostConfig"]
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"container inspect document without {err}: {str(attrs)[:200]}") from None
    labels = config.get("Labels") or {}
    info = ContainerInfo(
        id=container_id,
        name=name,
        image=config.get("Image") or attrs.get("Image", ""),
        state=state.get("Status", "unknown"),
        node=node,
        started_at=parse_docker_time(state.get("StartedAt", "")),
        task_slot=naming.task_slot(labels),
    )
    return ContainerRecord(
        info=info,
        endpoint=naming.container_endpoint(labels, name, container_id),
        pid=state.get("Pid") or 0,
        addresses=_network_values(networks, "IPAddress", "GlobalIPv6Address"),
        gateways=_network_values(networks, "Gateway", "IPv6Gateway"),
        published=_published(container_id, ports),
        host_network=host_config.get("NetworkMode") == "host",
    )


def record_from_start_event(actor: dict[str, Any], node: str, timestamp: float) -> ContainerRecord:
    """A first record from a start event alone, to name the container before its inspection returns.

    The event's attributes are the container's labels plus its name and image; addresses, ports and the
    pid come with the inspection that follows.
    """
    container_id, attributes = actor.get("ID"), dict(actor.get("Attributes") or {})
    name, image = attributes.pop("name", ""), attributes.pop("image", "")
    if not container_id or not name:
        raise ValueError(f"start event without container id or name: {str(actor)[:200]}")
    info = ContainerInfo(container_id, name, image, "running", node, timestamp, naming.task_slot(attributes))
    return ContainerRecord(info, naming.container_endpoint(attributes, name, container_id), pid=0, addresses=(),
                           gateways=(), published=(), host_network=False)


def _network_values(networks: dict[str, Any], *fields: str) -> tuple[str, ...]:
    values = {normalize(n[f]) for n in networks.values() for f in fields if n.get(f)}
    return tuple(sorted(values))


def _published(container_id: str, ports: dict[str, Any]) -> tuple[PublishedPort, ...]:
    """Host bindings of TCP ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}."""
    published = set()
    for spec, bindings in ports.items():
        port, _, proto = spec.partition("/")
        if proto != "tcp" or not bindings:
            continue
        for binding in bindings:
            if not (port.isdigit() and str(binding.get("HostPort", "")).isdigit()):
                raise ValueError(f"container {container_id}: unreadable port binding {spec} -> {binding}")
            published.add(PublishedPort(binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]), int(port)))
    return tuple(sorted(published, key=lambda p: (p.host_port, p.host_ip)))


def service_vips(service: dict[str, Any]) -> list[tuple[str, Endpoint]]:
    """(virtual IP, service endpoint) for one Swarm service from `docker service inspect`.

    The service is named like its containers: the container spec's labels plus the Swarm service name.
    """
    spec = service.get("Spec") or {}
    name = spec.get("Name")
    if not name:
        raise ValueError(f"Swarm service without Spec.Name: {str(service)[:200]}")
    labels = dict(spec.get("Labels") or {})
    labels.update(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Labels") or {})
    labels[naming.SWARM_SERVICE_LABEL] = name
    endpoint = naming.container_endpoint(labels, name, None)
    vips = (service.get("Endpoint") or {}).get("VirtualIPs") or []
    return [(normalize(v["Addr"].split("/")[0]), endpoint) for v in vips if v.get("Addr")]
