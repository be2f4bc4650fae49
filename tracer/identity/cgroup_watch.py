"""Notices container cgroup directories the moment they are made (inotify), before Docker reports the start.

A container that makes a few requests and exits may be gone, with its cgroup directory, before Docker's
start event reaches us; its flows then carry a cgroup id nothing can map back. The directory exists from
the moment the runtime creates it, before the container's process runs, so watching the drivers' parent
directories (`docker/`, `system.slice/`) gives us the id -> container mapping in time.
"""
from __future__ import annotations

import ctypes
import logging
import os
import select
import struct
import threading
from typing import Callable, Optional

from .cgroups import CgroupFs, container_id_from_path

log = logging.getLogger(__name__)

PARENTS = ("docker", "system.slice")  # where the cgroupfs and systemd drivers make container cgroups
IN_CREATE = 0x00000100
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name
POLL_MS = 500  # how often the thread looks at its stop flag


class CgroupWatch:
    def __init__(self, cgroups: CgroupFs, learn: Callable[[int, str], None]):
        self._cgroups = cgroups
        self._learn = learn  # (cgroup id, container id)
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = -1
        self._watched: dict[int, str] = {}  # watch descriptor -> directory relative to the root
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            log.warning("inotify unavailable (%s): very short-lived containers may go unnamed",
                        os.strerror(ctypes.get_errno()))
            return
        self._watch("")  # the root, for a parent made after we started
        for parent in PARENTS:
            self._watch(parent)
        self._thread = threading.Thread(target=self._run, name="identity-cgroups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _watch(self, relative: str) -> None:
        path = os.path.join(self._cgroups.root, relative)
        if relative in self._watched.values() or not os.path.isdir(path):
            return
        wd = self._libc.inotify_add_watch(self._fd, path.encode(), IN_CREATE | IN_ONLYDIR)
        if wd < 0:
            log.warning("cannot watch %s: %s", path, os.strerror(ctypes.get_errno()))
            return
        self._watched[wd] = relative
        if relative:  # what was made before the watch began, e.g. just after its parent appeared
            for entry in os.scandir(path):
                if entry.is_dir(follow_symlinks=False):
                    self._created(f"/{relative}/{entry.name}")

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while not self._stopping.is_set():
            if poller.poll(POLL_MS):
                self._read()

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0").decode(errors="replace")
            offset += _EVENT.size + length
            parent = self._watched.get(wd)
            if parent == "":
                if name in PARENTS:
                    self._watch(name)
            elif parent is not None:
                self._created(f"/{parent}/{name}")

    def _created(self, path: str) -> None:
        container_id = container_id_from_path(path)
        cgroup_id = self._cgroups.inode(path) if container_id else None
        if cgroup_id is not None:
            self._learn(cgroup_id, container_id)
