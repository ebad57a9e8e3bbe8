"""How the outputs print a cell's numbers: rates and latencies as wrk prints them, and a number
over several runs as its median with the min-max range."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.results import Spread
from pyload.units import format_time_us

__all__ = [
    "DASH",
    "fmt_latency",
    "fmt_number",
    "fmt_or",
    "fmt_range",
    "fmt_rate",
    "fmt_seconds",
    "fmt_spread",
]

DASH = "\N{EN DASH}"  # between the ends of a range: 310.20\N{EN DASH}320.11


def fmt_rate(value: float) -> str:
    """Requests per second with 2 decimals, as wrk prints them."""
    return f"{value:.2f}"


def fmt_latency(us: float | None) -> str:
    """A latency as wrk prints it (``220.76ms``, ``1.02s``); ``-`` when none was recorded."""
    return "-" if us is None else format_time_us(us)


def fmt_number(value: float) -> str:
    """The shortest text that reads back as ``value``: ``500``, ``0.5``, ``1234.5678``."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def fmt_or(value: float | None, pattern: str = "{:.2f}", none: str = "-") -> str:
    """``value`` in ``pattern`` (``"{:,.0f}"``, ``"{:.2f}x"``), or ``none`` when there is no
    value (not measured)."""
    return none if value is None else pattern.format(value)


def fmt_seconds(seconds: float) -> str:
    """``6.6 s``, ``300 ms``."""
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def fmt_spread(spread: Spread | None, fmt: Callable[[float], str]) -> str:
    """One run: the number. More: the median and the range, ``317.95 (310.20\N{EN DASH}320.11)``.
    ``-`` when there is none."""
    if spread is None:
        return "-"
    if spread.runs < 2:
        return fmt(spread.median)
    return f"{fmt(spread.median)} ({fmt_range(spread, fmt)})"


def fmt_range(spread: Spread, fmt: Callable[[float], str]) -> str:
    """The lowest and the highest run: ``310.20\N{EN DASH}320.11``."""
    return f"{fmt(spread.low)}{DASH}{fmt(spread.high)}"
