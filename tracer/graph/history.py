"""The embedded history store: a ring of graph views taken at a fixed interval."""
from __future__ import annotations

import bisect
from collections import deque
from itertools import islice

from .view import GraphView


class HistoryRing:
    def __init__(self, interval_seconds: float, retention_seconds: float):
        self.interval = interval_seconds
        self._views: deque[GraphView] = deque(maxlen=max(1, int(retention_seconds // interval_seconds)))

    def due(self, now: float) -> bool:
        return not self._views or now - self._views[-1].timestamp >= self.interval

    def add(self, view: GraphView) -> None:
        self._views.append(view)

    def at(self, timestamp: float) -> GraphView | None:
        """The last view taken at or before `timestamp`, None when the ring holds nothing that old."""
        index = bisect.bisect_right([v.timestamp for v in self._views], timestamp)
        return self._views[index - 1] if index else None

    def span(self) -> tuple[float, float] | None:
        """Timestamps of the oldest and newest views."""
        return (self._views[0].timestamp, self._views[-1].timestamp) if self._views else None

    def recent(self, count: int) -> list[GraphView]:
        """The last `count` views, newest first."""
        return list(islice(reversed(self._views), count))

    def views(self) -> list[GraphView]:
        """Every view, oldest first."""
        return list(self._views)
