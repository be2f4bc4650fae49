"""Struct member offsets and enum values of the running kernel, read from its BTF.

BCC compiles against whatever header tree is installed, and that tree may belong to another kernel
(here Debian's 6.1 headers on a 6.18 kernel), so header layouts cannot be trusted beyond the first
fields of struct sock_common. The probes read every other field at an offset taken from
/sys/kernel/btf/vmlinux, passed to the compiler as -D constants (the fields are listed in
tracer/capture/offsets.py). libbpf does the BTF parsing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

_KIND_STRUCT, _KIND_UNION, _KIND_ENUM = 4, 5, 6
_KIND_FUNC, _KIND_FUNC_PROTO = 12, 13
_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT, _KIND_TYPE_TAG = 8, 9, 10, 11, 18
_QUALIFIERS = {_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT, _KIND_TYPE_TAG}


class BTFError(Exception):
    """The kernel's BTF is missing, unreadable, or lacks a type or member we need."""


class _Type(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32), ("size_or_type", ctypes.c_uint32)]


class _Member(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("type", ctypes.c_uint32), ("offset", ctypes.c_uint32)]


class _Enum(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("val", ctypes.c_int32)]


class _Param(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("type", ctypes.c_uint32)]


def _libbpf() -> ctypes.CDLL:
    path = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise BTFError(f"libbpf not found ({e}); install Debian's libbpf1") from e
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    lib.btf__find_by_name_kind.restype = ctypes.c_int32
    lib.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    lib.btf__type_by_id.restype = ctypes.POINTER(_Type)
    lib.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__name_by_offset.restype = ctypes.c_char_p
    lib.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.libbpf_get_error.restype = ctypes.c_long
    lib.libbpf_get_error.argtypes = [ctypes.c_void_p]
    return lib


class KernelBTF:
    """Read-only view of one BTF file (the running kernel's by default). Needs no root: the file is 0444."""

    def __init__(self, path: str = VMLINUX_BTF):
        if not os.path.exists(path):
            raise BTFError(f"{path} not found: the kernel was built without CONFIG_DEBUG_INFO_BTF")
        self._lib = _libbpf()
        handle = self._lib.btf__parse(path.encode(), None)
        if not handle or self._lib.libbpf_get_error(handle):
            raise BTFError(f"cannot parse BTF from {path}")
        self._btf = handle

    def close(self) -> None:
        if self._btf:
            self._lib.btf__free(self._btf)
            self._btf = None

    def __enter__(self) -> "KernelBTF":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _name(self, off: int) -> str:
        return (self._lib.btf__name_by_offset(self._btf, off) or b"").decode()

    def _find(self, name: str, kind: int) -> int:
        type_id = self._lib.btf__find_by_name_kind(self._btf, name.encode(), kind)
        if type_id < 0:
            what = {_KIND_ENUM: "enum", _KIND_FUNC: "function", _KIND_TYPEDEF: "typedef"}.get(kind, "struct")
            raise BTFError(f"kernel BTF has no {what} {name}")
        return type_id

    def typedef_id(self, name: str) -> int:
        """The BTF id of a typedef, such as a tracepoint's prototype (tracer/capture/btf_tracepoints.py)."""
        return self._find(name, _KIND_TYPEDEF)

    def function_id(self, name: str) -> int:
        """The BTF id of a kernel function, such as a kfunc the probes call (tracer/capture/kfuncs.py)."""
        return self._find(name, _KIND_FUNC)

    def struct_id(self, name: str) -> int:
        return self._find(name, _KIND_STRUCT)

    def struct_size(self, name: str) -> int:
        """sizeof(struct name), such as struct page's (probes/l7_payload.c, PAGE_ADDRESS_STEP)."""
        return self._lib.btf__type_by_id(self._btf, self.struct_id(name)).contents.size_or_type

    def _resolve(self, type_id: int) -> tuple[int, _Type]:
        """Follow typedefs and qualifiers to the underlying type."""
        while True:
            t = self._lib.btf__type_by_id(self._btf, type_id).contents
            if (t.info >> 24) & 0x1F not in _QUALIFIERS:
                return type_id, t
            type_id = t.size_or_type

    def _members(self, type_id: int) -> list[tuple[str, int, int]]:
        """(name, type id, bit offset) of a struct's or union's members."""
        t_ptr = self._lib.btf__type_by_id(self._btf, type_id)
        t = t_ptr.contents
        vlen, kind_flag = t.info & 0xFFFF, t.info >> 31
        first = ctypes.cast(ctypes.addressof(t) + ctypes.sizeof(_Type), ctypes.POINTER(_Member))
        out = []
        for i in range(vlen):
            m = first[i]
            bits = m.offset & 0xFFFFFF if kind_flag else m.offset
            out.append((self._name(m.name_off), m.type, bits))
        return out

    def _member_in(self, type_id: int, name: str) -> tuple[int, int] | None:
        """(bit offset, type id) of a member, looking through anonymous structs and unions."""
        for member_name, member_type, bits in self._members(type_id):
            if member_name == name:
                return bits, member_type
            if not member_name:
                inner_id, inner = self._resolve(member_type)
                if (inner.info >> 24) & 0x1F in (_KIND_STRUCT, _KIND_UNION):
                    found = self._member_in(inner_id, name)
                    if found:
                        return bits + found[0], found[1]
        return None

    def offset(self, struct: str, path: str) -> int:
        """Byte offset of a member path such as offset("sock", "__sk_common.skc_family")."""
        type_id = self._find(struct, _KIND_STRUCT)
        total_bits = 0
        for part in path.split("."):
            type_id, t = self._resolve(type_id)
            if (t.info >> 24) & 0x1F not in (_KIND_STRUCT, _KIND_UNION):
                raise BTFError(f"{struct}.{path}: '{part}' is not inside a struct")
            found = self._member_in(type_id, part)
            if found is None:
                raise BTFError(f"kernel BTF: struct {struct} has no member {path}")
            bits, type_id = found
            total_bits += bits
        if total_bits % 8:
            raise BTFError(f"{struct}.{path} is a bitfield")
        return total_bits // 8

    def enum_value(self, enum: str, name: str) -> int:
        type_id = self._find(enum, _KIND_ENUM)
        t = self._lib.btf__type_by_id(self._btf, type_id).contents
        first = ctypes.cast(ctypes.addressof(t) + ctypes.sizeof(_Type), ctypes.POINTER(_Enum))
        for i in range(t.info & 0xFFFF):
            if self._name(first[i].name_off) == name:
                return first[i].val
        raise BTFError(f"kernel BTF: enum {enum} has no value {name}")

    def parameter_index(self, function: str, name: str) -> int:
        """Position (from 0) of a kernel function's parameter: kernels reorder them (tcp_recvmsg lost one in 5.19)."""
        func = self._lib.btf__type_by_id(self._btf, self._find(function, _KIND_FUNC)).contents
        proto = self._lib.btf__type_by_id(self._btf, func.size_or_type).contents
        first = ctypes.cast(ctypes.addressof(proto) + ctypes.sizeof(_Type), ctypes.POINTER(_Param))
        for i in range(proto.info & 0xFFFF):
            if self._name(first[i].name_off) == name:
                return i
        raise BTFError(f"kernel BTF: function {function} has no parameter {name}")


def offset_defines(btf: KernelBTF, fields: dict[str, tuple[str, str]]) -> dict[str, int]:
    """-D constant name -> byte offset, for one table of tracer/capture/offsets.py."""
    return {macro: btf.offset(struct, path) for macro, (struct, path) in fields.items()}
