"""Decoding of request sample events (struct sample_event of probes/l7.c) from bytes built with the mirror."""
import ctypes as ct

import pytest

from tracer.capture import flows
from tracer.capture.records import RequestSample

WINDOW = 256


def sample_bytes(request: bytes, response: bytes, protocol=1, status=b"404", window=WINDOW) -> bytes:
    head = flows.SampleHeadStruct(type=flows.EVENT_REQUEST_SAMPLE, protocol=protocol, timestamp_ns=2_000_000_000,
                                  latency_us=1500, status=status, request_len=len(request),
                                  response_len=len(response))
    head.key.server_port, head.key.role, head.key.comm = 8080, 2, b"nginx"
    return bytes(head) + request.ljust(window, b"\0") + response.ljust(window, b"\0")


def test_sample_fields_and_bytes_cut_to_their_lengths():
    raw = sample_bytes(b"GET /x HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found\r\n")
    sample = flows.decode_event(raw, wall_offset=100.0)
    assert isinstance(sample, RequestSample)
    assert (sample.protocol, sample.status, sample.latency_us, sample.timestamp) == ("http", "404", 1500, 102.0)
    assert (sample.key.server_port, sample.key.role, sample.key.comm) == (8080, "server", "nginx")
    assert sample.request == b"GET /x HTTP/1.1\r\n\r\n"
    assert sample.response == b"HTTP/1.1 404 Not Found\r\n"


def test_window_size_follows_from_the_event_length():
    sample = flows.decode_event(sample_bytes(b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n", protocol=2, status=b"ok",
                                             window=64), 0.0)
    assert (sample.protocol, sample.request, sample.response) == ("redis", b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")


def test_lengths_beyond_the_window_are_cut_to_it():
    head_size = ct.sizeof(flows.SampleHeadStruct)
    raw = bytearray(sample_bytes(b"Q", b"Z", window=8))
    raw[head_size - 8:head_size] = (1000).to_bytes(4, "little") * 2   # request_len, response_len
    sample = flows.decode_event(bytes(raw), 0.0)
    assert (len(sample.request), len(sample.response)) == (8, 8)


def test_bad_samples_raise_naming_the_problem():
    with pytest.raises(ValueError, match="unknown protocol 7"):
        flows.decode_event(sample_bytes(b"", b"", protocol=7), 0.0)
    with pytest.raises(ValueError, match="short request sample"):
        flows.decode_event(sample_bytes(b"", b"")[:ct.sizeof(flows.SampleHeadStruct)], 0.0)
