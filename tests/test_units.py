"""Tests for pyload.units: wrk's number grammar and byte-exact unit formatting (units.c, wrk.c)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pyload._grammar import parse_metric, parse_time_s
from pyload.units import (
    LONGDOUBLE_IS_X87,
    Real,
    format_binary,
    format_fixed,
    format_metric,
    format_percent,
    format_time_s,
    format_time_us,
    print_units,
    to_longdouble,
)

x87_only = pytest.mark.skipif(
    not LONGDOUBLE_IS_X87, reason="wrk's rounding needs the x87 80-bit long double"
)
NAN = float("nan")


# --- parsing (units.c scan_units(), scan_time(), scan_metric()) ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", 10),
        ("0", 0),
        ("1k", 1000),
        ("1K", 1000),
        ("1m", 1_000_000),
        ("1M", 1_000_000),
        ("2G", 2_000_000_000),
        ("1t", 10**12),
        ("1P", 10**15),
        ("1 k", 1000),
        ("  7", 7),
        ("\t12k", 12_000),
        ("+3", 3),  # %lu accepts a sign
        ("1k rest", 1000),  # sscanf's %2s stops at blanks; the rest is never read
    ],
)
def test_parse_metric_accepts_wrk_grammar(text: str, expected: int) -> None:
    assert parse_metric(text) == expected


@pytest.mark.parametrize(
    "text", ["1.5", "abc", "-1", "", "   ", "1x", "2kk", "1kb", "k", "0x10", "1s", "1 ms"]
)
def test_parse_metric_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid number"):
        parse_metric(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", 2),
        ("2s", 2),
        ("2S", 2),
        ("1m", 60),
        ("1M", 60),
        ("1h", 3600),
        ("1H", 3600),
        ("1 s", 1),
        ("0", 0),
        ("30s", 30),
    ],
)
def test_parse_time_accepts_wrk_grammar(text: str, expected: int) -> None:
    assert parse_time_s(text) == expected


@pytest.mark.parametrize(
    "text", ["1.5s", "500ms", "2sec", "2min", "abc", "", "-2", "1d", "1k", "10 ss"]
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_s(text)


def test_parse_has_no_overflow_check() -> None:
    # strtoull saturates at 2**64 - 1 and the unit multiplication wraps like uint64
    assert parse_metric("99999999999999999999") == 2**64 - 1
    assert parse_metric("18446744073709551616k") == ((2**64 - 1) * 1000) % 2**64


# --- format_fixed: glibc %.Nf on the exact binary value -----------------------------------------


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (0.125, 2, "0.12"),  # exact binary tie -> even
        (0.375, 2, "0.38"),
        (2.5, 0, "2"),
        (3.5, 0, "4"),
        (0.005, 2, "0.01"),  # the double is slightly above the tie
        (-0.0, 2, "-0.00"),
        (-1.005, 2, "-1.00"),
        (1234567.891, 2, "1234567.89"),
        (NAN, 2, "-nan"),
        (float("inf"), 2, "inf"),
        (float("-inf"), 2, "-inf"),
        (10**20, 2, "100000000000000000000.00"),
    ],
)
def test_format_fixed(value: float, decimals: int, expected: str) -> None:
    assert format_fixed(value, decimals) == expected


def test_to_longdouble_is_exact_for_uint64() -> None:
    for value in (0, 1, 2**53 + 1, 2**63 + 12345, 2**64 - 1):
        assert to_longdouble(value).as_integer_ratio() == (value, 1) or not LONGDOUBLE_IS_X87
    assert to_longdouble(np.int64(-5)) == -5


# --- units.c format_units() edge table (wrk's own formatter) ------------------------------------

EDGE_TABLE = [
    # (formatter, input, formatted, width-8 print_units field or None)
    (format_time_us, 0, "0.00us", "  0.00us"),
    (format_time_us, 0.005, "0.01us", None),
    (format_time_us, 849.994, "849.99us", None),
    (format_time_us, 849.995, "850.00us", None),
    (format_time_us, 850, "0.85ms", None),
    (format_time_us, 999.99, "1.00ms", None),
    (format_time_us, 999_999.999, "1000.00ms", "1000.00m"),
    (format_time_us, 1_000_000, "1.00s", "  1.00s "),
    (format_time_us, 50_995_000, "50.99s", None),
    (format_time_us, 51_000_000, "0.85m", None),
    (format_time_us, 3600 * 10**6, "60.00m", None),
    (format_time_us, 86400 * 10**6, "1440.00m", "1440.00 "),
    (format_time_us, NAN, "-nanus", "  -nanus"),
    (format_metric, 0, "0.00", "  0.00  "),
    (format_metric, 849.99, "849.99", None),
    (format_metric, 849.995, "850.00", None),
    (format_metric, 850, "0.85k", "  0.85k "),
    (format_metric, 999, "1.00k", None),
    (format_metric, 56_200, "56.20k", " 56.20k "),
    (format_metric, 849_999, "850.00k", None),
    (format_metric, 850_000, "0.85M", None),
    (format_metric, 10**9, "1.00G", None),
    (format_metric, 10**12, "1.00T", None),
    (format_metric, 10**15, "1000.00T", "1000.00 "),
    (format_metric, NAN, "-nan", "    -nan"),
    (format_binary, 870.39, "870.39", None),
    (format_binary, 870.4, "0.85K", None),
    (format_binary, 18e9, "16.76G", None),
    (format_binary, 10**12, "0.91T", None),
]


@pytest.mark.parametrize(("formatter", "value", "text", "field"), EDGE_TABLE)
def test_spec_edge_table(
    formatter: Callable[[Real], str], value: float, text: str, field: str | None
) -> None:
    assert formatter(value) == text
    if field is not None:
        assert print_units(value, formatter, 8) == field


@x87_only
@pytest.mark.parametrize(
    ("micros", "expected"),
    [
        (855, "0.86ms"),  # Python double would give 0.85ms
        (849_995, "849.99ms"),  # double: 850.00ms
        (999_995, "999.99ms"),  # double: 1000.00ms
    ],
)
def test_long_double_rounding(micros: int, expected: str) -> None:
    assert format_time_us(micros) == expected


@x87_only
def test_long_double_matters() -> None:
    """The same value through Python floats rounds differently: the check above can fail."""
    assert f"{855 / 1000:.2f}ms" == "0.85ms"
    assert format_time_us(855) != f"{855 / 1000:.2f}ms"


@x87_only
def test_matches_numpy_dragon4_on_ms_range() -> None:
    """Two independent exact roundings agree on every ms value in 850..59,999 µs."""
    thousand = np.longdouble(1000)
    for micros in range(850, 60_000):
        expected = np.format_float_positional(
            np.longdouble(micros) / thousand, precision=2, unique=False, fractional=True
        )
        assert format_time_us(micros) == expected + "ms", micros


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (1, "1s"),
        (3, "3s"),
        (50, "50s"),
        (51, "1m"),
        (59, "1m"),
        (89, "1m"),
        (90, "2m"),  # 1.5 -> half-even
        (150, "2m"),  # 2.5 -> half-even
        (210, "4m"),  # 3.5
        (3600, "60m"),
        (7200, "120m"),
        (345_600, "5760m"),
        (2.0, "2s"),
    ],
)
def test_format_time_s(seconds: float, expected: str) -> None:
    assert format_time_s(seconds) == expected


def test_format_time_us_thresholds_and_specials() -> None:
    assert format_time_us(849) == "849.00us"
    assert format_time_us(999_999) == "1000.00ms"
    assert format_time_us(10_050_000) == "10.05s"
    assert format_time_us(100 * 60 * 10**6) == "100.00m"
    assert format_time_us(np.longdouble(2200)) == "2.20ms"
    assert format_time_us(float("inf")) == "infm"  # wrk divides inf down to its last unit


def test_format_binary_and_metric_values() -> None:
    assert format_binary(0) == "0.00"
    assert format_binary(1030) == "1.01K"
    assert format_binary(13_858_929) == "13.22M"
    assert format_binary(2_450_000) == "2.34M"
    assert format_metric(1937.5) == "1.94k"
    assert format_metric(2100) == "2.10k"


# --- print_units (wrk.c print_units()) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "formatter", "width", "expected"),
    [
        (635.91, format_time_us, 8, "635.91us"),
        (890, format_time_us, 10, "    0.89ms"),
        (56_200, format_metric, 8, " 56.20k "),
        (8070, format_metric, 10, "    8.07k "),
        (611.62, format_metric, 10, "  611.62  "),
        (1_200_000, format_time_us, 10, "    1.20s "),
        (1_730, format_time_us, 10, "    1.73ms"),
        (10, format_metric, 9, "  10.00  "),
        (999_999.999, format_time_us, 10, " 1000.00ms"),
    ],
)
def test_print_units(
    value: float, formatter: Callable[[Real], str], width: int, expected: str
) -> None:
    field = print_units(value, formatter, width)
    assert field == expected
    assert len(field) == width


def test_print_units_truncates_keeping_leftmost() -> None:
    assert print_units(12_345_678_901, lambda _: "12345678.90", 8) == "123456  "
    assert print_units(0, lambda _: "abcdefghij", 4) == "abcd"


# --- format_percent -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (96.91, "   96.91%"),
        (100, "  100.00%"),
        (0, "    0.00%"),
        (80.0, "   80.00%"),
        (NAN, "    -nan%"),
        (np.longdouble(200) / np.longdouble(3), "   66.67%"),
    ],
)
def test_format_percent(value: float, expected: str) -> None:
    assert format_percent(value) == expected


def test_nan_always_prints_minus_nan() -> None:
    assert format_fixed(-math.nan) == format_fixed(math.nan) == "-nan"
    assert format_fixed(np.longdouble("nan")) == "-nan"
