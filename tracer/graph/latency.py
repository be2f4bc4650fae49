"""The kernel's log2 latency histograms: percentiles and Prometheus buckets.

Bucket i counts latencies in [2**i, 2**(i+1)) microseconds; bucket 0 also takes everything under 1 us
and the last bucket everything above (records.LATENCY_BUCKETS).
"""
from __future__ import annotations

from collections.abc import Sequence

from ..capture.records import LATENCY_BUCKETS

# Upper bound of each bucket but the last, in seconds: the `le` bounds of intuition_request_duration_seconds.
BUCKET_BOUNDS_SECONDS = tuple(2 ** (i + 1) / 1e6 for i in range(LATENCY_BUCKETS - 1))


def _bucket_range_us(i: int) -> tuple[float, float]:
    low = 0.0 if i == 0 else float(2**i)
    # nothing bounds the last bucket from above: report its lower bound rather than invent one
    high = low if i == LATENCY_BUCKETS - 1 else float(2 ** (i + 1))
    return low, high


def percentile_us(buckets: Sequence[int], sum_us: int, q: float) -> float | None:
    """The q-quantile (0 < q <= 1) in microseconds, interpolated linearly within its bucket.

    When every request fell into one bucket their mean is known exactly and is a better estimate than
    any point interpolated inside a bucket twice as wide as its start. None when there are no requests.
    """
    total = sum(buckets)
    if total == 0:
        return None
    occupied = [i for i, n in enumerate(buckets) if n]
    if len(occupied) == 1:
        low, high = _bucket_range_us(occupied[0])
        return min(max(sum_us / total, low), high) if high > low else low
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            low, high = _bucket_range_us(i)
            return low + (high - low) * (rank - seen) / n
        seen += n
    return _bucket_range_us(occupied[-1])[0]


def cumulative_buckets(buckets: Sequence[int]) -> list[tuple[float, int]]:
    """(upper bound in seconds, cumulative count) per bucket, ending with (inf, total)."""
    out = []
    running = 0
    for bound, n in zip(BUCKET_BOUNDS_SECONDS, buckets):
        running += n
        out.append((bound, running))
    out.append((float("inf"), sum(buckets)))
    return out
