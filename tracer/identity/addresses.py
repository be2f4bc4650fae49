"""IP addresses: which container holds an address, and which addresses belong to this host."""
from __future__ import annotations

import ipaddress
import threading
from typing import Callable, Iterable, Optional

WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def normalize(addr: str) -> str:
    """Canonical text of an IP address; an IPv4-mapped IPv6 address becomes plain IPv4."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"not an IP address: {addr!r}") from None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def is_loopback(addr: str) -> bool:
    return ipaddress.ip_address(addr).is_loopback


def parse_fib_trie(text: str) -> set[str]:
    """This host's IPv4 addresses from /proc/net/fib_trie: the leaves whose route is `/32 host LOCAL`."""
    found, leaf = set(), None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|-- "):
            leaf = stripped[4:]
        elif leaf and stripped.startswith("/32 host LOCAL"):
            found.add(leaf)
    return found


def parse_if_inet6(text: str) -> set[str]:
    """This host's IPv6 addresses from /proc/net/if_inet6 (32 hex digits first on each line)."""
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if fields:
            if len(fields[0]) != 32:
                raise ValueError(f"malformed /proc/net/if_inet6 line {line!r}")
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return found


def netns_addresses(proc_net: str) -> set[str]:
    """The addresses of a network namespace, from a process's procfs `net` directory in it."""
    with open(f"{proc_net}/fib_trie") as f:
        found = parse_fib_trie(f.read())
    try:
        with open(f"{proc_net}/if_inet6") as f:
            found |= parse_if_inet6(f.read())
    except FileNotFoundError:
        pass  # kernel without IPv6
    return found


class HostAddresses:
    """The addresses of this host's network namespace, refreshed from procfs (pid 1's namespace)."""

    def __init__(self, proc_root: str, extra: Callable[[], Iterable[str]]):
        self._proc_net = f"{proc_root}/1/net"
        self._extra = extra  # addresses Docker told us about (network gateways) before procfs shows them
        self._addresses: frozenset[str] = frozenset()

    def refresh(self) -> None:
        found = netns_addresses(self._proc_net)
        found.update(self._extra())
        self._addresses = frozenset(found)  # replaced whole: readers on other threads see old or new

    def __contains__(self, addr: str) -> bool:
        return addr in self._addresses


class AddressTable:
    """Address -> owner (a container id). A released address keeps answering for `retain` seconds,
    so flows drained just after a container stopped are still named, unless another owner takes it."""

    def __init__(self, retain: float):
        self._retain = retain
        self._lock = threading.Lock()
        self._owner: dict[str, tuple[str, Optional[float]]] = {}  # addr -> (owner, released at)
        self._held: dict[str, set[str]] = {}  # owner -> addrs it holds now

    def set_addresses(self, owner: str, addrs: Iterable[str], now: float) -> None:
        wanted = {normalize(a) for a in addrs}
        with self._lock:
            for addr in self._held.get(owner, set()) - wanted:
                self._owner[addr] = (owner, now)
            for addr in wanted:
                previous = self._owner.get(addr)
                if previous is not None and previous[0] != owner:
                    self._held.get(previous[0], set()).discard(addr)  # taken over: no longer theirs to release
                self._owner[addr] = (owner, None)
            self._held[owner] = wanted

    def owner(self, addr: str, now: float) -> Optional[str]:
        with self._lock:
            entry = self._owner.get(addr)
        if entry is None or (entry[1] is not None and now - entry[1] > self._retain):
            return None
        return entry[0]

    def __len__(self) -> int:
        """Addresses held or released within the retention."""
        with self._lock:
            return len(self._owner)

    def held(self) -> list[tuple[str, str]]:
        """(addr, owner) for addresses held now, sorted by address."""
        with self._lock:
            return sorted((a, o) for a, (o, released) in self._owner.items() if released is None)

    def prune(self, now: float) -> None:
        with self._lock:
            for addr, (owner, released) in list(self._owner.items()):
                if released is not None and now - released > self._retain:
                    del self._owner[addr]
            for owner, addrs in list(self._held.items()):
                if not addrs:
                    del self._held[owner]
