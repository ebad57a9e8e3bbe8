"""The Mann-Whitney U test (Wilcoxon rank-sum): do two samples come from one distribution? No I/O.

``pyload compare`` asks it of two runs' per-second samples (docs/compare.md says why this test).
Rank-based, so it assumes no normal distribution and one outlier moves it by one rank at most,
whatever its size: latency is full of outliers.

- U of the first sample counts the pairs (x from the first, y from the second) with x > y, a
  tie counting one half: U = R1 - n1 (n1 + 1) / 2, R1 the first sample's rank sum, tied values
  sharing their average rank. Under the null hypothesis (one distribution) its mean is
  n1 n2 / 2.
- With both samples at most ``EXACT_MAX`` values, the p-value is exact: every one of the
  C(n1 + n2, n1) ways to split the pooled values is equally likely under the null hypothesis.
  Without ties, the number of splits with U = u is the coefficient of q^u in the Gaussian
  binomial [n1 + n2 choose n1]_q; with ties (equal values share their average rank), the
  splits are counted tie group by tie group. A tie must not cost exactness: 5 seconds against
  5, every one of one run above every one of the other, is p = 2/252 = 0.008 with or without
  two equal seconds in a run, where the normal approximation would say 0.012.
- Beyond ``EXACT_MAX`` (runs over 31 s), the normal approximation, close by then (a few per
  cent of p) and cheap where the tied count grows as N^2 n1 per tie group: mean n1 n2 / 2, variance
  n1 n2 / 12 ((N + 1) - sum(t^3 - t) / (N (N - 1))) over the tie groups of size t (the exact
  variance of U over all splits of the average ranks), and a continuity correction of 1/2.
  Samples with every value equal have variance 0 and p = 1.

The p-value is two-sided: the chance, under the null hypothesis, of a U at least as far from
n1 n2 / 2 as the one observed. scipy.stats.mannwhitneyu gives the same U and p (its "exact" and
"asymptotic" methods, with use_continuity=True); pyload does not depend on scipy for one test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["EXACT_MAX", "UTest", "mann_whitney", "smallest_p", "u_distribution"]

EXACT_MAX = 30  # both samples at most this many values: the exact p-value, else the normal one


@dataclass(frozen=True)
class UTest:
    """The outcome of one test."""

    u: float  # U of the first sample (ties count one half)
    p: float  # two-sided p-value
    exact: bool  # from the exact distribution (else the normal approximation)


def mann_whitney(
    first: Sequence[float], second: Sequence[float], exact: bool | None = None
) -> UTest:
    """The two-sided Mann-Whitney U test of ``first`` against ``second`` (each non-empty).
    ``exact``: None chooses (the module docstring says how), False asks for the normal
    approximation, True for the exact p-value at any size."""
    n1, n2 = len(first), len(second)
    if not n1 or not n2:
        raise ValueError("the Mann-Whitney test needs a value in each sample")
    values = np.concatenate([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    ranks, ties = _ranks(values)
    u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    if exact or (exact is None and max(n1, n2) <= EXACT_MAX):
        if not ties.size:
            return UTest(u, _exact_p(round(u), n1, n2), exact=True)
        return UTest(u, _exact_tied_p(values, n1, u), exact=True)
    return UTest(u, _normal_p(u, n1, n2, ties), exact=False)


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value samples of these sizes can give: every value of one above
    every value of the other, 2 / C(n1 + n2, n1) (at most 1)."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))


@lru_cache(maxsize=64)
def u_distribution(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the C(n1 + n2, n1) splits of the ranks 1..n1+n2 give each U = 0..n1 n2: the
    coefficients of the Gaussian binomial [n1 + n2 choose n1]_q, built factor by factor as
    prod_{i=1..n1} (1 - q^(n2 + i)) / (1 - q^i), in exact integers, truncated at q^(n1 n2 + 1)
    (the product is a polynomial of that degree, so the truncation loses nothing)."""
    small, large = min(n1, n2), max(n1, n2)  # the distribution is the same either way round
    size = small * large + 1
    counts = [0] * size
    counts[0] = 1
    for i in range(1, small + 1):
        step = large + i
        for u in range(size - 1, step - 1, -1):  # times (1 - q^step)
            counts[u] -= counts[u - step]
        for u in range(i, size):  # over (1 - q^i): times 1 + q^i + q^2i + ...
            counts[u] += counts[u - i]
    return tuple(counts)


def _exact_p(u: int, n1: int, n2: int) -> float:
    counts = u_distribution(n1, n2)
    total = math.comb(n1 + n2, n1)
    # The distribution is symmetric about n1 n2 / 2: the upper tail beyond the farther of U1
    # and U2 = n1 n2 - U1 has the same mass as the lower tail below the nearer.
    far = max(u, n1 * n2 - u)
    tail = sum(counts[far:])
    return min(1.0, 2 * tail / total)


def _exact_tied_p(values: np.ndarray, n1: int, u: float) -> float:
    """The exact two-sided p-value with ties: the share of the C(N, n1) splits of the pooled
    values whose U is at least as far from n1 n2 / 2 as ``u``. Counted tie group by tie group
    (a group of t equal values, each of average rank r, gives C(t, j) ways to put j of them in
    the first sample, adding j r to its rank sum), over twice the rank sums (integers), in
    float64 (relative error ~1e-15 at these sizes)."""
    n = len(values)
    _, sizes = np.unique(values, return_counts=True)
    ends = np.cumsum(sizes)
    doubled_ranks = ends - sizes + 1 + ends  # twice each group's average rank
    top = int(2 * sum(range(n - n1 + 1, n + 1)))  # the largest doubled rank sum
    ways = np.zeros((n1 + 1, top + 1))  # [values chosen, doubled rank sum] -> splits
    ways[0, 0] = 1.0
    for size, rank in zip(sizes.tolist(), doubled_ranks.tolist(), strict=True):
        grown = np.zeros_like(ways)
        for j in range(min(size, n1) + 1):
            shift = j * rank
            grown[j:, shift:] += math.comb(size, j) * ways[: n1 + 1 - j, : top + 1 - shift]
        ways = grown
    doubled_mean = n1 * (n + 1)  # twice the mean rank sum
    observed = 2 * (u + n1 * (n1 + 1) / 2)  # twice the rank sum of the first sample
    distance = np.abs(np.arange(top + 1) - doubled_mean)
    far = ways[n1][distance >= abs(observed - doubled_mean) - 1e-9].sum()
    return min(1.0, float(far / math.comb(n, n1)))


def _normal_p(u: float, n1: int, n2: int, ties: np.ndarray) -> float:
    n = n1 + n2
    tie_term = float(np.sum(ties.astype(float) ** 3 - ties)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0  # every value equal: nothing tells the samples apart
    z = max(0.0, abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's rank (1-based, tied values sharing their average rank) and the sizes of
    the tie groups (groups of two or more equal values)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], len(values))  # exclusive
    ranks = np.empty(len(values))
    ranks[order] = ((starts + 1 + ends) / 2)[group]
    sizes = ends - starts
    return ranks, sizes[sizes > 1]
