"""The matrix's results document (``results.json``), typed: the only module that writes and
reads its keys. Everything else (the report, the interpretation, the charts, the comparison
with wrk, the tests) works on these dataclasses.

    MatrixResult                    the run: profile, repeat, machine, stacks, cells
      StackRecord                   one server stack: its starts and its warm-up
      CellResult                    one (stack, endpoint) cell and its runs
        CellRun                     one run of the cell: pyload's result, wrk's (--with-wrk),
                                    pyload's open-loop result (--rate)
          PyloadResult              pyload's ``RunResult.to_dict(raw=False)``, kept verbatim
            ConstantRate            its ``constant_rate`` block (open loop only)
          WrkRun -> Comparison      wrk's text, its numbers, pyload vs wrk
        CellSummary                 computed: the median and min-max over the cell's runs
                                    (and over their HTTP/2 runs, --http2)
        OpenLoopSummary             computed: the same for the open-loop runs (--rate)
      Http2Scope                    --http2: the stacks run over both protocols, and why the
                                    others do not serve HTTP/2

Schema ``pyload.benchmarks/2`` (docs/benchmarks.md): per cell a list of ``runs`` (``--repeat
N``: N of them), and computed ``status``, ``error``, ``interrupted``, ``summary`` and
``open_loop_summary`` for readers; ``from_json`` ignores the computed keys and reads
``pyload.benchmarks/1`` too (one run per cell, its fields at the cell's level). ``--rate N`` added
``rate_per_s`` to the run and ``pyload_rate`` / ``rate_error`` to each run of schema 2; documents
written before, without them, read as runs without an open loop. ``--http2`` added ``http2`` to
the run and ``pyload_h2`` / ``h2_error`` to each run, the same way.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pyload
from benchmarks.profiles import Profile
from benchmarks.wrkparse import WrkText
from django_target.catalog import ENDPOINTS
from pyload import ERROR_NAMES

__all__ = [
    "FAILED",
    "HTTP1",
    "HTTP2",
    "NON_TIMEOUT_ERRORS",
    "NOT_RUN",
    "OK",
    "READABLE_SCHEMAS",
    "SCHEMA",
    "CellResult",
    "CellRun",
    "CellSummary",
    "Comparison",
    "ConstantRate",
    "Http2Scope",
    "Latency",
    "MatrixResult",
    "Metric",
    "OpenLoopSummary",
    "PyloadResult",
    "ResultsError",
    "Spread",
    "StackRecord",
    "StackStart",
    "WarmUp",
    "WrkRun",
]

SCHEMA = "pyload.benchmarks/2"
READABLE_SCHEMAS = ("pyload.benchmarks/1", SCHEMA)

#: A run's status: pyload produced a result; it failed (the reason is its error); not run.
OK, FAILED, NOT_RUN = "ok", "failed", "not run"

#: The protocols, as pyload's JSON names them (``"protocol"``, docs/json.md).
HTTP1, HTTP2 = "HTTP/1.1", "HTTP/2"

#: The error counters other than timeouts (the reports' "errors" column), in pyload's order.
NON_TIMEOUT_ERRORS: tuple[str, ...] = tuple(name for name in ERROR_NAMES if name != "timeout")

_ORDER = {f"{e.kind}/{e.scenario}": i for i, e in enumerate(ENDPOINTS)}


class ResultsError(ValueError):
    """Not a results document this version can read."""


# -- pyload's result, as the document keeps it ----------------------------------------------


@dataclass(frozen=True)
class Latency:
    """One of pyload's latency summaries (``latency_us``, ``latency_uncorrected_us``): µs, by
    wrk's rank rule."""

    count: int
    max: int | None
    percentiles: dict[str, int]

    def at(self, p: str) -> int | None:
        """Percentile ``p`` ("50", "99.9"; "100" is the maximum); None when none was recorded."""
        if not self.count:
            return None
        return self.max if p == "100" else self.percentiles.get(p)


@dataclass(frozen=True)
class ConstantRate:
    """pyload's ``constant_rate`` block (a run with ``rate``, docs/rate.md): the rate asked and
    achieved, whether it was held and, when not, why (``shortfall``, one line)."""

    asked_per_s: float
    achieved_per_s: float
    held: bool
    shortfall: str | None
    unsent_at_end: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConstantRate:
        return cls(
            asked_per_s=float(data["asked_per_s"]),
            achieved_per_s=float(data["achieved_per_s"]),
            held=bool(data["held"]),
            shortfall=data.get("shortfall"),
            unsent_at_end=int(data.get("unsent_at_end", 0)),
        )


def _latency(data: Mapping[str, Any]) -> Latency:
    return Latency(
        count=int(data["count"]),
        max=data.get("max"),
        percentiles=dict(data.get("percentiles") or {}),
    )


@dataclass(frozen=True)
class PyloadResult:
    """One pyload run as results.json keeps it: ``RunResult.to_dict(raw=False)`` (docs/json.md),
    verbatim in ``document``, and the fields the benchmark reads from it. ``latency`` is what
    pyload prints: wrk's corrected latency in the closed loop, the latency from each request's
    intended send time at a constant rate; ``latency_uncorrected`` the latency as measured
    (None in a document without it); ``constant_rate`` None in the closed loop."""

    requests: int
    requests_per_s: float
    runtime_us: int
    errors: dict[str, int]
    latency: Latency
    in_flight_at_end: int
    interrupted: bool
    worker_failures: tuple[str, ...]
    wrk_text: str
    workers_cpu_s: float | None
    latency_uncorrected: Latency | None = None
    constant_rate: ConstantRate | None = None
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_run(cls, result: pyload.RunResult) -> PyloadResult:
        """Without the exact counts, which would make results.json huge."""
        return cls.from_dict(result.to_dict(raw=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PyloadResult:
        """Read ``pyload.result/1`` or ``/2`` (the keys read here are the same in both; the
        optional ones may be missing)."""
        workers = data.get("workers")
        uncorrected, constant_rate = data.get("latency_uncorrected_us"), data.get("constant_rate")
        return cls(
            requests=int(data["requests"]),
            requests_per_s=float(data["requests_per_s"]),
            runtime_us=int(data["runtime_us"]),
            errors={name: int(data["errors"].get(name, 0)) for name in ERROR_NAMES},
            latency=_latency(data["latency_us"]),
            in_flight_at_end=int(data.get("in_flight_at_end", 0)),
            interrupted=bool(data.get("interrupted", False)),
            worker_failures=tuple(data.get("worker_failures") or ()),
            wrk_text=str(data.get("wrk_text", "")),
            workers_cpu_s=(
                sum(float(w["cpu_s"]) for w in workers) if workers is not None else None
            ),
            latency_uncorrected=_latency(uncorrected) if uncorrected else None,
            constant_rate=ConstantRate.from_dict(constant_rate) if constant_rate else None,
            document=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.document

    @property
    def timeouts(self) -> int:
        return self.errors["timeout"]

    @property
    def breakdown(self) -> dict[str, int]:
        """The non-timeout error counters by name."""
        return {name: self.errors[name] for name in NON_TIMEOUT_ERRORS}

    @property
    def other_errors(self) -> int:
        """connect + read + write + status (non-2xx)."""
        return sum(self.breakdown.values())

    @property
    def p50_us(self) -> int | None:
        return self.latency.at("50")

    @property
    def p99_us(self) -> int | None:
        return self.latency.at("99")

    @property
    def p999_us(self) -> int | None:
        return self.latency.at("99.9")

    @property
    def uncorrected_p99_us(self) -> int | None:
        """p99 as measured (at a constant rate: from the actual send), timeouts excluded."""
        return self.latency_uncorrected.at("99") if self.latency_uncorrected else None

    @property
    def runtime_s(self) -> float:
        return self.runtime_us / 1e6

    @property
    def all_timeouts(self) -> bool:
        return bool(self.requests) and self.timeouts == self.requests

    @property
    def client_saturated(self) -> bool:
        """pyload's own CPU was the limit (its JSON's ``client.saturated``; False without it)."""
        return bool((self.document.get("client") or {}).get("saturated"))

    @property
    def client_busy(self) -> float | None:
        """How busy pyload's busiest process was, 0 to 1 (``client.busiest_process_utilisation``;
        None without it)."""
        value = (self.document.get("client") or {}).get("busiest_process_utilisation")
        return float(value) if value is not None else None

    @property
    def cpu_us_per_request(self) -> float | None:
        """pyload's worker CPU per response, µs; None without the CPU or a response."""
        if self.workers_cpu_s is None or not self.requests:
            return None
        return self.workers_cpu_s * 1e6 / self.requests


# -- wrk, and pyload against it --------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One compared number. ``agree`` None: not comparable (``note`` says why)."""

    pyload: float | None
    wrk: float | None
    agree: bool | None
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """pyload vs wrk on one run of a cell (benchmarks.compare)."""

    metrics: dict[str, Metric]
    agree: bool
    disagreements: list[str]
    same_timeout: bool
    wrk_timeout_s: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {
                name: {"pyload": m.pyload, "wrk": m.wrk, "agree": m.agree, "note": m.note}
                for name, m in self.metrics.items()
            },
            "agree": self.agree,
            "disagreements": list(self.disagreements),
            "same_timeout": self.same_timeout,
            "wrk_timeout_s": self.wrk_timeout_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        return cls(
            metrics={
                name: Metric(m["pyload"], m["wrk"], m["agree"], m.get("note", ""))
                for name, m in data["metrics"].items()
            },
            agree=bool(data["agree"]),
            disagreements=list(data["disagreements"]),
            same_timeout=bool(data.get("same_timeout", False)),
            wrk_timeout_s=int(data.get("wrk_timeout_s", 0)),
        )


_WRK_FIELDS = tuple(f.name for f in fields(WrkText))


def _wrk_text_from_dict(data: Mapping[str, Any]) -> WrkText:
    return WrkText(**{name: data[name] for name in _WRK_FIELDS if name in data})


@dataclass
class WrkRun:
    """wrk on the same cell (``--with-wrk``): its command, text and numbers, or its error."""

    error: str | None = None
    argv: list[str] = field(default_factory=list)
    text: str = ""
    parsed: WrkText | None = None
    cpu_s: float | None = None
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "argv": list(self.argv),
            "text": self.text,
            "parsed": self.parsed.to_dict() if self.parsed is not None else None,
            "cpu_s": self.cpu_s,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WrkRun:
        parsed, comparison = data.get("parsed"), data.get("comparison")
        return cls(
            error=data.get("error"),
            argv=list(data.get("argv") or []),
            text=data.get("text") or "",
            parsed=_wrk_text_from_dict(parsed) if parsed else None,
            cpu_s=data.get("cpu_s"),
            comparison=Comparison.from_dict(comparison) if comparison else None,
        )


# -- a cell and its runs ---------------------------------------------------------------------


@dataclass
class CellRun:
    """One run of a cell. ``status`` is OK when pyload produced a result (``pyload``), FAILED
    with the reason in ``error``, or NOT_RUN (``error`` says why). ``interrupted``: Ctrl-C or
    SIGTERM cut this run short; ``partial``: during pyload's load, whose result then covers only
    part of the cell (later, pyload's result is whole and only wrk's or the open loop's is
    missing). With ``--rate``: ``pyload_rate`` is pyload's open-loop run of the cell after the
    closed-loop one, or None with the reason in ``rate_error`` (which, beside a result, holds
    its worker failures, if any). With ``--http2`` (a stack that serves h2c): ``pyload_h2`` is
    the same closed loop over HTTP/2, or None with the reason in ``h2_error`` (beside a result,
    its worker failures)."""

    index: int = 1
    status: str = FAILED
    error: str | None = None
    interrupted: bool = False
    started_at: str | None = None
    wall_s: float | None = None
    settle_s: float | None = None
    restarted: bool = False
    url: str | None = None
    order: list[str] | None = None
    pyload: PyloadResult | None = None
    wrk: WrkRun | None = None
    pyload_rate: PyloadResult | None = None
    rate_error: str | None = None
    pyload_h2: PyloadResult | None = None
    h2_error: str | None = None

    @classmethod
    def not_run(cls, index: int, reason: str) -> CellRun:
        return cls(index=index, status=NOT_RUN, error=reason)

    @property
    def ok(self) -> bool:
        return self.status == OK and self.pyload is not None

    @property
    def partial(self) -> bool:
        """pyload's result covers only part of the cell: Ctrl-C or SIGTERM cut its load short."""
        return self.pyload is not None and self.pyload.interrupted

    @property
    def complete(self) -> bool:
        """A result of the whole cell: ok and not cut short."""
        return self.ok and not self.partial

    @property
    def rate_complete(self) -> bool:
        """An open-loop result of the whole cell: not cut short."""
        return self.pyload_rate is not None and not self.pyload_rate.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.index,
            "status": self.status,
            "error": self.error,
            "interrupted": self.interrupted,
            "started_at": self.started_at,
            "wall_s": self.wall_s,
            "settle_s": self.settle_s,
            "restarted": self.restarted,
            "url": self.url,
            "order": self.order,
            "pyload": self.pyload.to_dict() if self.pyload is not None else None,
            "wrk": self.wrk.to_dict() if self.wrk is not None else None,
            "pyload_rate": self.pyload_rate.to_dict() if self.pyload_rate is not None else None,
            "rate_error": self.rate_error,
            "pyload_h2": self.pyload_h2.to_dict() if self.pyload_h2 is not None else None,
            "h2_error": self.h2_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], index: int = 1) -> CellRun:
        """A run (schema 2) or a whole cell of schema 1, which held its one run's fields."""
        result = PyloadResult.from_dict(data["pyload"]) if data.get("pyload") else None
        interrupted = bool(data.get("interrupted")) or bool(result and result.interrupted)
        status, error = data.get("status", FAILED), data.get("error")
        if status == NOT_RUN and error and error.startswith("not run: "):
            error = error.removeprefix("not run: ")  # schema 1 said it twice
        if status == FAILED and result is None and interrupted:
            status = NOT_RUN  # schema 1: Ctrl-C before pyload's result was "failed"
        return cls(
            index=int(data.get("run", index)),
            status=status,
            error=error,
            interrupted=interrupted,
            started_at=data.get("started_at"),
            wall_s=data.get("wall_s"),
            settle_s=data.get("settle_s"),
            restarted=bool(data.get("restarted", False)),
            url=data.get("url"),
            order=data.get("order"),
            pyload=result,
            wrk=WrkRun.from_dict(data["wrk"]) if data.get("wrk") else None,
            pyload_rate=(
                PyloadResult.from_dict(data["pyload_rate"]) if data.get("pyload_rate") else None
            ),
            rate_error=data.get("rate_error"),
            pyload_h2=PyloadResult.from_dict(data["pyload_h2"]) if data.get("pyload_h2") else None,
            h2_error=data.get("h2_error"),
        )


@dataclass(frozen=True)
class Spread:
    """A number over a cell's runs: the median and the min-max range."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread | None:
        present = [v for v in values if v is not None]
        if not present:
            return None
        return cls(statistics.median(present), min(present), max(present), len(present))

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


@dataclass(frozen=True)
class CellSummary:
    """A cell's headline numbers over its counted runs (``CellResult.counted``): req/s and the
    latencies as median with min-max, the counts as the lower median (one run's own count).
    With one run, that run's numbers. p50/p99 are None when no run recorded a latency."""

    runs: int
    rate: Spread
    p50: Spread | None
    p99: Spread | None
    requests: int
    timeouts: int
    errors: int
    breakdown: dict[str, int]
    in_flight: int
    runtime_s: float
    all_timeouts: bool
    partial: bool  # the counted runs were cut short: Ctrl-C or SIGTERM

    @property
    def requests_per_s(self) -> float:
        return self.rate.median

    @property
    def p50_us(self) -> float | None:
        return self.p50.median if self.p50 is not None else None

    @property
    def p99_us(self) -> float | None:
        return self.p99.median if self.p99 is not None else None

    @classmethod
    def of(cls, results: Sequence[PyloadResult], partial: bool) -> CellSummary:
        def low(values: Iterable[int]) -> int:
            return int(statistics.median_low(list(values)))

        rate = Spread.of(r.requests_per_s for r in results)
        assert rate is not None
        return cls(
            runs=len(results),
            rate=rate,
            p50=Spread.of(r.p50_us for r in results),
            p99=Spread.of(r.p99_us for r in results),
            requests=low(r.requests for r in results),
            timeouts=low(r.timeouts for r in results),
            errors=low(r.other_errors for r in results),
            breakdown={k: low(r.breakdown[k] for r in results) for k in NON_TIMEOUT_ERRORS},
            in_flight=low(r.in_flight_at_end for r in results),
            runtime_s=statistics.median(r.runtime_s for r in results),
            all_timeouts=all(r.all_timeouts for r in results),
            partial=partial,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "requests_per_s": self.rate.to_dict(),
            "p50_us": self.p50.to_dict() if self.p50 is not None else None,
            "p99_us": self.p99.to_dict() if self.p99 is not None else None,
            "requests": self.requests,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "partial": self.partial,
        }


@dataclass(frozen=True)
class OpenLoopSummary:
    """A cell's open-loop runs (``--rate``) over its counted ones (``CellResult.rate_counted``):
    the rate achieved and the latencies as median with min-max, the timeouts as the lower
    median; ``held``: how many of the runs held the rate asked; ``shortfalls``: the distinct
    reasons of those that did not. p50, p99 and p99.9 are corrected (from each request's
    intended send time, timeouts included); ``p99_uncorrected`` is as measured, timeouts
    excluded, None when no run recorded one (every response a timeout)."""

    runs: int
    asked_per_s: float | None
    achieved: Spread
    p50: Spread | None
    p99: Spread | None
    p999: Spread | None
    p99_uncorrected: Spread | None
    held: int
    shortfalls: tuple[str, ...]
    timeouts: int
    runtime_s: float
    partial: bool  # the counted runs were cut short: Ctrl-C or SIGTERM

    @classmethod
    def of(cls, results: Sequence[PyloadResult], partial: bool) -> OpenLoopSummary:
        achieved = Spread.of(r.requests_per_s for r in results)
        assert achieved is not None
        rates = [r.constant_rate for r in results if r.constant_rate is not None]
        return cls(
            runs=len(results),
            asked_per_s=rates[0].asked_per_s if rates else None,
            achieved=achieved,
            p50=Spread.of(r.p50_us for r in results),
            p99=Spread.of(r.p99_us for r in results),
            p999=Spread.of(r.p999_us for r in results),
            p99_uncorrected=Spread.of(r.uncorrected_p99_us for r in results),
            held=sum(1 for c in rates if c.held),
            shortfalls=tuple(dict.fromkeys(c.shortfall for c in rates if c.shortfall)),
            timeouts=int(statistics.median_low([r.timeouts for r in results])),
            runtime_s=statistics.median(r.runtime_s for r in results),
            partial=partial,
        )

    def to_dict(self) -> dict[str, Any]:
        def spread(s: Spread | None) -> dict[str, float] | None:
            return s.to_dict() if s is not None else None

        return {
            "runs": self.runs,
            "asked_per_s": self.asked_per_s,
            "requests_per_s": self.achieved.to_dict(),
            "p50_us": spread(self.p50),
            "p99_us": spread(self.p99),
            "p99.9_us": spread(self.p999),
            "uncorrected_p99_us": spread(self.p99_uncorrected),
            "held": self.held,
            "shortfalls": list(self.shortfalls),
            "timeouts": self.timeouts,
            "partial": self.partial,
        }


@dataclass
class CellResult:
    """One cell (a stack and one of its endpoints) and its runs, in the order they ran."""

    server: str
    path: str
    kind: str
    scenario: str
    gateway_wait_s: float | None = None
    runs: list[CellRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``sync/gateway_1s``: the endpoint as the reference experiment names it."""
        return f"{self.kind}/{self.scenario}"

    @property
    def name(self) -> str:
        return f"{self.server} {self.label}"

    @property
    def status(self) -> str:
        """OK when a run produced a result, else FAILED when one failed, else NOT_RUN."""
        statuses = {r.status for r in self.runs}
        if any(r.ok for r in self.runs):
            return OK
        return FAILED if FAILED in statuses else NOT_RUN

    @property
    def error(self) -> str | None:
        """The distinct reasons of the runs, in order (for an ok cell: worker failures)."""
        reasons = list(dict.fromkeys(r.error for r in self.runs if r.error))
        return "; ".join(reasons) if reasons else None

    @property
    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM cut a run of this cell short."""
        return any(r.interrupted for r in self.runs)

    @property
    def counted(self) -> list[CellRun]:
        """The runs the summary is made of: the complete ones, or, when Ctrl-C left none, the
        runs cut short (then the summary is ``partial``)."""
        complete = [r for r in self.runs if r.complete]
        return complete or [r for r in self.runs if r.ok]

    @property
    def summary(self) -> CellSummary | None:
        """The headline numbers, None when no run produced a result."""
        counted = self.counted
        results = [r.pyload for r in counted if r.pyload is not None]
        if not results:
            return None
        return CellSummary.of(results, partial=all(r.partial for r in counted))

    @property
    def rate_counted(self) -> list[CellRun]:
        """The runs the open-loop summary is made of: those with a whole open-loop result, or,
        when Ctrl-C left none, those cut short."""
        complete = [r for r in self.runs if r.rate_complete]
        return complete or [r for r in self.runs if r.pyload_rate is not None]

    @property
    def open_loop_summary(self) -> OpenLoopSummary | None:
        """The open-loop headline numbers (``--rate``), None when no run has an open loop."""
        results = [r.pyload_rate for r in self.rate_counted if r.pyload_rate is not None]
        if not results:
            return None
        return OpenLoopSummary.of(results, partial=all(r.interrupted for r in results))

    @property
    def h2_counted(self) -> list[CellRun]:
        """The runs the HTTP/2 summary is made of (``--http2``): those with a whole HTTP/2
        result, or, when Ctrl-C left none, those cut short."""
        whole = [r for r in self.runs if r.pyload_h2 is not None and not r.pyload_h2.interrupted]
        return whole or [r for r in self.runs if r.pyload_h2 is not None]

    @property
    def h2_summary(self) -> CellSummary | None:
        """The headline numbers over HTTP/2, None when no run has an HTTP/2 result."""
        results = [r.pyload_h2 for r in self.h2_counted if r.pyload_h2 is not None]
        if not results:
            return None
        return CellSummary.of(results, partial=all(r.interrupted for r in results))

    @property
    def h2_error(self) -> str | None:
        """The distinct reasons why runs have no HTTP/2 result (or its worker failures)."""
        reasons = list(dict.fromkeys(r.h2_error for r in self.runs if r.h2_error))
        return "; ".join(reasons) if reasons else None

    @property
    def rate_error(self) -> str | None:
        """The distinct reasons why runs have no open-loop result."""
        reasons = list(dict.fromkeys(r.rate_error for r in self.runs if r.rate_error))
        return "; ".join(reasons) if reasons else None

    def latency_spread(self, p: str) -> Spread | None:
        """Percentile ``p`` ("100": the maximum) over the counted runs."""
        return Spread.of(r.pyload.latency.at(p) for r in self.counted if r.pyload is not None)

    def to_dict(self) -> dict[str, Any]:
        summary, open_loop, h2 = self.summary, self.open_loop_summary, self.h2_summary
        return {
            "server": self.server,
            "path": self.path,
            "kind": self.kind,
            "scenario": self.scenario,
            "label": self.label,
            "gateway_wait_s": self.gateway_wait_s,
            "status": self.status,
            "error": self.error,
            "interrupted": self.interrupted,
            "summary": summary.to_dict() if summary is not None else None,
            "open_loop_summary": open_loop.to_dict() if open_loop is not None else None,
            "http2_summary": h2.to_dict() if h2 is not None else None,
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellResult:
        runs = (
            [CellRun.from_dict(r, i) for i, r in enumerate(data["runs"], 1)]
            if "runs" in data
            else [CellRun.from_dict(data)]  # schema 1: the cell was its one run
        )
        return cls(
            server=data["server"],
            path=data["path"],
            kind=data["kind"],
            scenario=data["scenario"],
            gateway_wait_s=data.get("gateway_wait_s"),
            runs=runs,
        )


# -- the stacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackStart:
    ok: bool
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class WarmUp:
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class StackRecord:
    """One server stack's life in the run: its start attempts and its warm-up."""

    server: str
    workers: int
    warm_up: WarmUp | None = None
    starts: list[StackStart] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"server": self.server, "workers": self.workers}
        if self.warm_up is not None:
            data["warm_up"] = {"seconds": self.warm_up.seconds, "notes": list(self.warm_up.notes)}
        data["starts"] = [{"ok": s.ok, "seconds": s.seconds, "error": s.error} for s in self.starts]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackRecord:
        warm = data.get("warm_up")
        return cls(
            server=data["server"],
            workers=int(data["workers"]),
            warm_up=WarmUp(warm["seconds"], list(warm.get("notes", []))) if warm else None,
            starts=[StackStart(s["ok"], s["seconds"], s.get("error")) for s in data["starts"]],
        )


# -- the document ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Http2Scope:
    """``--http2``: the stacks whose cells ran over HTTP/1.1 and HTTP/2 (``servers``), and every
    stack of the catalogue that does not serve HTTP/2, with why (``not_served``, from
    benchmarks.stacks at the time of the run), run over HTTP/1.1 or left out."""

    servers: tuple[str, ...]
    not_served: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"servers": list(self.servers), "not_served": dict(self.not_served)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Http2Scope:
        return cls(tuple(data["servers"]), dict(data["not_served"]))


@dataclass
class MatrixResult:
    """The whole run: what results.json holds and every output is made from. ``rate_per_s``:
    ``--rate``, the open loop's requests/s (None: closed loop only); ``http2``: ``--http2``
    (None: HTTP/1.1 only)."""

    profile: Profile
    cells: list[CellResult]
    stacks: list[StackRecord] = field(default_factory=list)
    repeat: int = 1
    with_wrk: bool = False
    wrk_timeout_s: int | None = None
    rate_per_s: float | None = None
    http2: Http2Scope | None = None
    argv: list[str] = field(default_factory=list)
    command: str | None = None
    started_at: str = ""
    finished_at: str = ""
    wall_s: float = 0.0
    interrupted: bool = False
    machine: dict[str, Any] = field(default_factory=dict)

    def labels(self) -> list[str]:
        """The cells' endpoint labels in the reference order (sync before async per scenario)."""
        return sorted(dict.fromkeys(c.label for c in self.cells), key=lambda x: _ORDER.get(x, 99))

    def servers(self) -> list[str]:
        """The cells' server stacks in run order."""
        return list(dict.fromkeys(c.server for c in self.cells))

    def cell(self, server: str, label: str) -> CellResult | None:
        return next((c for c in self.cells if c.server == server and c.label == label), None)

    def ok_cells(self) -> list[CellResult]:
        return [c for c in self.cells if c.status == OK]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "profile": self.profile.to_dict(),
            "repeat": self.repeat,
            "with_wrk": self.with_wrk,
            "wrk_timeout_s": self.wrk_timeout_s,
            "rate_per_s": self.rate_per_s,
            "http2": self.http2.to_dict() if self.http2 is not None else None,
            "argv": list(self.argv),
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_s": self.wall_s,
            "interrupted": self.interrupted,
            "machine": self.machine,
            "stacks": [s.to_dict() for s in self.stacks],
            "cells": [c.to_dict() for c in self.cells],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatrixResult:
        schema = data.get("schema")
        if schema not in READABLE_SCHEMAS:
            raise ResultsError(
                f"not a benchmark results document: schema {schema!r}, expected one of "
                + ", ".join(READABLE_SCHEMAS)
            )
        return cls(
            profile=Profile(**data["profile"]),
            cells=[CellResult.from_dict(c) for c in data["cells"]],
            stacks=[StackRecord.from_dict(s) for s in data.get("stacks", [])],
            repeat=int(data.get("repeat", 1)),
            with_wrk=bool(data.get("with_wrk", False)),
            wrk_timeout_s=data.get("wrk_timeout_s"),
            rate_per_s=float(rate) if (rate := data.get("rate_per_s")) is not None else None,
            http2=Http2Scope.from_dict(h2) if (h2 := data.get("http2")) else None,
            argv=list(data.get("argv", [])),
            command=data.get("command"),
            started_at=data.get("started_at", ""),
            finished_at=data.get("finished_at", ""),
            wall_s=float(data.get("wall_s", 0.0)),
            interrupted=bool(data.get("interrupted", False)),
            machine=dict(data.get("machine", {})),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> MatrixResult:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ResultsError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ResultsError("not a benchmark results document: not a JSON object")
        return cls.from_dict(data)
