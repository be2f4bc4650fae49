"""Live sockets' state in direct and overflow slots (probes/common.h): with more live sockets than direct slots,
some are in their direct slot and the rest in overflow slots at once, and each socket's bytes, opens and closes
stay exact."""
import contextlib
import os
import socket
from collections import Counter

import pytest

from tests.helpers.capture import Capture
from tests.helpers.tcp_server import read_exactly
from tracer.capture.loader import CaptureConfig, socket_slot_bits
from tracer.capture.probe_constants import ROLE_CLIENT, ROLE_SERVER
from tracer.capture.socket_bytes import SLOT_CLAIMED

MAX_SOCKETS = 1024
SLOTS = 1 << socket_slot_bits(MAX_SOCKETS)
CONNECTIONS = 150   # 300 live sockets, client and server ends, for 128 direct slots


@pytest.fixture(scope="module")
def few_slots(collector):
    """A second collector whose slots hold fewer sockets than the test keeps open."""
    from tracer.capture.collector import Collector

    c = Collector(CaptureConfig(max_sockets=MAX_SOCKETS, tls=False, program_cache=""))
    c.start()
    yield c
    c.close()


def states_of(collector, port: int) -> dict[str, Counter]:
    """Per part, the (role, bytes sent, bytes received) of each live socket of the server port, read from the map."""
    tiers = {"direct": Counter(), "overflow": Counter()}
    for index, slot in collector._bpf[b"socket_slots"].items():
        info = slot.info
        if slot.owner and not slot.owner & SLOT_CLAIMED and info.key.server_port == port \
                and info.key.tgid == os.getpid():
            tier = tiers["direct" if index.value < SLOTS else "overflow"]
            tier[(info.key.role, info.bytes_sent, info.bytes_received)] += 1
    return tiers


@pytest.mark.kernel
def test_sockets_beyond_the_slots_overflow_to_the_hash_and_every_count_stays_exact(few_slots):
    assert SLOTS == 128 and 2 * CONNECTIONS > SLOTS
    capture = Capture(few_slots)
    with socket.create_server(("127.0.0.1", 0), backlog=CONNECTIONS) as listener, contextlib.ExitStack() as stack:
        port = listener.getsockname()[1]
        ends = [dict(tgid=os.getpid(), role=role, server_port=port) for role in ("client", "server")]
        expected = Counter()
        for i in range(CONNECTIONS):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            served = stack.enter_context(listener.accept()[0])
            sent, answered = 1_000 + i, 10 + i   # every socket's counts are its own
            client.sendall(b"x" * sent)
            read_exactly(served, sent)
            served.sendall(b"y" * answered)
            read_exactly(client, answered)
            expected.update([(ROLE_CLIENT, sent, answered), (ROLE_SERVER, answered, sent)])

        tiers = states_of(few_slots, port)
        assert tiers["direct"] and tiers["overflow"], tiers   # both parts hold sockets at once
        assert tiers["direct"] + tiers["overflow"] == expected   # each socket in one slot, with its exact bytes
        sent_total = sum(1_000 + i for i in range(CONNECTIONS))
        answered_total = sum(10 + i for i in range(CONNECTIONS))

        def totals(c):
            client_end, server_end = (c.total(**end) for end in ends)
            return (client_end.bytes_sent, client_end.bytes_received, client_end.opens,
                    server_end.bytes_sent, server_end.bytes_received, server_end.opens)

        open_totals = (sent_total, answered_total, CONNECTIONS, answered_total, sent_total, CONNECTIONS)
        capture.wait_for(lambda c: totals(c) == open_totals, what=f"{open_totals} while open")
    capture.wait_for(lambda c: all(c.total(**end).closes == CONNECTIONS for end in ends),
                     what=f"{CONNECTIONS} closes at each end")
    capture.poll()
    assert totals(capture) == open_totals
    assert states_of(few_slots, port) == {"direct": Counter(), "overflow": Counter()}
