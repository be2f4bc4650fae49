"""The network namespaces whose listeners the agent read from /proc at start, and which of them are gone.

The loader marks each of them as known with a port-0 entry in the listeners map (tracer/capture/loader.py,
store_listeners). Nothing in the kernel removes that entry when its namespace goes, so the collector asks
here on its map-count pass (tracer/capture/collector.py) and deletes the marks of the namespaces gone.
Cheap on a host with thousands of processes: a pass looks at one process per namespace, one that was in it
at start; only when none of those is in it any more is /proc scanned, once for all such namespaces, and the
scan either finds the namespace's processes of now or finds it gone.

A namespace no process is in counts as gone, even where a bind mount (`ip netns add`) still holds it. The
mark matters only for a socket adopted at its first I/O (probes/bytes.c, adopted_role); without it, such a
socket's role is guessed from its ports, as in a namespace made after the start.

nsfs reuses inode numbers: a namespace made after the start may get a gone one's number. Deleting the mark
under that number is still safe, since the new namespace then has what every namespace made after the start
has: no mark. Keeping the mark (when the scan finds the new namespace's processes first) is safe too: the
probes saw each of its listeners start (probes/lifecycle.c, on_listen), so its listeners are indeed known.
"""
from __future__ import annotations

import os


def netns_inode(proc: str, pid: int) -> int | None:
    """The inode of process pid's network namespace; None once the process is gone or may not be inspected
    (pid 1 of a sandbox)."""
    try:
        return os.stat(f"{proc}/{pid}/ns/net").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def pids_by_netns(proc: str = "/proc") -> dict[int, list[int]]:
    """Network namespace inode -> the pids of the processes in it, for every process on this host."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir(proc):
        if entry.name.isdigit() and (netns := netns_inode(proc, int(entry.name))) is not None:
            out.setdefault(netns, []).append(int(entry.name))
    return out


class KnownNamespaces:
    def __init__(self, pids: dict[int, list[int]], proc: str = "/proc"):
        """pids: each known namespace -> the processes seen in it at start."""
        self._pids = {netns: list(seen) for netns, seen in pids.items()}  # the last is looked at first
        self._proc = proc

    def gone(self) -> list[int]:
        """The known namespaces no process is in any more; from then on they are not known."""
        unseen = [netns for netns, seen in self._pids.items() if not self._still_in(netns, seen)]
        if not unseen:
            return []
        now = pids_by_netns(self._proc)
        for netns in unseen:
            if netns in now:
                self._pids[netns] = now[netns]
            else:
                del self._pids[netns]
        return [netns for netns in unseen if netns not in now]

    def _still_in(self, netns: int, seen: list[int]) -> bool:
        """True while a process seen in netns is still in it; drops those that are not (exited, or their pid
        now another process's elsewhere)."""
        while seen:
            if netns_inode(self._proc, seen[-1]) == netns:
                return True
            seen.pop()
        return False
