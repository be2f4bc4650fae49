"""BPF_PROG_TYPE_TRACING programs of a BCC module: BTF-typed raw tracepoints (tp_btf) and BPF iterators.

BCC 0.26 compiles both, but cannot load a tp_btf program (tracer/capture/btf_tracepoints.py says why): its
instructions are loaded and attached with the agent's own tp_btf loader. An iterator program (bpf_iter__<target>)
BCC loads itself; BCC's bcc_iter_attach and bcc_iter_create run it.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

from tracer.capture import btf, btf_tracepoints, loader

_READ_SIZE = 1 << 20


def load_tp_btf(b, function: str, tracepoint: str) -> int:
    """Loads `function` of BCC module `b` as a BTF-typed raw tracepoint program on `tracepoint`; returns its file
    descriptor, named `function` in the kernel. Raises OSError with the verifier's log, ProbeError for a function
    the module lacks."""
    insns = loader.function_instructions(b, function.encode())
    with btf.KernelBTF() as kbtf:
        btf_id = kbtf.typedef_id(btf_tracepoints.TYPEDEF_PREFIX + tracepoint)
    return btf_tracepoints.load(function, insns, b"GPL", btf_id)


@contextlib.contextmanager
def attached(program_fds: list[int]) -> Iterator[None]:
    """The tp_btf programs attached to their tracepoints for the block."""
    links = []
    try:
        for fd in program_fds:
            links.append(btf_tracepoints.attach(fd))
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
