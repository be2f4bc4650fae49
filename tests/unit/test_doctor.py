"""doctor's reporting and its checks that need no root."""
from tracer import doctor
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
    assert doctor.check_headers("9.9.9", str(tmp_path)).status == FAIL
    tree = tmp_path / "9.9.9" / "build" / "include" / "linux"
    tree.mkdir(parents=True)
    (tree / "kconfig.h").write_text("")
    check = doctor.check_headers("9.9.9", str(tmp_path))
    assert check.status == OK and "9.9.9/build" in check.detail


def test_missing_btf_is_a_warning_with_the_fix(tmp_path):
    check = doctor.check_btf(str(tmp_path / "vmlinux"))
    assert check.status == WARN and "CONFIG_DEBUG_INFO_BTF" in check.fix
    assert "tracepoint fields only" in check.detail


def test_unreachable_docker_is_a_warning_not_a_failure(tmp_path):
    check = doctor.check_docker(f"unix://{tmp_path}/no.sock")
    assert check.status == WARN and "host:<comm>" in check.fix
