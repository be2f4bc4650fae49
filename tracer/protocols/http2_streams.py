"""HTTP/2 and gRPC requests from the pieces of header blocks that the kernel sends (probes/l7_http2.c).

Per connection and direction: the pieces are put back into frames and header blocks, and one HPACK decoder
(the `hpack` library) reads them. Per stream: the request's HEADERS start a request, the response's first
final HEADERS give its latency, and its status is the trailers' `grpc-status` for gRPC (content-type
application/grpc), else `:status`.

A lost piece (a gap in the kernel's sequence, the kernel out of step, a block cut) leaves the decoder's dynamic
table behind the encoder's. The decoder then starts again from an empty table, which holds only entries the
encoder has added since: every index it still resolves names the same entry as the encoder's, and an index
that points past its table fails. So a block decodes right or not at all, and what does not decode counts as
`unknown`, never as a wrong status. Once the encoder's references fall within what was added since the loss,
blocks decode again: the connection has resynchronised.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from hpack import Decoder, Encoder, HPACKError

from ..capture.records import REQUEST_SIDE, FlowKey, HeaderPiece, RequestCounts, RequestSample

HEADERS, CONTINUATION = 0x1, 0x9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
MAX_TABLE_SIZE = 65536  # the largest dynamic table size update a decoder accepts (peers announce 4096 mostly)
MAX_BLOCK = 65536  # bytes of one header block; a longer one is cut, and its requests count as unknown
MAX_CONNECTIONS = 4096  # connections whose decoders are kept, the least recently active dropped first
MAX_STREAMS = 256  # open streams kept per connection (servers allow 100 to 128 at once)
IDLE_NS = 600 * 10**9  # a connection without header blocks for this long is forgotten
UNKNOWN = "unknown"
GRPC_STATUS_NAMES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                     "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
                     "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED")

Headers = list[tuple[bytes, bytes]]


def header(headers: Headers | None, name: bytes) -> bytes | None:
    """The first value of `name` in a decoded block, None without one (or without a decoded block)."""
    for field_name, value in headers or ():
        if field_name == name:
            return value
    return None


def is_grpc(headers: Headers | None) -> bool | None:
    """Whether a decoded block says gRPC by its content-type; None when it did not decode."""
    if headers is None:
        return None
    return (header(headers, b"content-type") or b"").startswith(b"application/grpc")


def grpc_status(value: bytes) -> str:
    """A grpc-status value by its code's name ("5" -> "NOT_FOUND"); a value out of the table is unknown."""
    return GRPC_STATUS_NAMES[int(value)] if value.isdigit() and int(value) < len(GRPC_STATUS_NAMES) else UNKNOWN


def http_status(headers: Headers | None) -> str:
    status = header(headers, b":status")
    return status.decode() if status and len(status) == 3 and status.isdigit() and status[:1] in b"12345" else UNKNOWN


def standalone_block(headers: Headers) -> bytes:
    """The headers as a block that a fresh decoder reads: what a sample keeps of them."""
    return Encoder().encode(headers)


@dataclass
class Block:
    """One decoded header block: headers is None when it could not be decoded."""

    stream_id: int
    end_stream: bool
    timestamp_ns: int
    headers: Headers | None


@dataclass
class _Direction:
    """One direction of a connection: its HPACK decoder and the frame and block being put together."""

    decoder: Decoder | None = None  # None until the first piece: from the connection's start, or out of step
    next_seq: int = 0
    frame: bytearray = field(default_factory=bytearray)
    block: bytearray | None = None  # fragments of the block so far; None between blocks
    block_start: HeaderPiece | None = None  # the block's HEADERS piece
    in_step: bool = False  # every piece since the connection's start arrived: a failed block is malformed

    def lose(self) -> None:
        """The encoder's table is ahead of this decoder's: begin again from an empty one."""
        self.decoder = Decoder(max_header_list_size=MAX_BLOCK)
        self.decoder.max_allowed_table_size = MAX_TABLE_SIZE
        self.in_step = False
        self.frame.clear()
        self.block = None
        self.block_start = None


@dataclass
class _Stream:
    started_ns: int | None  # None when its request block was lost: latency 0
    request: Headers | None
    grpc: bool | None
    responded_ns: int | None = None
    response: Headers = field(default_factory=list)


@dataclass
class _Connection:
    key: FlowKey
    last_ns: int
    sides: dict[str, _Direction] = field(default_factory=dict)
    streams: OrderedDict[int, _Stream] = field(default_factory=OrderedDict)


@dataclass
class Completed:
    """One request with its outcome: counted on its flow, and a sample when the budget allows."""

    key: FlowKey
    protocol: str  # "http2" or "grpc"
    status: str
    latency_us: int
    responded_ns: int
    request: Headers | None
    response: Headers


class Http2Streams:
    """Header block pieces in, requests out. One instance per collector, fed once a drain."""

    def __init__(self) -> None:
        self._connections: OrderedDict[tuple[int, int], _Connection] = OrderedDict()
        self.parse_errors = 0  # blocks that did not decode although every piece of the connection arrived

    def feed(self, pieces: list[HeaderPiece], now_ns: int) -> list[Completed]:
        done: list[Completed] = []
        for piece in pieces:
            connection = self._connection(piece)
            block = self._add_piece(connection.sides.setdefault(piece.side, _Direction()), piece)
            if block is not None:
                done += self._on_block(connection, piece.side, block)
        self._forget_idle(now_ns)
        return done

    def _connection(self, piece: HeaderPiece) -> _Connection:
        connection = self._connections.get(piece.connection)
        if connection is None:
            connection = self._connections[piece.connection] = _Connection(piece.key, piece.timestamp_ns)
            if len(self._connections) > MAX_CONNECTIONS:
                self._connections.popitem(last=False)
        self._connections.move_to_end(piece.connection)
        connection.key, connection.last_ns = piece.key, piece.timestamp_ns
        return connection

    def _forget_idle(self, now_ns: int) -> None:
        while self._connections:
            oldest = next(iter(self._connections.values()))
            if now_ns - oldest.last_ns < IDLE_NS:
                return
            self._connections.popitem(last=False)

    def _add_piece(self, side: _Direction, piece: HeaderPiece) -> Block | None:
        """The block this piece completes, if it does."""
        if side.decoder is None:
            side.lose()
            side.in_step = piece.seq == 0 and not piece.out_of_step
        elif piece.seq != side.next_seq or piece.out_of_step:
            side.lose()
        side.next_seq = piece.seq + 1
        if piece.offset == 0:
            if not self._frame_begins(side, piece):
                return None
        elif side.block is None or piece.offset != len(side.frame):
            return None  # the rest of a frame whose start was lost
        side.frame += piece.data
        if len(side.frame) < piece.frame_length:
            return None
        return self._frame_complete(side, piece)

    def _frame_begins(self, side: _Direction, piece: HeaderPiece) -> bool:
        """Whether the frame fits where the direction is: a HEADERS frame between blocks, a CONTINUATION of
        the same stream within one."""
        starts_block = piece.frame_type == HEADERS
        if starts_block != (side.block is None) or (not starts_block and side.block_start.stream_id != piece.stream_id):
            self._malformed(side)
            return False
        if starts_block:
            side.block, side.block_start = bytearray(), piece
        side.frame.clear()
        return True

    def _frame_complete(self, side: _Direction, piece: HeaderPiece) -> Block | None:
        fragment = header_fragment(piece.frame_type, piece.flags, bytes(side.frame))
        side.frame.clear()
        if fragment is None:
            self._malformed(side)
            return None
        side.block += fragment
        if len(side.block) > MAX_BLOCK:
            side.lose()  # cut: what it added to the encoder's table is unknown
            return None
        if not piece.flags & END_HEADERS:
            return None
        start, data = side.block_start, bytes(side.block)
        side.block, side.block_start = None, None
        try:
            headers = [(bytes(name), bytes(value)) for name, value in side.decoder.decode(data, raw=True)]
        except (HPACKError, ValueError):
            if side.in_step:
                self.parse_errors += 1
            side.lose()
            headers = None
        return Block(start.stream_id, bool(start.flags & END_STREAM), start.timestamp_ns, headers)

    def _malformed(self, side: _Direction) -> None:
        if side.in_step:
            self.parse_errors += 1
        side.lose()

    def _on_block(self, connection: _Connection, side: str, block: Block) -> list[Completed]:
        streams = connection.streams
        if side == REQUEST_SIDE:
            if block.stream_id not in streams:  # else the request's trailers
                streams[block.stream_id] = _Stream(block.timestamp_ns, block.headers, is_grpc(block.headers))
                if len(streams) > MAX_STREAMS:
                    streams.popitem(last=False)  # never answered, as far as we can tell: not counted
            return []
        stream = streams.get(block.stream_id)
        if stream is None:  # its request block was lost
            stream = streams[block.stream_id] = _Stream(None, None, None)
        first = stream.responded_ns is None
        if first:
            if http_status(block.headers).startswith("1"):
                return []  # interim (100 Continue, 103 Early Hints): the final response follows
            stream.responded_ns = block.timestamp_ns
            if stream.grpc is None:
                stream.grpc = is_grpc(block.headers)
        stream.response += block.headers or []
        outcome = self._outcome(stream, block, first)
        if outcome is None:
            return []
        del streams[block.stream_id]
        protocol, status = outcome
        latency_ns = stream.responded_ns - stream.started_ns if stream.started_ns is not None else 0
        return [Completed(connection.key, protocol, status, max(0, latency_ns) // 1000, stream.responded_ns,
                          stream.request, stream.response)]

    @staticmethod
    def _outcome(stream: _Stream, block: Block, first: bool) -> tuple[str, str] | None:
        """(protocol, status) once the response says it, None while gRPC trailers are still to come."""
        value = header(block.headers, b"grpc-status")
        if value is not None:
            return "grpc", grpc_status(value)
        if stream.grpc:
            return ("grpc", UNKNOWN) if block.end_stream or not first else None
        return "http2", http_status(block.headers) if first else UNKNOWN


def header_fragment(frame_type: int, flags: int, payload: bytes) -> bytes | None:
    """A frame's part of the header block: a HEADERS frame's payload without its padding and priority
    fields. None when the padding does not fit the frame."""
    if frame_type != HEADERS:
        return payload
    start, padding = 0, 0
    if flags & PADDED:
        if not payload:
            return None
        start, padding = 1, payload[0]
    if flags & PRIORITY:
        start += 5
    if start + padding > len(payload):
        return None
    return payload[start:len(payload) - padding]


def samples(done: list[Completed], budget: int, wall_offset: float) -> list[RequestSample]:
    """Samples of some completed requests, as the kernel budgets its own (probes/l7.c): errors may use the
    whole budget, successes half of it. wall_offset turns the monotonic clock into unix time."""
    out = []
    successes = 0
    for request in done:
        if len(out) >= budget:
            break
        if request.status == "OK" or request.status[:1] in ("1", "2", "3"):
            if successes >= (budget + 1) // 2:
                continue
            successes += 1
        out.append(RequestSample(key=request.key, protocol=request.protocol, status=request.status,
                                 latency_us=request.latency_us, request=standalone_block(request.request or []),
                                 response=standalone_block(request.response),
                                 timestamp=request.responded_ns / 1e9 + wall_offset))
    return out
