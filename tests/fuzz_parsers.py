"""Fuzz the user-space parsers: many generated inputs per protocol, each a captured real message mutated
(bytes flipped, inserted, deleted, cut, spliced with another message) or random bytes; and HTTP/2's header
block pieces, mutated, cut and lost, through the per-connection decoders. Every input must
describe to a JSON-safe dict whose values are str, float or None, with its parse error counted once, and
the status rule must answer without raising. The generator is seeded: a failure names the seed and the
input's number, and the same run finds it again.

    .venv/bin/python -m tests.fuzz_parsers [--count 1000000] [--seed 1]

CI runs 100,000 inputs per protocol (tests/unit/test_protocols_fuzz.py); docs/reliability.md has the
longer run.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator

from tests.unit import protocol_captures as captured
from tracer.protocols import PROTOCOLS, ParseErrors, classify, describe
from tracer.protocols.http2_streams import Http2Streams
from tracer.capture.records import CLIENT, REQUEST_SIDE, RESPONSE_SIDE, FlowKey, HeaderPiece, RequestSample

KEY = FlowKey(0, 1, "client", CLIENT, "127.0.0.1", "127.0.0.2", 8080)
MAX_BYTES = 512  # a little past what the kernel captures of a message

# what the protocol's requests and responses look like, as captured from real clients and servers
REQUESTS = {
    "http": [captured.LOGIN_REQUEST],
    "redis": [captured.SET, captured.LPUSH, captured.AUTH],
    "postgres": [captured.SELECT_ALICE, captured.PGBENCH_UPDATE, captured.PGBENCH_PREPARED_BIND,
                 captured.PGBENCH_PREPARE],
    "mysql": [captured.MYSQL_SELECT_ALICE, captured.MYSQL_PREPARE, captured.MYSQL_EXECUTE,
              captured.MYSQL_CLOSE_AND_QUIT],
    "http2": [captured.H2_GET_REQUEST],
    "grpc": [captured.GRPC_REQUEST],
}
RESPONSES = {
    "http": [captured.LOGIN_RESPONSE, captured.NOT_FOUND_RESPONSE, captured.CONTINUE_RESPONSE],
    "redis": [captured.HELLO_REPLY, captured.WRONGTYPE, captured.UNKNOWN_COMMAND],
    "postgres": [captured.SELECT_ALICE_RESPONSE, captured.SYNTAX_ERROR, captured.UNDEFINED_TABLE,
                 captured.TWO_SELECTS_RESPONSE, captured.PGBENCH_UPDATE_RESPONSE],
    "mysql": [captured.MYSQL_SELECT_ALICE_RESPONSE, captured.MYSQL_OK, captured.MYSQL_SYNTAX_ERROR,
              captured.MYSQL_NO_SUCH_TABLE, captured.MYSQL_PREPARE_RESPONSE, captured.MYSQL_EXECUTE_RESPONSE],
    "http2": [captured.H2_NOT_FOUND_RESPONSE],
    "grpc": [captured.GRPC_NOT_FOUND_RESPONSE],
}


def mutate(rng: random.Random, message: bytes, corpus: list[bytes]) -> bytes:
    data = bytearray(message)
    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):  # mostly one change: deeper paths
        kind = rng.randrange(6)
        at = rng.randint(0, len(data))
        if kind == 0 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert bytes, often protocol punctuation
            data[at:at] = rng.choice([b"\r\n", b"\x00", b"$", b"*", b"-1", b"9999999999", bytes([rng.randrange(256)])])
        elif kind == 2:  # delete a run
            del data[at:at + rng.randint(1, 16)]
        elif kind == 3:  # cut
            del data[at:]
        elif kind == 4:  # splice in a piece of another message
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            data[at:at] = other[start:start + rng.randint(1, 64)]
        else:  # repeat a run (pipelining, long heads)
            data[at:at] = data[at:at + rng.randint(1, 64)] * rng.randint(2, 8)
    return bytes(data[:MAX_BYTES])


def inputs(protocol: str, seed: int, count: int) -> Iterator[tuple[bytes, bytes]]:
    rng = random.Random(f"{seed}:{protocol}")
    requests, responses = REQUESTS[protocol], RESPONSES[protocol]
    corpus = requests + responses
    for _ in range(count):
        if rng.random() < 0.1:
            yield rng.randbytes(rng.randint(0, MAX_BYTES)), rng.randbytes(rng.randint(0, MAX_BYTES))
            continue
        # one side mutated, the other often intact, so that deeper paths and the pairing are exercised
        request, response = rng.choice(requests), rng.choice(responses)
        side = rng.randrange(3)
        if side != 1:
            request = mutate(rng, request, corpus)
        if side != 0:
            response = mutate(rng, response, corpus)
        yield request, response


def check(protocol: str, request: bytes, response: bytes, errors: ParseErrors) -> None:
    """One input: what the agent does with a sample and a response's first bytes, and what must hold."""
    before = errors.totals().get(protocol, 0)
    description = describe(RequestSample(KEY, protocol, "ok", 1500, request, response, 1.0))
    json.dumps(description)
    assert all(isinstance(value, (str, float, type(None))) for value in description.values()), description
    errors.record(description)
    assert errors.totals()[protocol] - before == (description["parse_error"] is not None), description
    if protocol in classify.STATUS_RULES:  # HTTP/2's status is read in user space, from decoded blocks
        status = classify.status(protocol, response)
        assert status is None or isinstance(status, str), status


def fuzz(protocol: str, seed: int, count: int) -> int:
    """Runs `count` inputs; returns how many were parse errors. Raises, naming the input, on a failure."""
    errors = ParseErrors()
    for number, (request, response) in enumerate(inputs(protocol, seed, count)):
        try:
            check(protocol, request, response, errors)
        except Exception as e:
            raise AssertionError(f"{protocol} input {number} of seed {seed}: request={request!r} "
                                 f"response={response!r}: {e!r}") from e
    return errors.totals().get(protocol, 0)


def header_pieces(seed: int, count: int) -> Iterator[HeaderPiece]:
    """Pieces of header blocks as probes/l7_http2.c sends them, one connection: real blocks mutated, cut into
    frames and pieces at random, with sequence gaps, out-of-step marks and wrong offsets among them."""
    rng = random.Random(f"{seed}:pieces")
    blocks = REQUESTS["http2"] + REQUESTS["grpc"] + RESPONSES["http2"] + RESPONSES["grpc"]
    seq = {REQUEST_SIDE: 0, RESPONSE_SIDE: 0}
    for _ in range(count):
        side = rng.choice((REQUEST_SIDE, RESPONSE_SIDE))
        frame = mutate(rng, rng.choice(blocks), blocks) if rng.random() < 0.5 else rng.choice(blocks)
        offset = rng.randint(0, len(frame)) if rng.random() < 0.2 else 0
        seq[side] += 1 if rng.random() < 0.95 else rng.randint(2, 5)
        yield HeaderPiece(KEY, (1, 1), side, seq[side] - 1, rng.random() < 0.02, rng.randrange(1, 12, 2),
                          rng.choice((1, 1, 9, rng.randrange(256))), rng.randrange(256),
                          len(frame) + (rng.randint(0, 9) if rng.random() < 0.1 else 0), offset,
                          frame[offset:offset + rng.randint(0, len(frame))], rng.randrange(1 << 40))


def fuzz_header_pieces(seed: int, count: int) -> int:
    """Feeds `count` pieces to one Http2Streams; returns the requests they completed. Raises, naming the
    piece, when anything but a request with a str status comes out."""
    streams = Http2Streams()
    completed = 0
    for number, piece in enumerate(header_pieces(seed, count)):
        try:
            done = streams.feed([piece], piece.timestamp_ns)
            assert all(isinstance(c.status, str) and c.protocol in ("http2", "grpc") for c in done), done
        except Exception as e:
            raise AssertionError(f"header piece {number} of seed {seed}: {piece!r}: {e!r}") from e
        completed += len(done)
    return completed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_parsers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs per protocol (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    args = parser.parse_args(argv)
    for protocol in PROTOCOLS:
        started = time.monotonic()
        rejected = fuzz(protocol, args.seed, args.count)
        print(f"{protocol}: {args.count} inputs, {rejected} counted as parse errors, nothing raised "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    started = time.monotonic()
    completed = fuzz_header_pieces(args.seed, args.count)
    print(f"http2 header block pieces: {args.count} inputs, {completed} requests completed, nothing raised "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
