"""DNS answers a local process read (probes/dns.c), decoded with dnspython into the addresses they give for
the name the client asked, so that the agent can name the outside addresses it then calls.

Only answers to a standard query with one question and no error count. The address records of the end of the
CNAME chain that starts at the question's name are kept, named after the question (what the client asked for,
not a CDN's edge name), with the least TTL along the chain.
"""
from __future__ import annotations

from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from .parsing import ParseError

ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
MAX_CNAME_HOPS = 16  # resolvers give up on longer chains too; also ends a loop
COUNTS_AFTER_ANSWERS = slice(8, 12)  # header: NSCOUNT and ARCOUNT, the sections after the answers


class Answer(NamedTuple):
    address: str
    name: str  # lower case, without the final dot
    ttl: int  # seconds


def decode_answers(message: bytes, transport: str, length: int) -> list[Answer]:
    """The addresses a DNS response names, from the first bytes of a read `length` bytes long.

    A TCP read may start with the message's 2-byte length. A message longer than the bytes captured keeps its
    answer section when that fits (the sections after it are dropped); one whose answers do not fit gives
    nothing. Queries, errors and answers without addresses give nothing. ParseError: the bytes are no DNS message.
    """
    if transport == "tcp" and len(message) >= 2 and int.from_bytes(message[:2], "big") == length - 2:
        message, length = message[2:], length - 2
    cut = len(message) < length
    if cut and len(message) >= COUNTS_AFTER_ANSWERS.stop:
        message = message[:COUNTS_AFTER_ANSWERS.start] + bytes(4) + message[COUNTS_AFTER_ANSWERS.stop:]
    try:
        parsed = dns.message.from_wire(message, ignore_trailing=cut)
    except dns.exception.DNSException as e:
        if cut:
            return []
        raise ParseError(f"not a DNS message: {type(e).__name__}") from None
    if not parsed.flags & dns.flags.QR or parsed.opcode() != dns.opcode.QUERY or parsed.rcode() != dns.rcode.NOERROR:
        return []
    if len(parsed.question) != 1:
        return []
    asked = parsed.question[0].name
    text = asked.to_text(omit_final_dot=True).lower()
    if text == ".":
        return []
    return [Answer(address, text, ttl) for address, ttl in _addresses(parsed, asked)]


def _addresses(parsed: dns.message.Message, asked) -> list[tuple[str, int]]:
    """(address, ttl) of the end of the CNAME chain from `asked`, each with the least TTL on its way."""
    owners = {}
    for rrset in parsed.answer:
        if rrset.rdclass == dns.rdataclass.IN:
            owners.setdefault(rrset.name, []).append(rrset)
    name, ttl = asked, None
    for _ in range(MAX_CNAME_HOPS):
        cname = next((r for r in owners.get(name, ()) if r.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            break
        ttl = cname.ttl if ttl is None else min(ttl, cname.ttl)
        name = cname[0].target
    out = []
    for rrset in owners.get(name, ()):
        if rrset.rdtype in ADDRESS_TYPES:
            out.extend((rdata.address, rrset.ttl if ttl is None else min(ttl, rrset.ttl)) for rdata in rrset)
    return out
