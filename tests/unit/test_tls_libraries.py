"""Finding the libssl files that processes map: each file reported once, by device and inode, opened through
the process's root; processes read again when they exec."""
import os

from tracer.capture.tls_libraries import Library, LibraryScan, libraries_in_maps

MAPS = """\
55d0c8a00000-55d0c8a2a000 r--p 00000000 fe:01 1311 /usr/sbin/nginx
7f3f22f5d000-7f3f22f7b000 r--p 00000000 fe:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3f22f7b000-7f3f22fd9000 r-xp 0001e000 fe:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f3f23000000-7f3f23100000 r-xp 00000000 fe:01 4300 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f3f24000000-7f3f24100000 r-xp 00000000 00:2e 77 /opt/app/lib/libssl.so.1.1 (deleted)
7f3f25000000-7f3f25001000 rw-p 00000000 00:00 0
7ffd1c9e4000-7ffd1ca05000 rw-p 00000000 00:00 0 [stack]
"""


def test_maps_name_each_libssl_file_once_and_skip_deleted_ones():
    assert libraries_in_maps(MAPS) == [("fe:01", 4242, "/usr/lib/x86_64-linux-gnu/libssl.so.3")]


def fake_process(proc, pid: int, exe, maps: str) -> None:
    os.makedirs(proc / str(pid))
    os.symlink(exe, proc / str(pid) / "exe")
    (proc / str(pid) / "maps").write_text(maps)


def library_line(device: str, inode: int, path: str) -> str:
    return f"7f0000000000-7f0000001000 r-xp 00000000 {device} {inode} {path}\n"


def test_each_file_reported_once_through_the_root_of_the_first_process_that_maps_it(tmp_path):
    proc = tmp_path / "proc"
    exe = tmp_path / "exe"
    exe.write_text("")
    fake_process(proc, 10, exe, MAPS)
    fake_process(proc, 11, exe, MAPS)   # the same file in another process
    fake_process(proc, 12, exe, library_line("00:31", 99, "/usr/lib/libssl.so.3"))   # a container's own copy
    os.makedirs(proc / "self")
    scan = LibraryScan(str(proc))
    found = sorted(scan.new_libraries(), key=lambda lib: lib.inode)
    assert [(lib.device, lib.inode) for lib in found] == [("00:31", 99), ("fe:01", 4242)]
    assert found[0] == Library("00:31", 99, f"{proc}/12/root/usr/lib/libssl.so.3")
    assert found[1].path in (f"{proc}/{pid}/root/usr/lib/x86_64-linux-gnu/libssl.so.3" for pid in (10, 11))
    assert scan.new_libraries() == []


def test_a_process_that_execs_is_read_again(tmp_path):
    proc = tmp_path / "proc"
    before, after = tmp_path / "python3", tmp_path / "curl"
    before.write_text("")
    after.write_text("")
    fake_process(proc, 20, before, "")
    scan = LibraryScan(str(proc))
    assert scan.new_libraries() == []
    # the same pid after exec: another executable, which maps libssl
    os.remove(proc / "20" / "exe")
    os.symlink(after, proc / "20" / "exe")
    (proc / "20" / "maps").write_text(library_line("fe:01", 5, "/lib/libssl.so.3"))
    assert scan.new_libraries() == [Library("fe:01", 5, f"{proc}/20/root/lib/libssl.so.3")]
