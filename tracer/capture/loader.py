"""Compiles and attaches the probes with BCC, choosing each hook from what this kernel offers.

The only module that imports bcc. Struct offsets come from the running kernel's BTF as -D constants.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import (btf, btf_tracepoints, compiler_memory, kernel, kfuncs, offsets, parser_process, program_cache,
               uprobe_links)
from .known_namespaces import KnownNamespaces, pids_by_netns
from .listening_sockets import listening_ports_by_netns
from .program_cache import CacheError, CachedProgram, ProgramCache
from .probe_constants import LISTENERS_KNOWN_PORT, PROTOCOL_IDS, compiler_defines

log = logging.getLogger(__name__)

PROBES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "probes")
# BCC rewrites map calls and builds tracepoint argument structs only in the text it is handed, not in
# included files, so the program is the concatenation of one file per concern, in this order.
COMMON_SOURCES = ("common.h", "lifecycle.c", "health.c", "bytes.c")
BYTES_SOURCES = {False: "bytes_tracepoint.c", True: "bytes_kprobe.c"}
# The parsers and what they keep, with no program: the start's module, the parsers' and the TLS uprobes' compile them.
L7_SHARED_SOURCES = ("l7_payload.c", "l7.c", "l7_http.c", "l7_redis.c", "l7_postgres.c", "l7_mysql.c",
                     "l7_http2.c", "l7_io.c", "l7_tls.c")
# Request parsing reads the syscall's user buffer from the sock length tracepoints (needs L7_WINDOW); so does
# the capture of DNS answers.
L7_SOURCES = L7_SHARED_SOURCES + ("dns.c",)
# The tracepoints' parser programs: a module of their own, compiled in a child process beside the start's
# (tracer/capture/parser_process.py).
PARSER_SOURCES = ("common.h",) + L7_SHARED_SOURCES + ("l7_tracepoint.c",)
# TLS plaintext comes from uprobes on OpenSSL: their programs are a module of their own, compiled in a child
# process after the start (tracer/capture/tls_process.py).
TLS_SOURCES = ("common.h",) + L7_SHARED_SOURCES + ("l7_tls_uprobes.c",)
# parser program -> its index in the l7_parsers tail-call array (its protocol's number)
L7_PARSERS = {f"l7_parse_{name}": number for number, name in PROTOCOL_IDS.values()}
# the same parsers as uprobe programs, for the TLS plaintext (probes/l7_tls_uprobes.c)
L7_TLS_PARSERS = {f"l7_tls_parse_{name}": number for number, name in PROTOCOL_IDS.values()}
# Compiled without debug info: BCC would turn it into the programs' BTF and line info, which serve only to
# quote the source in a verifier's refusal, and they cost a tenth of the start (docs/performance.md).
NO_DEBUG_INFO = "-g0"
# the compile of a start whose programs are cached: its maps only (probes/common.h)
MAPS_ONLY = "-DMAPS_ONLY=1"
START_MODULE = "start"  # the start's module's name among the cache's files
PARSER_MODULE = "parsers"  # the tracepoints' parsers' module's (tracer/capture/parser_process.py)
TLS_MODULE = "tls"  # the TLS uprobes' module's (tracer/capture/tls_process.py)
DEFAULT_PROGRAM_CACHE = "/var/cache/intuition"
MAX_LISTENERS = 4096
MAX_CLOSED_SOCKETS = 4096  # closed sockets kept for the resets and retransmits that follow a close
# Live sockets' direct slots (probes/common.h, socket_slots): an eighth of capture.max_sockets, the count of overflow
# slots after them, at most 2^13 (2.1 MB of state with L7 on: 256 bytes a slot).
MAX_SOCKET_SLOT_BITS = 13
BPF_NOEXIST = 1  # bpf_update_elem flag: only where the key is new

# OpenSSL's calls that move plaintext -> their entry program; one return program serves them all
TLS_CALLS = (("SSL_write", "tls_write_entry"), ("SSL_write_ex", "tls_write_ex_entry"),
             ("SSL_read", "tls_read_entry"), ("SSL_read_ex", "tls_read_ex_entry"))
TLS_RETURN = "tls_call_return"

# The sock length hooks as BTF-typed raw tracepoints (probes/bytes_tracepoint.c, SOCK_LENGTH_TP_BTF): their programs'
# names, and the tracepoint whose prototype their parsers are loaded for. A tail call stays within one program type
# and, for tracing programs, one prototype: both hooks have their event class's (sock_msg_length).
TP_BTF_PREFIX = "tp_btf__"
PARSERS_TRACEPOINT = "sock_send_length"

KPROBE_BYTES = (
    ("tcp_sendmsg", "on_tcp_sendmsg", "on_tcp_sendmsg_return"),
    ("tcp_recvmsg", "on_tcp_recvmsg", "on_tcp_recvmsg_return"),
)


class ProbeError(Exception):
    """The probes cannot run on this kernel; the message names what is missing and the fix."""


@dataclass
class CaptureConfig:
    max_sockets: int = 65536
    max_flows: int = 16384
    ring_buffer_pages: int = 64
    l7: bool = True
    tls: bool = True  # TLS plaintext through uprobes on OpenSSL; needs l7
    samples_per_second: int = 20
    sample_bytes: int = 256
    program_cache: str = DEFAULT_PROGRAM_CACHE  # the directory of compiled programs (program_cache.py); "": none


@dataclass
class ProbeInfo:
    hooks: dict[str, str] = field(default_factory=dict)  # hook -> mechanism, for intuition_probe_info
    cgroup_mode: str = ""
    cgroup_root: str = ""
    btf: bool = False
    l7: bool = False  # requests are parsed (needs BTF and the sock length tracepoints)
    # sock length tracepoint -> the BTF id of its prototype, where its hook is a BTF-typed raw tracepoint; else empty
    sock_length_btf: dict[str, int] = field(default_factory=dict)
    tls: bool = False  # TLS plaintext gets parsed: once its programs are installed (adopt_tls), libraries get attached
    uprobe_multi: int = 0  # BPF_TRACE_UPROBE_MULTI where the kernel has it (6.6): TLS uprobes attach as links
    cflags: list[str] = field(default_factory=list)  # the probes' compiler flags, the TLS programs' too
    from_cache: bool = False  # the start's programs came from the program cache: nothing was compiled


def _bcc():
    try:
        import bcc
    except ImportError as e:
        raise ProbeError(
            "cannot import bcc: install Debian's python3-bpfcc and run Intuition with /usr/bin/python3 or a "
            "virtualenv made with --system-site-packages (scripts/setup.sh does both)"
        ) from e
    return bcc


def _require_tracefs() -> None:
    if kernel.tracefs() is None:
        raise ProbeError("tracefs is not mounted: run `mount -t tracefs nodev /sys/kernel/tracing`")
    for category, event in kernel.REQUIRED_TRACEPOINTS:
        if not kernel.tracepoint_exists(category, event):
            raise ProbeError(f"tracepoint {category}:{event} is missing: Intuition needs "
                             f"{kernel.version_text(kernel.MIN_KERNEL)} or newer")


def _power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def socket_slot_bits(max_sockets: int) -> int:
    """log2 of the slots for live sockets' state (probes/common.h): a power of two, at least 2."""
    return max(1, min(MAX_SOCKET_SLOT_BITS, (max_sockets // 8).bit_length() - 1))


def _uprobe_multi_attach_type(kbtf: btf.KernelBTF) -> int:
    """BPF_TRACE_UPROBE_MULTI's value if the kernel knows it (tracer/capture/uprobe_links.py), else 0."""
    try:
        return kbtf.enum_value("bpf_attach_type", "BPF_TRACE_UPROBE_MULTI")
    except btf.BTFError:
        return 0


def _recvmsg_flags_define(kbtf: btf.KernelBTF) -> dict[str, int]:
    """Which argument of tcp_recvmsg holds its flags, for the kprobe byte path to skip MSG_PEEK reads
    (probes/bytes_kprobe.c); the argument moved in Linux 5.19."""
    try:
        return {"TCP_RECVMSG_FLAGS_ARG": kbtf.parameter_index("tcp_recvmsg", "flags")}
    except btf.BTFError as e:
        log.warning("%s: where bytes are counted with kprobes, MSG_PEEK reads count too", e)
        return {}


def _writev_iter_defines(kbtf: btf.KernelBTF) -> dict[str, int]:
    """vfs_writev's iov_iter, from which the parsing end reads writev's iovecs (probes/l7_payload.c,
    payload_of_vectored_io): its members' offsets, its types' values, and the BTF id it is cast to;
    {} where this kernel's iov_iter differs: the iovecs are then copied from user memory."""
    try:
        types = {name: kbtf.enum_value("iter_type", name) for name in ("ITER_IOVEC", "ITER_UBUF")}
        return btf.offset_defines(kbtf, offsets.ITER_OFFSETS) | types | {"BTF_IOV_ITER": kbtf.struct_id("iov_iter")}
    except btf.BTFError as e:
        log.info("%s: writev's iovecs are copied from user memory", e)
        return {}


def _sent_pages_defines(kbtf: btf.KernelBTF) -> dict[str, int]:
    """Where a send's bytes are in the kernel's copy (probes/l7_payload.c, payload_of_syscall): the offsets of
    offsets.SENT_PAGES_OFFSETS and sizeof(struct page); {} where this kernel lacks one, or a page's address is not
    linear in its struct's (a struct that does not divide a 4 KiB page): sends are then read from user memory."""
    try:
        defines = btf.offset_defines(kbtf, offsets.SENT_PAGES_OFFSETS)
        page_size = kbtf.struct_size("page")
    except btf.BTFError as e:
        log.info("%s: sends are read from user memory", e)
        return {}
    if page_size & (page_size - 1) or page_size > 4096:
        log.info("struct page is %d bytes: sends are read from user memory", page_size)
        return {}
    return defines | {"STRUCT_PAGE_SIZE": page_size}


def _sock_length_btf(kbtf: btf.KernelBTF) -> dict[str, int]:
    """The sock length tracepoints' prototypes where this kernel loads BTF-typed raw tracepoints for them (loaded
    with the x86_64 bpf syscall, tracer/capture/btf_tracepoints.py), else {}: their hooks are raw tracepoints."""
    if platform.machine() != "x86_64":
        return {}
    try:
        ids = {event: kbtf.typedef_id(btf_tracepoints.TYPEDEF_PREFIX + event)
               for _, event in kernel.OPTIONAL_TRACEPOINTS}
    except btf.BTFError as e:
        log.info("%s: the sock length hooks are raw tracepoints", e)
        return {}
    refused = btf_tracepoints.refusal(ids[PARSERS_TRACEPOINT])
    if refused:
        log.info("the kernel refuses BTF-typed raw tracepoints (%s): the sock length hooks are raw tracepoints", refused)
        return {}
    return ids


def build_cflags(capture: CaptureConfig, info: ProbeInfo, layout: kernel.CgroupLayout | None,
                 btf_path: str = btf.VMLINUX_BTF) -> list[str]:
    """Compiler flags: limits, struct offsets from BTF and the cgroup hierarchy. Sets info.btf and the cgroup
    mode and root the probes report in, and info.sock_length_btf."""
    defines: dict[str, int] = {
        **compiler_defines(),
        "MAX_SOCKETS": capture.max_sockets,
        "SOCKET_SLOT_BITS": socket_slot_bits(capture.max_sockets),
        "MAX_FLOWS": capture.max_flows,
        "MAX_LISTENERS": MAX_LISTENERS,
        "MAX_CLOSED_SOCKETS": MAX_CLOSED_SOCKETS,
        "RINGBUF_PAGES": _power_of_two(capture.ring_buffer_pages),
    }
    if capture.l7:
        defines["L7_WINDOW"] = _power_of_two(capture.sample_bytes)
        defines["SAMPLES_PER_SECOND"] = capture.samples_per_second
    try:
        with btf.KernelBTF(btf_path) as kbtf:
            defines.update(btf.offset_defines(kbtf, offsets.SOCK_COMMON_OFFSETS))
            defines.update(btf.offset_defines(kbtf, offsets.SOCK_OFFSETS))
            defines.update(btf.offset_defines(kbtf, offsets.TCP_OFFSETS))
            defines.update(btf.offset_defines(kbtf, offsets.NET_OFFSETS))
            defines.update(btf.offset_defines(kbtf, offsets.TASK_OFFSETS))
            defines.update(_recvmsg_flags_define(kbtf))
            info.uprobe_multi = _uprobe_multi_attach_type(kbtf)
            info.sock_length_btf = _sock_length_btf(kbtf)
            if info.sock_length_btf:
                defines["SOCK_LENGTH_TP_BTF"] = 1
                defines.update(kfuncs.defines(kbtf))
                defines.update(_writev_iter_defines(kbtf))
                defines.update(_sent_pages_defines(kbtf))
            if layout and layout.mode == "v1":
                defines.update(btf.offset_defines(kbtf, offsets.CGROUP_V1_OFFSETS))
                defines["CGROUP_V1_SUBSYS"] = kbtf.enum_value("cgroup_subsys_id", f"{kernel.CGROUP_V1_CONTROLLER}_cgrp_id")
        info.btf = True
    except btf.BTFError as e:
        log.warning("%s. Running on tracepoint fields only: connect failures count as reason 'other', requests are "
                    "not parsed%s.", e, ", containers are found from /proc/<pid>/cgroup" if layout and layout.mode == "v1" else "")
        defines.update(offsets.SOCK_COMMON_FIXED)
        if layout and layout.mode == "v1":
            defines["CGROUP_FROM_TGID"] = 1
    if kernel.tracepoint_has_field("tcp", "tcp_retransmit_skb", "err"):
        defines["RETRANSMIT_HAS_ERR"] = 1
    if layout:
        info.cgroup_mode, info.cgroup_root = layout.mode, layout.root
    return [f"-I{PROBES_DIR}", NO_DEBUG_INFO] + [f"-D{k}={v}" for k, v in sorted(defines.items())]


def choose_bytes_hook() -> bool:
    """True to count bytes with kprobes. The sock length tracepoints are a stable interface and fire for
    every socket call in the calling task, so they win where the kernel has them (6.3+)."""
    tracepoints = kernel.tracepoint_exists("sock", "sock_send_length") and kernel.tracepoint_exists("sock", "sock_recv_length")
    if tracepoints:
        return False
    if kernel.kprobes_available():
        return True
    raise ProbeError("no hook to count bytes: the kernel has neither sock:sock_send_length "
                     f"({kernel.version_text(kernel.SOCK_LENGTH_KERNEL)}+) nor kprobes")


def source_text(names: tuple[str, ...]) -> str:
    """The probe sources of `names`, in that order, as one text."""
    parts = []
    for name in names:
        with open(os.path.join(PROBES_DIR, name)) as f:
            parts.append(f'#line 1 "{name}"\n{f.read()}')
    return "\n".join(parts)


def program_text(use_kprobes: bool, l7: bool = False) -> str:
    """The start's probe sources in order."""
    return source_text(COMMON_SOURCES + (L7_SOURCES if l7 else ()) + (BYTES_SOURCES[use_kprobes],))


@functools.cache
def _unattached_module_class():
    class UnattachedModule(_bcc().BPF):
        def _trace_autoload(self):
            pass  # build_module runs BCC's own once the module's maps are shared
    return UnattachedModule


def compile_program(text: str, cflags: list[str], attach: bool = True):
    """BPF object for a program text; its TRACEPOINT_PROBEs and RAW_TRACEPOINT_PROBEs load and attach as it is
    made, unless attach is False."""
    bcc = _bcc()
    try:
        return (bcc.BPF if attach else _unattached_module_class())(text=text.encode(), cflags=cflags)
    except Exception as e:
        headers = os.environ.get("BCC_KERNEL_SOURCE") or f"/lib/modules/{os.uname().release}/build"
        raise ProbeError(
            f"BCC could not compile or load the probes ({e}); see the compiler output above. Check the kernel "
            f"headers at {headers} (scripts/setup.sh links them; `intuition doctor` checks them)"
        ) from e


def verify_parsers(programs: dict[str, int], load_one: Callable[[str], object], threads: int) -> dict[str, object]:
    """Each parser program loaded (verified) by load_one(name), or None where the verifier refused it: its
    protocol then counts as bytes only and the others still run. load_one loads it as the programs that
    tail-call it are: the kernel requires one program type (and, for tracing programs, one prototype; for uprobe
    programs, one expected attach type) of every program in one table."""

    def verified(name: str):
        try:
            return load_one(name)
        except Exception as e:
            log.warning("L7 parser %s not loaded, its protocol counts as bytes only: %s", name, e)
            return None

    # The kernel verifies each parser inside its load call, with the GIL released (ctypes): parallel threads
    # put the host's cores to work on the verifier (docs/performance.md).
    with ThreadPoolExecutor(threads, thread_name_prefix="intuition-verify") as pool:
        return dict(zip(programs, pool.map(verified, programs)))


def _install_parsers(b, info: ProbeInfo, table: str, programs: dict[str, int], loaded: dict[str, object]) -> None:
    """Put each loaded parser where the tracepoints (or, for TLS, the uprobes) tail-call it."""
    parsers = b[table.encode()]
    for name, fn in loaded.items():
        if fn is not None:
            parsers[ctypes.c_int(programs[name])] = ctypes.c_int(fn.fd)
            info.hooks[name] = "tail_call"


def function_instructions(b, name: bytes) -> bytes:
    """The compiled instructions of BCC module b's function `name`, as BCC would load them."""
    lib = _bcc().libbcc.lib
    start = lib.bpf_function_start(b.module, name)
    if not start:
        raise ProbeError(f"the probes have no program {name.decode()}")
    return ctypes.string_at(start, lib.bpf_function_size(b.module, name))


def _load_tracing(b, name: str, attach_btf_id: int):
    """BCC's load_func for a BTF-typed raw tracepoint's program (tracer/capture/btf_tracepoints.py says why BCC
    cannot): the module's program of that name, loaded once for the prototype of attach_btf_id, and made the
    module's own (b.funcs), so that cleanup() closes it."""
    key = name.encode()
    if key not in b.funcs:
        bcc = _bcc()
        fn = bcc.BPF.Function(b, key, btf_tracepoints.load(name, function_instructions(b, key),
                                                           bcc.libbcc.lib.bpf_module_license(b.module),
                                                           attach_btf_id))
        fn.attach_btf_id = attach_btf_id  # what the program cache keeps of it (cached_programs)
        b.funcs[key] = fn
    return b.funcs[key]


def _verify_sock_length_hooks(b, info: ProbeInfo) -> None:
    """The BTF-typed sock length hooks' programs loaded (verified) at once, one thread each, where the start
    compiled them (a start from the program cache loaded them in _load_cached): the kernel verifies each inside
    its load call with the GIL released, the two largest programs of the start, while the parsers' child
    verifies the parsers (docs/performance.md, "The start's path without its compile")."""
    events = [event for event in info.sock_length_btf if (TP_BTF_PREFIX + event).encode() not in b.funcs]
    if not events:
        return
    with ThreadPoolExecutor(len(events), thread_name_prefix="intuition-verify") as pool:
        loads = [(event, pool.submit(_load_tracing, b, TP_BTF_PREFIX + event, info.sock_length_btf[event]))
                 for event in events]
    for event, done in loads:
        try:
            done.result()
        except OSError as e:
            raise _refused_hook(event, e) from e


def _refused_hook(event: str, error: OSError) -> ProbeError:
    return ProbeError(f"the kernel refused the hook on sock:{event} as a BTF-typed raw tracepoint: {error}")


def _attach_sock_length_hooks(b, info: ProbeInfo) -> None:
    """The sock length hooks as BTF-typed raw tracepoints, their programs loaded (or taken from the program
    cache's). Their descriptors go where BCC keeps raw tracepoints': cleanup() closes them."""
    for event, attach_btf_id in info.sock_length_btf.items():
        try:
            fd = btf_tracepoints.attach(_load_tracing(b, TP_BTF_PREFIX + event, attach_btf_id).fd)
        except OSError as e:
            raise _refused_hook(event, e) from e
        b.raw_tracepoint_fds[event.encode()] = fd


def verify_l7_parsers(b, sock_length_btf: dict[str, int]) -> dict[str, object]:
    """The sock length hooks' parsers (verify_parsers), of the hooks' program type: tracing programs for
    sock_send_length's prototype where the hooks are BTF-typed (ProbeInfo.sock_length_btf), else raw tracepoint
    programs; one verifying thread each."""
    if sock_length_btf:
        attach_btf_id = sock_length_btf[PARSERS_TRACEPOINT]
        return verify_parsers(L7_PARSERS, lambda name: _load_tracing(b, name, attach_btf_id), len(L7_PARSERS))
    return verify_parsers(L7_PARSERS, lambda name: b.load_func(name.encode(), _bcc().BPF.RAW_TRACEPOINT),
                          len(L7_PARSERS))


def module_maps(b) -> dict[str, int]:
    """Each map of a BPF module by name, as its file descriptor (libbcc's calls for them, which BCC's Python
    binding does not declare, are declared on a handle of this function's own)."""
    lib = ctypes.CDLL(_bcc().libbcc.lib._name)
    lib.bpf_num_tables.restype, lib.bpf_num_tables.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    lib.bpf_table_name.restype, lib.bpf_table_name.argtypes = ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_table_fd_id.restype, lib.bpf_table_fd_id.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]
    return {lib.bpf_table_name(b.module, index).decode(): lib.bpf_table_fd_id(b.module, index)
            for index in range(lib.bpf_num_tables(b.module))}


def load_tls(b, attach_type: int) -> dict[str, int]:
    """Loads (verifies) the TLS module's parsers and uprobe programs, one at a time; returns the file descriptor
    of each program loaded. A parser the verifier refuses is left out (its protocol counts as bytes only);
    raises what stopped an uprobe program loading. attach_type: BPF_TRACE_UPROBE_MULTI where the kernel has
    it (attach_tls), else -1."""
    loaded = verify_parsers(L7_TLS_PARSERS, lambda name: b.load_func(name.encode(), _bcc().BPF.KPROBE,
                                                                      attach_type=attach_type), 1)
    for name in [entry for _, entry in TLS_CALLS] + [TLS_RETURN]:   # attached per library (attach_tls)
        loaded[name] = b.load_func(name.encode(), _bcc().BPF.KPROBE, attach_type=attach_type)
    return {name: fn.fd for name, fn in loaded.items() if fn is not None}


def _adopt(b, programs: dict[str, int], table: str, parsers: dict[str, int], info: ProbeInfo) -> None:
    """Programs a child process loaded, made the start's module's own: BCC looks a program up by name before
    loading it, so its attach calls find them, and cleanup() closes them. The parsers among them go into table."""
    bcc = _bcc()
    for name, fd in programs.items():
        b.funcs[name.encode()] = bcc.BPF.Function(b, name.encode(), fd)
    loaded = {name: b.funcs[name.encode()] for name in parsers if name in programs}
    _install_parsers(b, info, table, parsers, loaded)


def adopt_tls(b, info: ProbeInfo, programs: dict[str, int]) -> None:
    """The TLS programs a child process loaded (load_tls), made the start's module's own; their parsers go into
    the uprobes' table: attach_tls may follow."""
    _adopt(b, programs, "l7_tls_parsers", L7_TLS_PARSERS, info)


def store_listeners(b) -> KnownNamespaces:
    """Tell the probes which ports each network namespace listened on before they started, and mark each
    namespace's listeners as known (probes/bytes.c, adopted_role). A listener the probes saw start meanwhile
    keeps the owner they stored; the others' owner stays unknown until a connection's first I/O names it.
    Returns the namespaces marked, whose marks forget_namespaces deletes once they are gone. Call it once the
    probes are attached, so that a listener starts either before the read or under the probes."""
    table = b[b"listeners"]
    owner = table.Leaf()
    lib = _bcc().libbcc.lib
    pids = pids_by_netns()
    ports_by_netns = listening_ports_by_netns(pids)
    for netns, ports in ports_by_netns.items():
        for port in (LISTENERS_KNOWN_PORT, *sorted(ports)):
            key = table.Key(netns=netns, port=port)
            lib.bpf_update_elem(table.map_fd, ctypes.byref(key), ctypes.byref(owner), BPF_NOEXIST)
    return KnownNamespaces({netns: pids[netns] for netns in ports_by_netns})


def forget_namespaces(b, gone: list[int]) -> None:
    """Delete the known marks of these network namespaces (tracer/capture/known_namespaces.py says why that is
    safe although their inode numbers may come back)."""
    table = b[b"listeners"]
    for netns in gone:
        try:
            del table[table.Key(netns=netns, port=LISTENERS_KNOWN_PORT)]
        except KeyError:
            pass  # the map is an LRU: a full one evicted it already


def detach_all(b, links: list[int]) -> None:
    """Detach every uprobe link (attach_tls), kprobe, uprobe and tracepoint at once, then free the rest with
    BCC's cleanup(). Closing one waits in the kernel (a tracepoint's perf event about 0.08 s here); BCC
    closes them one after another, which took most of the 2 s a SIGTERM may take (docs/reliability.md).
    Closed together, their waits overlap, except perf-event uprobes': the kernel takes those one at a time."""
    detaches = ([(os.close, fd) for fd in links]
                + [(b.detach_kprobe_event, name) for name in list(b.kprobe_fds)]
                + [(b.detach_uprobe_event, name) for name in list(b.uprobe_fds)]
                + [(b.detach_tracepoint, name) for name in list(b.tracepoint_fds)])
    if detaches:
        with ThreadPoolExecutor(len(detaches), thread_name_prefix="intuition-detach") as pool:
            for done in [pool.submit(detach, name) for detach, name in detaches]:
                done.result()
    b.cleanup()


def attach_tls(b, info: ProbeInfo, path: str) -> tuple[list[str], list[int]]:
    """Uprobes on the OpenSSL calls of the library file at path, entry and return. Returns the calls attached
    (a library may lack some: SSL_read_ex and SSL_write_ex are OpenSSL 1.1.1's) and the links that hold them,
    which detach_all closes; where the kernel has no uprobe-multi links, BCC holds perf-event uprobes."""
    if info.uprobe_multi:
        return _link_tls(b, info.uprobe_multi, path)
    uprobe_links.zero_bcc_reference_counter(_bcc().libbcc.lib)
    attached = []
    for symbol, entry in TLS_CALLS:
        try:
            b.attach_uprobe(name=path.encode(), sym=symbol.encode(), fn_name=entry.encode())
            b.attach_uretprobe(name=path.encode(), sym=symbol.encode(), fn_name=TLS_RETURN.encode())
        except Exception as e:  # BCC raises a bare Exception for a missing symbol or a refused attach
            log.info("no uprobe on %s in %s: %s", symbol, path, e)
            continue
        attached.append(symbol)
    return attached, []


def _link_tls(b, attach_type: int, path: str) -> tuple[list[str], list[int]]:
    """attach_tls with uprobe-multi links: one per entry program, one for the return of all the calls."""
    found = {symbol: uprobe_links.symbol_offset(_bcc().BPF, path, symbol) for symbol, _ in TLS_CALLS}
    calls = [(symbol, entry, found[symbol]) for symbol, entry in TLS_CALLS if found[symbol] is not None]
    if not calls:
        return [], []
    programs = [(entry, [offset], False) for _, entry, offset in calls]
    programs.append((TLS_RETURN, [offset for _, _, offset in calls], True))
    links: list[int] = []
    try:
        for name, offsets_in_file, on_return in programs:
            fd = b.load_func(name.encode(), _bcc().BPF.KPROBE, attach_type=attach_type).fd
            links.append(uprobe_links.attach(fd, attach_type, path, offsets_in_file, on_return))
    except OSError as e:  # the kernel's log says why (e.g. another tool's uprobes on these functions)
        log.warning("the kernel refused uprobes on %s: %s", path, e)
        for fd in links:
            os.close(fd)
        return [], []
    return [symbol for symbol, _, _ in calls], links


def cache_key(text: str, cflags: list[str]) -> str:
    with open("/proc/self/maps") as f:
        return program_cache.cache_key(text, cflags, program_cache.compile_environment(_bcc().__version__, f.read()))


def cached_programs(b, attach_type: int = -1) -> list[CachedProgram]:
    """The programs a module loaded, in the module's order (BCC's autoload attaches in it), for the cache. A
    program the verifier refused (an L7 parser) is left out: a start from the cache goes without it too.
    attach_type: the programs' expected attach type, but a BTF-typed raw tracepoint's (_load_tracing)."""
    lib = _bcc().libbcc.lib
    map_names = {fd: name for name, fd in module_maps(b).items()}
    programs = []
    for index in range(lib.bpf_num_functions(b.module)):
        name = lib.bpf_function_name(b.module, index)
        if name not in b.funcs:
            continue
        insns = function_instructions(b, name)
        fn = b.funcs[name]
        attach_btf_id = getattr(fn, "attach_btf_id", 0)
        programs.append(CachedProgram(name.decode(), program_cache.program_type(fn.fd),
                                      btf_tracepoints.BPF_TRACE_RAW_TP if attach_btf_id else attach_type,
                                      insns, program_cache.map_references(insns, map_names), attach_btf_id))
    return programs


def _load_cached(b, programs: list[CachedProgram]) -> None:
    """Load the cached programs with this module's maps, all at once (the kernel verifies each inside its load
    call, with the GIL released), make them the module's own (b.funcs: BCC's load_func finds them there, its
    cleanup closes them), then attach the tracepoints and raw tracepoints, as BCC's autoload attaches a full
    compile's (BTF-typed raw tracepoints attach in load, as a compile's do). Raises CacheError for a program the
    kernel refused; none is attached then."""
    bcc = _bcc()
    lib = bcc.libbcc.lib
    map_fds = module_maps(b)

    def loaded(program: CachedProgram) -> int:
        insns = program_cache.patch(program, map_fds)
        if program.attach_btf_id:
            try:
                return btf_tracepoints.load(program.name, insns, lib.bpf_module_license(b.module),
                                            program.attach_btf_id)
            except OSError as e:
                raise CacheError(f"the kernel refused program {program.name}: {e.strerror}") from e
        fd = lib.bcc_func_load(b.module, program.prog_type, program.name.encode(),
                               ctypes.create_string_buffer(insns, len(insns)), len(insns),
                               lib.bpf_module_license(b.module), lib.bpf_module_kern_version(b.module),
                               0, None, 0, None, program.attach_type)
        if fd < 0:
            raise CacheError(f"the kernel refused program {program.name}: {os.strerror(ctypes.get_errno())}")
        return fd

    with ThreadPoolExecutor(len(programs), thread_name_prefix="intuition-verify") as pool:
        loads = [pool.submit(loaded, program) for program in programs]
    failed = [load.exception() for load in loads if load.exception() is not None]
    if failed:
        for load in loads:
            if load.exception() is None:
                os.close(load.result())
        raise failed[0]
    for program, load in zip(programs, loads):
        b.funcs[program.name.encode()] = bcc.BPF.Function(b, program.name.encode(), load.result())
    for program in programs:
        name = program.name.encode()
        if name.startswith(b"tracepoint__"):
            b.attach_tracepoint(tp=name[len(b"tracepoint__"):].replace(b"__", b":"), fn_name=name)
        elif name.startswith(b"raw_tracepoint__"):
            b.attach_raw_tracepoint(tp=name[len(b"raw_tracepoint__"):], fn_name=name)


def _from_cache(cache: ProgramCache, module: str, key: str, text: str, cflags: list[str],
               share_maps: Callable[[object], None] | None = None):
    """A module with its programs from the cache, nothing compiled; None where the cache holds no entry for this
    key. share_maps(b) runs before the programs load (the TLS module's maps are the start's). An entry that
    cannot be used is never a failed start: it is logged (once, naming the file) and the compile that follows
    rewrites it (_save_programs)."""
    try:
        programs = cache.read(module, key)
        if programs is None:
            return None
        b = compile_program(text, cflags + [MAPS_ONLY])
        try:
            if share_maps:
                share_maps(b)
            _load_cached(b, programs)
        except Exception as e:  # BCC raises a bare Exception for a refused attach
            b.cleanup()
            raise CacheError(f"{cache.path(module, key)}: {e}") from e
    except (CacheError, ProbeError) as e:
        log.warning("the program cache is not used, compiling the probes: %s", e)
        return None
    log.info("probes loaded from the program cache %s, not compiled", cache.path(module, key))
    return b


def _save_programs(b, cache: ProgramCache, module: str, key: str, attach_type: int = -1) -> None:
    """Put a module's loaded programs in the program cache; a cache that cannot be written only costs the next
    start. attach_type: the one its programs were loaded with."""
    try:
        path = cache.write(module, key, cached_programs(b, attach_type))
    except (CacheError, OSError) as e:
        log.warning("the compiled programs are not cached, the next start compiles them again: %s", e)
        return
    log.info("compiled programs cached in %s", path)


@dataclass
class BuiltModule:
    """A module of probe text: its programs from the program cache where it holds them, else compiled, and then
    cached by save() once they are loaded."""
    b: object
    from_cache: bool
    cache: ProgramCache | None
    name: str  # among the cache's files: START_MODULE or TLS_MODULE
    key: str

    def save(self, attach_type: int = -1) -> None:
        """Cache a compiled module's programs, loaded with attach_type; nothing for one from the cache or
        without a cache."""
        if self.cache and not self.from_cache:
            _save_programs(self.b, self.cache, self.name, self.key, attach_type)


def build_module(text: str, cflags: list[str], directory: str, name: str,
                 share_maps: Callable[[object], None] | None = None) -> BuiltModule:
    """The module of text with its programs from the program cache in directory ("": none) where it holds them,
    else compiled. share_maps(b) runs before any program loads (the TLS module's maps are the start's)."""
    cache = ProgramCache(directory) if directory else None
    key = cache_key(text, cflags) if cache else ""
    b = _from_cache(cache, name, key, text, cflags, share_maps) if cache else None
    if b is not None:
        return BuiltModule(b, True, cache, name, key)
    b = compile_program(text, cflags, attach=share_maps is None)
    if share_maps:
        share_maps(b)
        _bcc().BPF._trace_autoload(b)  # BCC's own load and attach of TRACEPOINT_PROBEs, held back until now
    return BuiltModule(b, False, cache, name, key)


def _log_parsers_failed(error: ProbeError) -> None:
    log.error("the L7 parsers are not loaded, their protocols count as bytes only: %s", error)


def _parser_maps_shared(parsers: parser_process.ParserBuild) -> Callable[[object], None]:
    """share_maps for the start's module: the parser module's maps, once the child has them. A child that failed
    is logged and leaves the start's own maps: the probes then count bytes, and requests as far as the sock
    tracepoints' own first pass of HTTP goes, as when the verifier refuses the parsers (verify_parsers)."""
    def share(b) -> None:
        try:
            parsers.share_maps(b)
        except ProbeError as e:
            _log_parsers_failed(e)
    return share


def _parser_programs(parsers: parser_process.ParserBuild) -> dict[str, int]:
    """The parsers the child verified; none where it failed (logged here, or by _parser_maps_shared)."""
    try:
        return parsers.programs() or {}
    except ProbeError as e:
        _log_parsers_failed(e)
        return {}


def load(capture: CaptureConfig, cgroup_layout: kernel.CgroupLayout | None = None):
    """Compile, load and attach. Returns (BPF object, ProbeInfo). The cgroup layout is detected unless given."""
    _require_tracefs()
    info = ProbeInfo()
    use_kprobes = choose_bytes_hook()
    layout = cgroup_layout or kernel.cgroup_layout()
    cflags = info.cflags = build_cflags(capture, info, layout)
    # the parsers reach the user buffer through the BTF-typed task's syscall registers (x86_64 numbers and
    # layout in probes/l7_payload.c), from the sock length tracepoints
    info.l7 = capture.l7 and info.btf and not use_kprobes and platform.machine() == "x86_64"
    if capture.l7 and platform.machine() != "x86_64":
        log.warning("requests are not parsed on %s: the probes know x86_64's syscall registers only",
                    platform.machine())
    info.tls = info.l7 and capture.tls
    # the parsers compile in a child meanwhile, on the other core (tracer/capture/parser_process.py)
    parsers = parser_process.ParserBuild(cflags, capture.program_cache, info.sock_length_btf) if info.l7 else None
    try:
        module = build_module(program_text(use_kprobes, info.l7), cflags, capture.program_cache, START_MODULE,
                              parsers and _parser_maps_shared(parsers))
        b = module.b
        _verify_sock_length_hooks(b, info)  # before the wait for the parsers, which the child verifies meanwhile
        if parsers:
            _adopt(b, _parser_programs(parsers), "l7_parsers", L7_PARSERS, info)
    finally:
        if parsers:
            parsers.close()
    info.from_cache = module.from_cache
    info.hooks.update({
        "sock:inet_sock_set_state": "tracepoint+raw_tracepoint",
        "tcp:tcp_destroy_sock": "raw_tracepoint",
        "tcp:tcp_retransmit_skb": "raw_tracepoint",
        "tcp:tcp_send_reset": "raw_tracepoint",
        "tcp:tcp_receive_reset": "raw_tracepoint",
    })
    if use_kprobes:
        for event, entry, ret in KPROBE_BYTES:
            b.attach_kprobe(event=event.encode(), fn_name=entry.encode())
            b.attach_kretprobe(event=event.encode(), fn_name=ret.encode())
            info.hooks[event] = "kprobe"
    else:
        # BTF-typed where the kernel takes it, else raw where BTF gives sk_protocol's offset, else classic
        # (probes/bytes_tracepoint.c)
        if info.sock_length_btf:
            _attach_sock_length_hooks(b, info)
        mechanism = "tp_btf" if info.sock_length_btf else "raw_tracepoint" if info.btf else "tracepoint"
        info.hooks["sock:sock_send_length"] = mechanism
        info.hooks["sock:sock_recv_length"] = mechanism
    module.save()
    compiler_memory.release()
    log.info("probes attached: %s", ", ".join(f"{h} ({m})" for h, m in sorted(info.hooks.items())))
    return b, info
