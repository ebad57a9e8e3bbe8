"""Tests for pyload._stats: wrk's histogram maths (stats.c) and the HdrHistogram helpers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from pyload._hdr import HDR_HIGHEST, encode_hdr, hdr_from_counts, merge_encoded_hdr, new_hdr
from pyload._stats import (
    RATE_LIMIT,
    ExactHistogram,
    StatsRow,
    stats_row,
)
from pyload.units import LONGDOUBLE_IS_X87

LD = np.longdouble
LATENCY_LIMIT = 2_000_001  # default --timeout 2 s


def histogram_of(values: list[int], limit: int | None = LATENCY_LIMIT) -> ExactHistogram:
    histogram = ExactHistogram(limit)
    for value in values:
        histogram.record(value)
    return histogram


# --- literal re-implementations of wrk's stats.c loops (slow, for comparison) -------------------


def slow_mean(h: ExactHistogram) -> np.longdouble:
    if h.count == 0:
        return LD(0)
    assert h.min is not None
    total = 0
    for i in range(h.min, h.max + 1):
        total += h.counts.get(i, 0) * i
    return LD(total) / LD(h.count)


def slow_stdev(h: ExactHistogram, mean: np.longdouble) -> np.longdouble:
    if h.count < 2:
        return LD(0)
    assert h.min is not None
    acc = LD(0)
    for i in range(h.min, h.max + 1):
        if h.counts.get(i, 0):
            deviation = LD(i) - mean
            acc = acc + deviation * deviation * LD(h.counts[i])
    return LD(np.sqrt(acc / LD(h.count - 1)))


def slow_within(h: ExactHistogram, mean: np.longdouble, stdev: np.longdouble) -> float:
    assert h.min is not None
    upper, lower = mean + stdev, mean - stdev
    inside = sum(h.counts.get(i, 0) for i in range(h.min, h.max + 1) if lower <= LD(i) <= upper)
    return float(LD(inside) / LD(h.count) * LD(100))


def slow_percentile(h: ExactHistogram, p: float) -> int:
    rank = math.floor(float(LD(p) / LD(100.0) * LD(h.count) + LD(0.5)) + 0.5)  # x >= 0
    if h.min is None:
        return 0
    total = 0
    for i in range(h.min, h.max + 1):
        total += h.counts.get(i, 0)
        if total >= rank:
            return i
    return 0


def slow_correct(h: ExactHistogram, runtime_us: int, complete: int, connections: int) -> tuple:
    """wrk's stats_correct() loop, verbatim. Returns (counts, count)."""
    data = dict(h.counts)
    count = h.count
    if complete // connections > 0:
        expected = runtime_us // (complete // connections)
        for n in range(expected * 2, h.max + 1):
            k = data.get(n, 0)
            m = n - expected
            while k and m > expected:
                data[m] = data.get(m, 0) + k
                count += k
                m -= expected
    return {v: c for v, c in data.items() if c}, count


# --- recording ------------------------------------------------------------------------------------


def test_empty_histogram() -> None:
    h = ExactHistogram(LATENCY_LIMIT)
    assert (h.count, h.min, h.max, h.to_counts()) == (0, None, 0, {})
    assert h.mean() == 0
    assert h.stdev(h.mean()) == 0
    assert np.isnan(h.within_stdev(h.mean(), h.stdev(h.mean())))
    assert [h.percentile(p) for p in (0, 50, 99, 100)] == [0, 0, 0, 0]


def test_record_respects_limit() -> None:
    h = ExactHistogram(limit=100)
    assert h.record(99)
    assert not h.record(100)
    assert not h.record(10**9)
    assert h.record(0, 3)
    assert (h.count, h.min, h.max, h.to_counts()) == (4, 0, 99, {99: 1, 0: 3})
    unlimited = ExactHistogram()
    assert unlimited.record(10**15)
    assert unlimited.max == 10**15


def test_record_rejects_nonsense() -> None:
    h = ExactHistogram()
    with pytest.raises(ValueError):
        h.record(-1)
    with pytest.raises(ValueError):
        h.record(5, 0)
    with pytest.raises(ValueError):
        ExactHistogram(-1)


def test_from_counts_round_trip_and_limit() -> None:
    h = ExactHistogram.from_counts({5: 2, 7: 0, 3: 1, 50: 4}, limit=10)
    assert h.to_counts() == {5: 2, 3: 1}
    assert (h.count, h.min, h.max, h.limit) == (3, 3, 5, 10)
    assert ExactHistogram.from_counts(h.to_counts(), 10) == h


def test_to_counts_is_a_copy() -> None:
    h = histogram_of([1, 2, 2])
    h.to_counts()[1] = 100
    assert h.to_counts() == {1: 1, 2: 2}


def test_merge_equals_one_histogram_of_all_values() -> None:
    rng = random.Random(7)
    parts = [[rng.randint(0, 50_000) for _ in range(rng.randint(0, 3000))] for _ in range(5)]
    parts.append([])  # an idle worker
    merged = ExactHistogram(LATENCY_LIMIT)
    for part in parts:
        merged.merge(histogram_of(part))
    everything = histogram_of([v for part in parts for v in part])
    assert merged == everything
    assert merged.mean() == everything.mean()
    assert merged.percentile(99) == everything.percentile(99)


def test_merge_into_and_from_empty() -> None:
    empty = ExactHistogram(10)
    filled = histogram_of([4, 6], limit=10)
    empty.merge(filled)
    assert (empty.count, empty.min, empty.max) == (2, 4, 6)
    filled.merge(ExactHistogram(10))
    assert (filled.count, filled.min, filled.max) == (2, 4, 6)


# --- mean, stdev, +/- stdev, percentiles (stats.c stats_mean/stdev/within_stdev/percentile) -----
# "Example E": latencies {100, 200, 300, 400, 10000} µs and Req/Sec samples {0, 0, 10}.


def test_example_e_latency() -> None:
    h = histogram_of([100, 200, 300, 400, 10_000])
    row = stats_row(h)
    assert row.mean == 2200
    assert float(row.stdev) == pytest.approx(math.sqrt(76_100_000 / 4), rel=1e-15)
    assert 4361.7 < row.stdev < 4361.9
    assert row.max == 10_000
    assert float(row.within_stdev) == pytest.approx(80.0)
    assert [h.percentile(p) for p in (50, 75, 90, 99)] == [300, 400, 10_000, 10_000]


def test_example_e_rate() -> None:
    row = stats_row(histogram_of([0, 0, 10], limit=RATE_LIMIT))
    assert float(row.mean) == pytest.approx(10 / 3)
    assert float(row.stdev) == pytest.approx(math.sqrt(((10 / 3) ** 2 * 2 + (20 / 3) ** 2) / 2))
    assert float(row.within_stdev) == pytest.approx(200 / 3)
    assert row.max == 10


def test_single_sample() -> None:
    row = stats_row(histogram_of([1234]))
    assert row == StatsRow(mean=LD(1234), stdev=LD(0), max=1234, within_stdev=LD(100))


def test_only_zero_samples() -> None:
    row = stats_row(histogram_of([0, 0, 0], limit=RATE_LIMIT))
    assert (row.mean, row.stdev, row.max, row.within_stdev) == (0, 0, 0, 100)


def test_stdev_is_sample_not_population() -> None:
    h = histogram_of([1, 3])
    assert h.stdev(h.mean()) == np.sqrt(LD(2))  # sqrt(2 / (2 - 1)), not sqrt(2 / 2)


def test_within_stdev_bounds_are_inclusive() -> None:
    # mean 2, sample stdev 1: values 1 and 3 sit exactly on the bounds and count
    h = histogram_of([1, 2, 3])
    assert h.stdev(h.mean()) == 1
    assert h.within_stdev(h.mean(), h.stdev(h.mean())) == 100


@pytest.mark.parametrize(
    ("count", "p", "position"),
    [
        (8, 50, 5),  # 4.5 rounds half away from zero (Python's round() would say 4)
        (4, 50, 3),  # 2.5 -> 3
        (5, 75, 4),  # round(4.25) -> 4
        (5, 90, 5),
        (1, 99, 1),
        (100, 99, 100),  # round(99.5) -> 100
        (1000, 99, 991),  # round(990.5) -> 991
        (10, 0, 1),
        (10, 100, 0),  # wrk quirk: rank = count + 1 is never reached -> 0
        (10, 99.9, 10),
    ],
)
def test_percentile_rank_rule(count: int, p: float, position: int) -> None:
    h = histogram_of([10 * (i + 1) for i in range(count)])
    assert h.percentile(p) == 10 * position


def test_stats_match_literal_wrk_loops_bit_for_bit() -> None:
    rng = random.Random(1234)
    for trial in range(25):
        size = rng.choice([2, 3, 10, 500, 5000])
        spread = rng.choice([50, 5000, 40_000])
        values = [int(rng.expovariate(1 / spread)) for _ in range(size)]
        h = histogram_of(values, limit=None)
        mean = h.mean()
        assert mean == slow_mean(h), trial
        stdev = h.stdev(mean)
        assert stdev == slow_stdev(h, mean), trial
        assert float(h.within_stdev(mean, stdev)) == slow_within(h, mean, stdev), trial
        for p in (0.1, 1, 25, 50, 75, 90, 99, 99.9, 100):
            assert h.percentile(p) == slow_percentile(h, p), (trial, p)


def test_large_sums_stay_exact() -> None:
    big = 2**40
    h = ExactHistogram()
    h.record(big, 2**30)  # Σ i·c[i] = 2**70 does not fit int64
    h.record(big + 1, 1)
    assert h.mean() == LD(2**70 + big + 1) / LD(2**30 + 1)


# --- coordinated-omission correction (stats.c stats_correct(), called from wrk.c main()) ----------


def test_correction_spec_verified_example() -> None:
    """298 requests in 3.01 s on 1 connection, 29 delayed ~100 ms -> histogram count 530."""
    values = [100_500 if i % 10 == 9 else 400 + i % 7 for i in range(298)]
    h = histogram_of(values)
    fixed = h.corrected(runtime_us=3_010_000, complete=298, connections=1)
    assert 3_010_000 // 298 == 10_100
    assert fixed.count == 530 == 298 + 29 * 8
    assert (fixed.min, fixed.max) == (h.min, h.max)
    assert fixed.to_counts() == slow_correct(h, 3_010_000, 298, 1)[0]
    assert 25_000 < fixed.mean() < 35_000  # the ≈30 ms mean wrk prints for this run
    assert h.count == 298  # the input is untouched


def test_correction_matches_literal_loop_on_random_data() -> None:
    rng = random.Random(99)
    changed = 0
    for trial in range(40):
        interval = rng.randint(20, 3000)
        connections = rng.randint(1, 8)
        per_connection = rng.randint(1, 500)
        complete = per_connection * connections + rng.randint(0, connections - 1)
        runtime_us = interval * per_connection + rng.randint(0, per_connection - 1)
        values = [rng.randint(0, 20_000) for _ in range(rng.randint(0, 400))]
        h = histogram_of(values, limit=None)
        fixed = h.corrected(runtime_us, complete, connections)
        counts, count = slow_correct(h, runtime_us, complete, connections)
        assert fixed.to_counts() == counts, trial
        assert fixed.count == count, trial
        assert (fixed.min, fixed.max, fixed.limit) == (h.min, h.max, h.limit)
        changed += fixed.count > h.count
    assert changed >= 30  # the comparison exercised real corrections


def test_correction_boundaries() -> None:
    h = histogram_of([20, 21, 30, 31, 45])
    fixed = h.corrected(runtime_us=100, complete=10, connections=1)  # interval 10
    # 20 = 2·interval adds nothing; 21 -> 11; 30 -> 20; 31 -> 21, 11; 45 -> 35, 25, 15
    assert fixed.to_counts() == {20: 2, 21: 2, 11: 2, 30: 1, 31: 1, 45: 1, 35: 1, 25: 1, 15: 1}
    assert fixed.count == h.count + 7
    assert fixed.to_counts() == slow_correct(h, 100, 10, 1)[0]


def test_correction_noop_cases() -> None:
    h = histogram_of([500, 90_000])
    assert h.corrected(1_000_000, complete=3, connections=10) == h  # complete / C == 0
    assert h.corrected(0, complete=10, connections=1) == h  # interval 0 (wrk would hang)
    assert h.corrected(1_000_000, complete=10, connections=1) == h  # max <= 2·interval
    empty = ExactHistogram(LATENCY_LIMIT)
    assert empty.corrected(1_000_000, 100, 1) == empty
    with pytest.raises(ValueError):
        h.corrected(1_000_000, 10, 0)


def test_correction_quirk_values_below_min() -> None:
    """Synthetic values below min count in `count` but not in the min..max loops."""
    h = histogram_of([1000, 1000, 1000])
    fixed = h.corrected(runtime_us=300, complete=3, connections=1)  # interval 100
    assert fixed.min == 1000
    assert fixed.count == 3 + 3 * 8  # 900, 800, ..., 200 per sample
    assert fixed.mean() == LD(3000) / LD(27)
    assert fixed.percentile(50) == 0  # rank 14 is never reached inside min..max
    assert fixed.percentile(1) == 1000


def test_correction_at_scale_against_closed_form() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2_000_001, size=300_000)
    unique, counts = np.unique(values, return_counts=True)
    h = ExactHistogram.from_counts(dict(zip(unique.tolist(), counts.tolist(), strict=True)))
    interval = 1000
    fixed = h.corrected(runtime_us=interval * 500, complete=500, connections=1)
    per_value = np.maximum(0, -(-unique // interval) - 2)  # ceil(n / interval) - 2
    assert fixed.count == h.count + int((per_value * counts).sum())
    assert sum(fixed.to_counts().values()) == fixed.count


# --- HdrHistogram helpers -------------------------------------------------------------------------


def hdr_summary(h: HdrHistogram) -> tuple:
    points = (0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0)
    return (
        h.get_total_count(),
        h.get_min_value(),
        h.get_max_value(),
        h.get_mean_value(),
        h.get_stddev(),
        tuple(h.get_value_at_percentile(p) for p in points),
    )


def test_new_hdr_parameters() -> None:
    h = new_hdr()
    assert h.get_total_count() == 0
    assert h.record_value(HDR_HIGHEST)
    assert h.significant_figures == 3


def test_hdr_from_counts_and_clamping() -> None:
    h = hdr_from_counts({1500: 3, 11_313: 2, HDR_HIGHEST * 10: 1, 7: 0})
    assert h.get_total_count() == 6
    assert h.get_value_at_percentile(50) == 1500
    assert h.get_max_value() == h.get_highest_equivalent_value(HDR_HIGHEST)
    with pytest.raises(ValueError):
        hdr_from_counts({-1: 1})


def test_encode_hdr_is_ascii_text() -> None:
    text = encode_hdr(hdr_from_counts({100: 5}))
    assert isinstance(text, str)
    assert text.isascii()
    assert hdr_summary(HdrHistogram.decode(text)) == hdr_summary(hdr_from_counts({100: 5}))


def test_merge_encoded_equals_one_histogram_of_all_values() -> None:
    rng = random.Random(3)
    parts = []
    for _ in range(6):
        counts: dict[int, int] = {}
        for _ in range(rng.randint(1, 5000)):
            value = int(rng.lognormvariate(7, 1.5)) + 11_313
            counts[value] = counts.get(value, 0) + 1
        parts.append(counts)
    parts.insert(2, {})  # an idle worker: must not reset the minimum to 0
    everything: dict[int, int] = {}
    for counts in parts:
        for value, n in counts.items():
            everything[value] = everything.get(value, 0) + n
    merged = merge_encoded_hdr(encode_hdr(hdr_from_counts(c)) for c in parts)
    direct = hdr_from_counts(everything)
    assert hdr_summary(merged) == hdr_summary(direct)
    assert merged.get_min_value() > 0


def test_merge_encoded_of_nothing() -> None:
    merged = merge_encoded_hdr([])
    assert merged.get_total_count() == 0
    merged = merge_encoded_hdr([encode_hdr(new_hdr()), ""])  # "" = a worker that sent none
    assert merged.get_total_count() == 0
    merged = merge_encoded_hdr(["", encode_hdr(hdr_from_counts({5: 1}))])
    assert (merged.get_total_count(), merged.get_min_value()) == (1, 5)


@pytest.mark.skipif(not LONGDOUBLE_IS_X87, reason="needs the x87 long double")
def test_mean_is_long_double_division() -> None:
    h = histogram_of([1, 1, 2])
    assert h.mean() == LD(4) / LD(3)
    assert h.mean() != LD(4 / 3)
