"""The kernel's own accounting of BPF programs (BPF_ENABLE_STATS): run time and runs per program.

Programs are found through the file descriptors a process holds; their names come from the kernel
(BPF_OBJ_GET_INFO_BY_FD through libbpf), so a profile names the probes' functions.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

_BPF_STATS_RUN_TIME = 0   # enum bpf_stats_type
_INFO_SIZE = 256          # bpf_prog_info is shorter; the kernel zero-fills what it does not know
_NAME_OFFSET = 64         # bpf_prog_info.name: after type, id, tag, lengths, two pointers, load time, uid, map ids
_NAME_LEN = 16
T = TypeVar("T")


@dataclass(frozen=True)
class ProgramStats:
    name: str
    run_time_ns: int
    run_cnt: int


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)
    lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    lib.bpf_enable_stats.argtypes = [ctypes.c_int]
    lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    return lib


def program_name(prog_id: int) -> str:
    """The name the kernel holds for a loaded program (its C function's, cut to 15 characters)."""
    lib = _libbpf()
    fd = lib.bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        return f"prog{prog_id}"
    try:
        info = ctypes.create_string_buffer(_INFO_SIZE)
        size = ctypes.c_uint32(_INFO_SIZE)
        if lib.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)) != 0:
            return f"prog{prog_id}"
        return info.raw[_NAME_OFFSET:_NAME_OFFSET + _NAME_LEN].split(b"\0", 1)[0].decode() or f"prog{prog_id}"
    finally:
        os.close(fd)


def _programs_of(pid: int) -> dict[int, tuple[int, int]]:
    """prog id -> (run_time_ns, run_cnt) of each BPF program the process holds open."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue   # closed meanwhile
        out[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
    return out


def program_ids(pid: int) -> list[int]:
    """The ids of the BPF programs the process holds open."""
    return list(_programs_of(pid))


def _delta(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> list[ProgramStats]:
    """Each program's run time and runs between two readings, by name."""
    out = []
    for prog_id, (ns, runs) in sorted(after.items()):
        ns0, runs0 = before.get(prog_id, (0, 0))
        out.append(ProgramStats(program_name(prog_id), ns - ns0, runs - runs0))
    return out


@contextlib.contextmanager
def _accounting():
    """Run-time accounting on for the block, through BPF_ENABLE_STATS: the kernel keeps it on while any holder's
    file descriptor is open, so runs on a shared machine do not switch each other's off. It costs every program
    run two clock reads, which users do not pay: throughput is measured with it off."""
    fd = _libbpf().bpf_enable_stats(_BPF_STATS_RUN_TIME)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS failed")
    try:
        yield
    finally:
        os.close(fd)


def measured(pid: int, workload: Callable[[], T]) -> tuple[T, list[ProgramStats]]:
    """The workload's result, and the run time and runs of each BPF program `pid` holds during it, with the
    accounting on."""
    with _accounting():
        before = _programs_of(pid)
        result = workload()
        after = _programs_of(pid)
    return result, _delta(before, after)
