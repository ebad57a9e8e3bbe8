"""wrk's text report (wrk.c print_stats & main): pure functions from run data to the exact text.

The layout is wrk.c main()/print_stats(): header, the Thread Stats table, the optional latency
distribution, the summary with its optional error lines, and the two rate lines. At a constant
rate (-R) the distribution is wrk2's instead (wrk2 wrk.c print_hdr_latency(): the HdrHistogram
percentiles and the detailed spectrum, spectrum.py), for the latencies from the intended send
times and, with -U, for the uncorrected ones. pyload's own notes (a rate not held, a client
saturated, a lost worker: ``RunResult.notes``; wrk prints none of them) follow the
Transfer/sec line, so a parser of wrk's text still finds its lines. Nothing here does I/O;
the caller prints ``wrk_header()`` before the run and ``wrk_body()`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pyload._counters import Counters
from pyload._header import wrk_header  # without numpy: printed before the load
from pyload._spectrum import SPECTRUM_HEADER, WRK2_PERCENTILES, hdr_percentile_block, hdr_spectrum
from pyload._stats import ExactHistogram, stats_row
from pyload.config import DEFAULT_PERCENTILES
from pyload.units import (
    Real,
    format_binary,
    format_fixed,
    format_metric,
    format_percent,
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
    def latency_uncorrected(self) -> ExactHistogram: ...  # as measured (printed with -U)

    @property
    def counters(self) -> Counters: ...

    @property
    def runtime_us(self) -> int: ...

    @property
    def notes(self) -> tuple[str, ...]: ...  # pyload's lines after the summary


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


def wrk_body(run: Reportable) -> str:
    """Everything from ``  Thread Stats`` to the ``Transfer/sec`` line, newline-terminated."""
    counters = run.counters
    lines = [
        f"  Thread Stats{'Avg':>6}{'Stdev':>11}{'Max':>8}{'+/- Stdev':>12}",
        _stats_line("Latency", run.latency, format_time_us),
        _stats_line("Req/Sec", run.rate, format_metric),
    ]
    config = run.config
    if config.rate is not None:
        lines += _wrk2_distributions(run)
    elif config.print_latency or config.u_latency:
        lines += _distribution("  Latency Distribution", run.latency, config.percentiles)
        if config.u_latency:
            # pyload's -U in the closed loop: the latencies as measured, before wrk's post-run
            # correction (wrk has no -U; wrk2 has no closed loop).
            lines += _distribution(
                "  Uncorrected Latency Distribution", run.latency_uncorrected, config.percentiles
            )
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
    lines += run.notes
    return "\n".join(lines) + "\n"


def _distribution(title: str, latency: ExactHistogram, percentiles: tuple[float, ...]) -> list[str]:
    """wrk's block: ``     50%  151.00us`` (``%7.0f%%``; a fractional percentile such as
    99.9, which wrk cannot be asked for, keeps its decimals)."""
    lines = [title]
    for p in percentiles:
        label = f"{p:7.0f}%" if p == int(p) else f"{p:>7g}%"
        lines.append(label + print_units(latency.percentile(p), format_time_us, 10))
    return lines


def _wrk2_distributions(run: Reportable) -> list[str]:
    """wrk2's blocks (with -L or -U): the latencies from the intended send times, then with -U
    the uncorrected ones, each as percentiles and spectrum."""
    config = run.config
    if not (config.print_latency or config.u_latency):
        return []
    percentiles = WRK2_PERCENTILES if config.percentiles == DEFAULT_PERCENTILES else (
        config.percentiles
    )
    lines = _wrk2_block("Recorded Latency", run.latency, percentiles)
    if config.u_latency:
        lines.append("")
        lines += _wrk2_block(
            "Uncorrected Latency (measured without taking delayed starts into account)",
            run.latency_uncorrected,
            percentiles,
        )
    return lines


def _wrk2_block(title: str, latency: ExactHistogram, percentiles: tuple[float, ...]) -> list[str]:
    def value(us: int) -> str:
        return print_units(us, format_time_us, 10)

    return [
        f"  Latency Distribution (HdrHistogram - {title})",
        *hdr_percentile_block(latency.counts, percentiles, value),
        "",
        "  Detailed Percentile spectrum:",
        SPECTRUM_HEADER,
        "",
        *hdr_spectrum(latency.counts),
        "-" * 58,
    ]


def wrk_report(run: Reportable) -> str:
    """The whole report: header then body."""
    return wrk_header(run.config) + wrk_body(run)
