"""Uprobes on a library file of the test's own (a copy of libssl, so no other tool's uprobes sit on it):
BCC's perf-event uprobes carry no stray reference counter once loader.attach_tls's fallback has given BCC
its missing argument, and a uprobe-multi link shares the functions with them."""
import os
import shutil
import ssl  # noqa: F401  maps the system's libssl into this process, to be copied

import pytest

from tracer.capture import loader, uprobe_links

pytestmark = pytest.mark.kernel
PROGRAM = b"int on_call(struct pt_regs *ctx) { return 0; }\nint on_link(struct pt_regs *ctx) { return 0; }"


@pytest.fixture
def libssl_copy(tmp_path):
    system = next(line.split()[-1] for line in open("/proc/self/maps") if "/libssl.so" in line)
    copy = tmp_path / os.path.basename(system)
    shutil.copy(system, copy)
    return str(copy)


def test_a_bcc_uprobe_and_a_link_share_a_function(libssl_copy):
    """The kernel refuses a second uprobe at one offset with another reference counter: before the fix BCC's
    uprobe carried the register's leftover (0x6 here) and the link below failed with EINVAL."""
    bcc = loader._bcc()
    with loader.btf.KernelBTF() as kernel_btf:
        attach_type = loader._uprobe_multi_attach_type(kernel_btf)
    assert attach_type, "this kernel (6.18) has uprobe-multi links"
    b = bcc.BPF(text=PROGRAM)
    try:
        uprobe_links.zero_bcc_reference_counter(bcc.libbcc.lib)
        b.attach_uprobe(name=libssl_copy.encode(), sym=b"SSL_write", fn_name=b"on_call")
        offset = uprobe_links.symbol_offset(bcc.BPF, libssl_copy, "SSL_write")
        link = uprobe_links.attach(b.load_func(b"on_link", bcc.BPF.KPROBE, attach_type=attach_type).fd,
                                   attach_type, libssl_copy, [offset], on_return=False)
        os.close(link)
    finally:
        b.cleanup()
