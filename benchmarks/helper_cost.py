"""What one call of each kernel helper the parsing end makes costs a program run on this machine: a raw tracepoint
program on sock:sock_send_length that makes CALLS calls of one helper, against one that makes none, in the kernel's
run-time accounting, while this process sends 1-byte messages on a Unix socket pair.

    sudo .venv/bin/python -m benchmarks.helper_cost [--rounds 5] [--sends 200000]

The parsing end of a request (probes/l7_io.c, l7_payload.c) calls the user copies, and the current task, its
registers and the clock where it cannot find them without a call (syscall_regs without the hook's context or the
bpf_rdonly_cast kfunc, io_time: raw tracepoints) (benchmarks/perf_lines.py finds them); each such call is a call
into the kernel and a return, which this machine's kernel sends through its return thunk
(/sys/devices/system/cpu/vulnerabilities), and the helper's own work. A copy's price depends on its destination,
which the kernel's hardened-usercopy check looks up: the task's own stack is the cheapest, and a program whose frame
is over 64 bytes runs on a per-CPU private stack instead (Linux 6.13 on), as the parsers do (docs/performance.md,
"The parsing end's cost, cut part by part"). Rounds alternate the arms; medians of per-round differences are
printed.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import socket
import statistics
import sys

from benchmarks import bpf_programs
from benchmarks.overhead import at_least_one
from tracer.capture import loader

CALLS = 4
ARMS = {
    "no helper call (the accounting and the hook's entry only)": "",
    "bpf_get_current_task_btf": "sink += bpf_get_current_task_btf() != 0;",
    "bpf_task_pt_regs": "sink += bpf_task_pt_regs(task) != 0;",
    "bpf_ktime_get_ns": "sink += bpf_ktime_get_ns();",
    "bpf_probe_read_user, 16 bytes to the stack": "bpf_probe_read_user(bytes, 16, user); sink += bytes[0];",
    "bpf_probe_read_user, 16 bytes to the private stack":
        "{ u8 wide[128] = {}; bpf_probe_read_user(wide, 16, user); sink += wide[0]; }",
    "bpf_probe_read_user, 128 bytes to the private stack":
        "{ u8 wide[128] = {}; bpf_probe_read_user(wide, 128, user); sink += wide[0]; }",
    "bpf_probe_read_user, 16 bytes to a per-CPU map value": "bpf_probe_read_user(cell->bytes, 16, user);",
    "bpf_probe_read_user, 256 bytes to a per-CPU map value": "bpf_probe_read_user(cell->bytes, 256, user);",
}
PROGRAM = """
struct cell { u8 bytes[256]; };
BPF_PERCPU_ARRAY(cells, struct cell, 1);
BPF_ARRAY(user_buffer, u64, 1);   /* this process's buffer, which the copies read */

RAW_TRACEPOINT_PROBE(sock_send_length)
{
    if (bpf_get_current_pid_tgid() >> 32 != PID)
        return 0;
    u32 zero = 0;
    struct cell *cell = cells.lookup(&zero);
    u64 *address = user_buffer.lookup(&zero);
    if (!cell || !address)
        return 0;
    const void *user = (const void *)*address;
    struct task_struct *task = bpf_get_current_task_btf();
    u8 bytes[16] = {};
    u64 sink = 0;
    CALLS_MADE
    cell->bytes[0] = sink;
    return 0;
}
"""


def ns_per_run(call: str, sends: int) -> float:
    """BPF ns per run of the program that makes CALLS of `call`, over `sends` 1-byte sends of this process."""
    text = PROGRAM.replace("CALLS_MADE", "\n    ".join([call] * CALLS) if call else "")
    b = loader.compile_program(text, [f"-DPID={os.getpid()}", loader.NO_DEBUG_INFO])
    buffer = bytearray(256)
    try:
        address = ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))
        b[b"user_buffer"][ctypes.c_int(0)] = ctypes.c_uint64(address)
        a, c = socket.socketpair()
        with a, c:
            def sends_and_receives() -> None:
                for _ in range(sends):
                    a.send(b"x")
                    c.recv(1)
            _, programs = bpf_programs.measured(os.getpid(), sends_and_receives)
    finally:
        b.cleanup()
    runs = sum(p.run_cnt for p in programs)
    return sum(p.run_time_ns for p in programs) / runs if runs else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least_one, default=5)
    parser.add_argument("--sends", type=at_least_one, default=200_000, help="sends per arm and round")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    print(f"{CALLS} calls per run, {args.sends} runs per arm and round, {os.cpu_count()} CPUs, kernel "
          f"{os.uname().release}", flush=True)
    rounds = []
    for n in range(args.rounds):
        rounds.append({arm: ns_per_run(call, args.sends) for arm, call in ARMS.items()})
        print(f"round {n + 1}: " + ", ".join(f"{ns:.0f}" for ns in rounds[-1].values()) + " ns per run", flush=True)
    base = next(iter(ARMS))
    print(f"{'arm':55} {'ns per run':>10} {'ns per call':>11}")
    for arm in ARMS:
        per_call = statistics.median((r[arm] - r[base]) / CALLS for r in rounds)
        print(f"{arm:55} {statistics.median(r[arm] for r in rounds):10.0f} {per_call if arm != base else 0:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
