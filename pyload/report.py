"""wrk's text report (wrk.c print_stats & main): pure functions from run data to the exact text.

The layout is spec §5.1/§5.3-§5.5: header, the Thread Stats table, the optional latency
distribution, the summary with its optional error lines, and the two rate lines. Nothing here
does I/O; the caller prints ``wrk_header()`` before the run and ``wrk_body()`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pyload.stats import LATENCY_PERCENTILES, ExactHistogram, stats_row
from pyload.units import (
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

__all__ = ["ReportData", "wrk_body", "wrk_header", "wrk_report"]


@dataclass(frozen=True)
class ReportData:
    """Everything wrk's report shows, for one finished run."""

    url: str
    duration_s: float  # as requested (-d)
    threads: int
    connections: int  # as requested (-c)
    latency: ExactHistogram  # already CO-corrected: what is printed
    rate: ExactHistogram  # Req/Sec samples (per worker, 100 ms sampler)
    requests: int
    bytes_read: int
    runtime_us: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int
    latency_distribution: bool  # --latency


def _c_int(value: int) -> str:
    """wrk's error counters are uint32 sums printed with ``%d``."""
    value %= 1 << 32
    return str(value - (1 << 32) if value >= 1 << 31 else value)


def _stats_line(name: str, histogram: ExactHistogram, formatter: Callable[[Real], str]) -> str:
    row = stats_row(histogram)
    return (
        f"    {name:<10}"
        + print_units(row.mean, formatter, 8)
        + print_units(row.stdev, formatter, 10)
        + print_units(row.max, formatter, 9)
        + format_percent(row.within_stdev)
    )


def wrk_header(url: str, duration_s: float, threads: int, connections: int) -> str:
    """The two lines wrk prints before the run starts (they need only the settings)."""
    return (
        f"Running {format_time_s(duration_s)} test @ {url}\n"
        f"  {threads} threads and {connections} connections\n"
    )


def wrk_body(data: ReportData) -> str:
    """Everything from ``  Thread Stats`` to the ``Transfer/sec`` line, newline-terminated."""
    lines = [
        f"  Thread Stats{'Avg':>6}{'Stdev':>11}{'Max':>8}{'+/- Stdev':>12}",
        _stats_line("Latency", data.latency, format_time_us),
        _stats_line("Req/Sec", data.rate, format_metric),
    ]
    if data.latency_distribution:
        lines.append("  Latency Distribution")
        for p in LATENCY_PERCENTILES:
            value = data.latency.percentile(p)
            lines.append(f"{p:7.0f}%" + print_units(value, format_time_us, 10))
    lines.append(
        f"  {data.requests} requests in {format_time_us(data.runtime_us)}, "
        f"{format_binary(data.bytes_read)}B read"
    )
    if data.connect_errors or data.read_errors or data.write_errors or data.timeouts:
        lines.append(
            f"  Socket errors: connect {_c_int(data.connect_errors)}, "
            f"read {_c_int(data.read_errors)}, write {_c_int(data.write_errors)}, "
            f"timeout {_c_int(data.timeouts)}"
        )
    if data.status_errors:
        lines.append(f"  Non-2xx or 3xx responses: {_c_int(data.status_errors)}")
    # wrk: runtime_us / 1000000.0 is a double division; the rates are long-double divisions
    runtime_s = np.longdouble(data.runtime_us / 1_000_000.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        req_per_s = to_longdouble(data.requests) / runtime_s
        bytes_per_s = to_longdouble(data.bytes_read) / runtime_s
    lines.append("Requests/sec: " + format_fixed(req_per_s, 2).rjust(9))
    lines.append("Transfer/sec: " + format_binary(bytes_per_s).rjust(10) + "B")
    return "\n".join(lines) + "\n"


def wrk_report(data: ReportData) -> str:
    """The whole report: header then body."""
    header = wrk_header(data.url, data.duration_s, data.threads, data.connections)
    return header + wrk_body(data)
