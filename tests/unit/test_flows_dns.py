"""Decoding of DNS answer events (struct dns_event of probes/dns.c) from bytes built with the mirror."""
import pytest

from tracer.capture import flows
from tracer.capture.probe_constants import DNS_SAMPLE_BYTES
from tracer.capture.records import DnsAnswer


def dns_event(message: bytes, length: int, transport: int = 17, captured: int | None = None) -> bytes:
    head = flows.DnsHeadStruct(type=flows.EVENT_DNS_ANSWER, length=length, timestamp_ns=3_000_000_000,
                               transport=transport, captured=len(message) if captured is None else captured)
    head.key.tgid, head.key.comm = 4242, b"curl"
    return bytes(head) + message.ljust(DNS_SAMPLE_BYTES, b"\xaa")  # the rest of the ring buffer slot: stale bytes


def test_an_answer_event_carries_its_reader_and_the_bytes_captured_only():
    answer = flows.decode_event(dns_event(b"\x12\x34" + b"m" * 40, length=42), wall_offset=100.0)
    assert isinstance(answer, DnsAnswer)
    assert (answer.key.tgid, answer.key.comm, answer.transport, answer.length, answer.timestamp) == (
        4242, "curl", "udp", 42, 103.0)
    assert answer.message == b"\x12\x34" + b"m" * 40


def test_a_long_read_keeps_its_length_and_the_first_bytes():
    answer = flows.decode_event(dns_event(b"x" * DNS_SAMPLE_BYTES, length=1400, transport=6), wall_offset=0.0)
    assert (answer.transport, answer.length, len(answer.message)) == ("tcp", 1400, DNS_SAMPLE_BYTES)


def test_bad_answer_events_raise_naming_the_problem():
    with pytest.raises(ValueError, match="unknown transport 99"):
        flows.decode_event(dns_event(b"x" * 20, 20, transport=99), 0.0)
    with pytest.raises(ValueError, match="short DNS answer event"):
        flows.decode_event(dns_event(b"", 0)[:40], 0.0)
