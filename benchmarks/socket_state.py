"""What finding a socket's state costs each sock length program: the `sockets` hash that every program run
looked up first before live sockets moved to socket_slots (probes/common.h) against socket-local storage
(BPF_MAP_TYPE_SK_STORAGE), which keeps the value in the socket itself. Measured by the kernel's run-time
accounting while nginx answers `wrk -t1 -c8` on loopback.

    sudo .venv/bin/python -m benchmarks.socket_state [--rounds 5] [--seconds 3] [--fill 10000]
    sudo .venv/bin/python -m benchmarks.socket_state --iter [--entries 16384] [--repeats 5]

Three arms of two programs on sock:sock_send_length and sock:sock_recv_length (benchmarks/socket_state.c),
attached one arm at a time in each round: empty; a hash of the socket's whole state (struct sock_info of
probes/common.h with L7 on, the agent's default max entries), as `sockets` was before live sockets moved to
socket_slots, holding --fill other entries besides the sockets under load, as a busy host's does, looked up by
the socket pointer; the same value in socket storage, through
bpf_sk_storage_get(.., BPF_SK_STORAGE_GET_F_CREATE). Either creates a socket's value at its first call and
then adds the call's bytes to it, as count_bytes does. All are BTF-typed raw tracepoints (tp_btf): socket
storage is reachable only from BPF_PROG_TYPE_TRACING programs, and the arms must differ in the lookup alone.
BCC compiles them but cannot load them: benchmarks/tracing_programs.py loads their instructions with the
agent's tp_btf loader (tracer/capture/btf_tracepoints.py). Printed: ns per program run for each arm, what it
adds to the empty arm's in the same round, and the same per request (the runs of both ends); medians of
rounds, with their range.

--iter: user space cannot walk a socket storage map (it has no get_next_key), so a drain would read it
through an iterator program (bpf_iter__bpf_sk_storage_map, BPF_TRACE_ITER; BCC loads it). This mode gives
--entries sockets of its own a storage value each, puts as many live sockets in socket_slots, and times a
walk of each: the iterator's, read from its file descriptor, and today's drain's batched read of the slots
(OpenSockets, tracer/capture/socket_bytes.py). Both yield every entry's flow key and byte counts, checked.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import os
import random
import resource
import socket
import statistics
import struct
import sys
import time
from collections.abc import Iterator

from benchmarks import bpf_programs, tracing_programs
from benchmarks.load import Load, wrk
from benchmarks.overhead import WRK_CONNECTIONS, at_least_one

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "socket_state.c")
HOOKS = {"send": "sock_send_length", "recv": "sock_recv_length"}
ARMS = {"empty": "empty programs", "hash": "`sockets` hash", "storage": "socket storage"}
DIRECT_MAP = 0xffff_8880_0000_0000   # x86-64's direct map, where slab objects such as sockets live
ITERATOR = "bpf_iter__bpf_sk_storage_map"
MAX_FILL = 60_000


def compile_module():
    """probes/common.h and benchmarks/socket_state.c with the agent's compiler flags (L7 on), but with debug
    info: a socket storage map needs BTF for its key and value, which BCC makes from it."""
    from tracer.capture import loader
    from tracer.capture.kernel import cgroup_layout
    cflags = [flag for flag in loader.build_cflags(loader.CaptureConfig(), loader.ProbeInfo(), cgroup_layout())
              if flag != loader.NO_DEBUG_INFO]
    with open(SOURCE) as f:
        text = loader.source_text(("common.h",)) + '\n#line 1 "socket_state.c"\n' + f.read()
    return loader.compile_program(text, cflags)


def fill(table, values: Iterator[ctypes.Structure]) -> int:
    """Puts each value in `table` under a key no socket has (random addresses in the direct map, 64-byte
    aligned as slab objects are); returns how many."""
    keys = random.Random(1).sample(range(1 << 30), table.max_entries)
    count = 0
    for key, value in zip(keys, values):
        table[table.Key(DIRECT_MAP + key * 64)] = value
        count += 1
    return count


def fill_count(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_FILL:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_FILL}: the hash holds 65536, and the sockets under "
                                         "load need room")
    return value


def spread(values: list[float], digits: int = 0) -> str:
    """Median (lowest to highest)."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f} to {max(values):.{digits}f})"


# --- the arms ---------------------------------------------------------------------------------------------

def load_arms(b) -> dict[str, list[int]]:
    """arm -> its programs' file descriptors, one per hook; each is named <arm>_<hook> in the kernel."""
    return {arm: [tracing_programs.load_tp_btf(b, f"{arm}_{hook}", tracepoint) for hook, tracepoint in HOOKS.items()]
            for arm in ARMS}


def arm_run(program_fds: list[int], port: int, seconds: int) -> dict[str, tuple[float, float]]:
    """program name -> (run time ns, runs), each per request, of a wrk run with the arm's programs attached."""
    with tracing_programs.attached(program_fds):
        (requests, _), programs = bpf_programs.measured(os.getpid(), lambda: wrk(port, seconds, Load(WRK_CONNECTIONS)))
    return {p.name: (p.run_time_ns / requests, p.run_cnt / requests) for p in programs
            if p.run_cnt}


def ns_per_run(runs: dict[str, dict[str, tuple[float, float]]], arm: str, hook: str) -> float:
    """Of one round's arm_run results: the run time of one run of the arm's program on the hook."""
    ns, count = runs[arm].get(f"{arm}_{hook}", (0.0, 0.0))
    return ns / count if count else 0.0


def ns_per_request(runs: dict[str, dict[str, tuple[float, float]]], arm: str) -> float:
    """Of one round's arm_run results: the run time of the arm's programs per request, both ends."""
    return sum(ns for ns, _ in runs[arm].values())


def summary(rounds: list[dict[str, dict[str, tuple[float, float]]]]) -> str:
    """Per arm and hook: ns per run and its addition to the same round's empty arm; per request the same."""
    lines = [f"{'arm':16}" + "".join(f" {tracepoint + ' ns/run':>24} {'added':>20}" for tracepoint in HOOKS.values())
             + f" {'ns/request':>20} {'added':>20}"]
    for arm, title in ARMS.items():
        line = f"{title:16}"
        for hook in HOOKS:
            line += f" {spread([ns_per_run(r, arm, hook) for r in rounds]):>24}"
            line += f" {spread([ns_per_run(r, arm, hook) - ns_per_run(r, 'empty', hook) for r in rounds]):>20}"
        line += f" {spread([ns_per_request(r, arm) for r in rounds]):>20}"
        line += f" {spread([ns_per_request(r, arm) - ns_per_request(r, 'empty') for r in rounds]):>20}"
        lines.append(line)
    runs = {hook: statistics.median(r["empty"].get(f"empty_{hook}", (0, 0))[1] for r in rounds) for hook in HOOKS}
    lines.append("runs per request (both ends): " + ", ".join(f"{HOOKS[hook]} {n:.2f}" for hook, n in runs.items()))
    lines.append("socket storage against the `sockets` hash, ns per request: "
                 + spread([ns_per_request(r, "storage") - ns_per_request(r, "hash") for r in rounds]))
    return "\n".join(lines)


def benchmark(rounds: int, seconds: int, fill_entries: int) -> str:
    from tests.helpers.servers import running_nginx
    b = compile_module()
    sockets = b["state_hash"]
    filled = fill(sockets, (sockets.Leaf() for _ in range(fill_entries)))
    arms = load_arms(b)
    print(f"nginx + wrk -t1 -c{WRK_CONNECTIONS} /ok on loopback, {rounds} rounds of {seconds} s, {os.cpu_count()} "
          f"CPUs, kernel {os.uname().release}; the hash: {sockets.max_entries} entries of "
          f"{ctypes.sizeof(sockets.Leaf)} bytes at most, {filled} filled", flush=True)
    results = []
    with running_nginx(prefix="skstorage-nginx-") as nginx:
        for n in range(rounds):
            results.append({arm: arm_run(fds, nginx.port, seconds) for arm, fds in arms.items()})
            print(f"round {n + 1}: " + ", ".join(f"{arm} {ns_per_request(results[-1], arm):.0f} ns/request"
                                                 for arm in ARMS), flush=True)
    print(f"the hash held {len(sockets)} entries after the runs ({filled} filled)")
    return summary(results)


# --- --iter ----------------------------------------------------------------------------------------------

def socket_values(leaf: type[ctypes.Structure], count: int) -> Iterator[ctypes.Structure]:
    """`count` values whose bytes sent are 1, 2, ... count: every walk must yield each once."""
    from tracer.capture.socket_bytes import SocketBytesHead
    for n in range(1, count + 1):
        value = leaf()
        SocketBytesHead.from_buffer(value).bytes_sent = n
        yield value


def iterated(records: bytes) -> list[tuple[bytes, int, int]]:
    """(flow key, bytes sent, bytes received) of each record the iterator wrote, as OpenSockets yields them."""
    from tracer.capture.socket_bytes import KEY_SIZE
    return [(key, sent, received) for key, sent, received in struct.iter_unpack(f"<{KEY_SIZE}sQQ", records)
            if sent or received]


def fill_slots(slots, overflow_used, max_sockets: int, values: Iterator[ctypes.Structure]) -> int:
    """Puts each value in socket_slots as a live socket's (its owner an aligned address in the direct map), the
    direct slots first, then as many overflow slots, counted as handed out as the probes count them; returns how
    many."""
    direct = len(slots) - max_sockets
    count = 0
    for count, value in enumerate(values, 1):
        slot = slots.Leaf()
        slot.owner = DIRECT_MAP + count * 64
        # the hash's and the slots' struct sock_info are two ctypes types of one struct
        ctypes.memmove(ctypes.addressof(slot.info), ctypes.addressof(value), ctypes.sizeof(value))
        slots[ctypes.c_int(count - 1)] = slot
    overflow_used[ctypes.c_int(0)] = ctypes.c_uint64(max(0, count - direct))
    return count


def check_walk(what: str, entries: list[tuple[bytes, int, int]], count: int) -> None:
    sent = sorted(s for _, s, _ in entries)
    if sent != list(range(1, count + 1)):
        raise RuntimeError(f"{what} yielded {len(entries)} entries, not each of the {count} once")


def give_storage(b, count: int) -> list[socket.socket]:
    """`count` UDP sockets (never bound: no traffic), each given its storage value from user space, where a
    socket's file descriptor is the map's key."""
    import bcc
    lib = bcc.libbcc.lib
    storage_fd = lib.bpf_table_fd(b.module, b"socket_storage")
    sockets = []
    try:
        for value in socket_values(b["state_hash"].Leaf, count):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            key = ctypes.c_int(sockets[-1].fileno())
            if lib.bpf_update_elem(storage_fd, ctypes.byref(key), ctypes.byref(value), 0) != 0:
                raise OSError(ctypes.get_errno(), f"a socket's storage value: {os.strerror(ctypes.get_errno())}")
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


def timed(walk) -> tuple[float, list]:
    """Seconds a walk takes, and what it yields. Python's garbage collector is off meanwhile: a walk's 16k tuples
    set off a full collection every few walks, which added about 30 ms to whichever walk it fell in."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        entries = walk()
        return time.perf_counter() - start, entries
    finally:
        gc.enable()


def iterate(entries: int, repeats: int) -> str:
    import bcc
    from tracer.capture.loader import CaptureConfig
    from tracer.capture.socket_bytes import OpenSockets
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < entries + 256:
        raise SystemExit(f"--entries {entries} needs as many file descriptors, and more: RLIMIT_NOFILE allows {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    b = compile_module()
    slots, max_sockets = b["socket_slots"], CaptureConfig().max_sockets
    filled = fill_slots(slots, b["overflow_slots_used"], max_sockets, socket_values(b["state_hash"].Leaf, entries))
    iterator = tracing_programs.MapIterator(b, ITERATOR, bcc.libbcc.lib.bpf_table_fd(b.module, b"socket_storage"))
    open_sockets = OpenSockets(slots, b["overflow_slots_used"], max_sockets)
    sockets = give_storage(b, entries)
    try:
        times = {"iterator": [], "batch": []}
        for _ in range(repeats):
            seconds, walked = timed(lambda: iterated(iterator.read()))
            check_walk("the iterator", walked, entries)
            times["iterator"].append(seconds)
            seconds, walked = timed(lambda: list(open_sockets.byte_counts()))
            check_walk("the batched read", walked, filled)
            times["batch"].append(seconds)
    finally:
        for s in sockets:
            s.close()
        iterator.close()
    titles = {"iterator": f"socket storage through {ITERATOR}", "batch": "socket_slots, batched (today's drain)"}
    return "\n".join([f"{entries} sockets' storage values and {filled} live slots of "
                      f"{ctypes.sizeof(slots.Leaf)} bytes, {repeats} walks each: ms per walk, median (range); "
                      "ns per entry"] +
                     [f"  {titles[walk]:48} {spread([s * 1000 for s in seconds], 2):>24} ms "
                      f"{statistics.median(seconds) * 1e9 / entries:6.0f}" for walk, seconds in times.items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least_one, default=5, help="rounds of the three arms (default 5)")
    parser.add_argument("--seconds", type=at_least_one, default=3, help="wrk duration of each arm (default 3)")
    parser.add_argument("--fill", type=fill_count, default=10_000,
                        help=f"other entries in the hash, at most {MAX_FILL} (default 10000)")
    parser.add_argument("--iter", action="store_true", help="time a drain's walk instead (see above)")
    parser.add_argument("--entries", type=at_least_one, default=16_384, help="--iter: entries walked (default 16384)")
    parser.add_argument("--repeats", type=at_least_one, default=5, help="--iter: walks of each (default 5)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs and turns on BPF run-time accounting")
    print(iterate(args.entries, args.repeats) if args.iter else benchmark(args.rounds, args.seconds, args.fill))
    return 0


if __name__ == "__main__":
    sys.exit(main())
