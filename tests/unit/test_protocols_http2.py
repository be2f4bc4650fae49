"""HTTP/2 and gRPC requests from header block pieces as probes/l7_http2.c sends them: frames split anywhere,
CONTINUATION, padding, lost pieces counted as unknown, and the samples' redaction."""
import itertools

from hpack import Encoder

from tracer.protocols import http2
from tracer.protocols.http2_streams import (CONTINUATION, END_HEADERS, END_STREAM, HEADERS, PADDED, PRIORITY,
                                            Http2Streams, header_fragment, samples, standalone_block)
from tracer.capture.records import REQUEST_SIDE, RESPONSE_SIDE, SERVER, FlowKey, HeaderPiece

KEY = FlowKey(0, 7, "server", SERVER, "127.0.0.1", "127.0.0.1", 8080)
GET = [(b":method", b"GET"), (b":path", b"/items?token=secret"), (b":scheme", b"http"),
       (b":authority", b"shop:8080"), (b"user-agent", b"h2load nghttp2/1.52.0")]
GRPC_CALL = [(b":method", b"POST"), (b":path", b"/store.Store/Get"), (b":scheme", b"http"),
             (b"content-type", b"application/grpc"), (b"te", b"trailers")]


CLOCK = itertools.count(10**9, 1000)  # the kernel's: each piece 1 us after the one before


class Peer:
    """One direction of a connection as the kernel reports it: an HPACK encoder and the pieces' sequence."""

    def __init__(self, side: str, connection=(0xffff1, 1)):
        self.side, self.connection = side, connection
        self.encoder = Encoder()
        self.seq = 0
        self.clock = 0

    def piece(self, stream, frame_type, flags, frame: bytes, offset=0, length=None, out_of_step=False):
        self.seq += 1
        self.clock = next(CLOCK)
        data = frame[offset:offset + length] if length is not None else frame[offset:]
        return HeaderPiece(KEY, self.connection, self.side, self.seq - 1, out_of_step, stream, frame_type, flags,
                           len(frame), offset, data, self.clock)

    def block(self, stream, headers, end_stream=False):
        """The pieces of one HEADERS frame holding the whole block."""
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return [self.piece(stream, HEADERS, flags, self.encoder.encode(headers))]


def statuses(done):
    return sorted((c.protocol, c.status) for c in done)


def test_concurrent_streams_answered_out_of_order():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    pieces = client.block(1, GET) + client.block(3, GET) + client.block(5, GET)
    pieces += server.block(5, [(b":status", b"404")]) + server.block(1, [(b":status", b"200")])
    pieces += server.block(3, [(b":status", b"200"), (b"content-type", b"text/plain")])
    done = streams.feed(pieces, 0)
    assert statuses(done) == [("http2", "200"), ("http2", "200"), ("http2", "404")]
    assert [c.latency_us for c in done] == [1, 4, 4]  # from each request's HEADERS to its response's
    assert streams.parse_errors == 0


def test_grpc_status_comes_from_the_trailers():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    pieces = client.block(1, GRPC_CALL) + client.block(3, GRPC_CALL)
    pieces += server.block(1, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    assert streams.feed(pieces, 0) == []  # waits for the trailers
    pieces = server.block(1, [(b"grpc-status", b"0")], end_stream=True)
    # trailers-only: an error answered in one block
    pieces += server.block(3, [(b":status", b"200"), (b"content-type", b"application/grpc"),
                               (b"grpc-status", b"5"), (b"grpc-message", b"no such key")], end_stream=True)
    done = streams.feed(pieces, 0)
    assert statuses(done) == [("grpc", "NOT_FOUND"), ("grpc", "OK")]
    assert done[0].latency_us == 2  # to the response's first HEADERS, not to its trailers


def test_grpc_without_status_and_out_of_table_codes_are_unknown():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    pieces = client.block(1, GRPC_CALL) + client.block(3, GRPC_CALL)
    pieces += server.block(1, [(b":status", b"200"), (b"content-type", b"application/grpc")], end_stream=True)
    pieces += server.block(3, [(b":status", b"200"), (b"grpc-status", b"99")], end_stream=True)
    assert statuses(streams.feed(pieces, 0)) == [("grpc", "unknown"), ("grpc", "unknown")]


def test_interim_response_waits_for_the_final_one():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    pieces = client.block(1, GET) + server.block(1, [(b":status", b"103")]) + server.block(1, [(b":status", b"201")])
    assert statuses(streams.feed(pieces, 0)) == [("http2", "201")]


def test_frames_split_into_pieces_anywhere_and_continuation():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    block = client.encoder.encode(GET)
    first, second = block[:7], block[7:]
    # a HEADERS frame in two pieces (a read ended inside it), then a CONTINUATION in three
    pieces = [client.piece(1, HEADERS, 0, first, 0, 3), client.piece(1, HEADERS, 0, first, 3),
              client.piece(1, CONTINUATION, END_HEADERS, second, 0, 1),
              client.piece(1, CONTINUATION, END_HEADERS, second, 1, 4),
              client.piece(1, CONTINUATION, END_HEADERS, second, 5)]
    pieces += server.block(1, [(b":status", b"500")])
    done = streams.feed(pieces, 0)
    assert statuses(done) == [("http2", "500")]
    assert http2.parse_request(standalone_block(done[0].request), redact=False).target == "/items?token=secret"


def test_padding_and_priority_are_not_part_of_the_block():
    block = Encoder().encode([(b":status", b"200")])
    frame = bytes([3]) + b"\x80\x00\x00\x01\x10" + block + b"\0\0\0"
    assert header_fragment(HEADERS, PADDED | PRIORITY | END_HEADERS, frame) == block
    assert header_fragment(HEADERS, PADDED, b"\x09abc") is None  # more padding than frame
    assert header_fragment(CONTINUATION, PADDED, frame) == frame  # CONTINUATION has no padding


def test_a_lost_piece_makes_what_cannot_be_decoded_unknown_then_resynchronises():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    ok = [(b":status", b"200"), (b"content-type", b"application/json"), (b"server", b"shop")]
    done = streams.feed(client.block(1, GET) + server.block(1, ok), 0)
    assert statuses(done) == [("http2", "200")]
    # the ring buffer had no room for the response to stream 3: its piece never arrives
    lost = server.block(3, [(b":status", b"404"), (b"x-new-entry", b"a")])
    assert lost
    # stream 5's response refers to table entries that the decoder, begun again, does not hold: unknown, never
    # a guess; stream 7's response needs the static table only, and decodes
    pieces = client.block(3, GET) + client.block(5, GET) + client.block(7, GET) + server.block(5, ok)
    pieces += server.block(7, [(b":status", b"404")])
    done = streams.feed(pieces, 0)
    assert statuses(done) == [("http2", "404"), ("http2", "unknown")]
    assert streams.parse_errors == 0  # a loss is not malformed traffic


def test_the_kernel_out_of_step_resets_the_decoder():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    streams.feed(client.block(1, GET) + server.block(1, [(b":status", b"200"), (b"server", b"shop")]), 0)
    pieces = client.block(3, GET)
    again = server.encoder.encode([(b":status", b"200"), (b"server", b"shop")])  # indexed: needs the table
    pieces.append(server.piece(3, HEADERS, END_HEADERS, again, out_of_step=True))
    assert statuses(streams.feed(pieces, 0)) == [("http2", "unknown")]


def test_a_response_whose_request_was_lost_counts_unknown_without_latency():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    client.block(1, GET)  # never delivered: the request decoder is out of step
    done = streams.feed(server.block(1, [(b":status", b"200")]), 0)
    assert [(c.protocol, c.status, c.latency_us) for c in done] == [("http2", "200", 0)]


def test_malformed_block_of_a_connection_in_step_is_a_parse_error():
    streams, client = Http2Streams(), Peer(REQUEST_SIDE)
    streams.feed([client.piece(1, HEADERS, END_HEADERS, b"\xff\xff\xff\xff\xff")], 0)  # an index past any table
    assert streams.parse_errors == 1


def test_idle_connections_are_forgotten():
    streams, client = Http2Streams(), Peer(REQUEST_SIDE)
    streams.feed(client.block(1, GET), 0)
    streams.feed([], client.clock + 601 * 10**9)
    assert streams._connections == {}


def test_samples_redact_like_http_and_keep_errors_first():
    streams, client, server = Http2Streams(), Peer(REQUEST_SIDE), Peer(RESPONSE_SIDE)
    pieces = []
    for stream in range(1, 21, 2):
        pieces += client.block(stream, GET + [(b"authorization", b"Bearer abc")])
        pieces += server.block(stream, [(b":status", b"200" if stream > 3 else b"503")])
    taken = samples(streams.feed(pieces, 0), budget=4, wall_offset=0.0)
    assert sorted(s.status for s in taken) == ["200", "200", "503", "503"]  # successes get half the budget
    request = http2.parse_request(taken[0].request, redact=True)
    assert (request.operation, request.target) == ("GET", "/items")
    assert "secret" not in request.text and "abc" not in request.text and "authorization: ?" in request.text
    assert http2.parse_response(taken[0].response, redact=True).detail == "503"
