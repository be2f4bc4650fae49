"""Which source line a loaded BPF program's JIT-compiled code at a kernel address came from: the program's line
info as the kernel keeps it (bpf_prog_info's line_info and jited_line_info, through libbpf), for programs loaded
with BTF, i.e. compiled with debug info (tracer/capture/loader.py compiles the agent's without: NO_DEBUG_INFO).
"""
from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import os
from dataclasses import dataclass


class _ProgInfo(ctypes.Structure):
    """struct bpf_prog_info (include/uapi/linux/bpf.h) up to the fields read here; the kernel fills what it has."""
    _fields_ = [
        ("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", ctypes.c_uint32), ("xlated_prog_len", ctypes.c_uint32),
        ("jited_prog_insns", ctypes.c_uint64), ("xlated_prog_insns", ctypes.c_uint64),
        ("load_time", ctypes.c_uint64), ("created_by_uid", ctypes.c_uint32), ("nr_map_ids", ctypes.c_uint32),
        ("map_ids", ctypes.c_uint64), ("name", ctypes.c_char * 16), ("ifindex", ctypes.c_uint32),
        ("gpl_compatible", ctypes.c_uint32), ("netns_dev", ctypes.c_uint64), ("netns_ino", ctypes.c_uint64),
        ("nr_jited_ksyms", ctypes.c_uint32), ("nr_jited_func_lens", ctypes.c_uint32),
        ("jited_ksyms", ctypes.c_uint64), ("jited_func_lens", ctypes.c_uint64),
        ("btf_id", ctypes.c_uint32), ("func_info_rec_size", ctypes.c_uint32), ("func_info", ctypes.c_uint64),
        ("nr_func_info", ctypes.c_uint32), ("nr_line_info", ctypes.c_uint32), ("line_info", ctypes.c_uint64),
        ("jited_line_info", ctypes.c_uint64), ("nr_jited_line_info", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32), ("jited_line_info_rec_size", ctypes.c_uint32),
    ]


class _LineInfo(ctypes.Structure):
    """struct bpf_line_info"""
    _fields_ = [("insn_off", ctypes.c_uint32), ("file_name_off", ctypes.c_uint32), ("line_off", ctypes.c_uint32),
                ("line_col", ctypes.c_uint32)]


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)
    lib.bpf_prog_get_fd_by_id.argtypes = [ctypes.c_uint32]
    lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    lib.btf__load_from_kernel_by_id.argtypes = [ctypes.c_uint32]
    lib.btf__load_from_kernel_by_id.restype = ctypes.c_void_p
    lib.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__name_by_offset.restype = ctypes.c_char_p
    lib.btf__free.argtypes = [ctypes.c_void_p]
    return lib


@dataclass(frozen=True)
class SourceLine:
    file: str
    line: int


@dataclass
class ProgramLines:
    """One program's JIT image and the source line each stretch of it came from."""
    name: str
    start: int                  # the image's kernel address (its symbol bpf_prog_<tag>_<name>)
    size: int
    addresses: list[int]        # where each line's code begins, ascending
    lines: list[SourceLine]

    def line_at(self, address: int) -> SourceLine | None:
        """The source line of the code at a kernel address in this program's image, None outside it."""
        if not self.start <= address < self.start + self.size:
            return None
        i = bisect.bisect_right(self.addresses, address) - 1
        return self.lines[i] if i >= 0 else None


def _info(lib: ctypes.CDLL, fd: int, info: _ProgInfo) -> None:
    size = ctypes.c_uint32(ctypes.sizeof(info))
    if lib.bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size)) != 0:
        raise OSError(ctypes.get_errno(), "BPF_OBJ_GET_INFO_BY_FD")


def program_lines(prog_id: int) -> ProgramLines:
    """The line table of a loaded program; ValueError when it was loaded without line info (no BTF)."""
    lib = _libbpf()
    fd = lib.bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"no BPF program {prog_id}")
    try:
        counts = _ProgInfo()
        _info(lib, fd, counts)
        name = counts.name.decode()
        if not counts.nr_line_info or not counts.btf_id or counts.nr_jited_ksyms != 1:
            raise ValueError(f"program {prog_id} ({name}) has no line info: compile it with debug info")
        records = (_LineInfo * counts.nr_line_info)()
        jited = (ctypes.c_uint64 * counts.nr_jited_line_info)()
        ksym = ctypes.c_uint64()
        info = _ProgInfo(nr_line_info=counts.nr_line_info, line_info_rec_size=ctypes.sizeof(_LineInfo),
                         line_info=ctypes.addressof(records), nr_jited_line_info=counts.nr_jited_line_info,
                         jited_line_info_rec_size=8, jited_line_info=ctypes.addressof(jited),
                         nr_jited_ksyms=1, jited_ksyms=ctypes.addressof(ksym))
        _info(lib, fd, info)
    finally:
        os.close(fd)
    btf = lib.btf__load_from_kernel_by_id(counts.btf_id)
    if not btf:
        raise OSError(ctypes.get_errno(), f"cannot read BTF {counts.btf_id} of program {prog_id}")
    try:
        lines = [SourceLine(lib.btf__name_by_offset(btf, r.file_name_off).decode(), r.line_col >> 10) for r in records]
    finally:
        lib.btf__free(btf)
    order = sorted(range(len(lines)), key=lambda i: jited[i])
    return ProgramLines(name, ksym.value, counts.jited_prog_len, [jited[i] for i in order], [lines[i] for i in order])
