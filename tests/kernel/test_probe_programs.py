"""The probe programs themselves: the kprobe fallback passes the verifier here, and the Python mirrors
of the C structs match what the compiler laid out."""
import contextlib
import ctypes as ct
import os
import socket
from collections.abc import Iterator

import pytest

from tracer.capture import btf_tracepoints, flows, loader, program_cache
from tracer.capture.kernel import cgroup_layout
from tracer.capture.probe_constants import DNS_SAMPLE_BYTES
from tracer.capture.socket_bytes import SocketBytesHead, SocketSlotHead


@pytest.mark.kernel
def test_kprobe_bytes_programs_pass_the_verifier(collector):
    bcc = loader._bcc()
    info = loader.ProbeInfo()
    b = loader.compile_program(loader.program_text(use_kprobes=True),
                               loader.build_cflags(loader.CaptureConfig(), info, cgroup_layout()))
    try:
        for _, entry, ret in loader.KPROBE_BYTES:
            for name in (entry, ret):
                assert b.load_func(name.encode(), bcc.BPF.KPROBE).fd > 0
    finally:
        b.cleanup()


def assert_same_layout(compiled, mirror) -> None:
    assert ct.sizeof(compiled) == ct.sizeof(mirror)
    for name, _ in mirror._fields_:
        assert getattr(compiled, name).offset == getattr(mirror, name).offset, name


@pytest.mark.kernel
@pytest.mark.parametrize("table, side, mirror", [
    ("flows", "Key", flows.FlowKeyStruct),
    ("flows", "Leaf", flows.FlowStatsStruct),
    ("requests", "Key", flows.RequestKeyStruct),
    ("request_slots", "Leaf", flows.RequestSlotStruct),
])
def test_ctypes_mirrors_match_the_compiled_layout(collector, table, side, mirror):
    assert_same_layout(getattr(collector._bpf[table.encode()], side), mirror)


@pytest.mark.kernel
def test_socket_byte_counts_mirror_matches_the_compiled_layout(collector):
    """OpenSockets reads a slot's owner, and its socket's flow key and byte counts, from the head of its
    `socket_slots` entry."""
    compiled = collector._bpf[b"socket_slots"].Leaf
    assert compiled.owner.offset == SocketSlotHead.owner.offset
    assert compiled.info.offset == SocketSlotHead.info.offset
    info = dict(compiled._fields_)["info"]
    for name, _ in SocketBytesHead._fields_:
        assert getattr(info, name).offset == getattr(SocketBytesHead, name).offset, name
    assert ct.sizeof(compiled) >= ct.sizeof(SocketSlotHead)


@pytest.mark.kernel
def test_ring_buffer_event_mirrors_match_the_compiled_layout(collector):
    """A ring buffer has no key or leaf type for BCC to expose, so the agent's own program text is compiled with
    the same flags plus one array per event struct, whose leaf is that struct as the compiler laid it out."""
    info = loader.ProbeInfo()
    capture = loader.CaptureConfig()
    exposed = ("\nBPF_ARRAY(layout_event, struct event, 1);\nBPF_ARRAY(layout_sample, struct sample_event, 1);\n"
               "BPF_ARRAY(layout_dns, struct dns_event, 1);\nBPF_ARRAY(layout_piece, struct h2_piece_event, 1);\n")
    b = loader.compile_program(loader.program_text(use_kprobes=False, l7=True) + exposed,
                               loader.build_cflags(capture, info, cgroup_layout()))
    try:
        assert_same_layout(b[b"layout_event"].Leaf, flows.EventStruct)
        sample = b[b"layout_sample"].Leaf
        head = flows.SampleHeadStruct
        for name, _ in head._fields_:
            assert getattr(sample, name).offset == getattr(head, name).offset, name
        # decode_sample finds the window from the event's size: the two windows follow the head, no padding
        assert ct.sizeof(sample) == ct.sizeof(head) + 2 * capture.sample_bytes
        assert sample.request.offset == ct.sizeof(head)
        dns = b[b"layout_dns"].Leaf
        for name, _ in flows.DnsHeadStruct._fields_:
            assert getattr(dns, name).offset == getattr(flows.DnsHeadStruct, name).offset, name
        # decode_dns takes the message from right after the head
        assert (dns.data.offset, ct.sizeof(dns)) == (ct.sizeof(flows.DnsHeadStruct),
                                                     ct.sizeof(flows.DnsHeadStruct) + DNS_SAMPLE_BYTES)
        piece = b[b"layout_piece"].Leaf
        for name, _ in flows.HeaderPieceHeadStruct._fields_:
            assert getattr(piece, name).offset == getattr(flows.HeaderPieceHeadStruct, name).offset, name
        assert piece.data.offset == ct.sizeof(flows.HeaderPieceHeadStruct)   # decode_header_piece's data follows
    finally:
        b.cleanup()


@pytest.mark.kernel
def test_with_btf_the_sock_length_hooks_are_btf_typed_raw_tracepoints(collector):
    """The agent's own load, on this kernel with BTF, which takes BTF-typed raw tracepoints: the sock length hooks
    and the parsers they tail-call are tracing programs (probes/bytes_tracepoint.c, SOCK_LENGTH_TP_BTF), no classic
    program is on those hooks (the kernel would fill an event record on every socket call), and the hook kind is
    reported."""
    b = collector._bpf
    assert {b"sock_send_length", b"sock_recv_length"} <= set(b.raw_tracepoint_fds)
    assert not {b"sock:sock_send_length", b"sock:sock_recv_length"} & set(b.tracepoint_fds)
    assert collector.probe_info.hooks["sock:sock_send_length"] == "tp_btf"
    assert collector.probe_info.hooks["sock:sock_recv_length"] == "tp_btf"
    tracing = [f"{loader.TP_BTF_PREFIX}sock_send_length", f"{loader.TP_BTF_PREFIX}sock_recv_length", *loader.L7_PARSERS]
    assert {name: program_cache.program_type(b.funcs[name.encode()].fd) for name in tracing} == \
        {name: btf_tracepoints.BPF_PROG_TYPE_TRACING for name in tracing}


REGISTERS_FOUND = """
BPF_ARRAY(registers_found, u64, 2);   /* on the stack's top (0: not found there), then bpf_task_pt_regs' */

PROGRAM int tp_btf__sock_send_length(u64 *ctx)
{
    if (bpf_get_current_pid_tgid() >> 32 != TEST_PID)
        return 0;
    u32 on_stack = 0, helper = 1;
    u64 *found = registers_found.lookup(&on_stack);
    if (found)
        *found = (u64)syscall_regs_on_stack(pointer_number(ctx));
    found = registers_found.lookup(&helper);
    if (found)
        *found = (u64)bpf_task_pt_regs(bpf_get_current_task_btf());
    return 0;
}
"""


@contextlib.contextmanager
def send_hook_program(text: str, needs: str) -> Iterator:
    """probes/common.h and l7_payload.c with a test's program `text` for this process's sends (TEST_PID), attached to
    sock_send_length as a BTF-typed raw tracepoint while the block runs: yields its module. needs: a define of the
    loader's that the test's path takes, which this kernel must get."""
    info = loader.ProbeInfo(l7=True)
    cflags = loader.build_cflags(loader.CaptureConfig(), info, cgroup_layout()) + [f"-DTEST_PID={os.getpid()}"]
    assert any(flag.startswith(f"-D{needs}=") for flag in cflags)
    b = loader.compile_program(loader.source_text(("common.h", "l7_payload.c")) + text, cflags, attach=False)
    try:
        program = loader._load_tracing(b, f"{loader.TP_BTF_PREFIX}sock_send_length",
                                       info.sock_length_btf["sock_send_length"])
        link = btf_tracepoints.attach(program.fd)
        try:
            yield b
        finally:
            os.close(link)
    finally:
        b.cleanup()


@pytest.mark.kernel
def test_the_syscall_registers_are_found_on_the_kernel_stack_where_the_helper_finds_them(collector):
    """The parsing end finds the syscall's buffer in its registers at the top of the task's kernel stack, the top
    found from the hook's context, through the bpf_rdonly_cast kfunc, without bpf_task_pt_regs' call or the task's
    (probes/l7_payload.c, syscall_regs_on_stack): on this kernel they are found there, and where the helper finds
    them."""
    with send_hook_program(REGISTERS_FOUND, "BTF_FUNC_RDONLY_CAST") as b:
        left, right = socket.socketpair()
        with left, right:
            left.send(b"x")
        found = b[b"registers_found"]
        on_stack, helper = (found[ct.c_int(i)].value for i in range(2))
    assert helper != 0
    assert on_stack == helper


WRITEV_IOVECS_FOUND = """
BPF_ARRAY(writev_found, u64, 18);   /* the distance learned, whether the iterator checks out there, then two payloads */

static __always_inline void record_payload(u32 at, const struct payload *p)
{
#pragma unroll
    for (u32 i = 0; i < PAYLOAD_SEGMENTS; i++) {
        u32 base = at + 2 * i, len = base + 1;
        writev_found.update(&base, (u64 *)&p->base[i]);
        writev_found.update(&len, (u64 *)&p->len[i]);
    }
}

PROGRAM int tp_btf__sock_send_length(u64 *ctx)
{
    if (bpf_get_current_pid_tgid() >> 32 != TEST_PID)
        return 0;
    u64 context = pointer_number(ctx);
    const struct syscall_regs *r = syscall_regs(context);
    if (r->orig_ax != SYS_WRITEV)
        return 0;
    u32 total = ctx[1], zero = 0, one = 1;
    struct payload copied = {}, kernel = {};
    payload_of_vectored_io(&copied, r->si, r->dx, total, context, 1);   /* copied, and the distance learned */
    struct writev_frame *f = writev_frames.lookup(&zero);
    if (!f)
        return 0;
    f->next_scan_ns = ~0ULL;   /* no second search: the next call reads the kernel's copy, or copies */
    u64 found = f->distance && writev_iter(context + f->distance, r->dx, total) != 0;
    payload_of_vectored_io(&kernel, r->si, r->dx, total, context, 1);
    writev_found.update(&zero, &f->distance);
    writev_found.update(&one, &found);
    record_payload(2, &kernel);
    record_payload(10, &copied);
    return 0;
}
"""


@pytest.mark.kernel
@pytest.mark.parametrize("buffers", [[b"HTTP/1.1 200 OK\r\n\r\n"], [b"HTTP/1.1 503 No\r\n", b"\r\n", b"body"],
                                     [b"a", b"bb", b"ccc", b"dddd", b"eeeee"]])
def test_writev_iovecs_are_read_from_the_kernels_copy_where_the_user_copy_finds_them(collector, buffers):
    """A writev's iovecs come from vfs_writev's copy on the kernel stack, at a distance from the send hook's context
    learned from a writev whose iovecs were copied from user memory (probes/l7_payload.c, payload_of_vectored_io):
    on this kernel the distance is found, the iterator there checks out, and it gives the payload the copy gives,
    each iovec where the test's buffers are (four of five: the payload keeps PAYLOAD_SEGMENTS)."""
    kept = [ct.create_string_buffer(data, len(data)) for data in buffers]
    with send_hook_program(WRITEV_IOVECS_FOUND, "OFF_ITER_IOV") as b:
        with socket.create_server(("127.0.0.1", 0)) as server, \
                socket.create_connection(server.getsockname()) as client:
            os.writev(client.fileno(), [memoryview(buffer).cast("B")[:len(data)] for buffer, data in zip(kept, buffers)])
        found = [b[b"writev_found"][ct.c_int(i)].value for i in range(18)]
    distance, checks_out, kernel, copied = found[0], found[1], found[2:10], found[10:18]
    assert 0 < distance < 1024 and distance % 8 == 0
    assert checks_out == 1
    assert kernel == copied
    segments = [(ct.addressof(buffer), len(data)) for buffer, data in zip(kept, buffers)][:4]
    assert [tuple(kernel[2 * i:2 * i + 2]) for i in range(len(segments))] == segments


SENDS_FOUND = """
BPF_ARRAY(sends_found, u64, 1 + 4 * 8);   /* sends seen, then per send: its payload's first range, its first bytes */

PROGRAM int tp_btf__sock_send_length(u64 *ctx)
{
    int total = ctx[1];
    u32 zero = 0;
    u64 *seen = sends_found.lookup(&zero);
    if (bpf_get_current_pid_tgid() >> 32 != TEST_PID || total <= 0 || !seen || *seen >= 8)
        return 0;
    struct payload p = {};
    payload_of_syscall(&p, total, ctx, DIR_SEND, bpf_ktime_get_ns(), (const void *)ctx[0]);
    u64 first[2] = {};
    payload_read(&p, 0, (u8 *)first, sizeof(first));
    u32 at = 1 + 4 * *seen, len = at + 1, word0 = at + 2, word1 = at + 3;
    sends_found.update(&at, &p.base[0]);
    sends_found.update(&len, &p.len[0]);
    sends_found.update(&word0, &first[0]);
    sends_found.update(&word1, &first[1]);
    *seen += 1;
    return 0;
}
"""
SO_ZEROCOPY, MSG_ZEROCOPY = 60, 0x4000000
KERNEL_HALF = 1 << 63   # x86_64: the kernel's addresses have the top bit set


@pytest.mark.kernel
def test_a_sends_bytes_are_read_from_the_kernels_copy_once_its_place_is_learned(collector):
    """TCP copies a send's bytes into the task's page frag, and payload_of_syscall (probes/l7_payload.c) reads them
    there through the direct map's base, learned from a slab and kept once the first send's bytes read through it
    match their user copy. On this kernel: the first send is read from user memory and teaches the base; a write,
    a writev of three iovecs (one range: the kernel's copy is contiguous), a send and a sendmsg after it are read
    from the kernel's copy, each whole; a MSG_ZEROCOPY send, whose pages the kernel takes over, from user memory.
    Every payload reads the bytes sent."""
    sends = [b"GET /learns HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", [b"HTTP/1.1 503", b" No\r\n", b"\r\n"],
             b"HTTP/1.1 404 Not Found\r\n\r\n", b"+OK sent by sendmsg\r\n", b"zerocopy: user pages, 1"]
    with send_hook_program(SENDS_FOUND, "OFF_TASK_FRAG") as b:
        with socket.create_server(("127.0.0.1", 0)) as server, \
                socket.create_connection(server.getsockname()) as client:
            client.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
            client.send(sends[0])
            os.write(client.fileno(), sends[1])
            os.writev(client.fileno(), sends[2])
            client.send(sends[3])
            client.sendmsg([sends[4]])
            client.send(sends[5], MSG_ZEROCOPY)
        found = [b[b"sends_found"][ct.c_int(i)].value for i in range(1 + 4 * 8)]
        base = b[b"sent_pages"][ct.c_int(0)].base
    assert found[0] == len(sends)
    records = [found[1 + 4 * i:5 + 4 * i] for i in range(len(sends))]
    assert base != 0
    assert [start >= KERNEL_HALF for start, _, _, _ in records] == [False, True, True, True, True, False]
    for (_, length, word0, word1), sent in zip(records, sends):
        data = b"".join(sent) if isinstance(sent, list) else sent
        assert length == len(data)
        assert word0.to_bytes(8, "little") + word1.to_bytes(8, "little") == data[:16]


@pytest.mark.kernel
def test_where_btf_typed_raw_tracepoints_are_refused_the_hooks_are_raw_tracepoints(collector, monkeypatch):
    """A kernel that refuses tp_btf programs (the refusal is this test's): the sock length hooks and their parsers
    are raw tracepoints, reported so, and bytes count exactly."""
    import os
    import socket

    from tests.helpers.tcp_server import Server, exchange

    monkeypatch.setattr(btf_tracepoints, "refusal", lambda attach_btf_id: "refused by the test")
    b, info = loader.load(loader.CaptureConfig(program_cache=""))
    try:
        assert info.sock_length_btf == {} and "-DSOCK_LENGTH_TP_BTF=1" not in info.cflags
        assert (info.hooks["sock:sock_send_length"], info.hooks["sock:sock_recv_length"]) == ("raw_tracepoint",) * 2
        assert {b"sock_send_length", b"sock_recv_length"} <= set(b.raw_tracepoint_fds)
        assert {program_cache.program_type(b.funcs[name.encode()].fd) for name in loader.L7_PARSERS} == \
            {loader._bcc().BPF.RAW_TRACEPOINT}
        with Server(exchange(1000, 10)) as server:
            with socket.create_connection(("127.0.0.1", server.port)) as c:
                c.sendall(b"x" * 1000)
                c.recv(10)
        mine = {k.server_port: v for k, v in b[b"flows"].items() if k.tgid == os.getpid() and k.role == 1}
        assert (mine[server.port].bytes_sent, mine[server.port].bytes_received, mine[server.port].opens) == (1000, 10, 1)
    finally:
        loader.detach_all(b, [])


@pytest.mark.kernel
def test_without_btf_the_probes_run_on_tracepoint_fields(collector, tmp_path):
    """No BTF: bytes and opens still exact, from the sock length tracepoints as classic tracepoints (the socket's
    protocol is in their record, not at a known offset), connect failure reasons unknown ('other'), no request
    parsing."""
    import os
    import socket

    from tests.helpers.tcp_server import Server, exchange

    info = loader.ProbeInfo()
    cflags = loader.build_cflags(loader.CaptureConfig(), info, cgroup_layout(), btf_path=str(tmp_path / "vmlinux"))
    assert info.btf is False
    b = loader.compile_program(loader.program_text(use_kprobes=False, l7=False), cflags)
    try:
        assert {b"sock:sock_send_length", b"sock:sock_recv_length"} <= set(b.tracepoint_fds)
        assert not {b"sock_send_length", b"sock_recv_length"} & set(b.raw_tracepoint_fds)
        with Server(exchange(1000, 10)) as server:
            with socket.create_connection(("127.0.0.1", server.port)) as c:
                c.sendall(b"x" * 1000)
                c.recv(10)
            closed = socket.socket()
            closed.bind(("127.0.0.1", 0))
            refused_port = closed.getsockname()[1]
            closed.close()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", refused_port))
        mine = {}
        for k, v in b[b"flows"].items():
            if k.tgid == os.getpid() and k.role == 1:
                mine[k.server_port] = v
        assert (mine[server.port].bytes_sent, mine[server.port].opens) == (1000, 1)
        assert (mine[refused_port].connect_other, mine[refused_port].connect_refused) == (1, 0)
    finally:
        b.cleanup()
