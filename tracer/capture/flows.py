"""Decoding of the probes' binary records: explicit ctypes mirrors of probes/common.h.

BCC's own `.event()` derives classes from the C text and silently drops events with field types it does
not know, so the layouts are spelled out here and checked against BCC's view in a kernel test.
"""
from __future__ import annotations

import ctypes as ct
import ipaddress

from .probe_constants import (EVENT_CONNECT_FAILED, EVENT_DNS_ANSWER, EVENT_HEADER_BLOCK, EVENT_REQUEST_SAMPLE,
                              EVENT_RESET_RECEIVED, EVENT_RESET_SENT, PROTOCOL_IDS, ROLE_CLIENT, ROLE_SERVER,
                              STATUS_LEN)
from .records import (CLIENT, LATENCY_BUCKETS, REQUEST_SIDE, RESPONSE_SIDE, SERVER, ConnectFailure, DnsAnswer,
                      FlowCounters, FlowDelta, FlowKey, HeaderPiece, RequestCounts, RequestSample, Reset)

ROLES = {ROLE_CLIENT: CLIENT, ROLE_SERVER: SERVER}
ECONNREFUSED, ETIMEDOUT = 111, 110
TRANSPORTS = {17: "udp", 6: "tcp"}  # IPPROTO_*


class FlowKeyStruct(ct.Structure):
    _fields_ = [
        ("cgroup_id", ct.c_uint64),
        ("tgid", ct.c_uint32),
        ("server_port", ct.c_uint16),
        ("role", ct.c_uint8),
        ("pad", ct.c_uint8),
        ("local_addr", ct.c_uint8 * 16),
        ("peer_addr", ct.c_uint8 * 16),
        ("comm", ct.c_char * 16),
        ("peer_tgid", ct.c_uint32),
        ("pad2", ct.c_uint32),
    ]


class FlowStatsStruct(ct.Structure):
    _fields_ = [(name, ct.c_uint64) for name in (
        "opens", "closes", "connect_refused", "connect_timeout", "connect_other", "connect_time_us",
        "bytes_sent", "bytes_received", "retransmits", "resets_sent", "resets_received", "events_lost",
    )]


PROTOCOLS = dict(PROTOCOL_IDS.values())


class RequestKeyStruct(ct.Structure):
    _fields_ = [
        ("flow", FlowKeyStruct),
        ("protocol", ct.c_uint32),
        ("pad", ct.c_uint32),
        ("status", ct.c_char * STATUS_LEN),
    ]


class RequestStatsStruct(ct.Structure):
    _fields_ = [
        ("count", ct.c_uint64),
        ("latency_sum_us", ct.c_uint64),
        ("latency_log2_us", ct.c_uint64 * LATENCY_BUCKETS),
    ]


class RequestSlotStruct(ct.Structure):
    """struct request_slot of probes/l7.c: a response key's counts and the slot's generation."""
    _fields_ = [("generation", ct.c_uint64), ("stats", RequestStatsStruct)]


class EventStruct(ct.Structure):
    _fields_ = [
        ("type", ct.c_uint32),
        ("error", ct.c_uint32),
        ("timestamp_ns", ct.c_uint64),
        ("key", FlowKeyStruct),
    ]


class SampleHeadStruct(ct.Structure):
    """struct sample_event of probes/l7.c up to its two byte arrays of L7_WINDOW bytes each."""
    _fields_ = [
        ("type", ct.c_uint32),
        ("protocol", ct.c_uint32),
        ("timestamp_ns", ct.c_uint64),
        ("key", FlowKeyStruct),
        ("latency_us", ct.c_uint64),
        ("status", ct.c_char * STATUS_LEN),
        ("request_len", ct.c_uint32),
        ("response_len", ct.c_uint32),
    ]


class DnsHeadStruct(ct.Structure):
    """struct dns_event of probes/dns.c up to its DNS_SAMPLE_BYTES of message."""
    _fields_ = [
        ("type", ct.c_uint32),
        ("length", ct.c_uint32),
        ("timestamp_ns", ct.c_uint64),
        ("key", FlowKeyStruct),
        ("transport", ct.c_uint32),
        ("captured", ct.c_uint32),
    ]


class HeaderPieceHeadStruct(ct.Structure):
    """struct h2_piece_event of probes/l7_http2.c up to its byte array of L7_WINDOW bytes."""
    _fields_ = [
        ("type", ct.c_uint32),
        ("stream_id", ct.c_uint32),
        ("timestamp_ns", ct.c_uint64),
        ("key", FlowKeyStruct),
        ("sk", ct.c_uint64),
        ("connection_ns", ct.c_uint64),
        ("seq", ct.c_uint32),
        ("frame_length", ct.c_uint32),
        ("offset", ct.c_uint32),
        ("len", ct.c_uint32),
        ("frame_type", ct.c_uint8),
        ("flags", ct.c_uint8),
        ("side", ct.c_uint8),
        ("out_of_step", ct.c_uint8),
        ("pad", ct.c_uint32),
    ]


SIDES = (REQUEST_SIDE, RESPONSE_SIDE)  # by SIDE_REQUEST and SIDE_RESPONSE of probes/l7.c


def address_text(raw) -> str:
    """Text of a 16-byte address; IPv4-mapped addresses as plain IPv4."""
    addr = ipaddress.IPv6Address(bytes(raw))
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else str(addr)


def decode_key(k) -> FlowKey:
    return FlowKey(
        cgroup_id=k.cgroup_id,
        tgid=k.tgid,
        comm=k.comm.decode("utf-8", "replace"),
        role=ROLES.get(k.role, CLIENT),
        local_addr=address_text(k.local_addr),
        peer_addr=address_text(k.peer_addr),
        server_port=k.server_port,
        peer_tgid=k.peer_tgid,
    )


def decode_flow(k, v) -> FlowDelta:
    counters = FlowCounters(**{name: getattr(v, name) for name, _ in FlowStatsStruct._fields_})
    return FlowDelta(key=decode_key(k), counters=counters)


def decode_request(k, v) -> tuple[FlowKey, tuple[str, str], RequestCounts]:
    """One entry of the requests map: its flow, (protocol, status) and counts."""
    if k.protocol not in PROTOCOLS:
        raise ValueError(f"unknown request protocol {k.protocol}")
    counts = RequestCounts(count=v.count, latency_sum_us=v.latency_sum_us, latency_log2_us=list(v.latency_log2_us))
    return decode_key(k.flow), (PROTOCOLS[k.protocol], k.status.decode("ascii", "replace")), counts


def connect_failure_reason(errno: int) -> str:
    return {ECONNREFUSED: "refused", ETIMEDOUT: "timeout"}.get(errno, "other")


def decode_sample(raw: bytes, wall_offset: float) -> RequestSample:
    """A request sample event; its window size follows from its length (two windows after the head)."""
    head_size = ct.sizeof(SampleHeadStruct)
    window = (len(raw) - head_size) // 2
    if window <= 0:
        raise ValueError(f"short request sample: {len(raw)} bytes")
    head = SampleHeadStruct.from_buffer_copy(raw[:head_size])
    if head.protocol not in PROTOCOLS:
        raise ValueError(f"request sample has unknown protocol {head.protocol}")
    request = raw[head_size:head_size + min(head.request_len, window)]
    response_at = head_size + window
    response = raw[response_at:response_at + min(head.response_len, window)]
    return RequestSample(key=decode_key(head.key), protocol=PROTOCOLS[head.protocol],
                         status=head.status.decode("ascii", "replace"), latency_us=head.latency_us,
                         request=request, response=response, timestamp=head.timestamp_ns / 1e9 + wall_offset)


def decode_dns(raw: bytes, wall_offset: float) -> DnsAnswer:
    """A DNS answer event: the head, then the first bytes of the message the probe could copy."""
    head_size = ct.sizeof(DnsHeadStruct)
    if len(raw) <= head_size:
        raise ValueError(f"short DNS answer event: {len(raw)} bytes")
    head = DnsHeadStruct.from_buffer_copy(raw[:head_size])
    if head.transport not in TRANSPORTS:
        raise ValueError(f"DNS answer event has unknown transport {head.transport}")
    return DnsAnswer(key=decode_key(head.key), transport=TRANSPORTS[head.transport], length=head.length,
                     message=raw[head_size:head_size + head.captured], timestamp=head.timestamp_ns / 1e9 + wall_offset)


def decode_header_piece(raw: bytes) -> HeaderPiece:
    head_size = ct.sizeof(HeaderPieceHeadStruct)
    if len(raw) < head_size:
        raise ValueError(f"short header block event: {len(raw)} bytes")
    head = HeaderPieceHeadStruct.from_buffer_copy(raw[:head_size])
    if head.len > len(raw) - head_size or head.side >= len(SIDES):
        raise ValueError(f"header block event holds {head.len} bytes on side {head.side}, in {len(raw)} bytes")
    return HeaderPiece(key=decode_key(head.key), connection=(head.sk, head.connection_ns), side=SIDES[head.side],
                       seq=head.seq, out_of_step=bool(head.out_of_step), stream_id=head.stream_id,
                       frame_type=head.frame_type, flags=head.flags, frame_length=head.frame_length,
                       offset=head.offset, data=raw[head_size:head_size + head.len], timestamp_ns=head.timestamp_ns)


def decode_event(raw: bytes, wall_offset: float):
    """A ring-buffer event as a record; wall_offset turns the kernel's monotonic clock into unix time."""
    kind = int.from_bytes(raw[:4], "little") if len(raw) >= 4 else None
    if kind == EVENT_REQUEST_SAMPLE:
        return decode_sample(raw, wall_offset)
    if kind == EVENT_DNS_ANSWER:
        return decode_dns(raw, wall_offset)
    if kind == EVENT_HEADER_BLOCK:
        return decode_header_piece(raw)
    if len(raw) < ct.sizeof(EventStruct):
        raise ValueError(f"short event: {len(raw)} bytes, expected {ct.sizeof(EventStruct)}")
    e = EventStruct.from_buffer_copy(raw[:ct.sizeof(EventStruct)])
    key = decode_key(e.key)
    when = e.timestamp_ns / 1e9 + wall_offset
    if e.type == EVENT_CONNECT_FAILED:
        return ConnectFailure(key=key, reason=connect_failure_reason(e.error), timestamp=when)
    if e.type in (EVENT_RESET_SENT, EVENT_RESET_RECEIVED):
        return Reset(key=key, direction="sent" if e.type == EVENT_RESET_SENT else "received", timestamp=when)
    raise ValueError(f"unknown event type {e.type}")
