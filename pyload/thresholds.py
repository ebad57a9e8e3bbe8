"""Thresholds (``--threshold EXPR``): pass or fail criteria checked against a run's result.

k6's idea in wrk's words: ``p99<250ms``, ``errors<1%``, ``timeouts=0``, ``rps>=1000``. This
module owns the grammar and the check, and nothing else: no I/O, no numpy until a result is
checked (Config parses thresholds in every process). docs/thresholds.md is its page.

The grammar: ``METRIC OP VALUE``, blanks allowed around the operator.

- ``OP``: ``<``, ``<=``, ``>``, ``>=``, ``=`` (or ``==``), ``!=``.
- latency metrics (``pN``: any percentile 0 < N < 100, such as ``p99.9``; ``max``; ``mean``):
  the report's Latency row (the corrected latency, ``RunResult.percentile(p)``); the VALUE is a
  time with its unit: ``us``, ``ms``, ``s``, ``m`` or ``h`` (``250ms``, ``1.5s``).
- ``rps``: requests/s, the report's Requests/sec; a number with an optional SI unit (``2k``).
- ``requests``: the completed responses; a count (``10k``).
- counters (``errors``: all five of wrk's error counters summed; ``timeouts``, ``connect``,
  ``read``, ``write``, ``non2xx``; wrk's names ``timeout`` and ``status`` too): a count, or a
  percentage of the attempts with ``%`` (``errors<1%``). The attempts are the completed
  responses plus the connect, read and write errors (a timeout or a non-2xx/3xx status is a
  completed response already); no attempt at all is 0 %.

``parse`` raises ValueError (one line); ``Threshold.check`` gives an ``Outcome``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["COUNTERS", "OPERATORS", "Outcome", "Threshold", "check", "parse"]

OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}
# The counter metrics -> the counter attributes of a RunResult (``errors``: their sum).
COUNTERS = {
    "errors": None,
    "timeouts": "timeouts",
    "timeout": "timeouts",
    "connect": "connect_errors",
    "read": "read_errors",
    "write": "write_errors",
    "non2xx": "status_errors",
    "status": "status_errors",
}
_TIME_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_SI = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}  # wrk's SI units, case-insensitive (1M = 1m)
_EXPRESSION = re.compile(r"\s*([A-Za-z][A-Za-z0-9.]*)\s*(<=|>=|==|!=|<|>|=)\s*(.*?)\s*")
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z%]*)")
_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")
_SYNTAX = "METRIC OP VALUE, e.g. p99<250ms, errors<1%, rps>=1k"


@dataclass(frozen=True)
class Threshold:
    """One parsed expression. ``limit`` is in the metric's unit: µs for a latency, requests/s,
    a count, or a percentage with ``percent``."""

    expression: str
    metric: str
    op: str
    limit: float
    percent: bool = False

    @property
    def unit(self) -> str:
        """``us`` (latency), ``/s`` (rps), ``%`` or ``""`` (a count)."""
        if _is_latency(self.metric):
            return "us"
        if self.metric == "rps":
            return "/s"
        return "%" if self.percent else ""

    def observed(self, result: RunResult) -> float:
        """The metric's value in ``result``, in the unit of ``limit``."""
        metric = self.metric
        if metric == "max":
            return float(result.latency.max if result.latency.count else 0)
        if metric == "mean":
            return float(result.latency.mean())
        if metric.startswith("p"):
            return float(result.percentile(float(metric[1:])))
        if metric == "rps":
            return result.requests_per_s
        if metric == "requests":
            return float(result.requests)
        attr = COUNTERS[metric]
        count = sum(result.errors.values()) if attr is None else getattr(result, attr)
        if not self.percent:
            return float(count)
        attempts = result.requests + result.connect_errors + result.read_errors
        attempts += result.write_errors
        return 100.0 * count / attempts if attempts else 0.0

    def check(self, result: RunResult) -> Outcome:
        """Whether ``result`` meets this threshold, with the value it had."""
        observed = self.observed(result)
        passed = not math.isnan(observed) and OPERATORS[self.op](observed, self.limit)
        return Outcome(self.expression, self.metric, observed, self.limit, passed, self.unit)


@dataclass(frozen=True)
class Outcome:
    """A threshold checked: the metric's ``observed`` value and the ``limit``, both in ``unit``
    (``us``, ``/s``, ``%`` or ``""``), and whether it ``passed``."""

    expression: str
    metric: str
    observed: float
    limit: float
    passed: bool
    unit: str = ""

    def shown(self) -> str:
        """The observed value as the report prints it: ``1.52ms``, ``2.10k``, ``0.50%``, ``12``."""
        if self.unit == "us":
            from pyload.units import format_time_us

            return format_time_us(self.observed)
        if self.unit == "/s":
            return f"{self.observed:.2f}/s"
        if self.unit == "%":
            return f"{self.observed:.2f}%"
        return f"{self.observed:.0f}"

    def __str__(self) -> str:
        """``p99<1us (p99 was 1.52ms)``: the CLI's line for a broken threshold."""
        return f"{self.expression} ({self.metric} was {self.shown()})"

    def to_json(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "metric": self.metric,
            "unit": self.unit,
            "limit": self.limit,
            "observed": None if math.isnan(self.observed) else self.observed,
            "passed": self.passed,
        }


def parse(text: str) -> Threshold:
    """The threshold ``text`` says; ValueError (one line naming it) if it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"a threshold must be text, not {type(text).__name__}")
    match = _EXPRESSION.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid threshold: {text!r} ({_SYNTAX})")
    metric, op, value = match.group(1).lower(), match.group(2), match.group(3)

    def invalid(why: str) -> ValueError:
        return ValueError(f"invalid threshold: {text!r} ({why})")

    number = _NUMBER.fullmatch(value)
    if number is None:
        raise invalid(f"{value!r} is not a number")
    expression = f"{metric}{op}{number.group(1)}{number.group(2)}"  # its normal spelling
    amount, unit = float(number.group(1)), number.group(2).lower()
    if _is_latency(metric):
        percentile = _PERCENTILE.fullmatch(metric)
        if percentile is not None and not 0 < float(percentile.group(1)) < 100:
            raise invalid("a percentile is above p0 and below p100; the largest is max")
        if unit not in _TIME_UNITS_US:
            raise invalid(f"{metric} needs a time with its unit: us, ms, s, m or h")
        return Threshold(expression, metric, op, amount * _TIME_UNITS_US[unit])
    if metric in ("rps", "requests"):
        if unit not in _SI:
            raise invalid(f"{metric} is a number with an optional unit: k, M or G")
        return Threshold(expression, metric, op, amount * _SI[unit])
    if metric in COUNTERS:
        if unit == "%":
            return Threshold(expression, metric, op, amount, percent=True)
        if unit not in _SI:
            raise invalid(f"{metric} is a count (10, 1k) or a percentage of the attempts (1%)")
        return Threshold(expression, metric, op, amount * _SI[unit])
    names = "pN (p99, p99.9), max, mean, rps, requests, " + ", ".join(COUNTERS)
    raise invalid(f"unknown metric {metric!r}; metrics: {names}")


def check(result: RunResult, thresholds: Iterable[str | Threshold]) -> tuple[Outcome, ...]:
    """Each threshold checked against ``result``, in order (strings parsed: ValueError)."""
    parsed = [t if isinstance(t, Threshold) else parse(t) for t in thresholds]
    return tuple(t.check(result) for t in parsed)


def _is_latency(metric: str) -> bool:
    return metric in ("max", "mean") or _PERCENTILE.fullmatch(metric) is not None
