"""The program cache's pure logic: its key, the map descriptors found in and patched into instructions, the
entry's encoding, and which files it refuses (tracer/capture/program_cache.py)."""
import os
import struct

import pytest

from tracer.capture.program_cache import (CacheError, CachedProgram, ProgramCache, cache_key, compile_environment,
                                          decode, encode, map_references, patch)

INSN = struct.Struct("<BBhi")
EXIT = INSN.pack(0x95, 0, 0, 0)
MOV_R0_0 = INSN.pack(0xb7, 0, 0, 0)


def ld_map_fd(dst: int, fd: int) -> bytes:
    """ld_imm64 dst = map descriptor fd: two instructions, src_reg BPF_PSEUDO_MAP_FD (1)."""
    return INSN.pack(0x18, (1 << 4) | dst, 0, fd) + INSN.pack(0, 0, 0, 0)


def ld_imm64(dst: int, source: int, value: int) -> bytes:
    return INSN.pack(0x18, (source << 4) | dst, 0, value) + INSN.pack(0, 0, 0, 0)


# a map lookup's shape: r1 = flows, ..., r1 = sockets, r1 = flows again, exit
PROGRAM = MOV_R0_0 + ld_map_fd(1, 7) + MOV_R0_0 + ld_map_fd(1, 9) + ld_map_fd(2, 7) + EXIT
ENVIRONMENT = {"bcc": "0.26.0", "kernel": ["6.18.0", "#1 SMP"]}


def imm(insns: bytes, index: int) -> int:
    return INSN.unpack_from(insns, index * 8)[3]


def test_the_key_changes_with_each_input_and_only_with_them():
    key = cache_key("text", ["-DA=1"], ENVIRONMENT)
    assert key == cache_key("text", ["-DA=1"], dict(ENVIRONMENT))
    assert len({key, cache_key("text2", ["-DA=1"], ENVIRONMENT), cache_key("text", ["-DA=2"], ENVIRONMENT),
                cache_key("text", ["-DA=1"], {**ENVIRONMENT, "bcc": "0.27.0"}),
                cache_key("text", ["-DA=1"], {**ENVIRONMENT, "kernel": ["6.18.0", "#2 SMP"]})}) == 5


def test_the_environment_names_the_compiler_files_from_the_process_maps(tmp_path):
    llvm, bcc, notes = (tmp_path / "libLLVM-14.so.1", tmp_path / "libbcc.so.0.26.0", tmp_path / "libLLVM-notes.txt")
    for path in (llvm, bcc, notes):
        path.write_bytes(b"x")
    maps = (f"7f10-7f20 r-xp 00400000 fe:01 456 {llvm}\n7f18-7f19 r--p 00400000 fe:01 456 {llvm}\n"
            f"7f20-7f30 r-xp 00000000 fe:01 790 {bcc}\n7f30-7f40 r--p 00000000 fe:01 791 {notes}\n"
            "7ffd0-7ffd1 rw-p 00000000 00:00 0   [stack]\n")
    environment = compile_environment("0.26.0", maps)
    assert environment["compiler"] == [[str(path), 1, os.stat(path).st_mtime_ns] for path in (llvm, bcc)]
    assert environment["kernel"] == [os.uname().release, os.uname().version]


def test_map_references_name_each_descriptor_load():
    assert map_references(PROGRAM, {7: "flows", 9: "sockets"}) == {"flows": [1, 6], "sockets": [4]}


def test_a_plain_64_bit_constant_is_no_map():
    assert map_references(ld_imm64(1, 0, 7) + EXIT, {7: "flows"}) == {}


def test_a_descriptor_of_no_map_of_the_module_is_refused():
    with pytest.raises(CacheError, match="descriptor 8"):
        map_references(PROGRAM.replace(ld_map_fd(1, 9), ld_map_fd(1, 8)), {7: "flows", 9: "sockets"})


def test_a_load_the_kernel_resolves_otherwise_is_refused():
    with pytest.raises(CacheError, match="src_reg 2"):  # BPF_PSEUDO_MAP_VALUE
        map_references(ld_imm64(1, 2, 7) + EXIT, {7: "flows"})


def test_patching_puts_this_modules_descriptors_by_name_and_nothing_else():
    program = CachedProgram("p", 5, -1, PROGRAM, map_references(PROGRAM, {7: "flows", 9: "sockets"}))
    patched = patch(program, {"flows": 31, "sockets": 40, "unused": 3})
    assert [imm(patched, i) for i in (1, 4, 6)] == [31, 40, 31]
    changed = [i for i in range(len(PROGRAM) // 8) if patched[i * 8:i * 8 + 8] != PROGRAM[i * 8:i * 8 + 8]]
    assert changed == [1, 4, 6]


def test_patching_refuses_a_map_the_module_lacks_and_an_index_that_loads_no_map():
    program = CachedProgram("p", 5, -1, PROGRAM, {"flows": [1, 6], "sockets": [4]})
    with pytest.raises(CacheError, match="map sockets"):
        patch(program, {"flows": 31})
    with pytest.raises(CacheError, match="instruction 0"):
        patch(CachedProgram("p", 5, -1, PROGRAM, {"flows": [0]}), {"flows": 31})


def test_an_entry_decodes_to_what_was_encoded():
    programs = [CachedProgram("tracepoint__sock__sock_send_length", 5, -1, PROGRAM, {"flows": [1, 6]}),
                CachedProgram("tls_call_return", 2, 48, EXIT, {}),
                CachedProgram("tp_btf__sock_recv_length", 26, 23, EXIT, {}, attach_btf_id=4242)]
    assert decode("k", encode("k", programs)) == programs


@pytest.mark.parametrize("data, message", [
    (b"\x00garbage", "malformed entry"),
    (b'{"key": "other", "programs": []}', "another key"),
    (b'{"key": "k", "programs": []}', "no program"),
    (b'{"key": "k", "programs": [{"name": "p", "prog_type": 5, "attach_type": -1, "insns": "AAA", "maps": {}, '
     b'"attach_btf_id": 0}]}', "malformed entry"),
    (b'{"key": "k", "programs": [{"name": "p", "prog_type": 5, "attach_type": -1, "insns": "lQAAAAAAAAA=", '
     b'"maps": {"flows": [1]}, "attach_btf_id": 0}]}', "malformed program"),
    (b'{"key": "k", "programs": [{"name": "p", "prog_type": 26, "attach_type": 23, "insns": "lQAAAAAAAAA=", '
     b'"maps": {}, "attach_btf_id": "sock_send_length"}]}', "malformed program"),
    (b'{"key": "k", "programs": [{"name": "p", "prog_type": 5, "attach_type": -1, "insns": "lQAAAAAAAAA=", '
     b'"maps": {}}]}', "malformed entry"),
])
def test_a_corrupt_entry_is_refused(data, message):
    with pytest.raises(CacheError, match=message):
        decode("k", data)


def test_written_atomically_owner_only_and_the_latest_entries_of_each_module_kept(tmp_path):
    cache = ProgramCache(str(tmp_path / "cache"))
    programs = [CachedProgram("p", 5, -1, PROGRAM, {"flows": [1, 6]})]
    tls = cache.write("tls", "t", programs)
    written = []
    for age, key in enumerate("abcde"):
        written.append(cache.write("start", key, programs))
        os.utime(written[-1], ns=(age * 10**9, age * 10**9))  # a second apart, whatever the clock's grain
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(os.path.basename(p) for p in written[1:] + [tls])
    assert os.stat(tmp_path / "cache").st_mode & 0o777 == 0o700
    assert {os.stat(p).st_mode & 0o777 for p in written[1:]} == {0o600}
    assert cache.read("start", "e") == programs
    assert cache.read("start", "a") is None


def test_a_file_or_directory_others_may_write_is_refused(tmp_path):
    cache = ProgramCache(str(tmp_path))
    path = cache.write("start", "k", [CachedProgram("p", 5, -1, EXIT, {})])
    os.chmod(path, 0o666)
    with pytest.raises(CacheError, match=r"writable by group or others \(mode 0666\)"):
        cache.read("start", "k")
    os.chmod(path, 0o600)
    os.chmod(tmp_path, 0o777)
    with pytest.raises(CacheError, match="directory .* writable by group or others"):
        cache.read("start", "k")


def test_a_symbolic_link_is_refused(tmp_path):
    cache = ProgramCache(str(tmp_path))
    target = cache.write("start", "k", [CachedProgram("p", 5, -1, EXIT, {})])
    os.rename(target, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", target)
    with pytest.raises(CacheError, match=os.path.basename(target)):
        cache.read("start", "k")
