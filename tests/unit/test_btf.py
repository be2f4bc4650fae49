"""The BTF reader against this kernel's own BTF file (world-readable: no root needed)."""
import os
import re

import pytest

from tests.conftest import skip_or_fail

from tracer.capture import btf, offsets



@pytest.fixture(scope="module")
def kbtf():
    if not os.path.exists(btf.VMLINUX_BTF):
        skip_or_fail("kernel without BTF")
    with btf.KernelBTF() as b:
        yield b


def test_fixed_sock_common_offsets_used_without_btf_match_this_kernel(kbtf):
    assert btf.offset_defines(kbtf, offsets.SOCK_COMMON_OFFSETS) == offsets.SOCK_COMMON_FIXED


def test_members_inside_anonymous_unions_are_found(kbtf):
    # skc_daddr sits in an anonymous struct inside an anonymous union of sock_common
    assert kbtf.offset("sock_common", "skc_daddr") == 0
    assert kbtf.offset("sock", "__sk_common.skc_v6_daddr") == 56


def test_offsets_differ_from_old_headers_where_the_kernel_moved_fields(kbtf):
    # Debian's 6.1 headers put sk_protocol at 516; the offset must come from this kernel
    assert kbtf.offset("sock", "sk_protocol") > kbtf.offset("sock", "__sk_common.skc_family")
    assert kbtf.offset("sock", "sk_err") % 4 == 0


def test_enum_value(kbtf):
    assert kbtf.enum_value("cgroup_subsys_id", "memory_cgrp_id") >= 0


def test_missing_member_is_named(kbtf):
    with pytest.raises(btf.BTFError, match="struct sock has no member no_such_field"):
        kbtf.offset("sock", "no_such_field")


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(btf.BTFError, match="CONFIG_DEBUG_INFO_BTF"):
        btf.KernelBTF(str(tmp_path / "vmlinux"))


def test_all_offsets_the_probes_need_exist(kbtf):
    for table in (offsets.SOCK_COMMON_OFFSETS, offsets.SOCK_OFFSETS, offsets.NET_OFFSETS, offsets.TASK_OFFSETS,
                  offsets.ITER_OFFSETS, offsets.SENT_PAGES_OFFSETS, offsets.CGROUP_V1_OFFSETS):
        found = btf.offset_defines(kbtf, table)
        assert set(found) == set(table)


def test_parameter_positions(kbtf):
    assert kbtf.parameter_index("tcp_recvmsg", "sk") == 0
    with pytest.raises(btf.BTFError, match="function tcp_recvmsg has no parameter no_such"):
        kbtf.parameter_index("tcp_recvmsg", "no_such")


def test_the_kprobe_byte_path_reads_tcp_recvmsg_flags_where_this_kernel_has_them(kbtf):
    """The kprobe path skips MSG_PEEK reads, as the tracepoint path does, by reading tcp_recvmsg's flags at the
    position BTF gives: probes/bytes_kprobe.c must know that position, or it would count peeks."""
    from tracer.capture import loader

    with open(os.path.join(loader.PROBES_DIR, "bytes_kprobe.c")) as f:
        known = {int(n) for n in re.findall(r"TCP_RECVMSG_FLAGS_ARG == (\d+)", f.read())}
    position = loader._recvmsg_flags_define(kbtf)["TCP_RECVMSG_FLAGS_ARG"]
    assert position == kbtf.parameter_index("tcp_recvmsg", "flags")
    assert position in known, f"tcp_recvmsg's flags are argument {position}; bytes_kprobe.c reads {sorted(known)}"


def test_a_tracepoints_prototype_is_found_by_its_typedef(kbtf):
    assert kbtf.typedef_id("btf_trace_sock_send_length") > 0
    with pytest.raises(btf.BTFError, match="kernel BTF has no typedef btf_trace_no_such"):
        kbtf.typedef_id("btf_trace_no_such")


def test_where_the_kernel_refuses_btf_typed_raw_tracepoints_the_sock_length_hooks_stay_raw(kbtf, monkeypatch, caplog):
    """The choice the loader makes on such a kernel (the refusal is this test's: this one takes them), and the
    line that says so."""
    from tracer.capture import btf_tracepoints, loader

    asked = []
    monkeypatch.setattr(btf_tracepoints, "refusal", lambda attach_btf_id: asked.append(attach_btf_id) or "Invalid argument")
    with caplog.at_level("INFO", logger="tracer.capture.loader"):
        assert loader._sock_length_btf(kbtf) == {}
    assert asked == [kbtf.typedef_id("btf_trace_sock_send_length")]
    assert "refuses BTF-typed raw tracepoints (Invalid argument): the sock length hooks are raw tracepoints" in caplog.text


def test_writevs_iterator_is_described_where_its_buffer_and_its_iovecs_share_a_place(kbtf):
    """payload_of_vectored_io (probes/l7_payload.c) reads a single iovec's buffer and an iovec array's address at
    one offset of the iov_iter: they are members of one union. The types' values come from this kernel's enum;
    where its iov_iter differs, the iovecs are copied from user memory instead."""
    from tracer.capture import loader

    found = loader._writev_iter_defines(kbtf)
    assert found["OFF_ITER_UBUF"] == found["OFF_ITER_IOV"]
    assert found["BTF_IOV_ITER"] == kbtf.struct_id("iov_iter")
    assert (found["ITER_UBUF"], found["ITER_IOVEC"]) == (kbtf.enum_value("iter_type", "ITER_UBUF"),
                                                          kbtf.enum_value("iter_type", "ITER_IOVEC"))

    class Missing:
        def offset(self, struct, path):
            raise btf.BTFError(f"kernel BTF: struct {struct} has no member {path}")

        def enum_value(self, enum, name):
            return 0

        def struct_id(self, name):
            return 1

    assert loader._writev_iter_defines(Missing()) == {}


def test_a_sends_place_in_the_kernels_copy_is_described_where_a_pages_address_is_linear_in_its_struct(kbtf):
    """payload_of_syscall (probes/l7_payload.c) finds a send's bytes in the task's page frag, a page's address from
    its struct page's times 4096 / sizeof(struct page): the sources get the offsets and that size where it divides a
    page (64 bytes here), else nothing, and sends are read from user memory."""
    from tracer.capture import loader

    found = loader._sent_pages_defines(kbtf)
    assert set(found) == set(offsets.SENT_PAGES_OFFSETS) | {"STRUCT_PAGE_SIZE"}
    assert found["STRUCT_PAGE_SIZE"] == kbtf.struct_size("page") == 64

    class OddPage:
        def offset(self, struct, path):
            return 8

        def struct_size(self, name):
            return 72

    class Missing(OddPage):
        def offset(self, struct, path):
            raise btf.BTFError(f"kernel BTF: struct {struct} has no member {path}")

    assert loader._sent_pages_defines(OddPage()) == {}
    assert loader._sent_pages_defines(Missing()) == {}
