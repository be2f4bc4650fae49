"""Bytes of open sockets, folded into their flows' byte counts at each drain.

The probes count a socket's bytes in its own state, sparing each read and write a flow lookup, and add them to
its flow when it closes or its key changes (probes/common.h, fold_socket_bytes). A socket's state is in a slot of
`socket_slots`: its direct slot, or when that was taken an overflow slot (probes/common.h, socket_state). A drain
reports, per flow, the flows map's bytes plus its open sockets' bytes. Two facts keep that exact and never
decreasing:

- The probes take bytes out of a socket's entry before they add them to its flow, and the drain reads `flows`
  before the sockets: bytes on the move between the two reads are missed for one drain, never seen twice. So
  what a drain sees is never more than what was counted, and the next drain sees what this one missed.
- Per flow, the drain keeps how far its reports are ahead of the flows map: its open sockets' bytes already
  reported. A drain reports what it sees beyond that, and never less than nothing.

A flow's lead on the flows map outlives its open sockets only when a fold found the flows map full (counted
there as flows_map_full): it is forgotten after IDLE_SECONDS unchanged, and the flow's later bytes count again.
"""
from __future__ import annotations

import ctypes as ct
import struct
import time
from collections.abc import Callable, Iterable, Iterator

from .array_batches import ArrayBatches
from .counter_maps import IDLE_SECONDS
from .flows import FlowKeyStruct

KEY_SIZE = ct.sizeof(FlowKeyStruct)


class SocketBytesHead(ct.Structure):
    """struct sock_info of probes/common.h up to its byte counts."""
    _fields_ = [("key", FlowKeyStruct), ("bytes_sent", ct.c_uint64), ("bytes_received", ct.c_uint64)]


class SocketSlotHead(ct.Structure):
    """struct sock_slot of probes/common.h up to its state's byte counts."""
    _fields_ = [("owner", ct.c_uint64), ("info", SocketBytesHead)]


SLOT_CLAIMED = 1  # probes/common.h: a slot's owner with this bit set is being written


def slot_states(batch: memoryview, slot_size: int) -> Iterator[tuple[bytes, int, int]]:
    """(flow key, bytes sent, bytes received) of the slots that hold a socket: not free (owner 0) nor being
    written (SLOT_CLAIMED)."""
    head = struct.Struct(f"<Q{KEY_SIZE}sQQ{slot_size - ct.sizeof(SocketSlotHead)}x")
    return ((key, sent, received) for owner, key, sent, received in head.iter_unpack(batch)
            if owner and not owner & SLOT_CLAIMED)


class OpenSockets:
    """Reads live sockets' state from `socket_slots`: the direct slots, and the overflow slots handed out so far
    (`overflow_slots_used`), not the whole overflow's capacity."""

    def __init__(self, slots, overflow_used, max_sockets: int):
        from bcc.libbcc import lib  # only here: the fold below is pure and tested without BCC
        self._slots = ArrayBatches(lib.bpf_lookup_batch, slots, "socket_slots")
        self._used = overflow_used
        self._max_sockets = max_sockets
        self._direct = len(slots) - max_sockets

    def states(self) -> Iterator[tuple[bytes, int, int]]:
        """(flow key, bytes sent, bytes received) of every live socket."""
        used = min(self._used[ct.c_int(0)].value, self._max_sockets)
        for batch in self._slots.read(self._direct + used):
            yield from slot_states(batch, self._slots.entry_size)

    def byte_counts(self) -> Iterator[tuple[bytes, int, int]]:
        """(flow key, bytes sent, bytes received) of every open socket that has counted bytes."""
        return ((key, sent, received) for key, sent, received in self.states() if sent or received)


class SocketBytes:
    """Per flow, the bytes its reports are ahead of the flows map, and when that last changed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, idle_seconds: float = IDLE_SECONDS):
        self._clock = clock
        self._idle = idle_seconds
        self._ahead: dict[bytes, tuple[int, int, float]] = {}  # flow key -> (sent, received, since)

    def fold(self, flows_added: dict[bytes, tuple[int, int]],
             open_sockets: Iterable[tuple[bytes, int, int]]) -> dict[bytes, tuple[int, int]]:
        """Bytes (sent, received) to report per flow key, from the increase of the flows map's byte counts since
        the last drain (read first) and the open sockets' byte counts (read after); flows with none left out."""
        open_totals: dict[bytes, tuple[int, int]] = {}
        for key, sent, received in open_sockets:
            before = open_totals.get(key, (0, 0))
            open_totals[key] = (before[0] + sent, before[1] + received)
        now = self._clock()
        reported = {}
        for key in flows_added.keys() | open_totals.keys() | self._ahead.keys():
            added = flows_added.get(key, (0, 0))
            open_bytes = open_totals.get(key, (0, 0))
            *ahead, since = self._ahead.get(key, (0, 0, now))
            report = tuple(max(0, a + o - h) for a, o, h in zip(added, open_bytes, ahead))
            if any(report):
                reported[key] = report
            lead = [max(h - a, o) for a, o, h in zip(added, open_bytes, ahead)]
            if lead != ahead:
                since = now
            if not any(lead) or (not any(open_bytes) and now - since > self._idle):
                self._ahead.pop(key, None)
            else:
                self._ahead[key] = (*lead, since)
        return reported
