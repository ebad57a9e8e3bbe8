"""The few numbers every output shows for a cell, taken from its results.json record, and how
they are printed. The summary table, the interpretation, the charts and the tests all use these,
so the report cannot drift from results.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_target.catalog import ENDPOINTS
from pyload.units import format_time_us

__all__ = ["CellNumbers", "cell_numbers", "fmt_latency", "fmt_rate", "labels", "servers"]

_ORDER = {f"{e.kind}/{e.scenario}": i for i, e in enumerate(ENDPOINTS)}


def labels(cells: list[dict[str, Any]]) -> list[str]:
    """The cells' endpoint labels in the reference order (sync before async per scenario)."""
    return sorted(dict.fromkeys(c["label"] for c in cells), key=lambda x: _ORDER.get(x, 99))


def servers(cells: list[dict[str, Any]]) -> list[str]:
    """The cells' server stacks in run order."""
    return list(dict.fromkeys(c["server"] for c in cells))


@dataclass(frozen=True)
class CellNumbers:
    """A cell's headline numbers. p50/p99 are µs, None when no latency was recorded (every
    response was a timeout, or none came); ``errors`` is connect + read + write + status."""

    requests: int
    requests_per_s: float
    p50_us: int | None
    p99_us: int | None
    timeouts: int
    errors: int
    breakdown: dict[str, int]
    in_flight: int
    runtime_s: float


def cell_numbers(record: dict[str, Any]) -> CellNumbers | None:
    """The cell's headline numbers, or None if pyload produced no result."""
    data = record.get("pyload")
    if not data:
        return None
    latency = data["latency_us"]
    errors = data["errors"]
    recorded = latency["count"] > 0
    breakdown = {k: errors[k] for k in ("connect", "read", "write", "status")}
    return CellNumbers(
        requests=data["requests"],
        requests_per_s=data["requests_per_s"],
        p50_us=latency["percentiles"]["50"] if recorded else None,
        p99_us=latency["percentiles"]["99"] if recorded else None,
        timeouts=errors["timeout"],
        errors=sum(breakdown.values()),
        breakdown=breakdown,
        in_flight=data.get("in_flight_at_end", 0),
        runtime_s=data["runtime_us"] / 1e6,
    )


def fmt_rate(value: float) -> str:
    """Requests per second with 2 decimals, as wrk prints them."""
    return f"{value:.2f}"


def fmt_latency(us: int | None) -> str:
    """A latency as wrk prints it (``220.76ms``, ``1.02s``); ``-`` when none was recorded."""
    return "-" if us is None else format_time_us(us)
