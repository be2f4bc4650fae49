"""The probes' compiled programs, kept on disk so that a start with the same inputs skips clang and LLVM.

A compile's output depends only on the program text, the compiler flags, BCC with the clang and LLVM it links,
the kernel (release and build) and the headers BCC compiles against: the key hashes them all, so a changed input
is a different file, never a stale hit. BCC writes the maps' file descriptors into the instructions
(`ld_imm64` with src_reg BPF_PSEUDO_MAP_FD), so an entry records which map each such instruction names, and a
start patches in its own module's descriptors of those names (the loader compiles that module with every
program left out: probes/common.h, MAPS_ONLY). Files are written atomically and read only when the agent's user
owns them and nobody else may write them or their directory: the kernel runs what they hold.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import logging
import os
import re
import stat
import struct
import tempfile
from dataclasses import dataclass

log = logging.getLogger(__name__)

FORMAT = 2  # bumped when an entry's layout or meaning changes: a new key, so old files are never read
INSN_SIZE = 8  # struct bpf_insn: code, dst_reg:4 src_reg:4, off (s16), imm (s32)
LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW: a 64-bit constant over two instructions
BPF_PSEUDO_MAP_FD = 1  # its src_reg when the constant is a map's file descriptor
_INSN = struct.Struct("<BBhi")
# the libraries that compile: BCC and the clang and LLVM it links (tracer/capture/compiler_memory.py pages them out)
COMPILER_FILES = re.compile(r"/lib(bcc|LLVM|clang)[^/]*\.so")
# entries kept per module, the latest written: a host may alternate a few configurations (benchmarks/overhead.py
# starts the agent with L7 on and off in turn), each its own key
KEPT_ENTRIES = 4


class CacheError(Exception):
    """A cache file that cannot be used: refused, corrupt, or naming maps the module lacks."""


@dataclass
class CachedProgram:
    name: str
    prog_type: int
    attach_type: int  # BPF's expected attach type as BCC takes it, -1 for none
    insns: bytes
    maps: dict[str, list[int]]  # map name -> the instructions that load its descriptor
    attach_btf_id: int = 0  # a BTF-typed raw tracepoint's prototype (tracer/capture/btf_tracepoints.py), else 0


def cache_key(text: str, cflags: list[str], environment: dict[str, object]) -> str:
    """The hash of everything a compile's output depends on (environment: compile_environment())."""
    inputs = {"format": FORMAT, "text": text, "cflags": cflags, "environment": environment}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _file_identity(path: str) -> list[object] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def compile_environment(bcc_version: str, maps_text: str) -> dict[str, object]:
    """What the compile depends on beside its text and flags: BCC's version and the files of the compiler it
    loaded (from this process's /proc/self/maps text), the kernel's release and build, and the headers' tree."""
    mapped = (line.split(maxsplit=5) for line in maps_text.splitlines())
    compiler = sorted({fields[5] for fields in mapped if len(fields) == 6 and COMPILER_FILES.search(fields[5])})
    uname = os.uname()
    modules = f"/lib/modules/{uname.release}"
    headers = [os.environ.get("BCC_KERNEL_SOURCE", ""), f"{modules}/build", f"{modules}/source"]
    return {"bcc": bcc_version, "compiler": [_file_identity(path) for path in compiler],
            "kernel": [uname.release, uname.version],
            "headers": [[tree, _file_identity(os.path.join(tree, "Makefile"))] for tree in headers if tree]}


def map_references(insns: bytes, map_names: dict[int, str]) -> dict[str, list[int]]:
    """Which instructions load which map's descriptor (map_names: descriptor -> name). Raises CacheError for a
    64-bit load of anything else the kernel resolves (a map value, a BTF id, a function): not kept."""
    if len(insns) % INSN_SIZE:
        raise CacheError(f"{len(insns)} bytes of instructions are not whole instructions")
    refs: dict[str, list[int]] = {}
    index = 0
    while index < len(insns) // INSN_SIZE:
        code, regs, _, imm = _INSN.unpack_from(insns, index * INSN_SIZE)
        if code == LD_IMM64:
            source = regs >> 4
            if source == BPF_PSEUDO_MAP_FD:
                if imm not in map_names:
                    raise CacheError(f"instruction {index} loads descriptor {imm}, which is no map of the module")
                refs.setdefault(map_names[imm], []).append(index)
            elif source:
                raise CacheError(f"instruction {index} is a 64-bit load the kernel resolves (src_reg {source})")
            index += 1  # its second half holds the constant's upper bits
        index += 1
    return refs


def patch(program: CachedProgram, map_fds: dict[str, int]) -> bytes:
    """The program's instructions with this module's descriptor of each map it names."""
    insns = bytearray(program.insns)
    for name, indexes in program.maps.items():
        if name not in map_fds:
            raise CacheError(f"program {program.name} uses map {name}, which the module lacks")
        for index in indexes:
            code, regs, off, _ = _INSN.unpack_from(insns, index * INSN_SIZE)
            if code != LD_IMM64 or regs >> 4 != BPF_PSEUDO_MAP_FD or (index + 2) * INSN_SIZE > len(insns):
                raise CacheError(f"program {program.name}: instruction {index} does not load a map")
            _INSN.pack_into(insns, index * INSN_SIZE, code, regs, off, map_fds[name])
    return bytes(insns)


def encode(key: str, programs: list[CachedProgram]) -> bytes:
    return json.dumps({"key": key, "programs": [
        {"name": p.name, "prog_type": p.prog_type, "attach_type": p.attach_type,
         "insns": base64.b64encode(p.insns).decode(), "maps": p.maps, "attach_btf_id": p.attach_btf_id}
        for p in programs]}).encode()


def decode(key: str, data: bytes) -> list[CachedProgram]:
    """The programs of an entry; raises CacheError for anything but a well-formed entry of this key."""
    try:
        entry = json.loads(data)
        if entry["key"] != key:
            raise CacheError("the entry is for another key")
        programs = [CachedProgram(p["name"], p["prog_type"], p["attach_type"],
                                  base64.b64decode(p["insns"], validate=True), p["maps"], p["attach_btf_id"])
                    for p in entry["programs"]]
        for p in programs:
            count = len(p.insns) // INSN_SIZE
            if not (isinstance(p.name, str) and isinstance(p.prog_type, int) and isinstance(p.attach_type, int)
                    and isinstance(p.attach_btf_id, int)
                    and count and len(p.insns) % INSN_SIZE == 0
                    and all(isinstance(name, str) and 0 <= index < count
                            for name, indexes in p.maps.items() for index in indexes)):
                raise CacheError(f"malformed program {p.name!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CacheError(f"malformed entry ({type(e).__name__}: {e})") from e
    if not programs:
        raise CacheError("the entry holds no program")
    return programs


def program_type(fd: int) -> int:
    """A loaded program's type, as the kernel reports it in the descriptor's fdinfo."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("prog_type:"):
                return int(line.split()[1])
    raise CacheError(f"descriptor {fd} is no BPF program")


def _check_owner(st: os.stat_result, what: str) -> None:
    """Only what the agent's own user owns, and nobody else may write, is run by the kernel."""
    if st.st_uid != os.geteuid():
        raise CacheError(f"{what} is owned by uid {st.st_uid}, not the agent's {os.geteuid()}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"{what} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})")


class ProgramCache:
    """One directory of entries, a file per module and key (`<module>-<key>.json`); a module's new entry
    deletes all but its KEPT_ENTRIES latest, so the directory stays small however often the inputs change."""

    def __init__(self, directory: str):
        self.directory = directory

    def path(self, module: str, key: str) -> str:
        return os.path.join(self.directory, f"{module}-{key}.json")

    def _checked_directory(self) -> None:
        st = os.lstat(self.directory)
        if not stat.S_ISDIR(st.st_mode):
            raise CacheError(f"{self.directory} is not a directory")
        _check_owner(st, f"directory {self.directory}")

    def read(self, module: str, key: str) -> list[CachedProgram] | None:
        """The module's programs under this key; None when there is no such entry. Raises CacheError for an
        entry that is refused (owner, mode) or corrupt."""
        path = self.path(module, key)
        try:
            self._checked_directory()
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except CacheError as e:
            raise CacheError(f"{path}: {e}") from e
        except OSError as e:
            raise CacheError(f"{path}: {e.strerror}") from e
        with os.fdopen(fd, "rb") as f:
            try:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise CacheError("not a regular file")
                _check_owner(st, "the file")
                return decode(key, f.read())
            except CacheError as e:
                raise CacheError(f"{path}: {e}") from e

    def write(self, module: str, key: str, programs: list[CachedProgram]) -> str:
        """Store the entry (a temporary file renamed over it: a reader never sees half of it), mode 0600 in a 0700 directory made
        if missing; deletes the module's entries beyond the KEPT_ENTRIES latest. Returns its path; raises
        CacheError or OSError."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._checked_directory()
        path = self.path(module, key)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{module}-", suffix=".tmp")
        try:
            # no fsync, which waits for the disk inside the start: a file a crash leaves short is corrupt, and
            # a corrupt entry only costs a compile that rewrites it
            with os.fdopen(fd, "wb") as f:
                f.write(encode(key, programs))
            os.rename(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        entries = glob.glob(os.path.join(glob.escape(self.directory), f"{glob.escape(module)}-*.json"))
        for old in sorted(entries, key=os.path.getmtime, reverse=True)[KEPT_ENTRIES:]:
            os.unlink(old)
        return path
