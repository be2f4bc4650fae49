"""The TCP ports each network namespace listens on, read from /proc when the probes start.

A connection that predates the agent is adopted at its first I/O, and its role comes from the listeners
map (probes/bytes.c, adopted_role): the end whose port its namespace listens on is the server. The probes
see listeners that start after them (probes/lifecycle.c, on_listen); this module finds the ones that were
there before, and the loader stores them (tracer/capture/loader.py, store_listeners).
"""
from __future__ import annotations

TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp for a listening socket


def parse_listening_ports(table: str) -> set[int]:
    """The local ports of the listening sockets in the text of /proc/<pid>/net/tcp or tcp6."""
    ports = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == TCP_LISTEN:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _read_table(path: str) -> str:
    with open(path) as f:
        return f.read()


def listening_ports_by_netns(pids: dict[int, list[int]], proc: str = "/proc") -> dict[int, set[int]]:
    """Network namespace inode -> its listening ports, for each namespace in pids (tracer/capture/known_namespaces.py,
    pids_by_netns) whose tables one of its processes lets us read; one process is read per namespace."""
    out: dict[int, set[int]] = {}
    for netns, in_it in pids.items():
        for pid in in_it:
            try:
                ports = parse_listening_ports(_read_table(f"{proc}/{pid}/net/tcp"))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # the process exited, or is one we may not inspect (pid 1 of a sandbox)
            try:
                ports |= parse_listening_ports(_read_table(f"{proc}/{pid}/net/tcp6"))
            except FileNotFoundError:
                pass  # IPv6 is off in that namespace
            out[netns] = ports
            break
    return out
