"""wrk's text report (wrk.c print_stats & main): pure functions from run data to the exact text.

The layout is wrk.c main()/print_stats(): header, the Thread Stats table, the optional latency
distribution, the summary with its optional error lines, and the two rate lines. Nothing here
does I/O; the caller prints ``wrk_header()`` before the run and ``wrk_body()`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pyload.messages import Counters
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

if TYPE_CHECKING:
    from pyload.config import Config

__all__ = ["Reportable", "wrk_body", "wrk_header", "wrk_report"]


class Reportable(Protocol):
    """What wrk's report shows of a finished run (``RunResult`` is one)."""

    @property
    def config(self) -> Config: ...  # url, duration, threads, connections, print_latency

    @property
    def latency(self) -> ExactHistogram: ...  # what is printed (wrk: after its CO correction)

    @property
    def rate(self) -> ExactHistogram: ...  # Req/Sec samples (per thread, 100 ms sampler)

    @property
    def counters(self) -> Counters: ...

    @property
    def runtime_us(self) -> int: ...


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


def wrk_header(config: Config) -> str:
    """The two lines wrk prints before the run starts (they need only the settings)."""
    return (
        f"Running {format_time_s(config.duration)} test @ {config.url}\n"
        f"  {config.threads} threads and {config.connections} connections\n"
    )


def wrk_body(run: Reportable) -> str:
    """Everything from ``  Thread Stats`` to the ``Transfer/sec`` line, newline-terminated."""
    counters = run.counters
    lines = [
        f"  Thread Stats{'Avg':>6}{'Stdev':>11}{'Max':>8}{'+/- Stdev':>12}",
        _stats_line("Latency", run.latency, format_time_us),
        _stats_line("Req/Sec", run.rate, format_metric),
    ]
    if run.config.print_latency:
        lines.append("  Latency Distribution")
        for p in LATENCY_PERCENTILES:
            value = run.latency.percentile(p)
            lines.append(f"{p:7.0f}%" + print_units(value, format_time_us, 10))
    lines.append(
        f"  {counters.requests} requests in {format_time_us(run.runtime_us)}, "
        f"{format_binary(counters.bytes_read)}B read"
    )
    errors = counters.errors
    if errors["connect"] or errors["read"] or errors["write"] or errors["timeout"]:
        lines.append(
            f"  Socket errors: connect {_c_int(counters.connect_errors)}, "
            f"read {_c_int(counters.read_errors)}, write {_c_int(counters.write_errors)}, "
            f"timeout {_c_int(counters.timeouts)}"
        )
    if counters.status_errors:
        lines.append(f"  Non-2xx or 3xx responses: {_c_int(counters.status_errors)}")
    # wrk: runtime_us / 1000000.0 is a double division; the rates are long-double divisions
    runtime_s = np.longdouble(run.runtime_us / 1_000_000.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        req_per_s = to_longdouble(counters.requests) / runtime_s
        bytes_per_s = to_longdouble(counters.bytes_read) / runtime_s
    lines.append("Requests/sec: " + format_fixed(req_per_s, 2).rjust(9))
    lines.append("Transfer/sec: " + format_binary(bytes_per_s).rjust(10) + "B")
    return "\n".join(lines) + "\n"


def wrk_report(run: Reportable) -> str:
    """The whole report: header then body."""
    return wrk_header(run.config) + wrk_body(run)
