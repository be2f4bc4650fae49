"""BTF-typed raw tracepoints (what libbpf calls tp_btf): programs of type BPF_PROG_TYPE_TRACING, expected attach
type BPF_TRACE_RAW_TP, loaded for one tracepoint's prototype (the vmlinux BTF id of its typedef
`btf_trace_<event>`) and attached with BPF_RAW_TRACEPOINT_OPEN and no name.

Such a program gets the tracepoint's arguments as typed kernel pointers, which the verifier lets it load from
directly (probes/bytes_tracepoint.c, SOCK_LENGTH_TP_BTF). BCC 0.26 cannot load one: for a tracing program its
loader derives the attach point from name prefixes that name fentry, fexit and LSM hooks only. So they are loaded
and attached here with the bpf syscall, from the instructions BCC compiled (or the program cache kept).
"""
from __future__ import annotations

import ctypes
import os
import struct

from . import kfuncs

BPF_PROG_LOAD = 5  # enum bpf_cmd
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_TRACING = 26  # enum bpf_prog_type
BPF_TRACE_RAW_TP = 23  # enum bpf_attach_type
SYS_BPF = 321  # x86_64 (tracer/capture/uprobe_links.py)
TYPEDEF_PREFIX = "btf_trace_"  # the kernel's BTF names each tracepoint's prototype btf_trace_<event>
OBJ_NAME_LEN = 16
LOG_SIZE = 1 << 20  # the verifier's log of a refused program, for its error
# union bpf_attr's prog_load, up to attach_btf_id: prog_type, insn_cnt, insns, license, log_level, log_size,
# log_buf, kern_version, prog_flags, prog_name, prog_ifindex, expected_attach_type, prog_btf_fd,
# func_info_rec_size, func_info, func_info_cnt, line_info_rec_size, line_info, line_info_cnt, attach_btf_id
_PROG_LOAD = struct.Struct("=IIQQIIQII16sIIIIQIIQII")
_RAW_TRACEPOINT_OPEN = struct.Struct("=QI")  # name (NULL: the program's attach_btf_id says which), prog_fd
_ATTR_SIZE = 128
# what a program that only returns 0 is: r0 = 0; exit
RETURN_ZERO = bytes([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])

_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(command: int, attr: ctypes.Array) -> int:
    return _libc.syscall(SYS_BPF, command, attr, _ATTR_SIZE)


def prog_load(prog_type: int, attach_type: int, attach_btf_id: int, name: str, insns: bytes, license: bytes,
              log_level: int = 0, log: ctypes.Array | None = None) -> int:
    """One BPF_PROG_LOAD of insns, their kfunc calls resolved (tracer/capture/kfuncs.py); the descriptor, or -1 with
    errno set. The verifier writes to log (at log_level) if given."""
    insns = kfuncs.resolve(insns)
    insns_buf = ctypes.create_string_buffer(insns, len(insns))
    license_buf = ctypes.create_string_buffer(license)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    _PROG_LOAD.pack_into(attr, 0, prog_type, len(insns) // 8, ctypes.addressof(insns_buf),
                         ctypes.addressof(license_buf), log_level if log else 0, len(log) if log else 0,
                         ctypes.addressof(log) if log else 0, 0, 0, name.encode()[:OBJ_NAME_LEN - 1], 0,
                         attach_type, 0, 0, 0, 0, 0, 0, 0, attach_btf_id)
    return _bpf(BPF_PROG_LOAD, attr)


def load(name: str, insns: bytes, license: bytes, attach_btf_id: int) -> int:
    """Load a tp_btf program for the tracepoint whose typedef has this BTF id; returns its file descriptor.
    Raises OSError with the kernel's reason and the end of the verifier's log."""
    fd = prog_load(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, attach_btf_id, name, insns, license)
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    log = ctypes.create_string_buffer(LOG_SIZE)  # loaded again only to say why: the log slows the verifier
    retry = prog_load(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, attach_btf_id, name, insns, license, 1, log)
    if retry >= 0:
        return retry
    tail = "\n".join(log.value.decode(errors="replace").splitlines()[-8:])
    raise OSError(err, f"tp_btf program {name}: {os.strerror(err)}\n{tail}")


def attach(prog_fd: int) -> int:
    """Attach a loaded tp_btf program to its tracepoint; returns the descriptor whose close detaches it.
    Raises OSError with the kernel's reason."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    _RAW_TRACEPOINT_OPEN.pack_into(attr, 0, 0, prog_fd)
    fd = _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"attaching tp_btf program: {os.strerror(err)}")
    return fd


def refusal(attach_btf_id: int) -> str | None:
    """Why the kernel refuses a tp_btf program for this tracepoint (one that returns 0 at once); None if it loads it."""
    try:
        os.close(load("intuition_probe", RETURN_ZERO, b"GPL", attach_btf_id))
    except OSError as e:
        return e.strerror
    return None
