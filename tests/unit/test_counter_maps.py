"""Deltas from cumulative kernel counters, over a dict standing in for a BCC table (pure logic)."""
import ctypes as ct

from tracer.capture.counter_maps import CounterMap


class Key(ct.Structure):
    _fields_ = [("id", ct.c_uint32), ("pad", ct.c_uint32)]


class Value(ct.Structure):
    _fields_ = [("opens", ct.c_uint64), ("bytes", ct.c_uint64)]


class Table(dict):
    """What CounterMap uses of a BCC table: batch lookup and delete by key."""

    def items_lookup_batch(self):
        for key_bytes, value in list(self.items()):
            yield Key.from_buffer_copy(key_bytes), value

    def __delitem__(self, key):
        super().__delitem__(bytes(key))

    def add(self, id, opens, nbytes):
        value = self.setdefault(bytes(Key(id)), Value())
        value.opens += opens
        value.bytes += nbytes


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def read(counters):
    return {k.id: (v.opens, v.bytes) for k, v in counters.deltas()}


def test_first_read_is_the_whole_value_then_only_increases():
    table = Table()
    counters = CounterMap(table, Clock())
    table.add(1, 2, 100)
    assert read(counters) == {1: (2, 100)}
    table.add(1, 1, 50)
    table.add(2, 1, 7)
    assert read(counters) == {1: (1, 50), 2: (1, 7)}
    assert read(counters) == {}  # nothing changed


def test_entries_idle_too_long_are_deleted_and_restart_from_zero():
    table, clock = Table(), Clock()
    counters = CounterMap(table, clock, idle_seconds=60)
    table.add(1, 1, 10)
    assert read(counters) == {1: (1, 10)}
    clock.now = 30
    assert read(counters) == {}
    assert len(table) == 1  # idle, but not for long enough
    clock.now = 61
    assert read(counters) == {}
    assert len(table) == 0
    table.add(1, 1, 5)  # the flow comes back: a new entry, counted from zero
    assert read(counters) == {1: (1, 5)}


def test_a_changing_entry_is_never_deleted():
    table, clock = Table(), Clock()
    counters = CounterMap(table, clock, idle_seconds=60)
    for second in range(0, 600, 30):
        clock.now = second
        table.add(1, 1, 1)
        assert read(counters) == {1: (1, 1)}
    assert len(table) == 1
