"""One run of one cell: let the stack settle, then pyload on the endpoint; with ``--with-wrk``
a warm-up first, then pyload and wrk, the order alternating from run to run so neither tool
always meets the colder (or warmer) server; with ``--http2`` (a stack that serves h2c) the same
closed loop over HTTP/2 (``pyload.run(http2=True)``) right before or after pyload's HTTP/1.1
run, alternating the same way, the stack settled in between; with ``--rate N``, last, after
the stack settles again, pyload open-loop at N requests/s (``pyload.run(rate=N)``,
docs/rate.md) with the same connections, threads, duration and timeout. Returns a ``CellRun``;
never raises for a failure of the cell (a stack that did not start, a pyload error, Ctrl-C):
the run records it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pyload
from benchmarks.clients import ClientError, run_wrk, wrk_seconds
from benchmarks.compare import compare_cell
from benchmarks.formatting import fmt_number
from benchmarks.plan import Cell
from benchmarks.profiles import Profile
from benchmarks.progress import Progress
from benchmarks.results import NOT_RUN, OK, CellRun, PyloadResult, WrkRun
from benchmarks.stacks import StackRunner
from benchmarks.stopping import stop_run
from benchmarks.wrkparse import WrkParseError, parse_wrk

__all__ = ["CELL_WARMUP_S", "now", "run_cell"]

CELL_WARMUP_S = 1.0  # with --with-wrk: unrecorded load on each cell before the two tools


def now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def run_cell(
    cell: Cell,
    runner: StackRunner,
    profile: Profile,
    *,
    previous: Cell | None,
    with_wrk: bool,
    progress: Progress,
    index: int = 0,
    run: int = 1,
    repeat: int = 1,
    rate: float | None = None,
) -> CellRun:
    """Run ``cell`` once (its run number ``run`` of ``repeat``); ``index`` counts the runs of the
    whole matrix (wrk, and HTTP/2, go first on odd ones). ``previous`` is the cell that ran
    before on this stack, whose slow views may still be draining. ``rate``: also run it
    open-loop at that many requests/s, after the closed loop (and wrk)."""
    record = CellRun(index=run)
    label = f"{cell.server} {cell.label}" + (f" (run {run}/{repeat})" if repeat > 1 else "")
    stage = "wrk"  # what Ctrl-C cuts short once pyload's closed-loop result is whole
    t0 = time.monotonic()
    # From the cell's progress line on, a stop signal is this run's: it is marked interrupted
    # (a signal taken between the line and the try used to leave it a plain "not run").
    try:
        t0 = progress.cell(label)
        record.started_at = now()
        if runner.gave_up is not None:
            record.error = f"stack did not start: {runner.gave_up}"
            progress.finished(t0, f"FAILED: {record.error}")
            return record
        drain = previous.drain_s(profile) if previous is not None else 0.0
        answering, settle_s, why = runner.settle(drain)
        if not answering:
            progress.note(f"    stack not answering ({why}); restarting it")
            if runner.restart() is None:
                record.error = f"stack stopped answering and did not restart: {runner.gave_up}"
                progress.finished(t0, f"FAILED: {record.error}")
                return record
            record.restarted = True
        record.settle_s = round(settle_s, 3)
        url = (runner.url or "") + cell.endpoint.path
        record.url = url
        wrk_first = with_wrk and index % 2 == 1
        h2_first = cell.http2 and index % 2 == 1
        if with_wrk or cell.http2:
            record.order = _order(with_wrk, wrk_first, cell.http2, h2_first)
        if with_wrk:
            _cell_warm_up(url, profile)
            runner.settle(cell.drain_s(profile))
        if wrk_first:
            record.wrk = _run_wrk(url, profile)
            runner.settle(cell.drain_s(profile))
        h2_line = ""
        if h2_first:
            stage = "the HTTP/2 run"
            h2_line = _http2(record, url, profile)
            if record.interrupted:
                stop_run()  # KeyboardInterrupt: below, the run is marked not run
            runner.settle(cell.drain_s(profile))
            stage = "wrk"
        try:
            result = _load(url, profile)
        except pyload.PyloadError as exc:
            record.error = f"pyload: {type(exc).__name__}: {exc}"
            progress.finished(t0, f"FAILED: {record.error}")
            return record
        data = PyloadResult.from_run(result)
        record.pyload, record.status = data, OK
        if result.worker_failures:
            record.error = "; ".join(result.worker_failures)
        record.interrupted = result.interrupted
        summary = _summary_line(data)
        if result.interrupted:
            summary += f"  (interrupted after {data.runtime_s:.2f} s)"
        if cell.http2 and not h2_first and not result.interrupted:
            stage = "the HTTP/2 run"
            answering, _, why = runner.settle(cell.drain_s(profile))
            if answering:
                h2_line = _http2(record, url, profile)
            else:
                record.h2_error = f"stack not answering before the HTTP/2 run ({why})"
                h2_line = f"HTTP/2: FAILED: {record.h2_error}"
            stage = "wrk"  # a stop signal in the HTTP/2 run: the matrix stops after this cell
        if with_wrk and not record.interrupted:
            if not wrk_first:
                runner.settle(cell.drain_s(profile))
                record.wrk = _run_wrk(url, profile)
            summary += _compare(record.wrk, data, profile)
        if h2_line:
            summary += "\n    " + h2_line
        if rate is not None and not record.interrupted:
            stage = "the open-loop run"
            summary += "\n    " + _open_loop(record, runner, cell, profile, url, rate)
        progress.finished(t0, summary)
    except KeyboardInterrupt:
        record.interrupted = True
        if record.pyload is None:
            record.status, record.error = NOT_RUN, "interrupted"
        else:  # pyload's result is whole; wrk, HTTP/2 or the open loop was cut short
            record.error = f"interrupted before {stage} completed"
            if stage == "the open-loop run" and record.rate_error is None:
                record.rate_error = "interrupted"
            if stage == "the HTTP/2 run" and record.pyload_h2 is None:
                record.h2_error = record.h2_error or "interrupted"
        progress.finished(t0, "interrupted")
    record.wall_s = round(time.monotonic() - t0, 2)
    return record


def _order(with_wrk: bool, wrk_first: bool, http2: bool, h2_first: bool) -> list[str]:
    """The tools in the order they load the cell: pyload's HTTP/2 run is ``pyload --http2``."""
    order = ["pyload"]
    if http2:
        order.insert(0 if h2_first else 1, "pyload --http2")
    if with_wrk:
        order.insert(0 if wrk_first else len(order), "wrk")
    return order


def _http2(record: CellRun, url: str, profile: Profile) -> str:
    """pyload's closed loop over HTTP/2 into ``record``; return the progress line. A result
    cut short by a stop signal marks the record interrupted (the caller stops the run)."""
    try:
        result = _load(url, profile, http2=True)
    except pyload.PyloadError as exc:
        record.h2_error = f"pyload --http2: {type(exc).__name__}: {exc}"
        return f"HTTP/2: FAILED: {record.h2_error}"
    data = record.pyload_h2 = PyloadResult.from_run(result)
    if result.worker_failures:
        record.h2_error = "; ".join(result.worker_failures)
    line = "HTTP/2: " + _summary_line(data).lstrip()
    if result.interrupted:
        record.interrupted = True
        record.error = "; ".join(filter(None, [record.error, "interrupted in the HTTP/2 run"]))
        line += f"  (interrupted after {data.runtime_s:.2f} s)"
    return line


def _summary_line(result: PyloadResult) -> str:
    def ms(us: float | None) -> str:
        return "-" if us is None else f"{us / 1000:.1f}ms"

    return (
        f"{result.requests_per_s:9.1f} req/s  p50 {ms(result.p50_us)}  p99 {ms(result.p99_us)}"
        f"  timeouts {result.timeouts}  errors {result.other_errors}"
    )


def _open_loop(
    record: CellRun, runner: StackRunner, cell: Cell, profile: Profile, url: str, rate: float
) -> str:
    """Settle, then pyload at ``rate`` requests/s into ``record``; return the progress line."""
    head = f"open loop at {fmt_number(rate)}/s:"
    answering, _, why = runner.settle(cell.drain_s(profile))
    if not answering:
        record.rate_error = f"stack not answering before the open-loop run ({why})"
        return f"{head} FAILED: {record.rate_error}"
    try:
        result = _load(url, profile, rate=rate)
    except pyload.PyloadError as exc:
        record.rate_error = f"pyload: {type(exc).__name__}: {exc}"
        return f"{head} FAILED: {record.rate_error}"
    data = record.pyload_rate = PyloadResult.from_run(result)
    if result.worker_failures:
        record.rate_error = "; ".join(result.worker_failures)
    if result.interrupted:
        record.interrupted = True
        record.error = "; ".join(filter(None, [record.error, "interrupted in the open-loop run"]))
    return f"{head} {_open_loop_line(data)}"


def _open_loop_line(result: PyloadResult) -> str:
    """``achieved 499.8/s (held)  p50 1.2ms  p99 3.4ms  p99.9 5.1ms  uncorrected p99 2.0ms``."""

    def ms(us: float | None) -> str:
        return "-" if us is None else f"{us / 1000:.1f}ms"

    rate = result.constant_rate
    held = (
        "held"
        if rate is None or rate.held
        else f"NOT held: {rate.shortfall or 'cause not identified'}"
    )
    line = (
        f"achieved {result.requests_per_s:.1f}/s ({held})  p50 {ms(result.p50_us)}  "
        f"p99 {ms(result.p99_us)}  p99.9 {ms(result.p999_us)}  "
        f"uncorrected p99 {ms(result.uncorrected_p99_us)}  timeouts {result.timeouts}"
    )
    if result.interrupted:
        line += f"  (interrupted after {result.runtime_s:.2f} s)"
    return line


def _run_wrk(url: str, profile: Profile) -> WrkRun:
    try:
        run = run_wrk(
            url,
            connections=profile.connections,
            duration_s=profile.duration_s,
            threads=profile.threads,
            timeout_s=profile.timeout_s,
        )
        parsed = parse_wrk(run.text)
    except (ClientError, WrkParseError) as exc:
        return WrkRun(error=str(exc))
    return WrkRun(argv=run.argv, text=run.text, parsed=parsed, cpu_s=run.cpu_s)


def _cell_warm_up(url: str, profile: Profile) -> None:
    """Unrecorded load on the cell itself, at its concurrency (client pools grow, caches fill).
    A stop signal during it stops the run (pyload took it: its result says interrupted)."""
    try:
        result = _load(url, profile, duration=CELL_WARMUP_S, print_latency=False)
    except pyload.PyloadError:
        return
    if result.interrupted:
        stop_run()


def _load(url: str, profile: Profile, **options: Any) -> pyload.RunResult:
    """pyload on ``url`` with the profile's connections, threads, duration and timeout
    (``options`` adds to them or overrides them: the open loop's rate, the warm-up's length)."""
    settings: dict[str, Any] = {
        "connections": profile.connections,
        "duration": profile.duration_s,
        "threads": profile.threads,
        "timeout": profile.timeout_s,
        "print_latency": True,
        **options,
    }
    return pyload.run(url, **settings)


def _compare(wrk: WrkRun | None, result: PyloadResult, profile: Profile) -> str:
    """Attach pyload-vs-wrk to the wrk run; return the progress line's suffix."""
    if wrk is None or wrk.parsed is None:
        return f"  | wrk failed: {wrk.error if wrk is not None else 'not run'}"
    wrk.comparison = compare_cell(
        result,
        wrk.parsed,
        timeout_s=profile.timeout_s,
        wrk_timeout_s=wrk_seconds(profile.timeout_s),
    )
    verdict = (
        "agree" if wrk.comparison.agree else "DISAGREE: " + ", ".join(wrk.comparison.disagreements)
    )
    return f"  | wrk {wrk.parsed.requests_per_s:.1f} req/s, {verdict}"
