"""Open sockets' bytes folded into flows (tracer/capture/socket_bytes.py), against a model of the probes: bytes
counted per socket, moved to the flow at the close (entry deleted first, flow added second)."""
import ctypes as ct
import random
import struct

from tracer.capture.socket_bytes import KEY_SIZE, SLOT_CLAIMED, SocketBytes, SocketSlotHead, slot_states

A, B = b"flow-a", b"flow-b"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


class Probes:
    """The kernel side: sockets' bytes, flows' bytes, and how much was counted in all per flow."""

    def __init__(self):
        self.sockets = {}  # socket -> [flow, sent, received]
        self.flows = {}  # flow -> [sent, received]
        self.counted = {}  # flow -> [sent, received]: the truth

    def io(self, socket, flow, sent, received):
        entry = self.sockets.setdefault(socket, [flow, 0, 0])
        entry[1] += sent
        entry[2] += received
        truth = self.counted.setdefault(flow, [0, 0])
        truth[0] += sent
        truth[1] += received

    def delete(self, socket):
        return self.sockets.pop(socket)

    def add_to_flow(self, flow, sent, received):
        totals = self.flows.setdefault(flow, [0, 0])
        totals[0] += sent
        totals[1] += received

    def close(self, socket):
        self.add_to_flow(*self.delete(socket))

    def open_sockets(self):
        return [(flow, sent, received) for flow, sent, received in self.sockets.values()]


class Drain:
    """The agent side: reads flows as deltas, then sockets, and adds up what it reported per flow."""

    def __init__(self, probes, clock=None):
        self.probes = probes
        self.fold = SocketBytes(clock or Clock(), idle_seconds=60)
        self.seen = {}
        self.reported = {}

    def read_flows(self):
        added = {}
        for flow, totals in self.probes.flows.items():
            before = self.seen.get(flow, (0, 0))
            if tuple(totals) != before:
                added[flow] = (totals[0] - before[0], totals[1] - before[1])
                self.seen[flow] = tuple(totals)
        return added

    def finish(self, added):
        for flow, (sent, received) in self.fold.fold(added, self.probes.open_sockets()).items():
            assert sent >= 0 and received >= 0
            totals = self.reported.setdefault(flow, [0, 0])
            totals[0] += sent
            totals[1] += received
        return self.reported

    def __call__(self):
        return self.finish(self.read_flows())


def test_an_open_sockets_bytes_are_reported_as_they_grow_and_its_close_adds_none_twice():
    probes = Probes()
    drain = Drain(probes)
    probes.io(1, A, 100, 10)
    assert drain() == {A: [100, 10]}
    probes.io(1, A, 50, 0)
    assert drain() == {A: [150, 10]}
    probes.io(1, A, 25, 5)
    probes.close(1)
    assert drain() == {A: [175, 15]}
    assert drain() == {A: [175, 15]}
    assert drain.fold._ahead == {}  # nothing kept once the flows map holds every byte


def test_a_close_between_the_two_reads_is_missed_for_one_drain_only():
    probes = Probes()
    drain = Drain(probes)
    probes.io(1, A, 100, 0)
    assert drain() == {A: [100, 0]}
    probes.io(1, A, 20, 0)
    added = drain.read_flows()
    probes.delete(1)  # the close: the entry is gone, the flow not yet added
    assert drain.finish(added) == {A: [100, 0]}
    probes.add_to_flow(A, 120, 0)
    assert drain() == {A: [120, 0]}


def test_a_flows_other_sockets_keep_counting_while_one_closes():
    probes = Probes()
    drain = Drain(probes)
    probes.io(1, A, 100, 0)
    probes.io(2, A, 30, 0)
    assert drain() == {A: [130, 0]}
    probes.io(2, A, 10, 0)
    added = drain.read_flows()
    probes.delete(1)
    assert drain.finish(added) == {A: [130, 0]}  # socket 2's 10 wait behind socket 1's 100 on the move
    probes.add_to_flow(A, 100, 0)
    probes.io(3, A, 5, 0)
    assert drain() == {A: [145, 0]}
    probes.close(2)
    probes.close(3)
    assert drain() == {A: [145, 0]}


def test_a_fold_lost_to_a_full_flows_map_is_forgotten_after_idle_seconds():
    probes, clock = Probes(), Clock()
    drain = Drain(probes, clock)
    probes.io(1, A, 100, 0)
    assert drain() == {A: [100, 0]}
    probes.delete(1)  # the flows map had no room for the fold: its bytes were reported, never added
    clock.now = 30
    assert drain() == {A: [100, 0]}
    probes.io(2, A, 40, 0)
    probes.close(2)
    assert drain() == {A: [100, 0]}  # absorbed by the lead the lost fold left
    clock.now = 100
    drain()
    assert drain.fold._ahead == {}
    probes.io(3, A, 7, 0)
    assert drain() == {A: [107, 0]}


def test_random_interleavings_never_report_more_than_counted_and_catch_up_at_once():
    """Sockets of two flows do I/O and close, a close landing anywhere between a drain's two reads; every drain
    reports at most what was counted, and a drain after a quiet moment exactly that."""
    rng = random.Random(10)
    probes = Probes()
    drain = Drain(probes)
    sockets = {}
    pending = []  # closes whose entry is gone and whose flow add is still to come
    for socket in range(2000):
        flow = rng.choice((A, B))
        sockets[socket] = flow
        probes.io(socket, flow, rng.randrange(1, 1000), rng.randrange(0, 1000))
        if rng.random() < 0.5:
            live = rng.choice(list(probes.sockets))
            probes.io(live, probes.sockets[live][0], rng.randrange(0, 500), rng.randrange(0, 500))
        if rng.random() < 0.4:
            added = drain.read_flows()
            for _ in range(rng.randrange(0, 3)):
                if probes.sockets:
                    gone = rng.choice(list(probes.sockets))
                    pending.append(probes.delete(gone))
            reported = drain.finish(added)
            for flow in reported:
                assert all(r <= c for r, c in zip(reported[flow], probes.counted[flow]))
            for entry in pending:
                probes.add_to_flow(*entry)
            pending.clear()
        if rng.random() < 0.05:
            drain()
            assert drain() == probes.counted
    for socket in list(probes.sockets):
        probes.close(socket)
    assert drain() == probes.counted
    assert drain.fold._ahead == {}


def slot(owner: int, key: bytes, sent: int, received: int, rest: int) -> bytes:
    return struct.pack(f"<Q{KEY_SIZE}sQQ{rest}x", owner, key, sent, received)


def test_only_slots_that_hold_a_socket_are_read():
    """A free slot (owner 0) and one being written (owner | SLOT_CLAIMED) are skipped, whatever bytes they hold."""
    rest = 40
    key = b"k" * KEY_SIZE
    batch = b"".join((slot(0xffff888000001000, key, 5, 7, rest), slot(0, key, 11, 13, rest),
                      slot(0xffff888000002000 | SLOT_CLAIMED, key, 17, 19, rest),
                      slot(0xffff888000003000, key, 0, 0, rest)))
    slot_size = len(batch) // 4
    assert slot_size == ct.sizeof(SocketSlotHead) + rest
    assert list(slot_states(memoryview(batch), slot_size)) == [(key, 5, 7), (key, 0, 0)]
