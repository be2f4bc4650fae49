"""Outside peers named by DNS (namespace `external`), bounded: the `external_names` names with the most traffic
keep their names on the graph, every other one counts as INTERNET.

Traffic is bytes both ways since the agent started. A name takes a free place at once; once all are taken, it
takes the place of the kept name with the least traffic only when it has more (a tie keeps the name already
shown, so equal names do not take turns). A name that loses its place keeps its edges with what they counted
until then; its later traffic goes to INTERNET. Names that went quiet for as long as history reaches back are
forgotten, and so is the least busy of the names not kept beyond TRACKED_NAMES.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..identity import EXTERNAL_NAMESPACE, INTERNET, Endpoint

TRACKED_NAMES = 4096  # names whose traffic is counted, kept ones included


class ExternalNames:
    """Which DNS-named peers the graph shows. Only the drain thread calls it."""

    def __init__(self, limit: int, forget_after_seconds: float):
        self._limit = limit
        self._forget_after = forget_after_seconds
        self._bytes: dict[str, int] = {}
        self._last_seen: dict[str, float] = {}
        self._kept: set[str] = set()

    def rank(self, traffic: Iterable[tuple[str, int]], now: float) -> None:
        """Count one drain's bytes per name, then let the busiest names take their places."""
        for name, n in traffic:
            self._bytes[name] = self._bytes.get(name, 0) + n
            self._last_seen[name] = now
        self._forget(now)
        weakest_first = lambda n: (self._bytes[n], n)
        kept = sorted(self._kept, key=weakest_first)
        for name in sorted(set(self._bytes) - self._kept, key=lambda n: (-self._bytes[n], n)):
            if len(kept) >= self._limit:
                if self._bytes[name] <= self._bytes[kept[0]]:
                    break
                self._kept.discard(kept.pop(0))
            self._kept.add(name)
            kept.append(name)
            kept.sort(key=weakest_first)

    def shown(self, peer: Endpoint) -> Endpoint:
        """The peer as the graph shows it: INTERNET for a DNS name beyond the top ones."""
        if peer.namespace == EXTERNAL_NAMESPACE and peer.service not in self._kept:
            return INTERNET
        return peer

    def _forget(self, now: float) -> None:
        for name in [name for name, seen in self._last_seen.items() if now - seen > self._forget_after]:
            self._drop(name)
        spare = sorted(set(self._bytes) - self._kept, key=lambda n: (self._bytes[n], n))
        for name in spare[:max(0, len(self._bytes) - TRACKED_NAMES)]:
            self._drop(name)

    def _drop(self, name: str) -> None:
        del self._bytes[name], self._last_seen[name]
        self._kept.discard(name)
