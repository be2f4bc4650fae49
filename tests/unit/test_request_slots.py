"""Response counts read as deltas from the probes' key -> slot map and slot array, and a key idle too long freed in
two steps (tracer/capture/request_slots.py), over fakes of the BCC tables (pure logic)."""
import ctypes as ct

from tracer.capture.flows import RequestKeyStruct, RequestSlotStruct
from tracer.capture.request_slots import SLOT, RequestSlots


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


class Keys(dict):
    """`requests`: key bytes -> slot index; BCC yields a scalar leaf as an int. before_read: what the probes do
    just before the drain reads the keys."""
    before_read = staticmethod(lambda: None)

    def items_lookup_batch(self):
        self.before_read()
        for key_bytes, index in list(self.items()):
            yield RequestKeyStruct.from_buffer_copy(key_bytes), index

    def __delitem__(self, key):
        super().__delitem__(bytes(key))


class Slots(list):
    """`request_slots` and its batch reader, `request_slots_used` and `free_request_slots` in one."""

    def __init__(self, size):
        super().__init__(RequestSlotStruct() for _ in range(size))
        self.used = 0
        self.freed = []
        self.entry_size = ct.sizeof(RequestSlotStruct)

    def __getitem__(self, index):
        return super().__getitem__(getattr(index, "value", index))

    def __setitem__(self, index, slot):
        super().__setitem__(index.value, slot)

    def read(self, end):
        yield memoryview(b"".join(bytes(slot) for slot in self[:end]))

    def push(self, index):
        self.freed.append(index.value)

    def take(self) -> int:
        """What the probes do for a new key: a freed slot, else the next never used."""
        if self.freed:
            return self.freed.pop()
        self.used += 1
        return self.used - 1


def key_of(status: str, port: int = 80) -> bytes:
    key = RequestKeyStruct(protocol=1, status=status.encode())
    key.flow.server_port = port
    return bytes(key)


class Probes:
    """Counts responses as probes/l7.c does, each socket remembering the slot and generation it counted in last."""

    def __init__(self, size=8):
        self.keys, self.slots = Keys(), Slots(size)
        self.remembered = {}   # socket -> (key, slot, generation)

    def respond(self, socket: str, key: bytes, latency_us: int = 3):
        key_seen, index, generation = self.remembered.get(socket, (None, 0, 0))
        if key_seen != key or self.slots[index].generation != generation:
            if key not in self.keys:
                self.keys[key] = self.slots.take()
            index = self.keys[key]
            self.remembered[socket] = (key, index, self.slots[index].generation)
        stats = self.slots[index].stats
        stats.count += 1
        stats.latency_sum_us += latency_us

    def reader(self, clock, idle_seconds=60):
        return RequestSlots(self.keys, self.slots, SlotsUsed(self.slots), self.slots, self.slots, len(self.slots),
                            clock, idle_seconds)


class SlotsUsed:
    """`request_slots_used`: one counter, at index 0."""

    def __init__(self, slots):
        self._slots = slots

    def __getitem__(self, index):
        assert index.value == 0
        return ct.c_uint64(self._slots.used)


def read(reader):
    return {bytes(key)[-16:].rstrip(b"\0").decode(): (stats.count, stats.latency_sum_us)
            for key, stats in reader.deltas()}


def test_first_read_is_the_whole_count_then_only_increases():
    probes, clock = Probes(), Clock()
    reader = probes.reader(clock)
    for _ in range(3):
        probes.respond("a", key_of("200"))
    probes.respond("a", key_of("404"))
    assert read(reader) == {"200": (3, 9), "404": (1, 3)}
    probes.respond("a", key_of("200"))
    assert read(reader) == {"200": (1, 3)}
    assert read(reader) == {}


def test_an_idle_key_is_freed_a_drain_after_it_leaves_and_its_slot_goes_to_the_next_new_key():
    probes, clock = Probes(), Clock()
    reader = probes.reader(clock, idle_seconds=60)
    probes.respond("a", key_of("200"))
    assert read(reader) == {"200": (1, 3)}
    slot = probes.keys[key_of("200")]
    clock.now = 61
    assert read(reader) == {} and key_of("200") not in probes.keys   # step 1: the key left, the slot is kept
    probes.respond("a", key_of("200"))   # the socket still remembers the slot: counted there
    assert probes.slots.freed == []
    assert read(reader) == {"200": (1, 3)}   # step 2: reported under the key it held, then freed
    assert probes.slots.freed == [slot] and probes.slots[slot].stats.count == 0
    probes.respond("b", key_of("500"))
    assert probes.keys[key_of("500")] == slot
    probes.respond("a", key_of("200"))   # what the socket remembers is stale: a new slot, not the 500's
    assert probes.keys[key_of("200")] != slot
    assert read(reader) == {"500": (1, 3), "200": (1, 3)}


def test_a_slot_freed_and_taken_by_a_new_key_during_a_drain_reports_the_new_keys_counts_only():
    probes, clock = Probes(), Clock()
    reader = probes.reader(clock, idle_seconds=60)
    for _ in range(3):
        probes.respond("a", key_of("200"))
    assert read(reader) == {"200": (3, 9)}
    clock.now = 61
    assert read(reader) == {}   # step 1
    probes.keys.before_read = lambda: probes.respond("b", key_of("500"))   # takes the slot step 2 frees
    assert read(reader) == {}   # step 2; the 500 was counted after the slots were read
    assert probes.keys[key_of("500")] == 0
    probes.keys.before_read = lambda: None
    assert read(reader) == {"500": (1, 3)}


def test_a_key_that_keeps_counting_is_never_freed():
    probes, clock = Probes(), Clock()
    reader = probes.reader(clock, idle_seconds=60)
    for second in range(0, 300, 30):
        clock.now = second
        probes.respond("a", key_of("200"))
        assert read(reader) == {"200": (1, 3)}
    assert probes.slots.freed == []


def test_slots_taken_after_the_read_wait_for_the_next_drain():
    probes, clock = Probes(), Clock()
    reader = probes.reader(clock)
    probes.respond("a", key_of("200"))
    probes.slots.used = 0   # as if the slot was taken between the read of request_slots_used and of the keys
    assert read(reader) == {}
    probes.slots.used = 1
    assert read(reader) == {"200": (1, 3)}


def test_slot_layout_is_the_generation_then_the_counts():
    assert SLOT.size == ct.sizeof(RequestSlotStruct)
