"""kfunc calls made loadable (tracer/capture/kfuncs.py): the probes call a kfunc as the helper numbered its BTF id,
and those calls, only those, become the kfunc's; the ids come from the kernel's BTF."""
import os
import struct

import pytest

from tests.conftest import skip_or_fail

from tracer.capture import btf, kfuncs

INSN = struct.Struct("<BBhi")   # opcode, registers (source in the high nibble), offset, immediate


def insns(*fields: tuple[int, int, int, int]) -> bytes:
    return b"".join(INSN.pack(*f) for f in fields)


def test_calls_numbered_as_no_helper_become_kfunc_calls_and_nothing_else_changes():
    rdonly_cast = 65475
    program = insns(
        (0x85, 0x00, 0, 1),                    # call bpf_map_lookup_elem: a helper, stays
        (0xb7, 0x02, 0, 162),                  # r2 = 162 (a struct's id as an argument)
        (0x85, 0x00, 0, rdonly_cast),          # the kfunc's placeholder
        (0xb7, 0x01, 0, 0x85),                 # an immediate that holds the call opcode's byte
        (0x18, 0x11, 0, 0x85), (0, 0, 0, 0),   # a map's descriptor: a 16-byte load of an immediate
        (0x85, 0x10, 0, kfuncs.FIRST_ID),      # a call to a program's own function (source register 1): stays
        (0x95, 0x00, 0, 0),                    # exit
    )
    resolved = [INSN.unpack_from(kfuncs.resolve(program), i) for i in range(0, len(program), INSN.size)]
    original = [INSN.unpack_from(program, i) for i in range(0, len(program), INSN.size)]
    assert resolved[2] == (0x85, kfuncs.PSEUDO_KFUNC_CALL << 4, 0, rdonly_cast)
    assert resolved[:2] + resolved[3:] == original[:2] + original[3:]


class FakeBTF:
    def __init__(self, functions: dict[str, int], structs: dict[str, int]):
        self.functions, self.structs = functions, structs

    def function_id(self, name: str) -> int:
        if name not in self.functions:
            raise btf.BTFError(f"kernel BTF has no function {name}")
        return self.functions[name]

    def struct_id(self, name: str) -> int:
        return self.structs[name]


STRUCTS = {"pt_regs": 162, "tcp_sock": 36742, "iovec": 851}


def test_defines_name_the_kfunc_and_the_structs_it_casts_to():
    assert kfuncs.defines(FakeBTF({"bpf_rdonly_cast": 65475}, STRUCTS)) == \
        {"BTF_FUNC_RDONLY_CAST": 65475, "BTF_PT_REGS": 162, "BTF_TCP_SOCK": 36742, "BTF_IOVEC": 851}


@pytest.mark.parametrize("functions", [{}, {"bpf_rdonly_cast": kfuncs.FIRST_ID - 1}])
def test_without_the_kfunc_or_with_an_id_a_helper_could_have_nothing_is_defined(functions):
    assert kfuncs.defines(FakeBTF(functions, STRUCTS)) == {}


def test_this_kernel_has_the_kfunc():
    if not os.path.exists(btf.VMLINUX_BTF):
        skip_or_fail("kernel without BTF")
    with btf.KernelBTF() as kbtf:
        assert set(kfuncs.defines(kbtf)) == set(kfuncs.KFUNCS) | set(kfuncs.STRUCTS)


def test_programs_that_bcc_loads_are_compiled_without_the_kfuncs():
    cflags = ["-I/probes", "-DBTF_FUNC_RDONLY_CAST=65475", "-DBTF_PT_REGS=162", "-DSOCK_LENGTH_TP_BTF=1"]
    assert kfuncs.without(cflags) == ["-I/probes", "-DBTF_PT_REGS=162", "-DSOCK_LENGTH_TP_BTF=1"]
