"""Docker API documents shaped like dockerd 20.10 returns them, for identity's unit tests."""
from __future__ import annotations

from typing import Optional

from tracer.identity.containers import record_from_inspect
from tracer.identity.model import ContainerRecord

NODE = "node-1"


def container_id(n: int) -> str:
    return f"{n:064x}"


def inspect_doc(n: int, name: str, labels: Optional[dict] = None, networks: Optional[dict] = None,
                ports: Optional[dict] = None, state: str = "running", pid: int = 4242,
                network_mode: str = "default") -> dict:
    """A `docker inspect` document; networks maps network name -> IP address."""
    networks = {"bridge": "172.17.0.2"} if networks is None else networks
    return {
        "Id": container_id(n),
        "Name": "/" + name,
        "Image": "sha256:" + "ab" * 32,
        "Config": {"Image": "intuition-test:1", "Labels": labels or {}},
        "State": {"Status": state, "Pid": pid if state == "running" else 0,
                  "StartedAt": "2026-11-25T09:27:49.271968288Z"},
        "HostConfig": {"NetworkMode": network_mode, "CgroupParent": ""},
        "NetworkSettings": {
            "Ports": ports or {},
            "Networks": {
                net: {"IPAddress": ip if state == "running" else "", "Gateway": ip.rsplit(".", 1)[0] + ".1",
                      "GlobalIPv6Address": "", "IPv6Gateway": ""}
                for net, ip in networks.items()
            },
        },
    }


def record(n: int, name: str, **kwargs) -> ContainerRecord:
    return record_from_inspect(inspect_doc(n, name, **kwargs), NODE)
