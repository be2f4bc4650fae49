"""benchmarks/socket_state.py: the arms' arithmetic, and a walk of socket storage read as the drain reads
the `sockets` hash."""
import struct

import pytest

from benchmarks.socket_state import check_walk, iterated, ns_per_request, ns_per_run, summary
from tracer.capture.socket_bytes import KEY_SIZE

# one round: program name -> (ns, runs) per request, as arm_run returns them
ROUND = {"empty": {"empty_send": (120.0, 2.0), "empty_recv": (118.0, 2.0)},
         "hash": {"hash_send": (264.0, 2.0), "hash_recv": (266.0, 2.0)},
         "storage": {"storage_send": (182.0, 2.0), "storage_recv": (174.0, 2.0)}}


def test_a_run_is_its_programs_time_over_its_runs_and_a_request_the_sum_of_both_hooks():
    assert ns_per_run(ROUND, "hash", "send") == 132.0
    assert ns_per_request(ROUND, "storage") == 356.0


def test_an_arm_whose_program_never_ran_costs_nothing_per_run():
    assert ns_per_run({"empty": {"empty_recv": (118.0, 2.0)}}, "empty", "send") == 0.0


def test_the_summary_sets_each_arm_against_the_empty_one_and_storage_against_the_hash():
    slower = {arm: {name: (ns + 20.0, runs) for name, (ns, runs) in programs.items()}
              for arm, programs in ROUND.items()}
    text = summary([ROUND, slower])
    hash_row = next(line for line in text.splitlines() if line.startswith("`sockets` hash"))
    # per run: 132 and 142 against 60 and 70 (send); per request 530 and 570 against 238 and 278
    assert hash_row.split() == ["`sockets`", "hash", "137", "(132", "to", "142)", "72", "(72", "to", "72)",
                                "138", "(133", "to", "143)", "74", "(74", "to", "74)",
                                "550", "(530", "to", "570)", "292", "(292", "to", "292)"]
    assert text.endswith("socket storage against the `sockets` hash, ns per request: -174 (-174 to -174)")


def record(sent: int, received: int, key: bytes = b"k") -> bytes:
    return struct.pack(f"<{KEY_SIZE}sQQ", key, sent, received)


def test_a_walk_yields_each_record_with_bytes_and_skips_the_rest():
    assert iterated(record(1, 0) + record(0, 0) + record(0, 7, b"other")) == \
        [(b"k".ljust(KEY_SIZE, b"\0"), 1, 0), (b"other".ljust(KEY_SIZE, b"\0"), 0, 7)]


def test_a_walk_must_yield_each_socket_once():
    check_walk("walk", iterated(record(2, 0) + record(1, 0)), 2)
    with pytest.raises(RuntimeError, match="yielded 2 entries, not each of the 2 once"):
        check_walk("walk", iterated(record(1, 0) + record(1, 0)), 2)
    with pytest.raises(RuntimeError, match="yielded 1 entries"):
        check_walk("walk", iterated(record(1, 0)), 2)
