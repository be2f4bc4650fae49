"""benchmarks/perf_parts.py: how a perf sample's call chain is put down to a part of the probes."""
from benchmarks.perf_parts import HOOK, OWN_CODE, Profile, add_samples, part_of

PROGRAM = "bpf_prog_323515d8ff0a82ad_sock_recv_lengt"
SYSCALL = ["bpf_trace_run3", "call_trace_sock_recv_length", "sock_recvmsg", "__sys_recvfrom"]
COPY = "copies from user memory: request and response bytes, writev's and sendmsg's iovecs"
LOOKUP = "hash map lookups: the socket's entry at each run, a response's count"


def script(*samples: tuple[int, list[str]]) -> str:
    """perf script -F period,ip,sym output: a period line, then each frame's address and symbol, leaf first."""
    return "\n".join(f"    {period} \n" + "".join(f"\tffffffff81000000 {frame}\n" for frame in frames)
                     for period, frames in samples)


def test_a_helper_is_the_part_with_whatever_it_called_below_it():
    frames = ["__check_object_size", "copy_from_user_nofault", "bpf_probe_read_user", PROGRAM] + SYSCALL
    assert part_of(frames) == (COPY, "sock_recv_lengt")


def test_a_function_the_verifier_calls_in_a_helpers_place_is_that_helpers_part():
    assert part_of(["lookup_nulls_elem_raw", PROGRAM] + SYSCALL) == (LOOKUP, "sock_recv_lengt")


def test_samples_in_the_program_itself_and_in_the_hook_around_it():
    assert part_of([PROGRAM] + SYSCALL) == (OWN_CODE, "sock_recv_lengt")
    assert part_of(["__rcu_read_lock"] + SYSCALL) == (HOOK, "")


def test_an_unnamed_callee_is_named_and_a_sample_off_the_hook_is_none():
    assert part_of(["bpf_ringbuf_reserve", PROGRAM] + SYSCALL) == ("other: bpf_ringbuf_reserve", "sock_recv_lengt")
    assert part_of(["tcp_sendmsg_locked", "tcp_sendmsg", "sock_sendmsg"]) is None


def test_periods_add_up_per_part_and_program_and_per_request():
    profile = Profile(requests=10)
    add_samples(profile, script((100, [PROGRAM] + SYSCALL),
                                (300, ["copy_from_user_nofault", "bpf_probe_read_user", PROGRAM] + SYSCALL),
                                (200, ["bpf_trace_run3", "call_trace_sock_recv_length"]),
                                (1000, ["pv_native_safe_halt", "default_idle"])))
    assert profile.total_ns == 1600
    assert profile.parts == {OWN_CODE: 100, COPY: 300, HOOK: 200}
    assert profile.programs == {"sock_recv_lengt": 400}
    assert profile.per_request(profile.hook_ns) == 60.0
