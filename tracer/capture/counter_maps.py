"""Kernel maps of ever-growing u64 counters, read as deltas.

The probes add to a map value in place, through the pointer a lookup returned. Deleting the entry while
a program holds that pointer (it can even be preempted there) would lose the increment, so a drain never
deletes live entries: it reads the cumulative values and subtracts what it saw the time before. Entries
unchanged for IDLE_SECONDS are deleted to keep the map bounded; only an increment that races the
deletion of a flow idle that long can be lost.
"""
from __future__ import annotations

import array
import time
from collections.abc import Callable, Iterator

IDLE_SECONDS = 120.0


class CounterMap:
    def __init__(self, table, clock: Callable[[], float] = time.monotonic, idle_seconds: float = IDLE_SECONDS):
        self._table = table
        self._clock = clock
        self._idle = idle_seconds
        self._seen: dict[bytes, tuple[array.array, float]] = {}  # key bytes -> (values, when they last changed)

    def deltas(self) -> Iterator[tuple[object, object]]:
        """(key, value of the same type holding the increase) for every entry that changed since the last call."""
        now = self._clock()
        idle_keys = []
        for key, value in self._table.items_lookup_batch():
            key_bytes = bytes(key)
            values = array.array("Q", bytes(value))
            seen = self._seen.get(key_bytes)
            if seen is not None and seen[0] == values:
                if now - seen[1] > self._idle:
                    idle_keys.append(key)
                continue
            self._seen[key_bytes] = (values, now)
            if seen is not None:
                values = array.array("Q", (current - before for current, before in zip(values, seen[0])))
            yield key, type(value).from_buffer_copy(values.tobytes())
        for key in idle_keys:
            del self._seen[bytes(key)]
            try:
                del self._table[key]
            except KeyError:
                pass
