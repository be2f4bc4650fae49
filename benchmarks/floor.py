"""The floor: empty BPF programs on the hooks the agent uses, of the same kinds, so that a benchmark can measure
what the hooks themselves cost. Prints "ready" once attached and holds them until terminated.

    sudo .venv/bin/python -m benchmarks.floor [--classic-sock-length]

The agent runs on the sock length hooks as raw tracepoints (probes/bytes_tracepoint.c); --classic-sock-length
puts classic tracepoint programs there instead, as the agent does without BTF, whose event record the kernel
fills before each run.
"""
from __future__ import annotations

import argparse
import signal
import sys

EMPTY_PROGRAMS = """
TRACEPOINT_PROBE(sock, inet_sock_set_state) { return 0; }
RAW_TRACEPOINT_PROBE(inet_sock_set_state) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_destroy_sock) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_retransmit_skb) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_send_reset) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_receive_reset) { return 0; }
"""
SOCK_LENGTH = {
    False: "RAW_TRACEPOINT_PROBE(sock_send_length) { return 0; }\nRAW_TRACEPOINT_PROBE(sock_recv_length) { return 0; }\n",
    True: "TRACEPOINT_PROBE(sock, sock_send_length) { return 0; }\nTRACEPOINT_PROBE(sock, sock_recv_length) { return 0; }\n",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classic-sock-length", action="store_true",
                        help="classic tracepoint programs on the sock length hooks (the agent's without BTF)")
    args = parser.parse_args(argv)
    import bcc
    programs = bcc.BPF(text=(EMPTY_PROGRAMS + SOCK_LENGTH[args.classic_sock_length]).encode())
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    programs.cleanup()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
