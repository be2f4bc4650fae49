"""Address normalisation, this host's addresses from procfs text, and the container IP table."""
import pytest

from tracer.identity.addresses import AddressTable, is_loopback, normalize, parse_fib_trie, parse_if_inet6

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 4
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.17.0.0/16 2 0 2
        +-- 172.17.0.0/31 1 0 0
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.1
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 4
           |-- 127.0.0.1
              /32 host LOCAL
"""
IF_INET6 = """fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def test_normalize_canonical_forms():
    assert normalize("::ffff:10.0.0.7") == "10.0.0.7"
    assert normalize("FD00:0:0::2") == "fd00::2"
    assert normalize("172.17.0.2") == "172.17.0.2"


def test_normalize_names_bad_input():
    with pytest.raises(ValueError, match="not an IP address: 'nope'"):
        normalize("nope")


def test_loopback():
    assert is_loopback("127.0.0.53") and is_loopback("::1")
    assert not is_loopback("172.17.0.1")


def test_fib_trie_local_addresses_only():
    assert parse_fib_trie(FIB_TRIE) == {"127.0.0.1", "172.17.0.1"}


def test_if_inet6_addresses():
    assert parse_if_inet6(IF_INET6) == {"fe80::fc:ff:fe00:1", "::1", "fd00::2"}
    with pytest.raises(ValueError, match="malformed /proc/net/if_inet6"):
        parse_if_inet6("abc 01 80 10 80 lo")


def test_address_table_assign_release_and_grace():
    table = AddressTable(retain=30)
    table.set_addresses("a", ["172.18.0.2", "::ffff:10.0.0.3"], now=0)
    assert table.owner("10.0.0.3", now=1) == "a"
    table.set_addresses("a", ["10.0.0.3"], now=10)  # left one network
    assert table.owner("172.18.0.2", now=39) == "a"  # still answers for late flows
    assert table.owner("172.18.0.2", now=41) is None
    assert table.held() == [("10.0.0.3", "a")]


def test_address_taken_over_by_another_container():
    table = AddressTable(retain=30)
    table.set_addresses("a", ["172.18.0.2"], now=0)
    table.set_addresses("a", [], now=1)  # a stopped
    table.set_addresses("b", ["172.18.0.2"], now=2)  # b got its address
    assert table.owner("172.18.0.2", now=3) == "b"
    table.set_addresses("a", [], now=4)  # a's later update must not release b's address
    assert table.owner("172.18.0.2", now=5) == "b"


def test_prune_forgets_released_addresses():
    table = AddressTable(retain=30)
    table.set_addresses("a", ["172.18.0.2"], now=0)
    table.set_addresses("a", [], now=1)
    table.prune(now=100)
    assert table.owner("172.18.0.2", now=2) is None
