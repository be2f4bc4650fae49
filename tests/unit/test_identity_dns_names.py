"""Addresses named by the DNS answers each container read: TTLs raised to a floor and cut to a cap, kept alive
while flows use them, per reader, bounded."""
import os

import dns.message
import dns.rrset

from tracer.identity import Endpoint, Identity
from tracer.identity.dns_names import TTL_CAP_SECONDS, TTL_FLOOR_SECONDS, DnsNames
from tracer.protocols.dns import Answer
from tracer.capture.records import CLIENT, DnsAnswer, FlowKey

WEB, SHOP = "c-web", "c-shop"


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def names(**kwargs):
    clock = Clock()
    return DnsNames(clock, **kwargs), clock


def test_an_answer_names_its_address_until_its_ttl_runs_out():
    table, clock = names()
    table.learn(WEB, [Answer("203.0.113.10", "api.example.com", 300)])
    clock.now += 299
    assert table.name(WEB, "203.0.113.10") == "api.example.com"
    # the lookup kept it for the floor from then on: a connection in use keeps its name
    clock.now += TTL_FLOOR_SECONDS
    assert table.name(WEB, "::ffff:203.0.113.10") == "api.example.com"  # the probes' IPv4-mapped form
    clock.now += TTL_FLOOR_SECONDS + 1
    assert table.name(WEB, "203.0.113.10") is None


def test_short_ttls_are_raised_to_the_floor_and_long_ones_cut_to_the_cap():
    table, clock = names()
    table.learn(WEB, [Answer("203.0.113.10", "cdn.example.com", 5), Answer("203.0.113.11", "slow.example.com", 86400)])
    clock.now += TTL_FLOOR_SECONDS - 1
    assert table.name(WEB, "203.0.113.10") == "cdn.example.com"
    clock.now = 100.0 + TTL_CAP_SECONDS + 1
    assert table.name(WEB, "203.0.113.11") is None


def test_each_reader_has_its_own_names():
    table, _ = names()
    table.learn(WEB, [Answer("198.51.100.7", "api.example.com", 60)])
    table.learn(SHOP, [Answer("198.51.100.7", "static.example.org", 60)])  # one CDN address, two names
    assert table.name(WEB, "198.51.100.7") == "api.example.com"
    assert table.name(SHOP, "198.51.100.7") == "static.example.org"
    assert table.name(None, "198.51.100.7") is None  # host processes asked nothing


def test_a_newer_answer_replaces_the_name():
    table, _ = names()
    table.learn(WEB, [Answer("203.0.113.10", "old.example.com", 60)])
    table.learn(WEB, [Answer("203.0.113.10", "new.example.com", 60)])
    assert table.name(WEB, "203.0.113.10") == "new.example.com"


def test_the_table_is_bounded_and_forgets_the_entry_used_least_recently():
    table, _ = names(max_entries=3)
    table.learn(WEB, [Answer(f"203.0.113.{i}", f"n{i}.example.com", 60) for i in range(3)])
    assert table.name(WEB, "203.0.113.0") == "n0.example.com"  # used: now the most recent
    table.learn(WEB, [Answer("203.0.113.3", "n3.example.com", 60)])
    assert [table.name(WEB, f"203.0.113.{i}") for i in range(4)] == [
        "n0.example.com", None, "n2.example.com", "n3.example.com"]


def read_by_me(message: bytes) -> DnsAnswer:
    """A DNS message as the probes hand over one this test process read."""
    reader = FlowKey(cgroup_id=0, tgid=os.getpid(), comm="pytest", role=CLIENT, local_addr="127.0.0.1",
                     peer_addr="127.0.0.53", server_port=53)
    return DnsAnswer(reader, "udp", len(message), message, 0.0)


def test_identity_names_an_address_by_the_answer_its_process_read_and_counts_garbage(tmp_path):
    (tmp_path / "memory").mkdir()
    identity = Identity(str(tmp_path / "memory"), "v1", docker_url=f"unix://{tmp_path}/no-docker.sock")
    answer = dns.message.make_response(dns.message.make_query("api.example.com", "A"))
    answer.answer.append(dns.rrset.from_text("api.example.com.", 30, "IN", "A", "203.0.113.10"))
    identity.learn_dns([read_by_me(answer.to_wire()), read_by_me(b"not a DNS message at all")])
    me = identity.local(0, os.getpid(), "pytest")
    assert identity.peer("203.0.113.10", me) == Endpoint("api.example.com", "external")
    assert identity.peer("203.0.113.11", me) == Endpoint("INTERNET", "")
    assert identity.dns_parse_errors == 1
