"""100,000 generated inputs per parser (tests/fuzz_parsers.py): nothing raises, every description is
JSON-safe and its parse error counted once. About 3 s a protocol."""
import pytest

from tests import fuzz_parsers
from tracer.protocols import PROTOCOLS

COUNT = 100_000


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_parser_survives_100k_generated_inputs(protocol):
    rejected = fuzz_parsers.fuzz(protocol, seed=1, count=COUNT)
    assert 0 < rejected < COUNT  # the inputs reach both the parse errors and the parsed paths


def test_http2_streams_survive_100k_generated_header_block_pieces():
    completed = fuzz_parsers.fuzz_header_pieces(seed=1, count=COUNT)
    assert 0 < completed < COUNT  # some pieces still make whole requests


def test_a_failure_names_the_protocol_seed_and_input(monkeypatch):
    def raising(sample, redact=True):
        raise IndexError("boom")
    monkeypatch.setattr(fuzz_parsers, "describe", raising)
    with pytest.raises(AssertionError, match=r"redis input 0 of seed 7: request=.*IndexError\('boom'\)"):
        fuzz_parsers.fuzz("redis", seed=7, count=10)
