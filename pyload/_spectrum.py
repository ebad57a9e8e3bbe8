"""wrk2's HdrHistogram blocks: the percentile list and the detailed percentile spectrum. No I/O.

wrk2 (wrk.c print_hdr_latency(), hdr_histogram.c hdr_percentiles_print()) prints, with
--latency or -U, its latency HdrHistogram (1 µs .. 24 h, 3 significant figures) as a list of
percentiles and a "Detailed Percentile spectrum" in HdrHistogram's .hgrm layout, which
HdrHistogram's plotting tools read. pyload keeps every latency exactly (µs -> count); this
module maps those counts onto wrk2's histogram cells and prints the two blocks as wrk2 does,
digit for digit: a cell of an HdrHistogram of 3 significant figures covers
``2 ** max(0, bit_length(v) - 11)`` µs, so values below 2048 µs are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "WRK2_PERCENTILES",
    "Cell",
    "cells_of",
    "hdr_percentile",
    "hdr_percentile_block",
    "hdr_spectrum",
    "spectrum_points",
]

WRK2_PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0)  # wrk2's list
SUB_BUCKET_BITS = 11  # 3 significant figures: 2048 sub-buckets
BUCKETS = 27  # 1 µs .. 24 h at 3 significant figures (what wrk2's footer names)
SUB_BUCKETS = 2048
SPECTRUM_TICKS_PER_HALF_DISTANCE = 5  # wrk2's hdr_percentiles_print(..., 5, ...)
SPECTRUM_HEADER = "       Value   Percentile   TotalCount 1/(1-Percentile)"


@dataclass(frozen=True)
class Cell:
    """One non-empty cell of the histogram: its value range and counts."""

    lowest: int
    highest: int  # highest equivalent value: what percentiles report
    count: int
    cumulative: int  # counts of this cell and every cell below it

    @property
    def median(self) -> int:
        """HdrHistogram's median equivalent value: what its mean and deviation use."""
        return self.lowest + ((self.highest - self.lowest + 1) >> 1)


def cells_of(counts: Mapping[int, int]) -> list[Cell]:
    """The non-empty cells of ``{µs: count}`` (values >= 0), in increasing order."""
    by_cell: dict[int, tuple[int, int]] = {}
    for value, n in counts.items():
        if n <= 0:
            continue
        shift = max(0, value.bit_length() - SUB_BUCKET_BITS)
        lowest = (value >> shift) << shift
        size, seen = by_cell.get(lowest, (1 << shift, 0))
        by_cell[lowest] = (size, seen + n)
    cells, cumulative = [], 0
    for lowest in sorted(by_cell):
        size, n = by_cell[lowest]
        cumulative += n
        cells.append(Cell(lowest, lowest + size - 1, n, cumulative))
    return cells


def hdr_percentile(cells: list[Cell], p: float) -> int:
    """hdr_value_at_percentile(): the highest equivalent value of the first cell whose
    cumulative count reaches trunc(p / 100 * total + 0.5), at least 1 (0 when empty)."""
    if not cells:
        return 0
    total = cells[-1].cumulative
    target = max(1, int(min(p, 100.0) / 100 * total + 0.5))
    for cell in cells:
        if cell.cumulative >= target:
            return cell.highest
    return cells[-1].highest


def hdr_percentile_block(
    counts: Mapping[int, int],
    percentiles: Iterable[float],
    format_value: Callable[[int], str],
) -> list[str]:
    """wrk2's percentile lines: ``{p:7.3f}%`` then the value (``format_value``: wrk's units,
    ten wide)."""
    cells = cells_of(counts)
    return [f"{p:7.3f}%" + format_value(hdr_percentile(cells, p)) for p in percentiles]


def spectrum_points(cells: list[Cell]) -> list[tuple[float, Cell]]:
    """The percentile iteration of hdr_percentiles_print(): (percentile in 0..100, the first
    cell reaching it), in ticks of 5 per half-distance to 100 %, then 100 at the last cell. A
    cell repeats for every level it covers."""
    if not cells:
        return []
    total = cells[-1].cumulative
    points: list[tuple[float, Cell]] = []
    index, target = -1, 0.0
    while True:
        if index >= 0 and cells[index].cumulative == total:
            points.append((100.0, cells[index]))
            return points
        index = max(index, 0)
        while 100.0 * cells[index].cumulative / total < target:
            index += 1
        points.append((target, cells[index]))
        half_distances = int(math.log(100 / (100 - target)) / math.log(2)) + 1
        target += 100 / (SPECTRUM_TICKS_PER_HALF_DISTANCE * 2**half_distances)


def hdr_spectrum(counts: Mapping[int, int]) -> list[str]:
    """The "Detailed Percentile spectrum" lines after its header and blank line, with the
    three-line footer: values in ms, as hdr_percentiles_print() writes them."""
    cells = cells_of(counts)
    lines: list[str] = []
    if not cells:
        lines.append(f"{0.0:12.3f} {1.0:12f} {0:12d} {math.inf:12.2f}")
    for percentile, cell in spectrum_points(cells):
        ratio = math.inf if percentile == 100.0 else 1 / (1 - percentile / 100)
        lines.append(
            f"{cell.highest / 1000:12.3f} {percentile / 100:12f} "
            f"{cell.cumulative if percentile < 100.0 else _total(cells):12d} {ratio:12.2f}"
        )
    mean, stddev, top = _hdr_moments(cells)
    lines.append(f"#[Mean    = {_ms(mean)}, StdDeviation   = {_ms(stddev)}]")
    lines.append(f"#[Max     = {_ms(top)}, Total count    = {_total(cells):12d}]")
    lines.append(f"#[Buckets = {BUCKETS:12d}, SubBuckets     = {SUB_BUCKETS:12d}]")
    return lines


def _total(cells: list[Cell]) -> int:
    return cells[-1].cumulative if cells else 0


def _hdr_moments(cells: list[Cell]) -> tuple[float, float, float]:
    """hdr_mean, hdr_stddev (population, over median equivalents) and hdr_max (the lowest
    value of the top cell), in µs; NaN, NaN, 0 when empty."""
    total = _total(cells)
    if not total:
        return math.nan, math.nan, 0.0
    mean = sum(c.count * c.median for c in cells) / total
    variance = sum(c.count * (c.median - mean) ** 2 for c in cells) / total
    return mean, math.sqrt(variance), float(cells[-1].lowest)


def _ms(value_us: float) -> str:
    """``%12.3f`` of µs / 1000, with glibc's ``-nan`` for NaN."""
    if math.isnan(value_us):
        return f"{'-nan':>12}"
    return f"{value_us / 1000:12.3f}"
