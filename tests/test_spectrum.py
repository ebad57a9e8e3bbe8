"""wrk2's HdrHistogram blocks from exact counts: cells, percentiles and the spectrum, digit for
digit against wrk2's own output."""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

from pyload._spectrum import (
    WRK2_PERCENTILES,
    cells_of,
    hdr_percentile,
    hdr_percentile_block,
    hdr_spectrum,
)
from pyload.units import format_time_us, print_units

# wrk2 -t1 -c1 -d2s -R5 --latency against a local server (observed, 10 recorded latencies,
# all below 2048 us so the cells are exact).
EXAMPLE_F = [411, 573, 640, 764, 928, 1010, 1108, 1178, 1299, 1459]
EXAMPLE_F_PERCENTILES = """\
 50.000%    0.93ms
 75.000%    1.18ms
 90.000%    1.30ms
 99.000%    1.46ms
 99.900%    1.46ms
 99.990%    1.46ms
 99.999%    1.46ms
100.000%    1.46ms"""
EXAMPLE_F_SPECTRUM = """\
       0.411     0.000000            1         1.00
       0.411     0.100000            1         1.11
       0.573     0.200000            2         1.25
       0.640     0.300000            3         1.43
       0.764     0.400000            4         1.67
       0.928     0.500000            5         2.00
       1.010     0.550000            6         2.22
       1.010     0.600000            6         2.50
       1.108     0.650000            7         2.86
       1.108     0.700000            7         3.33
       1.178     0.750000            8         4.00
       1.178     0.775000            8         4.44
       1.178     0.800000            8         5.00
       1.299     0.825000            9         5.71
       1.299     0.850000            9         6.67
       1.299     0.875000            9         8.00
       1.299     0.887500            9         8.89
       1.299     0.900000            9        10.00
       1.459     0.912500           10        11.43
       1.459     1.000000           10          inf
#[Mean    =        0.937, StdDeviation   =        0.320]
#[Max     =        1.459, Total count    =           10]
#[Buckets =           27, SubBuckets     =         2048]"""


def ten_wide(value: int) -> str:
    return print_units(value, format_time_us, 10)


def test_wrk2s_example_digit_for_digit():
    counts = dict.fromkeys(EXAMPLE_F, 1)
    assert "\n".join(hdr_percentile_block(counts, WRK2_PERCENTILES, ten_wide)) == (
        EXAMPLE_F_PERCENTILES
    )
    assert "\n".join(hdr_spectrum(counts)) == EXAMPLE_F_SPECTRUM


def test_an_empty_histogram_prints_as_wrk2s():
    assert hdr_spectrum({}) == [
        "       0.000     1.000000            0          inf",
        "#[Mean    =         -nan, StdDeviation   =         -nan]",
        "#[Max     =        0.000, Total count    =            0]",
        "#[Buckets =           27, SubBuckets     =         2048]",
    ]
    assert hdr_percentile_block({}, (50.0,), ten_wide) == [" 50.000%    0.00us"]


def test_cells_are_hdrhistograms_at_three_significant_figures():
    counts = {0: 1, 2047: 2, 2048: 1, 2049: 1, 11_312: 3, 11_319: 1, 86_400_000_000: 1}
    cells = cells_of(counts)
    assert [(c.lowest, c.highest, c.count) for c in cells] == [
        (0, 0, 1),
        (2047, 2047, 2),
        (2048, 2049, 2),  # from 2048 us a cell covers 2 us
        (11_312, 11_319, 4),  # wrk2's example: 11312 us is in 11312-11319
        (86_369_107_968, 86_436_216_831, 1),  # 24 h: a cell of 2 ** 26 us
    ]
    reference = HdrHistogram(1, 86_400_000_000, 3)
    for value, n in counts.items():
        reference.record_value(value, n)
    for cell in cells:  # the same cells as HdrHistogram_py's
        assert reference.get_highest_equivalent_value(cell.lowest) == cell.highest
        assert reference.get_lowest_equivalent_value(cell.highest) == cell.lowest
    for p in (1, 25, 50, 75, 90, 99, 99.9, 100):
        assert hdr_percentile(cells, p) == reference.get_value_at_percentile(p), p


def test_the_spectrum_ticks_halve_towards_100_percent():
    counts = {value: 1 for value in range(1, 100_001)}
    lines = hdr_spectrum(counts)
    levels = [float(line.split()[1]) for line in lines[:-3]]
    assert levels[:6] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert levels[6:11] == [0.55, 0.6, 0.65, 0.7, 0.75]
    assert levels[11:16] == [0.775, 0.8, 0.825, 0.85, 0.875]
    assert levels[-1] == 1.0 and math.isinf(float(lines[-4].split()[3]))
