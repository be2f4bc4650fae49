"""Decoding of the probes' binary records, from bytes built with the ctypes mirrors."""
import ctypes as ct

import pytest

from tracer.capture import flows
from tracer.capture.records import CLIENT, SERVER, ConnectFailure, Reset


def key_struct(role=1, local=b"\x00" * 10 + b"\xff\xff" + bytes([10, 0, 0, 1]), peer=None, comm=b"curl"):
    k = flows.FlowKeyStruct()
    k.cgroup_id, k.tgid, k.server_port, k.role, k.comm = 4242, 77, 8080, role, comm
    ct.memmove(k.local_addr, local, 16)
    ct.memmove(k.peer_addr, peer or bytes(15) + b"\x01", 16)
    return k


def test_flow_key_and_counters():
    stats = flows.FlowStatsStruct(opens=2, closes=1, bytes_sent=123457, bytes_received=54321, retransmits=3)
    delta = flows.decode_flow(key_struct(), stats)
    assert delta.key.role == CLIENT
    assert (delta.key.local_addr, delta.key.peer_addr) == ("10.0.0.1", "::1")
    assert (delta.key.cgroup_id, delta.key.tgid, delta.key.comm, delta.key.server_port) == (4242, 77, "curl", 8080)
    c = delta.counters
    assert (c.opens, c.closes, c.bytes_sent, c.bytes_received, c.retransmits) == (2, 1, 123457, 54321, 3)


def test_server_role_and_full_comm():
    delta = flows.decode_flow(key_struct(role=2, comm=b"a" * 16), flows.FlowStatsStruct())
    assert delta.key.role == SERVER
    assert delta.key.comm == "a" * 16


@pytest.mark.parametrize("errno, reason", [(111, "refused"), (110, "timeout"), (113, "other"), (0, "other")])
def test_connect_failure_event(errno, reason):
    e = flows.EventStruct(type=flows.EVENT_CONNECT_FAILED, error=errno, timestamp_ns=5_000_000_000, key=key_struct())
    record = flows.decode_event(bytes(e), wall_offset=1000.0)
    assert isinstance(record, ConnectFailure)
    assert record.reason == reason
    assert record.timestamp == pytest.approx(1005.0)


def test_reset_events():
    for kind, direction in ((flows.EVENT_RESET_SENT, "sent"), (flows.EVENT_RESET_RECEIVED, "received")):
        record = flows.decode_event(bytes(flows.EventStruct(type=kind, key=key_struct())), 0.0)
        assert isinstance(record, Reset) and record.direction == direction


def test_short_or_unknown_events_are_errors():
    with pytest.raises(ValueError, match="short event"):
        flows.decode_event(b"\x01\x00", 0.0)
    with pytest.raises(ValueError, match="unknown event type 9"):
        flows.decode_event(bytes(flows.EventStruct(type=9)), 0.0)


def test_header_block_piece_event():
    head = flows.HeaderPieceHeadStruct(type=flows.EVENT_HEADER_BLOCK, stream_id=5, timestamp_ns=7_000, key=key_struct(),
                                       sk=0xffff8880, connection_ns=3_000, seq=4, frame_length=40, offset=8, len=3,
                                       frame_type=9, flags=4, side=1, out_of_step=1)
    piece = flows.decode_event(bytes(head) + b"abc" + bytes(253), 0.0)
    assert (piece.connection, piece.side, piece.seq, piece.out_of_step) == ((0xffff8880, 3_000), "response", 4, True)
    assert (piece.stream_id, piece.frame_type, piece.flags, piece.frame_length, piece.offset) == (5, 9, 4, 40, 8)
    assert (piece.data, piece.timestamp_ns, piece.key.tgid) == (b"abc", 7_000, 77)
    with pytest.raises(ValueError, match="holds 300 bytes"):
        flows.decode_event(bytes(flows.HeaderPieceHeadStruct(type=flows.EVENT_HEADER_BLOCK, len=300)) + bytes(256), 0.0)
