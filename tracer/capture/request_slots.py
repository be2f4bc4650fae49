"""The probes' response counts (probes/l7.c, response_counts), read as deltas at each drain.

`requests` maps a flow, protocol and status to a slot of `request_slots`, which holds its counts and a generation.
A socket remembers the slot its last response was counted in, and counts there while the slot's generation is
the one it saw. So a slot goes to another key only once what sockets remember of it is stale: a key unchanged for
IDLE_SECONDS is freed in two steps, a drain apart.

1. The key leaves `requests`: its next response on a socket that does not remember the slot takes a new one,
   while sockets that remember it still count in it.
2. The slot's last counts are reported under the old key; its generation changes, so what sockets remember of it
   is stale; its counts are zeroed, and it goes back to `free_request_slots`.

A response counted between step 2's read of the slot and its write is lost, as an increment through a hash map
entry deleted under the program that holds it would be: on a key idle for IDLE_SECONDS, whose socket answered
again in that instant.
"""
from __future__ import annotations

import ctypes as ct
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .array_batches import ArrayBatches
from .counter_maps import IDLE_SECONDS
from .flows import RequestKeyStruct, RequestSlotStruct, RequestStatsStruct

COUNTS = struct.Struct(f"<{ct.sizeof(RequestStatsStruct) // 8}Q")   # struct request_stats: u64s only
SLOT = struct.Struct(f"<Q{COUNTS.size // 8}Q")                      # struct request_slot: its generation first
NO_COUNTS = (0,) * (COUNTS.size // 8)


@dataclass(frozen=True)
class Seen:
    key: bytes
    counts: tuple[int, ...]
    since: float   # when the counts last changed


class RequestSlots:
    def __init__(self, keys, slots, used, free, batches, max_slots: int,
                 clock: Callable[[], float] = time.monotonic, idle_seconds: float = IDLE_SECONDS):
        """keys, slots, used, free: the probes' `requests`, `request_slots`, `request_slots_used` and
        `free_request_slots` (BCC tables); batches reads `request_slots` (array_batches.ArrayBatches)."""
        self._keys, self._slots, self._used, self._free, self._batches = keys, slots, used, free, batches
        self._max_slots = max_slots
        self._clock = clock
        self._idle = idle_seconds
        self._seen: dict[int, Seen] = {}      # slot -> its key and counts as last reported
        self._freeing: dict[int, bytes] = {}  # slot -> its key, out of `requests` since the last drain (step 1)

    @classmethod
    def of(cls, bpf, max_slots: int) -> RequestSlots:
        from bcc.libbcc import lib  # only here: the logic is tested without BCC
        slots = bpf[b"request_slots"]
        return cls(bpf[b"requests"], slots, bpf[b"request_slots_used"], bpf[b"free_request_slots"],
                   ArrayBatches(lib.bpf_lookup_batch, slots, "request_slots"), max_slots)

    def deltas(self) -> Iterator[tuple[RequestKeyStruct, RequestStatsStruct]]:
        """(key, counts added since the last call) of every key whose counts changed."""
        now = self._clock()
        freeing, self._freeing = self._freeing, {}
        for index, key in freeing.items():
            yield from self._release(index, key)
        # read after the releases: a slot released and taken by a new key since holds only the new key's counts
        used = min(self._used[ct.c_int(0)].value, self._max_slots)
        counts = [slot[1:] for batch in self._batches.read(used) for slot in SLOT.iter_unpack(batch)]
        idle = []
        for key, index in self._keys.items_lookup_batch():   # index: an int (BCC converts a scalar leaf)
            key_bytes = bytes(key)
            if index >= len(counts):
                continue   # taken after the slots were read: the next drain's
            seen = self._seen.get(index)
            if seen is None or seen.key != key_bytes:
                seen = Seen(key_bytes, NO_COUNTS, now)
            if counts[index] != seen.counts:
                yield key, difference(counts[index], seen.counts)
                seen = Seen(key_bytes, counts[index], now)
            elif now - seen.since > self._idle:
                idle.append(key)
                self._freeing[index] = key_bytes
            self._seen[index] = seen
        for key in idle:   # step 1
            del self._keys[key]

    def _release(self, index: int, key: bytes) -> Iterator[tuple[RequestKeyStruct, RequestStatsStruct]]:
        """Step 2: the slot's last counts, under the key it held."""
        slot_index = ct.c_uint32(index)
        slot = self._slots[slot_index]
        self._slots[slot_index] = RequestSlotStruct(generation=slot.generation + 1)
        self._free.push(slot_index)
        last = COUNTS.unpack(bytes(slot.stats))
        seen = self._seen.pop(index)
        if last != seen.counts:
            yield RequestKeyStruct.from_buffer_copy(key), difference(last, seen.counts)


def difference(counts: tuple[int, ...], before: tuple[int, ...]) -> RequestStatsStruct:
    return RequestStatsStruct.from_buffer_copy(COUNTS.pack(*(now - then for now, then in zip(counts, before))))
