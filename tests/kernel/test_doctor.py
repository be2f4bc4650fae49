"""`intuition doctor` loads the agent's real probes through the loader, reports their hooks and detaches."""
import os
import subprocess
import sys

import pytest

from tests.conftest import skip_or_fail
from tracer import doctor
from tracer.capture import kernel, loader


@pytest.fixture
def root():
    if os.geteuid() != 0:
        skip_or_fail("doctor's probe load needs root")


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.kernel
def test_hooks_are_the_loaders_and_everything_is_detached_after(root):
    before = open_fds()
    checks = {c.name: c for c in doctor.check_hooks()}
    assert open_fds() == before  # every program, link and map the load opened is closed again
    for hook in ("sock:sock_send_length", "sock:sock_recv_length"):  # this kernel has them (Linux 6.3+), BTF, tp_btf
        assert checks[f"hook {hook}"].detail == "tp_btf"
    assert checks["hook sock:inet_sock_set_state"].detail == "tracepoint+raw_tracepoint"
    assert checks["hook tcp:tcp_retransmit_skb"].detail == "raw_tracepoint"
    assert {name for name in checks if name.startswith("hook l7_parse_")} == {f"hook {p}" for p in loader.L7_PARSERS}
    for name in ("BPF ring buffer", "batch map reads", "request parsing"):
        assert checks[name].status == doctor.OK, checks[name]
    assert checks["kprobes"].status == (doctor.OK if kernel.kprobes_available() else doctor.WARN)


@pytest.mark.kernel
def test_the_command_says_the_agent_can_run(root):
    done = subprocess.run([sys.executable, "-m", "tracer", "doctor"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "the agent can run on this host"
    assert "ok    hook sock:sock_send_length: tp_btf" in lines
    assert "4.16" not in done.stdout
