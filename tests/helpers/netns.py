"""Network namespaces that a test creates, wires with veth pairs, and removes again."""
from __future__ import annotations

import subprocess
import uuid


def sh(*cmd: str, input: str | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, input=input).stdout


class NetNS:
    def __init__(self, prefix: str = "intu"):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        sh("ip", "netns", "add", self.name)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *cmd: str, input: str | None = None) -> str:
        return sh("ip", "netns", "exec", self.name, *cmd, input=input)

    def argv(self, *cmd: str) -> list[str]:
        """Command line that runs cmd inside the namespace (same pid: ip execs it)."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def nft(self, ruleset: str) -> None:
        self.run("nft", "-f", "-", input=ruleset)

    def snmp(self, group: str, field: str) -> int:
        """A counter of this namespace's /proc/net/snmp, e.g. snmp("Tcp", "RetransSegs")."""
        lines = [line.split() for line in self.run("cat", "/proc/net/snmp").splitlines() if line.startswith(group + ":")]
        header, values = lines[0], lines[1]
        return int(values[header.index(field)])

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def veth_pair(a: NetNS, b: NetNS, addr_a: str, addr_b: str, prefix: int = 24) -> tuple[str, str]:
    """Link two namespaces with a veth pair and address both ends; returns the two device names."""
    tag = uuid.uuid4().hex[:6]
    end_a, end_b = f"va{tag}", f"vb{tag}"
    sh("ip", "link", "add", end_a, "netns", a.name, "type", "veth", "peer", "name", end_b, "netns", b.name)
    a.run("ip", "addr", "add", f"{addr_a}/{prefix}", "dev", end_a)
    b.run("ip", "addr", "add", f"{addr_b}/{prefix}", "dev", end_b)
    a.run("ip", "link", "set", end_a, "up")
    b.run("ip", "link", "set", end_b, "up")
    return end_a, end_b
