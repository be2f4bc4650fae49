"""doctor's reporting and its checks that need no root."""
import socket

import pytest

from tracer import doctor
from tracer.capture import loader
from tracer.doctor import FAIL, OK, WARN, Check


def test_render_gives_the_fix_for_what_is_not_ok():
    checks = [Check("BTF", OK, "present", "never shown"), Check("tracefs", FAIL, "not mounted", "mount it"),
              Check("docker", WARN, "not reachable", "start dockerd")]
    text = doctor.render(checks)
    assert text.splitlines() == [
        "ok    BTF: present",
        "FAIL  tracefs: not mounted",
        "      fix: mount it",
        "warn  docker: not reachable",
        "      fix: start dockerd",
        "the agent cannot run: tracefs",
    ]
    assert doctor.exit_code(checks) == 1


def test_warnings_alone_let_the_agent_run():
    checks = [Check("kprobes", WARN, "refused", "tracepoints are used")]
    assert doctor.exit_code(checks) == 0
    assert doctor.render(checks).endswith("the agent can run on this host")


def test_headers_found_and_missing(tmp_path):
    assert doctor.check_headers("9.9.9", str(tmp_path), kernel_source="").status == FAIL
    tree = tmp_path / "9.9.9" / "build" / "include" / "linux"
    tree.mkdir(parents=True)
    (tree / "kconfig.h").write_text("")
    check = doctor.check_headers("9.9.9", str(tmp_path), kernel_source="")
    assert check.status == OK and "9.9.9/build" in check.detail


def test_bcc_kernel_source_is_the_tree_bcc_uses(tmp_path):
    merged = tmp_path / "merged"
    check = doctor.check_headers("9.9.9", str(tmp_path), kernel_source=str(merged))
    assert check.status == FAIL and "BCC_KERNEL_SOURCE" in check.detail
    (merged / "include" / "linux").mkdir(parents=True)
    (merged / "include" / "linux" / "kconfig.h").write_text("")
    check = doctor.check_headers("9.9.9", str(tmp_path), kernel_source=str(merged))
    assert check.status == OK and str(merged) in check.detail


def test_missing_btf_is_a_warning_with_the_fix(tmp_path):
    check = doctor.check_btf(str(tmp_path / "vmlinux"))
    assert check.status == WARN and "CONFIG_DEBUG_INFO_BTF" in check.fix
    assert "tracepoint fields only" in check.detail


def test_unreachable_docker_is_a_warning_not_a_failure(tmp_path):
    check = doctor.check_docker(f"unix://{tmp_path}/no.sock")
    assert check.status == WARN and "host:<comm>" in check.fix


def test_kernel_version_against_the_real_floor():
    old = doctor.check_kernel("5.4.0-150-generic")
    assert old.status == WARN and "older than Linux 5.8" in old.detail and "Linux 5.8" in old.fix
    middle = doctor.check_kernel("5.15.0")
    assert middle.status == OK and "before Linux 6.3 bytes are counted with kprobes" in middle.detail
    assert doctor.check_kernel("6.18.0").status == OK
    assert doctor.check_kernel("unknown").status == WARN
    assert "4.16" not in doctor.NEEDS and "Linux 5.8+" in doctor.NEEDS and "Linux 6.3+" in doctor.NEEDS


class FakeTable:
    def __init__(self, refuse=None):
        self.refuse = refuse

    def open_ring_buffer(self, callback):
        if self.refuse:
            raise Exception(self.refuse)

    def items_lookup_batch(self):
        if self.refuse:
            raise Exception(self.refuse)
        return iter([])


class FakeBPF:
    def __init__(self, refuse_ring=None, refuse_batch=None):
        self.tables = {b"events": FakeTable(refuse_ring), b"flows": FakeTable(refuse_batch)}
        self.cleaned = False

    def __getitem__(self, name):
        return self.tables[name]

    def ring_buffer_consume(self):
        pass

    def cleanup(self):
        self.cleaned = True


TRACEPOINT_HOOKS = {"sock:inet_sock_set_state": "tracepoint+raw_tracepoint", "sock:sock_send_length": "raw_tracepoint",
                    **{name: "tail_call" for name in loader.L7_PARSERS}}
KPROBE = Check("kprobes", WARN, "refused", "not needed here")


def by_name(checks):
    return {c.name: c for c in checks}


def test_probes_report_each_hook_as_the_agent_loads_it_and_detach():
    b = FakeBPF()
    info = loader.ProbeInfo(hooks=dict(TRACEPOINT_HOOKS), btf=True, l7=True)
    checks = by_name(doctor.check_probes(lambda: (b, info), lambda: KPROBE))
    assert checks["hook sock:sock_send_length"].detail == "raw_tracepoint"
    assert checks["hook sock:inet_sock_set_state"].detail == "tracepoint+raw_tracepoint"
    assert checks["BPF ring buffer"].status == OK and checks["batch map reads"].status == OK
    assert checks["request parsing"].status == OK
    assert checks["kprobes"] is KPROBE  # the fallback path is tried only where the load did not use it
    assert b.cleaned


def test_kprobe_load_skips_the_trivial_kprobe_and_says_why_requests_are_off():
    info = loader.ProbeInfo(hooks={"tcp_sendmsg": "kprobe", "tcp_recvmsg": "kprobe"}, btf=True)
    checks = by_name(doctor.check_probes(lambda: (FakeBPF(), info), lambda: pytest.fail("kprobes tried twice")))
    assert checks["hook tcp_sendmsg"].detail == "kprobe"
    assert checks["request parsing"].status == WARN and "Linux 6.3" in checks["request parsing"].fix


def test_refused_ring_buffer_and_batch_reads_fail_with_the_floor():
    b = FakeBPF(refuse_ring="Invalid argument", refuse_batch="Invalid argument")
    checks = by_name(doctor.check_probes(lambda: (b, loader.ProbeInfo(hooks=dict(TRACEPOINT_HOOKS), l7=True)),
                                         lambda: KPROBE))
    assert checks["BPF ring buffer"].status == FAIL and "Linux 5.8" in checks["BPF ring buffer"].fix
    assert checks["batch map reads"].status == FAIL and "5.6" in checks["batch map reads"].fix
    assert b.cleaned and doctor.exit_code(list(checks.values())) == 1


def test_probes_that_do_not_load_fail_with_the_reason_and_the_floor():
    def load():
        raise loader.ProbeError("BCC could not compile or load the probes (map create failed)")

    [check] = doctor.check_probes(load, lambda: KPROBE)
    assert check.status == FAIL and "map create failed" in check.detail
    assert "Linux 5.8+" in check.fix and "Linux 6.3+" in check.fix


def test_a_parser_the_verifier_refused_is_named():
    hooks = {h: m for h, m in TRACEPOINT_HOOKS.items() if h != "l7_parse_redis"}
    check = doctor.check_requests(loader.ProbeInfo(hooks=hooks, btf=True, l7=True))
    assert check.status == WARN and "l7_parse_redis" in check.detail


CTR_VERSION = """Client:
  Version:  1.6.20~ds1
  Revision: 1.6.20~ds1-1+deb12u3
  Go version: go1.19.8

Server:
  Version:  1.7.24
  Revision: 88bf19b2105c8b17560993bee28a01ddc2f97182
  UUID: 0d4f8c55-8e1f-4b5c-9b3e-6a2f1e0c7d11
"""


@pytest.fixture
def fake_ctr(tmp_path):
    """A `ctr` that prints CTR_VERSION when the socket it is given exists, else fails as ctr does."""
    path = tmp_path / "ctr"
    (tmp_path / "version.txt").write_text(CTR_VERSION)
    path.write_text(f'#!/bin/sh\n[ -S "$2" ] || {{ echo "ctr: failed to dial \\"$2\\"" >&2; exit 1; }}\n'
                    f'cat {tmp_path}/version.txt\n')
    path.chmod(0o755)
    return str(path)


def test_containerd_sockets_are_checked_one_line_each(tmp_path, fake_ctr):
    answering, silent = str(tmp_path / "answering.sock"), str(tmp_path / "silent.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(answering)
        open(silent, "w").close()  # a path that exists but is no socket
        checks = doctor.check_containerd([answering, silent, str(tmp_path / "absent.sock")], fake_ctr)
    assert [(c.status, c.detail) for c in checks] == [
        (OK, f"1.7.24 at {answering}, Kubernetes pods named by workload"),
        (WARN, f'{silent} not answering (ctr version: ctr: failed to dial "{silent}")')]


def test_a_containerd_socket_without_ctr_is_a_warning_with_the_fix(tmp_path):
    found = str(tmp_path / "containerd.sock")
    open(found, "w").close()
    [check] = doctor.check_containerd([found], str(tmp_path / "no-ctr"))
    assert check.status == WARN and "containerd package" in check.fix
    assert doctor.check_containerd([str(tmp_path / "absent.sock")], str(tmp_path / "no-ctr")) == []
