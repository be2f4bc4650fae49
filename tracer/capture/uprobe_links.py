"""Uprobes as uprobe-multi BPF links (Linux 6.6): one link per program and library file, however many of the
file's functions it covers, detached in one step.

Closing a uprobe that BCC attached as a perf event waits in the kernel, one uprobe after another (about 0.1 s
each here, eight per TLS library: a stop with two libraries attached took most of the 2 s a SIGTERM may take,
docs/reliability.md). A link's close waits once, and links closed together overlap: five links of one
library close in 0.05 to 0.08 s here, its eight perf-event uprobes in 0.99 s. BCC 0.26 has no call for such
links, so they are made here with the bpf syscall; the programs must be loaded for them
(expected_attach_type BPF_TRACE_UPROBE_MULTI, ProbeInfo.uprobe_multi in tracer/capture/loader.py).
"""
from __future__ import annotations

import ctypes
import os
import struct

BPF_LINK_CREATE = 28  # enum bpf_cmd
BPF_F_UPROBE_MULTI_RETURN = 1
SYS_BPF = 321  # x86_64: the only machine whose TLS plaintext is parsed (tracer/capture/loader.py, load)
# union bpf_attr's link_create: prog_fd, target_fd, attach_type, flags, then uprobe_multi's path, offsets,
# ref_ctr_offsets, cookies (pointers), cnt, flags, pid; the rest of the union stays zero
_HEAD = struct.Struct("=IIII")
_UPROBE_MULTI = struct.Struct("=QQQQIII")
_ATTR_SIZE = 128

_libc = ctypes.CDLL(None, use_errno=True)


def symbol_offset(bcc_bpf, path: str, symbol: str) -> int | None:
    """The file offset of a function in a library, as BCC's attach_uprobe finds it; None if it has none."""
    try:
        return bcc_bpf._check_path_symbol(path.encode(), symbol.encode(), None, -1)[1]
    except Exception:  # BCC raises a bare Exception for a symbol it cannot find
        return None


def attach(prog_fd: int, attach_type: int, path: str, offsets: list[int], on_return: bool) -> int:
    """A link running the program at these offsets of the file (at their return if on_return), in every
    process; returns its file descriptor: closing it detaches. Raises OSError with the kernel's reason."""
    path_buf = ctypes.create_string_buffer(path.encode())
    offsets_buf = (ctypes.c_uint64 * len(offsets))(*offsets)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    _HEAD.pack_into(attr, 0, prog_fd, 0, attach_type, 0)
    _UPROBE_MULTI.pack_into(attr, _HEAD.size, ctypes.addressof(path_buf), ctypes.addressof(offsets_buf), 0, 0,
                            len(offsets), BPF_F_UPROBE_MULTI_RETURN if on_return else 0, 0)
    fd = _libc.syscall(SYS_BPF, BPF_LINK_CREATE, attr, _ATTR_SIZE)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"uprobe-multi link on {path}: {os.strerror(err)}")
    return fd


def zero_bcc_reference_counter(lib) -> None:
    """Where uprobes are perf events attached through BCC (kernels without uprobe-multi links): make BCC 0.26's
    Python binding pass libbcc's bpf_attach_uprobe its last argument, ref_ctr_offset, which it leaves out.
    The kernel otherwise takes whatever the register holds as the offset of a USDT semaphore (0x6 here, in
    dmesg's "ref_ctr_offset mismatch"), increments a counter there in every process that maps the library
    writable at that offset, and refuses any other tool's uprobe at the same function. lib: bcc.libbcc.lib."""
    if len(lib.bpf_attach_uprobe.argtypes) != 6:
        return  # a BCC that passes it already, or this was done
    full = lib["bpf_attach_uprobe"]  # a function object of its own, with the C signature's seven arguments
    full.argtypes = [*lib.bpf_attach_uprobe.argtypes, ctypes.c_uint32]
    full.restype = ctypes.c_int

    def attach_uprobe(*args):
        return full(*args, 0)

    attach_uprobe.argtypes = full.argtypes
    lib.bpf_attach_uprobe = attach_uprobe
