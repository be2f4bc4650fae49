"""A container's CPU time, memory and memory limit, read from its cgroup's files.

cgroup v2 keeps them in one directory (cpu.stat, memory.current, memory.max, memory.events); cgroup v1 in
one directory per controller (cpuacct.usage, memory.usage_in_bytes, memory.limit_in_bytes,
memory.oom_control). Docker puts the container at the same path under every hierarchy's root, one path per
cgroup driver (tracer/identity/cgroups.py).
"""
from __future__ import annotations

import os
from typing import NamedTuple, Optional

from tracer.identity.cgroups import driver_paths

CGROUP_FS = "/sys/fs/cgroup"
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit value; anything this large is no limit
NO_LIMIT_V1 = 1 << 62


class Usage(NamedTuple):
    cpu_seconds: float  # since the container's cgroup was made
    memory_bytes: int
    memory_limit_bytes: Optional[int]  # None without a limit
    oom_kills: int  # by the kernel in this cgroup, since it was made


class CgroupStats:
    def __init__(self, mode: str, base: str = CGROUP_FS):
        self._mode = mode
        self._base = base

    def read(self, container_id: str) -> Optional[Usage]:
        """The container's usage now, None when it has no cgroup (not running) or it is being removed."""
        for path in driver_paths(container_id):
            try:
                return self._read_v2(path) if self._mode == "v2" else self._read_v1(path)
            except OSError:   # FileNotFoundError; ENODEV from a v1 cgroup being removed (tests/e2e/test_churn.py)
                continue
        return None

    def _file(self, controller: str, path: str, name: str) -> str:
        with open(os.path.join(self._base, controller, path.lstrip("/"), name)) as f:
            return f.read()

    def _read_v1(self, path: str) -> Usage:
        limit = int(self._file("memory", path, "memory.limit_in_bytes"))
        return Usage(
            cpu_seconds=int(self._file("cpuacct", path, "cpuacct.usage")) / 1e9,
            memory_bytes=int(self._file("memory", path, "memory.usage_in_bytes")),
            memory_limit_bytes=None if limit >= NO_LIMIT_V1 else limit,
            oom_kills=_keyed(self._file("memory", path, "memory.oom_control")).get("oom_kill", 0),
        )

    def _read_v2(self, path: str) -> Usage:
        limit = self._file("", path, "memory.max").strip()
        return Usage(
            cpu_seconds=_keyed(self._file("", path, "cpu.stat"))["usage_usec"] / 1e6,
            memory_bytes=int(self._file("", path, "memory.current")),
            memory_limit_bytes=None if limit == "max" else int(limit),
            oom_kills=_keyed(self._file("", path, "memory.events")).get("oom_kill", 0),
        )


def _keyed(text: str) -> dict[str, int]:
    """A flat-keyed cgroup file ("name value" lines) as a dict."""
    return {name: int(value) for name, value in (line.split() for line in text.splitlines() if line.strip())}
