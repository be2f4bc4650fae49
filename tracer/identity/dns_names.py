"""Outside addresses named by the DNS answers local processes read (tracer/protocols/dns.py decodes them).

Keyed by the reader's container (host processes together): one address often serves many names (CDNs, shared
hosting), and the name a client asked for is the one that says what it calls; a table for the whole host
would name every client's edge after whichever answer came last. A container whose DNS is answered in
another container's process (a sidecar resolver in a pod) is not covered.

An entry lives for its answer's TTL, raised to a floor (connections outlive short TTLs: a CDN's 20 s) and cut
to a cap; naming a flow keeps it at least the floor longer, so a connection in use keeps its name. The table
is bounded: the entry used least recently goes first. Reverse DNS is not used: it would put the agent's own
queries on the network, wait on outside servers, and take names from whoever runs the address's zone.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Iterable, Optional

from ..protocols.dns import Answer
from .addresses import normalize

TTL_FLOOR_SECONDS = 60.0
TTL_CAP_SECONDS = 3600.0
MAX_ENTRIES = 16384


class DnsNames:
    """(reader, address) -> the name the reader asked for. Only the drain thread calls it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES):
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[Optional[str], str], tuple[str, float]] = OrderedDict()  # -> (name, expiry)

    def learn(self, reader: Optional[str], answers: Iterable[Answer]) -> None:
        """Remember what one answer gave the reader (a container id, None for host processes)."""
        now = self._clock()
        for answer in answers:
            key = (reader, normalize(answer.address))
            self._entries[key] = (answer.name, now + min(max(answer.ttl, TTL_FLOOR_SECONDS), TTL_CAP_SECONDS))
            self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def name(self, reader: Optional[str], address: str) -> Optional[str]:
        """The name the reader last resolved to this address, while its answer lasts."""
        key = (reader, normalize(address))
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        name, expiry = entry
        if expiry < now:
            del self._entries[key]
            return None
        self._entries[key] = (name, max(expiry, now + TTL_FLOOR_SECONDS))
        self._entries.move_to_end(key)
        return name
