"""The first entries of a BPF array map, read a batch at a time (BPF_MAP_LOOKUP_BATCH): one system call per few
thousand entries, into buffers kept between reads."""
from __future__ import annotations

import ctypes as ct
import errno
import os
from collections.abc import Iterator

BATCH_ENTRIES = 4096  # entries per batch read: about 1 MB of socket_slots' entries with L7 state


class ArrayBatches:
    def __init__(self, lookup_batch, table, name: str):
        self._lookup_batch, self._fd, self._name = lookup_batch, table.map_fd, name
        self.entry_size = ct.sizeof(table.Leaf)
        self._keys = ct.create_string_buffer(ct.sizeof(table.Key) * BATCH_ENTRIES)
        self._values = ct.create_string_buffer(self.entry_size * BATCH_ENTRIES)

    def read(self, end: int) -> Iterator[memoryview]:
        """Entries [0, end), each batch's back to back."""
        position, count = ct.c_uint32(), ct.c_uint32()
        done = 0
        while done < end:
            count.value = min(BATCH_ENTRIES, end - done)
            # the kernel reads the position before it writes the next one: one variable serves both
            failed = self._lookup_batch(self._fd, ct.byref(position) if done else None, ct.byref(position),
                                        self._keys, self._values, ct.byref(count))
            error = ct.get_errno()
            if failed and error != errno.ENOENT:
                raise OSError(error, f"reading the {self._name} map: {os.strerror(error)}")
            yield memoryview(self._values)[:count.value * self.entry_size]
            if failed or not count.value:  # ENOENT: that was the last batch
                return
            done += count.value
