"""The numbers: wrk's exact histogram and its maths (stats.c), plus the mergeable HdrHistogram form.

``ExactHistogram`` is wrk's ``stats_t``: exact counts of integer values (latency in µs, Req/Sec
samples) below a limit. Its mean, sample stdev, "+/- Stdev" and percentiles reproduce wrk's
results exactly (stats.c stats_mean(), stats_stdev(), stats_within_stdev(), stats_percentile()),
including the long-double arithmetic and the summation order, and ``corrected()`` is wrk's
post-run coordinated-omission correction with its quirks (stats.c stats_correct()).
The HdrHistogram form, built from the same counts for HdrHistogram's tools, lives in ``hdr.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pyload.units import Real, to_longdouble

__all__ = [
    "RATE_LIMIT",
    "ExactHistogram",
    "StatsRow",
    "rank_percentiles",
    "stats_row",
]

RATE_LIMIT = 10_000_001
"""Limit of wrk's Req/Sec store (MAX_THREAD_RATE_S + 1): samples at or above it are dropped."""


_EMPTY = np.zeros(0, dtype=np.int64)


class ExactHistogram:
    """wrk's stats_t: exact counts of integer values (µs or req/s) below a limit.

    ``count`` is the total number of recorded values, synthetic ones from ``corrected()``
    included, while ``min``/``max`` only track recorded values: like wrk, the statistics iterate
    ``min..max`` but divide by ``count`` (an upstream quirk that only shows when the correction
    adds values below ``min``).
    """

    __slots__ = ("count", "counts", "limit", "max", "min")

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        self.limit: int | None = limit
        self.counts: dict[int, int] = {}
        self.count: int = 0
        self.min: int | None = None
        self.max: int = 0

    def __repr__(self) -> str:
        return (
            f"ExactHistogram(limit={self.limit}, count={self.count}, min={self.min}, "
            f"max={self.max}, distinct={len(self.counts)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExactHistogram):
            return NotImplemented
        return (self.limit, self.count, self.min, self.max, self.to_counts()) == (
            other.limit,
            other.count,
            other.min,
            other.max,
            other.to_counts(),
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    # -- recording -------------------------------------------------------------------------

    def record(self, value: int, n: int = 1) -> bool:
        """Record ``value`` ``n`` times; False (nothing recorded) if ``value >= limit``."""
        if value < 0:
            raise ValueError(f"cannot record a negative value: {value}")
        if n < 1:
            raise ValueError(f"count must be >= 1, not {n}")
        if self.limit is not None and value >= self.limit:
            return False
        counts = self.counts
        counts[value] = counts.get(value, 0) + n
        self.count += n
        if self.min is None or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        return True

    @classmethod
    def from_counts(cls, counts: Mapping[int, int], limit: int | None = None) -> ExactHistogram:
        """A histogram of ``{value: count}``; zero counts are skipped, values >= limit dropped."""
        histogram = cls(limit)
        for value, n in counts.items():
            if n:
                histogram.record(int(value), int(n))
        return histogram

    def to_counts(self) -> dict[int, int]:
        """A copy of ``{value: count}`` (only non-zero counts)."""
        return {value: n for value, n in self.counts.items() if n}

    def copy(self) -> ExactHistogram:
        """An independent copy."""
        duplicate = ExactHistogram(self.limit)
        duplicate.counts = dict(self.counts)
        duplicate.count = self.count
        duplicate.min = self.min
        duplicate.max = self.max
        return duplicate

    def merge(self, other: ExactHistogram) -> None:
        """Add ``other`` into this histogram: counts summed exactly, min/max/count combined."""
        counts = self.counts
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        self.count += other.count
        if other.min is not None and (self.min is None or other.min < self.min):
            self.min = other.min
        self.max = max(self.max, other.max)

    # -- wrk's maths (stats.c stats_mean/stdev/within_stdev/percentile) ----------------------

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct values in ``min..max`` with non-zero counts, and their counts."""
        if self.min is None or not self.counts:
            return _EMPTY, _EMPTY
        size = len(self.counts)
        values = np.fromiter(self.counts.keys(), dtype=np.int64, count=size)
        counts = np.fromiter(self.counts.values(), dtype=np.int64, count=size)
        order = np.argsort(values, kind="stable")
        values, counts = values[order], counts[order]
        keep = (values >= self.min) & (values <= self.max) & (counts != 0)
        return values[keep], counts[keep]

    def mean(self) -> np.longdouble:
        """Σ i·c[i] over min..max (exact integer) / count, in long double; 0 if empty."""
        if self.count == 0:
            return np.longdouble(0)
        values, counts = self._arrays()
        if values.size and int(values[-1]) * int(counts.sum()) < 2**63:
            total = int(np.dot(values, counts))
        else:
            total = sum(v * n for v, n in zip(values.tolist(), counts.tolist(), strict=True))
        return np.longdouble(to_longdouble(total) / to_longdouble(self.count))

    def stdev(self, mean: np.longdouble) -> np.longdouble:
        """Sample standard deviation sqrt(sum((i - mean)**2 * c[i]) / (count - 1)); 0 if count < 2.

        The terms are summed one after another in increasing value order, as wrk's loop does,
        so the long-double result is bit-identical to wrk's.
        """
        if self.count < 2:
            return np.longdouble(0)
        values, counts = self._arrays()
        if values.size == 0:
            return np.longdouble(0)
        deviation = values.astype(np.longdouble) - mean
        terms = deviation * deviation * counts.astype(np.longdouble)
        total = np.cumsum(terms)[-1]  # sequential, not numpy's pairwise sum
        return np.longdouble(np.sqrt(total / to_longdouble(self.count - 1)))

    def within_stdev(self, mean: np.longdouble, stdev: np.longdouble) -> np.longdouble:
        """Percent of count with mean - stdev <= i <= mean + stdev (i in min..max); NaN if empty."""
        if self.count == 0:
            return np.longdouble("nan")  # wrk: 0 / 0, printed "-nan"
        upper = mean + stdev
        lower = mean - stdev
        values, counts = self._arrays()
        as_ld = values.astype(np.longdouble)
        inside = int(counts[(as_ld >= lower) & (as_ld <= upper)].sum())
        fraction = to_longdouble(inside) / to_longdouble(self.count)
        return np.longdouble(fraction * np.longdouble(100))

    def percentile(self, p: Real) -> int:
        """wrk's stats_percentile(): the first value (in min..max) whose cumulative count
        reaches rank = round(p / 100 * count + 0.5); 0 if never reached (e.g. empty)."""
        values, counts = self._arrays()
        return rank_percentiles(values, counts, self.count, (p,))[0]

    # -- coordinated-omission correction (stats.c stats_correct(), wrk.c main()) -------------

    def corrected(self, runtime_us: int, complete: int, connections: int) -> ExactHistogram:
        """wrk's post-run CO correction (stats_correct), as a new histogram.

        With ``interval = runtime_us // (complete // connections)``, every value n adds
        its count at n - interval, n - 2*interval, ... while that is > interval. ``count`` grows by
        every synthetic sample; ``min``/``max`` are left alone (wrk quirk). Nothing happens if
        ``complete // connections`` is 0, or if ``interval`` is 0 (where wrk would loop forever).
        """
        if connections < 1:
            raise ValueError(f"connections must be >= 1, not {connections}")
        result = self.copy()
        per_connection = complete // connections
        if per_connection <= 0:
            return result
        interval = runtime_us // per_connection
        if interval <= 0 or self.max <= 2 * interval:
            return result
        top = self.max
        rows = top // interval + 1
        dense = np.zeros(rows * interval, dtype=np.int64)
        size = len(self.counts)
        values = np.fromiter(self.counts.keys(), dtype=np.int64, count=size)
        counts_in = np.fromiter(self.counts.values(), dtype=np.int64, count=size)
        inside = (values >= 0) & (values <= top)
        dense[values[inside]] = counts_in[inside]  # dict keys are distinct
        # grid[q, r] holds the count of q·interval + r; a synthetic value m = q·interval + r
        # receives the counts of every m + j·interval (j ≥ 1), i.e. the strict suffix sum of
        # its column, provided m > interval (the loop stops at the first m ≤ interval).
        grid = dense.reshape(rows, interval)
        suffix = np.cumsum(grid[::-1], axis=0)[::-1] - grid
        added = suffix.reshape(-1)
        added[: interval + 1] = 0
        synthetic = int(added.sum())
        if synthetic == 0:
            return result
        combined = dense + added
        nonzero = np.flatnonzero(combined)
        counts = {value: n for value, n in self.counts.items() if not 0 <= value <= top}
        counts.update(zip(nonzero.tolist(), combined[nonzero].tolist(), strict=True))
        result.counts = counts
        result.count = self.count + synthetic
        return result


def rank_percentiles(
    values: np.ndarray, counts: np.ndarray, total: int, percentiles: Sequence[Real]
) -> list[int]:
    """wrk's stats_percentile() for each of ``percentiles``, over sorted distinct ``values`` and
    their ``counts`` (``total``: wrk's count, which its correction may make more than their
    sum): the first value whose cumulative count reaches rank = round(p / 100 * total + 0.5);
    0 if never reached (e.g. empty). ``ExactHistogram.percentile`` and the run's seconds
    (``_seconds``, from arrays, without a histogram) share it."""
    if values.size == 0:
        return [0 for _ in percentiles]
    cumulative = np.cumsum(counts)
    found = []
    for p in percentiles:
        exact = to_longdouble(p) / np.longdouble(100.0) * to_longdouble(total)
        rank = _c_round(float(exact + np.longdouble(0.5)))  # C round() takes a double
        index = int(np.searchsorted(cumulative, rank, side="left"))
        found.append(int(values[index]) if index < values.size else 0)
    return found


def _c_round(x: float) -> int:
    """C round(): half away from zero."""
    if math.isnan(x) or math.isinf(x):
        return 0
    floor = math.floor(abs(x))
    rounded = floor + 1 if abs(x) - floor >= 0.5 else floor
    return rounded if x >= 0 else -rounded


@dataclass(frozen=True)
class StatsRow:
    """One "Latency" / "Req/Sec" row of wrk's report."""

    mean: np.longdouble
    stdev: np.longdouble
    max: int
    within_stdev: np.longdouble  # percent


def stats_row(h: ExactHistogram) -> StatsRow:
    """Avg, Stdev, Max and +/- Stdev of a histogram, exactly as wrk's print_stats()."""
    mean = h.mean()
    stdev = h.stdev(mean)
    return StatsRow(mean=mean, stdev=stdev, max=h.max, within_stdev=h.within_stdev(mean, stdev))
