"""Hands back the memory BCC's in-process compiler (clang and LLVM, linked into libbcc) leaves behind.

After the probes are loaded the compiler never runs again in the agent, yet its code pages stay resident
(about 70 MB of libLLVM and libclang-cpp touched while compiling) and glibc keeps the heap it freed. The
numbers before and after are in docs/performance.md.
"""
from __future__ import annotations

import ctypes
import logging
import re

log = logging.getLogger(__name__)

MADV_PAGEOUT = 21  # linux/mman.h, Linux 5.4+: reclaim the range's pages now
COMPILER_LIBRARIES = re.compile(r"/lib(LLVM|clang)[^/]*\.so")


def compiler_mappings(maps_text: str) -> list[tuple[int, int]]:
    """(start, end) of each mapping of the compiler's shared libraries in a /proc/<pid>/maps text."""
    ranges = []
    for line in maps_text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and COMPILER_LIBRARIES.search(fields[5]):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def release() -> None:
    """Return freed heap to the kernel and page the compiler's libraries out of this process.

    MADV_PAGEOUT never loses data: clean file pages are dropped (read back from the file if ever touched
    again) and written ones (relocations) stay, as there is no swap to take them. Pages another process maps
    too (a second BCC tool on the host) stay resident. Where the kernel lacks it the call fails and only the
    heap is returned."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.malloc_trim(0)  # glibc keeps the arenas LLVM freed
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as f:
        ranges = compiler_mappings(f.read())
    for start, end in ranges:
        if libc.madvise(start, end - start, MADV_PAGEOUT) != 0:
            log.debug("madvise(MADV_PAGEOUT) on the compiler's libraries failed: errno %d", ctypes.get_errno())
            return
