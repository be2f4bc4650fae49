"""The local end of a flow: cgroup id (or tgid) -> container id, remembered at first sight.

A container's cgroup ids are learned the moment its cgroup directory appears (cgroup_watch) and again when
Docker reports it started, so a process that makes a few requests and exits before the next drain is still
named. Other ids are resolved on first use from /proc/<tgid>/cgroup (a procfs read, never a Docker call);
an id whose process is already gone is searched in the cgroup tree in the background.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Optional, Sequence

from .cgroups import CgroupFs, container_id_from_path

# Bounds the caches: far more cgroups and processes than one host runs at once.
CACHE_ENTRIES = 65536


class _Bounded(OrderedDict):
    """A dict that forgets its oldest entries beyond `limit`."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Hashable, value: object) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class LocalResolver:
    def __init__(self, cgroups: CgroupFs, search_later: Callable[[int], None], entries: int = CACHE_ENTRIES):
        self._cgroups = cgroups
        self._search_later = search_later  # asks for a background CgroupFs.find of an unknown cgroup id
        self._lock = threading.Lock()
        self._by_cgroup: _Bounded = _Bounded(entries)  # cgroup id -> container id, None for the host
        self._by_task: _Bounded = _Bounded(entries)  # (tgid, comm) -> container id, None for the host

    def resolve(self, cgroup_id: int, tgid: int, comm: str) -> Optional[str]:
        """The container id, or None for a host process. Also None when the process is gone and its
        cgroup id was never seen: a background search then learns it for the next lookups."""
        with self._lock:
            if cgroup_id and cgroup_id in self._by_cgroup:
                return self._by_cgroup[cgroup_id]
            if not cgroup_id and (tgid, comm) in self._by_task:
                return self._by_task[(tgid, comm)]
        path = self._cgroups.process_path(tgid)
        if path is None or (cgroup_id and self._cgroups.inode(path) != cgroup_id):
            # Gone, or the tgid now belongs to another process: the kernel's cgroup id is the truth.
            if cgroup_id:
                self._search_later(cgroup_id)
            return None
        container_id = container_id_from_path(path)
        with self._lock:
            if cgroup_id:
                self._by_cgroup[cgroup_id] = container_id
            self._by_task[(tgid, comm)] = container_id
        return container_id

    def learn_container(self, container_id: str, pid: int, runtime_paths: Sequence[str] = ()) -> None:
        """Remember a container's cgroup ids while it runs (called on its runtime's start and at resync)."""
        for inode in self._cgroups.container_inodes(container_id, pid, runtime_paths):
            self.remember(inode, container_id)

    def remember(self, cgroup_id: int, container_id: Optional[str]) -> None:
        with self._lock:
            self._by_cgroup[cgroup_id] = container_id

    def forget(self, container_id: str) -> None:
        """Drop a container's cgroup ids and processes once identity forgets the container itself."""
        with self._lock:
            for cache in (self._by_cgroup, self._by_task):
                for key in [key for key, value in cache.items() if value == container_id]:
                    del cache[key]

    def forget_exited_host_processes(self) -> None:
        """Drop the host's processes that have exited (identity calls it every few seconds). Exact: looked up
        again, such a process is the host's without its entry too, its /proc being gone. A container's
        processes stay until their container is forgotten: without a cgroup id only the entry names them."""
        with self._lock:
            host = [key for key, container_id in self._by_task.items() if container_id is None]
        exited = [key for key in host if not self._cgroups.process_exists(key[0])]
        with self._lock:
            for key in exited:
                if key in self._by_task and self._by_task[key] is None:
                    del self._by_task[key]

    def cache_entries(self) -> dict[str, int]:
        with self._lock:
            return {"cgroups": len(self._by_cgroup), "tasks": len(self._by_task)}

    def search(self, cgroup_id: int) -> None:
        """Background job: find an unknown cgroup id in the tree. Not found (already removed) means
        nobody can name it any more: it is remembered as the host's."""
        path = self._cgroups.find(cgroup_id)
        self.remember(cgroup_id, container_id_from_path(path) if path else None)
