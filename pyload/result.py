"""RunResult: the outcome of a run, its wrk text and its JSON form (the wire format).

A result holds what was measured: the config, the run's length, each worker's counters, the
exact latency counts (µs -> count, as measured) and the Req/Sec samples, merged from the
workers' results. Everything else it shows is computed from those: the summed counters, wrk's
post-run coordinated-omission correction, the statistics, the HdrHistogram. The JSON form
(``to_json``, schema ``pyload.result/2``, docs/json.md) carries what was measured, so
``from_json`` rebuilds the same result and ``combine`` merges runs exactly. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hdrh.histogram import HdrHistogram

from pyload import __version__
from pyload.config import Config
from pyload.errors import UsageError
from pyload.hdr import encode_hdr, hdr_from_counts
from pyload.messages import Counters, WorkerResult, WorkerStats
from pyload.pacing import pacing_for
from pyload.report import wrk_report
from pyload.stats import RATE_LIMIT, ExactHistogram, stats_row

__all__ = ["JSON_PERCENTILES", "SCHEMA", "RunResult"]

# wrk's rank rule never reaches p100 (it answers 0): the JSON gives "max" instead.
JSON_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)
SCHEMA = "pyload.result/2"
# Options that may differ between runs merged into one (they add up, or do not matter).
MERGE_ADDS = ("connections", "threads")
MERGE_IGNORES = ("loop",)


def _counter(name: str) -> property:
    return property(lambda self: getattr(self.counters, name), doc=f"the run's {name}")


@dataclass(frozen=True)
class RunResult:
    """Everything a run measured. ``latency`` is what wrk prints (after its CO correction)."""

    config: Config
    runtime_us: int
    workers: tuple[WorkerStats, ...]  # each worker's counters and facts, in index order
    latency_uncorrected: ExactHistogram  # every latency as measured, µs, timeouts excluded
    rate: ExactHistogram  # Req/Sec samples of every worker (100 ms sampler)
    worker_failures: tuple[str, ...] = ()
    interrupted: bool = False

    @classmethod
    def from_workers(
        cls,
        config: Config,
        runtime_us: int,
        results: Sequence[WorkerResult],
        failures: Sequence[str] = (),
        interrupted: bool = False,
    ) -> RunResult:
        """Merge the workers' results: counts added exactly, samples pooled."""
        counts: dict[int, int] = {}
        samples: dict[int, int] = {}
        for worker in results:
            for value, n in worker.latency_counts.items():
                counts[value] = counts.get(value, 0) + n
            for sample in worker.rate_samples:
                samples[sample] = samples.get(sample, 0) + 1
        latency = ExactHistogram.from_counts(counts, config.timeout_us + 1)
        rate = ExactHistogram.from_counts(samples, RATE_LIMIT)
        return cls(
            config=config,
            runtime_us=runtime_us,
            workers=tuple(sorted((r.stats for r in results), key=lambda w: w.index)),
            latency_uncorrected=latency,
            rate=rate,
            worker_failures=tuple(failures),
            interrupted=interrupted,
        )

    # -- the counters, summed over the workers ---------------------------------------------

    @cached_property
    def counters(self) -> Counters:
        return Counters.total(self.workers)

    requests = _counter("requests")
    bytes_read = _counter("bytes_read")
    connect_errors = _counter("connect_errors")
    read_errors = _counter("read_errors")
    write_errors = _counter("write_errors")
    timeouts = _counter("timeouts")
    status_errors = _counter("status_errors")

    @property
    def errors(self) -> dict[str, int]:
        return self.counters.errors

    @property
    def processes(self) -> int:
        """How many worker processes hosted the threads."""
        return len({w.process for w in self.workers})

    @property
    def in_flight(self) -> int:
        """Requests still unanswered when the run stopped (wrk drops them silently)."""
        return sum(w.in_flight for w in self.workers)

    @property
    def in_flight_over_timeout(self) -> int:
        return sum(w.in_flight_over_timeout for w in self.workers)

    # -- the numbers -----------------------------------------------------------------------

    @cached_property
    def latency(self) -> ExactHistogram:
        """What wrk prints: in the closed loop, after wrk's post-run CO correction."""
        if not pacing_for(self.config).post_run_correction:
            return self.latency_uncorrected
        return self.latency_uncorrected.corrected(
            self.runtime_us, self.requests, self.config.connections
        )

    @cached_property
    def latency_hdr(self) -> HdrHistogram:
        """The uncorrected latencies as an HdrHistogram (1 µs .. 24 h, 3 significant figures)."""
        return hdr_from_counts(self.latency_uncorrected.counts)

    @property
    def runtime_s(self) -> float:
        return self.runtime_us / 1_000_000

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.runtime_s if self.runtime_us else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_read / self.runtime_s if self.runtime_us else 0.0

    @property
    def all_connected_ms(self) -> float | None:
        """How long after the start every connection had opened once (None: some never did)."""
        times = [w.all_connected_us for w in self.workers]
        if not times or None in times:
            return None
        return max(t for t in times if t is not None) / 1000

    def percentile(self, p: float, corrected: bool = True) -> int:
        """Latency percentile in integer µs by wrk's rank rule (0 when nothing was recorded);
        ``corrected`` as wrk prints it (its CO correction), else as measured."""
        return (self.latency if corrected else self.latency_uncorrected).percentile(p)

    def to_wrk_text(self) -> str:
        """The report wrk would print, line for line."""
        return wrk_report(self)

    # -- the wire format -------------------------------------------------------------------

    def to_dict(self, raw: bool = True) -> dict[str, Any]:
        """The machine-readable result (``--json``; docs/json.md); NaN becomes null.

        ``raw=False`` leaves out the exact counts (``latency_counts_us``, ``req_per_s_samples``:
        the bulk of a long run's document) for a summary that ``from_json`` cannot read back.

        What was measured is under ``config``, ``runtime_us``, ``workers`` (counters),
        ``latency_counts_us``, ``req_per_s_samples``, ``worker_failures`` and ``interrupted``;
        every other key is computed from those, for readers (``from_json`` ignores them).
        """
        hdr = self.latency_hdr
        data = {
            "schema": SCHEMA,
            "pyload_version": __version__,
            "config": self.config.to_json(),
            "runtime_us": self.runtime_us,
            "threads": len(self.workers),
            "processes": self.processes,
            **self.counters.counters_json(),
            "requests_per_s": self.requests_per_s,
            "cpu_s": sum(w.cpu_s for w in self.workers),
            "bytes_per_s": self.bytes_per_s,
            "all_connected_ms": self.all_connected_ms,
            "in_flight_at_end": self.in_flight,
            "in_flight_over_timeout_at_end": self.in_flight_over_timeout,
            "interrupted": self.interrupted,
            "worker_failures": list(self.worker_failures),
            "latency_us": _summary(self.latency),
            "latency_uncorrected_us": _summary(self.latency_uncorrected),
            "req_per_s_per_worker": _summary(self.rate, percentiles=()),
            "latency_hdr": {
                "encoded": encode_hdr(hdr),
                "count": hdr.get_total_count(),
                "percentiles": {_key(p): hdr.get_value_at_percentile(p) for p in JSON_PERCENTILES},
            },
            "workers": [w.to_json() for w in self.workers],
            "latency_counts_us": _pairs(self.latency_uncorrected),
            "req_per_s_samples": _pairs(self.rate),
            "wrk_text": self.to_wrk_text(),
        }
        if not raw:
            del data["latency_counts_us"], data["req_per_s_samples"]
        return data

    def to_json(self) -> str:
        """``to_dict()`` as JSON text: one line, compact (a long run has many exact counts;
        ``jq .`` or ``python -m json.tool`` shows it indented)."""
        return json.dumps(self.to_dict(), separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> RunResult:
        """The result a ``to_json()`` text (or its parsed mapping) describes.

        Raises UsageError for a document that is not a pyload result of this schema.
        """
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise UsageError(f"not a pyload result: {exc}") from None
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, Mapping) else type(data).__name__
            raise UsageError(f"not a pyload result of schema {SCHEMA} (found {found!r})")
        try:
            config = Config.from_json(data["config"])
            return cls(
                config=config,
                runtime_us=int(data["runtime_us"]),
                workers=tuple(WorkerStats.from_json(w) for w in data["workers"]),
                latency_uncorrected=_from_pairs(
                    data["latency_counts_us"], config.timeout_us + 1
                ),
                rate=_from_pairs(data["req_per_s_samples"], RATE_LIMIT),
                worker_failures=tuple(str(f) for f in data["worker_failures"]),
                interrupted=bool(data["interrupted"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"malformed pyload result: {type(exc).__name__}: {exc}") from None

    @classmethod
    def combine(cls, runs: Sequence[RunResult]) -> RunResult:
        """One result of several runs that loaded the same target at the same time (on other
        machines, say): connections and threads add up, workers are numbered on, the run's
        length is the longest. Exact: the latency counts and samples are added up.

        Raises UsageError if the runs' settings differ otherwise (naming the settings).
        """
        if not runs:
            raise UsageError("no results to merge")
        first = runs[0].config.to_json()
        differ = sorted(
            {
                name
                for run in runs[1:]
                for name, value in run.config.to_json().items()
                if name not in MERGE_ADDS + MERGE_IGNORES and value != first[name]
            }
        )
        if differ:
            raise UsageError(f"cannot merge runs with different settings: {', '.join(differ)}")
        config = dataclasses.replace(
            runs[0].config,
            connections=sum(run.config.connections for run in runs),
            threads=sum(run.config.threads for run in runs),
        )
        workers, hosts = [], 0  # threads and processes are numbered on, run after run
        for run in runs:
            numbers = {p: hosts + i for i, p in enumerate(sorted({w.process for w in run.workers}))}
            workers += [dataclasses.replace(w, process=numbers[w.process]) for w in run.workers]
            hosts += len(numbers)
        latency = ExactHistogram(config.timeout_us + 1)
        rate = ExactHistogram(RATE_LIMIT)
        for run in runs:
            latency.merge(run.latency_uncorrected)
            rate.merge(run.rate)
        return cls(
            config=config,
            runtime_us=max(run.runtime_us for run in runs),
            workers=tuple(dataclasses.replace(w, index=i) for i, w in enumerate(workers)),
            latency_uncorrected=latency,
            rate=rate,
            worker_failures=tuple(f for run in runs for f in run.worker_failures),
            interrupted=any(run.interrupted for run in runs),
        )


def _pairs(h: ExactHistogram) -> list[list[int]]:
    """A histogram's counts as sorted ``[value, count]`` pairs (JSON keys must be text)."""
    return sorted([value, n] for value, n in h.counts.items() if n)


def _from_pairs(pairs: Sequence[Sequence[int]], limit: int) -> ExactHistogram:
    return ExactHistogram.from_counts({int(value): int(n) for value, n in pairs}, limit)


def _key(p: float) -> str:
    return f"{p:g}"


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _summary(h: ExactHistogram, percentiles: Sequence[float] = JSON_PERCENTILES) -> dict[str, Any]:
    row = stats_row(h)
    return {
        "count": h.count,
        "min": h.min,
        "max": h.max,
        "mean": _number(row.mean),
        "stdev": _number(row.stdev),
        "within_stdev_pct": _number(row.within_stdev),
        "percentiles": {_key(p): h.percentile(p) for p in percentiles},
    }
