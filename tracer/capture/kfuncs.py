"""The kernel functions (kfuncs) the probes call, and those calls made loadable.

A program calls a kfunc by the function's BTF id, in a call instruction marked BPF_PSEUDO_KFUNC_CALL. BCC 0.26
compiles no such call, so the probes call the helper numbered the kfunc's BTF id, which the loader hands to the
compiler as BTF_FUNC_<NAME> (probes/l7_payload.c), and `resolve` marks those calls as the kfunc's before the load:
no helper has a number that large. Only the BTF-typed raw tracepoints' programs, which
tracer/capture/btf_tracepoints.py loads (prog_load), get the ids; programs that BCC loads (the TLS uprobes) are
compiled `without` them and keep the helpers.
"""
from __future__ import annotations

import logging

from .btf import BTFError, KernelBTF

log = logging.getLogger(__name__)

CALL = 0x85               # BPF_JMP | BPF_CALL
PSEUDO_KFUNC_CALL = 2     # the call's source register field
FIRST_ID = 4096           # above every helper's number (enum bpf_func_id); a kfunc with a lower id is not used
INSN_SIZE = 8
# -D name -> kernel function. bpf_rdonly_cast (Linux 6.2): the verifier puts a move in place of its call, and lets the
# program load from the address as from the struct the BTF id names, a load that would fault reading 0.
KFUNCS = {"BTF_FUNC_RDONLY_CAST": "bpf_rdonly_cast"}
# -D name -> the struct whose BTF id the probes cast to
STRUCTS = {"BTF_PT_REGS": "pt_regs", "BTF_TCP_SOCK": "tcp_sock", "BTF_IOVEC": "iovec"}


def defines(kbtf: KernelBTF) -> dict[str, int]:
    """The kfuncs' and structs' BTF ids for the compiler, or {} when this kernel lacks one: the probes then call
    helpers instead (probes/l7_payload.c, l7_io.c)."""
    try:
        ids = {name: kbtf.function_id(function) for name, function in KFUNCS.items()}
        ids |= {name: kbtf.struct_id(struct) for name, struct in STRUCTS.items()}
    except BTFError as e:
        log.info("%s: the probes find the syscall's registers and the TCP socket through helpers", e)
        return {}
    if min(ids[name] for name in KFUNCS) < FIRST_ID:
        return {}
    return ids


def resolve(insns: bytes) -> bytes:
    """insns with each call of a helper numbered FIRST_ID or above made a call of the kfunc of that BTF id."""
    out = bytearray(insns)
    at = out.find(CALL)
    while at >= 0:
        if at % INSN_SIZE == 0 and out[at + 1] == 0 and int.from_bytes(out[at + 4:at + 8], "little") >= FIRST_ID:
            out[at + 1] = PSEUDO_KFUNC_CALL << 4
        at = out.find(CALL, at + 1)
    return bytes(out)


def without(cflags: list[str]) -> list[str]:
    """cflags without the kfuncs' ids, for programs that BCC loads."""
    return [flag for flag in cflags if not any(flag.startswith(f"-D{name}=") for name in KFUNCS)]
