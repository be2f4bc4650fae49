"""DNS answers decoded into (address, asked name, TTL): A, AAAA, CNAME chains, TCP's length prefix, messages cut
at the probe's sample size, and bytes that are no DNS message. Messages are built with dnspython, the oracle."""
import random

import dns.message
import dns.rcode
import dns.rrset
import pytest

from tracer.capture.probe_constants import DNS_SAMPLE_BYTES
from tracer.protocols.dns import Answer, decode_answers
from tracer.protocols.parsing import ParseError


def response(qname: str, qtype: str, *records: tuple[str, int, str, str], rcode=dns.rcode.NOERROR,
             additional: int = 0) -> bytes:
    """The wire bytes of a response to (qname, qtype) holding records (owner, ttl, type, value), and
    `additional` TXT records in its additional section."""
    message = dns.message.make_response(dns.message.make_query(qname, qtype))
    message.set_rcode(rcode)
    for owner, ttl, rdtype, value in records:
        message.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, value))
    for i in range(additional):
        message.additional.append(dns.rrset.from_text(f"pad{i}.example.org.", 60, "IN", "TXT", '"' + "x" * 200 + '"'))
    return message.to_wire()


def udp(wire: bytes) -> list[Answer]:
    return decode_answers(wire, "udp", len(wire))


def test_a_records_of_the_asked_name():
    wire = response("api.example.com", "A", ("api.example.com.", 300, "A", "203.0.113.10"),
                    ("api.example.com.", 300, "A", "203.0.113.11"))
    assert sorted(udp(wire)) == [Answer("203.0.113.10", "api.example.com", 300),
                                 Answer("203.0.113.11", "api.example.com", 300)]


def test_aaaa_records():
    wire = response("v6.example.com", "AAAA", ("v6.example.com.", 120, "AAAA", "2001:db8::10"))
    assert udp(wire) == [Answer("2001:db8::10", "v6.example.com", 120)]


def test_a_cname_chain_names_the_addresses_after_the_asked_name_with_the_least_ttl():
    wire = response("API.Example.com", "A",
                    ("api.example.com.", 300, "CNAME", "api.cdn.example.net."),
                    ("api.cdn.example.net.", 45, "CNAME", "edge7.cdn.example.net."),
                    ("edge7.cdn.example.net.", 90, "A", "198.51.100.7"),
                    ("unrelated.example.org.", 90, "A", "192.0.2.99"))  # not on the chain: ignored
    assert udp(wire) == [Answer("198.51.100.7", "api.example.com", 45)]


def test_a_cname_loop_ends():
    wire = response("a.example.com", "A", ("a.example.com.", 60, "CNAME", "b.example.com."),
                    ("b.example.com.", 60, "CNAME", "a.example.com."))
    assert udp(wire) == []


def test_queries_errors_and_answers_without_addresses_give_nothing():
    query = dns.message.make_query("api.example.com", "A").to_wire()
    assert udp(query) == []
    assert udp(response("gone.example.com", "A", rcode=dns.rcode.NXDOMAIN)) == []
    assert udp(response("api.example.com", "AAAA")) == []  # NOERROR, no AAAA records
    assert udp(response("example.com", "MX", ("example.com.", 60, "MX", "10 mail.example.com."))) == []


def test_tcp_messages_with_or_without_their_length_prefix():
    wire = response("api.example.com", "A", ("api.example.com.", 30, "A", "203.0.113.10"))
    want = [Answer("203.0.113.10", "api.example.com", 30)]
    prefixed = len(wire).to_bytes(2, "big") + wire
    assert decode_answers(prefixed, "tcp", len(prefixed)) == want  # prefix and message in one read
    assert decode_answers(wire, "tcp", len(wire)) == want  # the prefix was read alone, before


def test_a_message_cut_at_the_sample_size_keeps_its_answer_section():
    wire = response("api.example.com", "A", ("api.example.com.", 30, "A", "203.0.113.10"), additional=4)
    assert len(wire) > DNS_SAMPLE_BYTES
    assert decode_answers(wire[:DNS_SAMPLE_BYTES], "udp", len(wire)) == [Answer("203.0.113.10", "api.example.com", 30)]


def test_a_message_cut_inside_its_answers_gives_nothing():
    wire = response("api.example.com", "A", *[("api.example.com.", 30, "A", f"203.0.113.{i}") for i in range(40)])
    assert len(wire) > 400
    assert decode_answers(wire[:400], "udp", len(wire)) == []


@pytest.mark.parametrize("garbage", [
    b"\x00" * 5,  # shorter than a header
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    bytes(range(256)),
])
def test_bytes_that_are_no_dns_message_are_a_parse_error(garbage):
    with pytest.raises(ParseError):
        decode_answers(garbage, "udp", len(garbage))


def test_mutated_answers_decode_or_raise_parse_error_only():
    wire = response("api.example.com", "A", ("api.example.com.", 300, "CNAME", "edge.example.net."),
                    ("edge.example.net.", 20, "A", "203.0.113.10"))
    rng = random.Random(13)
    outcomes = {"decoded": 0, "parse_error": 0}
    for _ in range(3000):
        mutated = bytearray(wire)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            for answer in udp(bytes(mutated)):
                assert isinstance(answer.address, str) and isinstance(answer.name, str) and answer.ttl >= 0
            outcomes["decoded"] += 1
        except ParseError:
            outcomes["parse_error"] += 1
    assert outcomes["decoded"] and outcomes["parse_error"]
