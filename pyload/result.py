"""RunResult: the merged outcome of a run, its wrk text and its JSON form.

Owns the merge of the workers' results (counters summed, exact latency counts and HdrHistograms
added) and wrk's post-run coordinated-omission correction. Pure: no I/O, no printing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from pyload.config import Config
from pyload.hdr import encode_hdr, merge_encoded_hdr
from pyload.report import ReportData, wrk_report
from pyload.stats import RATE_LIMIT, ExactHistogram, stats_row
from pyload.worker import WorkerResult, error_counts

__all__ = ["JSON_PERCENTILES", "RunResult"]

# wrk's rank rule never reaches p100 (it answers 0): the JSON gives "max" instead.
JSON_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)
SCHEMA = "pyload.result/1"


@dataclass(frozen=True)
class RunResult:
    """Everything a run measured. ``latency`` is what wrk prints (after its CO correction)."""

    config: Config
    runtime_us: int
    requests: int
    bytes_read: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int
    latency: ExactHistogram  # wrk's numbers: corrected for coordinated omission
    latency_uncorrected: ExactHistogram  # as measured, µs, timeouts excluded
    rate: ExactHistogram  # Req/Sec samples of every worker (100 ms sampler)
    latency_hdr: HdrHistogram  # the uncorrected latencies, merged from the workers' encodings
    in_flight: int  # requests still unanswered when the run stopped (wrk drops them silently)
    in_flight_over_timeout: int
    worker_failures: tuple[str, ...] = ()
    interrupted: bool = False
    workers: tuple[WorkerResult, ...] = field(default=(), repr=False)

    @classmethod
    def merge(
        cls,
        config: Config,
        results: Sequence[WorkerResult],
        failures: Sequence[str],
        runtime_us: int,
        interrupted: bool = False,
    ) -> RunResult:
        results = sorted(results, key=lambda r: r.index)
        latency = ExactHistogram(config.timeout_us + 1)
        rate = ExactHistogram(RATE_LIMIT)
        for worker in results:
            latency.merge(ExactHistogram.from_counts(worker.latency_counts, latency.limit))
            for sample in worker.rate_samples:
                rate.record(sample)
        requests = sum(r.requests for r in results)
        return cls(
            config=config,
            runtime_us=runtime_us,
            requests=requests,
            bytes_read=sum(r.bytes_read for r in results),
            connect_errors=sum(r.connect_errors for r in results),
            read_errors=sum(r.read_errors for r in results),
            write_errors=sum(r.write_errors for r in results),
            timeouts=sum(r.timeouts for r in results),
            status_errors=sum(r.status_errors for r in results),
            latency=latency.corrected(runtime_us, requests, config.connections),
            latency_uncorrected=latency,
            rate=rate,
            latency_hdr=merge_encoded_hdr(r.latency_hdr for r in results),
            in_flight=sum(r.in_flight for r in results),
            in_flight_over_timeout=sum(r.in_flight_over_timeout for r in results),
            worker_failures=tuple(failures),
            interrupted=interrupted,
            workers=tuple(results),
        )

    @property
    def errors(self) -> dict[str, int]:
        return error_counts(self)

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
        times = [w.all_connected_ns for w in self.workers]
        if not times or None in times:
            return None
        return max(t for t in times if t is not None) / 1e6

    def percentile(self, p: float, corrected: bool = True) -> int:
        """Latency percentile in µs by wrk's rank rule (0 when nothing was recorded)."""
        return (self.latency if corrected else self.latency_uncorrected).percentile(p)

    def report_data(self) -> ReportData:
        config = self.config
        return ReportData(
            url=config.url,
            duration_s=config.duration_s,
            threads=config.threads,
            connections=config.connections,
            latency=self.latency,
            rate=self.rate,
            requests=self.requests,
            bytes_read=self.bytes_read,
            runtime_us=self.runtime_us,
            connect_errors=self.connect_errors,
            read_errors=self.read_errors,
            write_errors=self.write_errors,
            timeouts=self.timeouts,
            status_errors=self.status_errors,
            latency_distribution=config.latency,
        )

    def to_wrk_text(self) -> str:
        """The report wrk would print, line for line."""
        return wrk_report(self.report_data())

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable result (``--json``); NaN becomes null."""
        config = self.config
        hdr = self.latency_hdr
        return {
            "schema": SCHEMA,
            "config": {
                "url": config.url,
                "connections": config.connections,
                "threads": config.threads,
                "duration_s": config.duration_s,
                "timeout_s": config.timeout_s,
                "headers": [list(h) for h in config.headers],
                "loop": config.loop,
                "latency": config.latency,
            },
            "runtime_us": self.runtime_us,
            "requests": self.requests,
            "bytes_read": self.bytes_read,
            "requests_per_s": self.requests_per_s,
            "bytes_per_s": self.bytes_per_s,
            "errors": self.errors,
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
            "workers": [
                {
                    "index": w.index,
                    "connections": w.connections,
                    "requests": w.requests,
                    "bytes_read": w.bytes_read,
                    "errors": w.errors,
                    "in_flight_at_end": w.in_flight,
                    "cpu_s": w.cpu_s,
                    "all_connected_ms": (
                        None if w.all_connected_ns is None else w.all_connected_ns / 1e6
                    ),
                    "runtime_us": w.runtime_ns // 1000,
                }
                for w in self.workers
            ],
            "wrk_text": self.to_wrk_text(),
        }


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
