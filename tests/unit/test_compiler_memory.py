"""The compiler's libraries are found in /proc/<pid>/maps by path, and only they are paged out."""
from tracer.capture.compiler_memory import compiler_mappings

MAPS = """\
55d0c0a00000-55d0c0b00000 r--p 00000000 fe:01 123 /usr/bin/python3.11
7f1000000000-7f1002000000 r-xp 00400000 fe:01 456 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f1002000000-7f1002100000 r--p 02400000 fe:01 456 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f1003000000-7f1003800000 r-xp 00100000 fe:01 789 /usr/lib/llvm-14/lib/libclang-cpp.so.14
7f1004000000-7f1004100000 r-xp 00000000 fe:01 790 /usr/lib/x86_64-linux-gnu/libbcc.so.0.26.0
7f1005000000-7f1005021000 rw-p 00000000 00:00 0
7f1006000000-7f1006001000 r--p 00000000 fe:01 791 /tmp/libLLVM-notes.txt
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
"""


def test_only_llvm_and_clang_libraries_are_chosen():
    assert compiler_mappings(MAPS) == [
        (0x7f1000000000, 0x7f1002000000),
        (0x7f1002000000, 0x7f1002100000),
        (0x7f1003000000, 0x7f1003800000),
    ]


def test_a_process_without_the_compiler_has_none():
    assert compiler_mappings("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0   [stack]\n") == []
