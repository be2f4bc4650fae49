"""The floor: empty BPF programs on the hooks the agent uses, so that a benchmark can measure what the hooks
themselves cost. Prints "ready" once attached and holds them until terminated.

    sudo .venv/bin/python -m benchmarks.floor
"""
from __future__ import annotations

import signal
import sys

EMPTY_PROGRAMS = """
TRACEPOINT_PROBE(sock, inet_sock_set_state) { return 0; }
RAW_TRACEPOINT_PROBE(inet_sock_set_state) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_destroy_sock) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_retransmit_skb) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_send_reset) { return 0; }
RAW_TRACEPOINT_PROBE(tcp_receive_reset) { return 0; }
TRACEPOINT_PROBE(sock, sock_send_length) { return 0; }
TRACEPOINT_PROBE(sock, sock_recv_length) { return 0; }
"""


def main() -> int:
    import bcc
    programs = bcc.BPF(text=EMPTY_PROGRAMS.encode())
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    programs.cleanup()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
