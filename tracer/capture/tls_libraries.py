"""Finds the OpenSSL libraries (libssl.so*) that processes map: the files the TLS uprobes go on (probes/l7_tls.c).

A uprobe belongs to a file, not to a process: once on a library, it fires in every process that maps that file,
now or later. So each library file is attached once, known by the device and inode that /proc/<pid>/maps gives,
and opened through /proc/<pid>/root, where a container's own copy lies in its own filesystem.

Nothing tells us when a process maps a library, so the maps are read again: on every scan those of processes
not seen before, or that have exec'd since (their executable changed), and every FULL_SCAN_SECONDS all of them,
for libraries loaded later with dlopen. A scan costs a directory listing and one stat per process, plus
reading the maps of new processes (tens of microseconds each).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

LIBRARY_PREFIX = "libssl.so"
FULL_SCAN_SECONDS = 30.0
MAX_LIBRARIES = 64  # distinct files: one per image that ships its own OpenSSL; each costs 8 uprobes


@dataclass(frozen=True)
class Library:
    device: str   # major:minor in hex, as /proc/<pid>/maps writes it
    inode: int
    path: str     # where this agent opens it: under /proc/<pid>/root


def libraries_in_maps(text: str) -> list[tuple[str, int, str]]:
    """(device, inode, path inside the process's root) of each libssl file a maps listing names, once each."""
    found: dict[tuple[str, int], str] = {}
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        path = fields[5]
        if not os.path.basename(path).startswith(LIBRARY_PREFIX) or path.endswith(" (deleted)"):
            continue
        try:
            inode = int(fields[4])
        except ValueError:
            continue
        found.setdefault((fields[3], inode), path)
    return [(device, inode, path) for (device, inode), path in found.items()]


class LibraryScan:
    """Reports each libssl file once, the first time a scan finds a process that maps it."""

    def __init__(self, proc: str = "/proc"):
        self._proc = proc
        self._known: set[tuple[str, int]] = set()   # (device, inode) of every file reported, or refused
        self._reported = 0
        self._seen: dict[int, tuple[int, int]] = {}   # pid -> its executable (device, inode) when its maps were read
        self._full_scan_at = 0.0

    def new_libraries(self) -> list[Library]:
        now = time.monotonic()
        full = now >= self._full_scan_at
        if full:
            self._full_scan_at = now + FULL_SCAN_SECONDS
        seen: dict[int, tuple[int, int]] = {}
        out: list[Library] = []
        for entry in os.listdir(self._proc):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                st = os.stat(f"{self._proc}/{pid}/exe")
            except OSError:
                continue   # exited, or a kernel thread
            seen[pid] = (st.st_dev, st.st_ino)
            if not full and self._seen.get(pid) == seen[pid]:
                continue
            out += self._libraries_of(pid)
        self._seen = seen
        return out

    def _libraries_of(self, pid: int) -> list[Library]:
        try:
            with open(f"{self._proc}/{pid}/maps") as f:
                text = f.read()
        except OSError:
            return []
        out = []
        for device, inode, path in libraries_in_maps(text):
            if (device, inode) in self._known:
                continue
            self._known.add((device, inode))
            if self._reported >= MAX_LIBRARIES:
                log.warning("%d OpenSSL library files have uprobes already: the TLS traffic of %s (process %d) "
                            "counts as bytes only", MAX_LIBRARIES, path, pid)
                continue
            self._reported += 1
            out.append(Library(device, inode, f"{self._proc}/{pid}/root{path}"))
        return out
