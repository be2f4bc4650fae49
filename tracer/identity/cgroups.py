"""cgroup facts -> container id, for cgroup v1 and v2 and for both Docker cgroup drivers.

FlowKey.cgroup_id is the inode of a process's cgroup directory in one hierarchy (the "cgroup root": the v2
mount on a pure v2 host, one v1 controller's mount such as /sys/fs/cgroup/memory on v1/hybrid hosts). Docker
puts a container in `docker/<64hex>` (cgroupfs driver) or `system.slice/docker-<64hex>.scope` (systemd
driver), relative to that root in every hierarchy. /proc/<pid>/cgroup gives a live process's path in each
hierarchy; a directory's inode maps a cgroup id back to a path once the process is gone.
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple, Optional, Sequence

CGROUP_MODES = ("v1", "v2")
# Docker container ids are 64 lowercase hex digits; the look-arounds refuse longer hex runs.
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# Stop a search for an unknown cgroup id after this many directories: a runaway tree must not stall identity.
MAX_WALK_DIRS = 200_000


class CgroupEntry(NamedTuple):
    hierarchy: int  # 0 is the v2 unified hierarchy
    controllers: frozenset[str]  # empty for v2; {"memory"}, {"cpu", "cpuacct"}, {"name=systemd"} on v1
    path: str  # path inside that hierarchy, starting with "/"


def container_id_from_path(path: str) -> Optional[str]:
    """The innermost 64-hex container id in a cgroup path, or None for a path outside any container."""
    found = _CONTAINER_ID.findall(path)
    return found[-1] if found else None


def parse_proc_cgroup(text: str) -> list[CgroupEntry]:
    """Parse /proc/<pid>/cgroup: one `hierarchy-id:controllers:path` line per hierarchy."""
    entries = []
    for line in text.splitlines():
        if not line:
            continue
        fields = line.split(":", 2)
        if len(fields) != 3 or not fields[0].isdigit() or not fields[2].startswith("/"):
            raise ValueError(f"malformed /proc/<pid>/cgroup line {line!r}")
        controllers = frozenset(c for c in fields[1].split(",") if c)
        entries.append(CgroupEntry(int(fields[0]), controllers, fields[2]))
    return entries


def hierarchy_path(entries: list[CgroupEntry], cgroup_root: str, cgroup_mode: str) -> Optional[str]:
    """The process's path in the hierarchy mounted at cgroup_root.

    v1 roots are named after their controllers (/sys/fs/cgroup/memory, /sys/fs/cgroup/cpu,cpuacct,
    /sys/fs/cgroup/systemd for name=systemd); pass the resolved mount path, not a symlink such as cpu.
    """
    if cgroup_mode == "v2":
        return next((e.path for e in entries if e.hierarchy == 0), None)
    name = os.path.basename(cgroup_root.rstrip("/"))
    wanted = {"name=systemd"} if name == "systemd" else set(name.split(","))
    return next((e.path for e in entries if e.hierarchy != 0 and wanted <= e.controllers), None)


def driver_paths(container_id: str) -> tuple[str, str]:
    """Where the cgroupfs and systemd drivers put a container, relative to any hierarchy's root."""
    return (f"/docker/{container_id}", f"/system.slice/docker-{container_id}.scope")


class CgroupFs:
    """Reads one cgroup hierarchy and the processes' cgroup files under proc_root."""

    def __init__(self, cgroup_root: str, cgroup_mode: str, proc_root: str = "/proc"):
        if cgroup_mode not in CGROUP_MODES:
            raise ValueError(f"cgroup_mode must be one of {CGROUP_MODES}, not {cgroup_mode!r}")
        if not os.path.isdir(cgroup_root):
            raise ValueError(f"cgroup_root {cgroup_root!r} is not a directory")
        if not os.path.isdir(proc_root):
            raise ValueError(f"proc_root {proc_root!r} is not a directory")
        self.root = os.path.realpath(cgroup_root)
        self.mode = cgroup_mode
        self.proc_root = proc_root

    def process_path(self, tgid: int) -> Optional[str]:
        """The process's cgroup path in this hierarchy, or None when the process is gone."""
        try:
            with open(f"{self.proc_root}/{tgid}/cgroup") as f:
                text = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return hierarchy_path(parse_proc_cgroup(text), self.root, self.mode)

    def process_exists(self, tgid: int) -> bool:
        return os.path.exists(f"{self.proc_root}/{tgid}")

    def inode(self, path: str) -> Optional[int]:
        """Inode (= cgroup id) of a cgroup path, or None if it does not exist here.

        Paths seen from a private cgroup namespace start with /.. and name nothing under our root.
        """
        if ".." in path.split("/"):
            return None
        try:
            return os.stat(os.path.join(self.root, path.lstrip("/"))).st_ino
        except OSError:
            return None

    def container_inodes(self, container_id: str, pid: int, runtime_paths: Sequence[str] = ()) -> set[int]:
        """Cgroup ids of a container: its main process's cgroup, both Docker drivers' layouts and the paths
        its runtime gave (a Kubernetes pod's container, whose path holds the pod's)."""
        paths = [*driver_paths(container_id), *runtime_paths]
        if pid:
            live = self.process_path(pid)
            if live is not None:
                paths.append(live)
        return {i for i in map(self.inode, paths) if i is not None}

    def find(self, inode: int) -> Optional[str]:
        """Search the hierarchy for the directory with this inode; its path, or None."""
        if self.inode("/") == inode:
            return "/"
        pending, seen = ["/"], 0
        while pending and seen < MAX_WALK_DIRS:
            rel = pending.pop()
            try:
                with os.scandir(os.path.join(self.root, rel.lstrip("/"))) as it:
                    for entry in it:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                        seen += 1
                        child = rel.rstrip("/") + "/" + entry.name
                        if entry.inode() == inode:
                            return child
                        pending.append(child)
            except OSError:
                continue  # removed while we walked
        return None
