"""BPF_PROG_TYPE_TRACING programs of a BCC module: BTF-typed raw tracepoints (tp_btf) and BPF iterators.

BCC 0.26 compiles both, but its load (bcc_prog_load_xattr) sets a TRACING program's expected attach type from
its name's prefix alone (kfunc__, bpf_iter__, ...) and looks the rest of the name up in the kernel's BTF as a
function: a tp_btf program, which has no prefix, is refused ("not found in vmlinux BTF"). So a tp_btf
program's instructions are loaded here through libbpf's bpf_prog_load, with the attach type and the BTF id of
the tracepoint's typedef (btf_trace_<tracepoint>), and attached with BPF_RAW_TRACEPOINT_OPEN and no name. An
iterator program (bpf_iter__<target>) BCC loads itself; BCC's bcc_iter_attach and bcc_iter_create run it.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Iterator

BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_RAW_TP = 23   # enum bpf_attach_type
_LOG_SIZE = 1 << 20
_READ_SIZE = 1 << 20


class _LoadOptions(ctypes.Structure):
    """libbpf's struct bpf_prog_load_opts up to its log buffer (libbpf reads no field past `sz`)."""
    _fields_ = [("sz", ctypes.c_size_t), ("attempts", ctypes.c_int), ("expected_attach_type", ctypes.c_uint32),
                ("prog_btf_fd", ctypes.c_uint32), ("prog_flags", ctypes.c_uint32), ("prog_ifindex", ctypes.c_uint32),
                ("kern_version", ctypes.c_uint32), ("attach_btf_id", ctypes.c_uint32),
                ("attach_prog_fd", ctypes.c_uint32), ("attach_btf_obj_fd", ctypes.c_uint32),
                ("fd_array", ctypes.c_void_p), ("func_info", ctypes.c_void_p), ("func_info_cnt", ctypes.c_uint32),
                ("func_info_rec_size", ctypes.c_uint32), ("line_info", ctypes.c_void_p),
                ("line_info_cnt", ctypes.c_uint32), ("line_info_rec_size", ctypes.c_uint32),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32), ("log_buf", ctypes.c_void_p)]


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)
    lib.libbpf_find_vmlinux_btf_id.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.bpf_prog_load.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.POINTER(_LoadOptions)]
    lib.bpf_raw_tracepoint_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


def load_tp_btf(b, function: str, tracepoint: str) -> int:
    """Loads `function` of BCC module `b` as a BTF-typed raw tracepoint program on `tracepoint`; returns its file
    descriptor, named `function` in the kernel. Raises OSError with the verifier's log."""
    lib = _libbpf()
    btf_id = lib.libbpf_find_vmlinux_btf_id(tracepoint.encode(), BPF_TRACE_RAW_TP)
    if btf_id < 0:
        raise OSError(-btf_id, f"no btf_trace_{tracepoint} in the kernel's BTF: {os.strerror(-btf_id)}")
    import bcc
    bcc_lib = bcc.libbcc.lib
    start = bcc_lib.bpf_function_start(b.module, function.encode())
    if not start:
        raise ValueError(f"the module has no function {function}")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    options = _LoadOptions(sz=ctypes.sizeof(_LoadOptions), expected_attach_type=BPF_TRACE_RAW_TP,
                           attach_btf_id=btf_id, log_level=1, log_size=_LOG_SIZE, log_buf=ctypes.addressof(log))
    size = bcc_lib.bpf_function_size(b.module, function.encode())
    fd = lib.bpf_prog_load(BPF_PROG_TYPE_TRACING, function.encode(), b"GPL", start, size // 8, options)
    if fd < 0:
        raise OSError(-fd, f"the kernel refused {function} on {tracepoint}: {os.strerror(-fd)}\n"
                           f"{log.value.decode(errors='replace')}")
    return fd


@contextlib.contextmanager
def attached(program_fds: list[int]) -> Iterator[None]:
    """The tp_btf programs attached to their tracepoints for the block."""
    lib = _libbpf()
    links = []
    try:
        for fd in program_fds:
            link = lib.bpf_raw_tracepoint_open(None, fd)
            if link < 0:
                raise OSError(-link, f"BPF_RAW_TRACEPOINT_OPEN of program fd {fd}: {os.strerror(-link)}")
            links.append(link)
        yield
    finally:
        for link in links:
            os.close(link)


class MapIterator:
    """An iterator program (bpf_iter__<target>, loaded by BCC) attached to one map; each read() runs a walk."""

    def __init__(self, b, function: str, map_fd: int):
        import bcc
        self._lib = bcc.libbcc.lib
        self._lib.bcc_iter_attach.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
        program = b.load_func(function.encode(), bcc.BPF.TRACING)
        link_info = ctypes.c_uint32(map_fd)   # union bpf_iter_link_info's map.map_fd; the kernel zero-fills the rest
        self._link = self._lib.bcc_iter_attach(program.fd, ctypes.byref(link_info), ctypes.sizeof(link_info))
        if self._link < 0:
            raise OSError(ctypes.get_errno(), f"attaching iterator {function}: {os.strerror(ctypes.get_errno())}")

    def read(self) -> bytes:
        """What one walk of the map writes."""
        fd = self._lib.bcc_iter_create(self._link)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"BPF_ITER_CREATE: {os.strerror(ctypes.get_errno())}")
        try:
            chunks = []
            while chunk := os.read(fd, _READ_SIZE):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def close(self) -> None:
        os.close(self._link)
