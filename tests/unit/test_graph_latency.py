"""Percentiles and Prometheus buckets from the kernel's log2 latency histograms."""
import pytest

from tracer.graph.latency import BUCKET_BOUNDS_SECONDS, cumulative_buckets, percentile_us
from tracer.capture.records import LATENCY_BUCKETS


def histogram(**counts):
    out = [0] * LATENCY_BUCKETS
    for name, n in counts.items():
        out[int(name[1:])] = n
    return out


def test_no_requests_no_percentile():
    assert percentile_us([0] * LATENCY_BUCKETS, 0, 0.5) is None


def test_interpolates_linearly_within_the_bucket():
    # 100 requests in [1024, 2048) us and 100 in [2048, 4096) us
    buckets = histogram(b10=100, b11=100)
    assert percentile_us(buckets, 0, 0.25) == 1024 + 1024 * 0.5
    assert percentile_us(buckets, 0, 0.5) == 2048
    assert percentile_us(buckets, 0, 0.99) == 2048 + 2048 * 0.98


def test_one_occupied_bucket_gives_the_mean():
    # 10 requests of 200 ms: the bucket spans 131-262 ms, the mean is exact
    buckets = histogram(b17=10)
    assert percentile_us(buckets, 10 * 200_000, 0.5) == 200_000
    assert percentile_us(buckets, 10 * 200_000, 0.99) == 200_000


def test_the_open_last_bucket_reports_its_lower_bound():
    last = LATENCY_BUCKETS - 1
    buckets = histogram(b0=1, **{f"b{last}": 9})
    assert percentile_us(buckets, 0, 0.99) == 2**last


def test_bucket_zero_starts_at_zero():
    assert percentile_us(histogram(b0=2, b1=2), 0, 0.25) == 1.0


def test_cumulative_buckets_have_bounds_of_powers_of_two_microseconds():
    assert BUCKET_BOUNDS_SECONDS[0] == pytest.approx(2e-6)
    assert BUCKET_BOUNDS_SECONDS[-1] == pytest.approx(2**26 / 1e6)
    out = cumulative_buckets(histogram(b0=1, b10=2, b26=3))
    assert len(out) == LATENCY_BUCKETS
    assert out[0] == (2e-06, 1) and out[9][1] == 1 and out[10][1] == 3
    assert out[-2][1] == 3 and out[-1] == (float("inf"), 6)
