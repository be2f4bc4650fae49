"""benchmarks/probe_trees.py's split of the BPF time per request by hook."""
from benchmarks.probe_trees import HOOKS, part

PROGRAMS = {"tp_btf__sock_se": 610.0, "tp_btf__sock_re": 840.0, "inet_sock_set_s": 14.0}


def test_a_hooks_part_is_its_programs_time_and_all_programs_sum():
    assert part(PROGRAMS, HOOKS[0]) == 610.0
    assert part(PROGRAMS, HOOKS[1]) == 840.0
    assert part(PROGRAMS, None) == 1464.0
