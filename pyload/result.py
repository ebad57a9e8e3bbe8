"""RunResult: the outcome of a run, its wrk text and its JSON form (the wire format).

A result holds what was measured: the config, the run's length, each worker's counters, the
exact latency counts (µs -> count, as measured), the Req/Sec samples, the responses by status
code and the run's seconds (_seconds), merged from the workers' results; and the facts of the
run that are not its config (``meta``: command line, start, version, host). Everything else
it shows is computed from those: the summed counters, wrk's post-run coordinated-omission
correction, the statistics, the HdrHistogram, the client's load. The JSON form
(``to_json``, schema ``pyload.result/2``, docs/json.md) carries what was measured, so
``from_json`` rebuilds the same result and ``combine`` merges runs exactly. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hdrh.histogram import HdrHistogram

from pyload._counters import Counters, LostPart, ThreadResult, ThreadStats
from pyload._hdr import encode_hdr, hdr_from_counts
from pyload._meta import RunMeta
from pyload._pacing import pacing_for
from pyload._parts import AgentLaunch, AgentSummary, PartMeasured
from pyload._report import wrk_report
from pyload._saturation import ClientLoad, client_load
from pyload._seconds import Second, SecondLatency, merge_seconds, status_codes
from pyload._stats import RATE_LIMIT, ExactHistogram, stats_row
from pyload._version import __version__
from pyload.config import Config
from pyload.errors import UsageError
from pyload.thresholds import Outcome, Threshold
from pyload.thresholds import check as check_thresholds

__all__ = [
    "JSON_PERCENTILES",
    "SCHEMA",
    "AgentLaunch",
    "AgentSummary",
    "ClientLoad",
    "PartMeasured",
    "RunMeta",
    "RunResult",
    "Second",
    "SecondLatency",
    "check_mergeable",
]

# wrk's rank rule never reaches p100 (it answers 0): the JSON gives "max" instead.
JSON_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)
SCHEMA = "pyload.result/2"
# Options that may differ between runs merged into one (they add up, or do not matter).
MERGE_ADDS = ("connections", "threads", "rate")
RATE_HELD = 0.99  # a constant-rate run that achieved less than this share of -R says so
CPU_SATURATED = 0.9  # a worker process busy this share of its time could not do more
MERGE_IGNORES = ("loop", "dask", "thresholds")  # dask: where the run ran (pyload._dask);
# thresholds: criteria checked on a result, not part of what was measured


def _counter(name: str) -> property:
    return property(lambda self: getattr(self.counters, name), doc=f"the run's {name}")


@dataclass(frozen=True)
class RunResult:
    """Everything a run measured. ``latency`` is what wrk prints (after its CO correction)."""

    config: Config
    runtime_us: int
    workers: tuple[ThreadStats, ...]  # each worker's counters and facts, in index order
    latency_uncorrected: ExactHistogram  # every latency as measured, µs, timeouts excluded
    rate: ExactHistogram  # Req/Sec samples of every worker (100 ms sampler)
    lost_workers: tuple[LostPart, ...] = ()  # worker processes whose result never came
    interrupted: bool = False
    # Constant rate only: every latency from its request's intended send time, timeouts
    # included (wrk2's corrected latency); None in the closed loop.
    latency_intended: ExactHistogram | None = None
    # The run's seconds (the runner's progress tally, _seconds): the JSON's ``seconds``,
    # --hdr-log and --plot; () for a result read from a document that has none.
    seconds: tuple[Second, ...] = field(default=(), compare=False, repr=False)
    # The parts of a distributed run (its agents) or of a ``pyload merge`` (its files), one
    # summary each (docs/json.md, ``agents``); () for a plain run.
    agents: tuple[AgentSummary, ...] = ()
    # Every response by status code, in code order (None: a document from before they were
    # counted).
    status_codes: Mapping[int, int] | None = None
    # The command line, the start, the version, the host (None: a document without them).
    meta: RunMeta | None = None

    @classmethod
    def from_threads(
        cls,
        config: Config,
        runtime_us: int,
        results: Sequence[ThreadResult],
        failures: Sequence[LostPart] = (),
        interrupted: bool = False,
        seconds: Sequence[Second] = (),
        meta: RunMeta | None = None,
    ) -> RunResult:
        """Merge the workers' results: counts added exactly, samples pooled."""
        counts: dict[int, int] = {}
        intended: dict[int, int] = {}
        samples: dict[int, int] = {}
        others: dict[int, int] = {}  # status codes but 200
        for worker in results:
            for code, n in worker.status_counts.items():
                others[code] = others.get(code, 0) + n
            for value, n in worker.latency_counts.items():
                counts[value] = counts.get(value, 0) + n
            for value, n in worker.intended_counts.items():
                intended[value] = intended.get(value, 0) + n
            for sample in worker.rate_samples:
                samples[sample] = samples.get(sample, 0) + 1
        latency = ExactHistogram.from_counts(counts, config.timeout_us + 1)
        rate = ExactHistogram.from_counts(samples, RATE_LIMIT)
        paced = not pacing_for(config).post_run_correction
        return cls(
            config=config,
            runtime_us=runtime_us,
            workers=tuple(sorted((r.stats for r in results), key=lambda w: w.index)),
            latency_uncorrected=latency,
            rate=rate,
            lost_workers=tuple(failures),
            interrupted=interrupted,
            latency_intended=ExactHistogram.from_counts(intended) if paced else None,
            seconds=tuple(seconds),
            status_codes=status_codes(sum(r.stats.requests for r in results), others),
            meta=meta,
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
    def intervals(self) -> tuple[Second, ...]:
        """The run's seconds (``seconds``), by their former name."""
        return self.seconds

    @property
    def worker_failures(self) -> tuple[str, ...]:
        """One line per lost worker process (``LostPart``): the result is partial."""
        return tuple(str(lost) for lost in self.lost_workers)

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
        """What is printed as the latency: at a constant rate, measured from the intended send
        times (wrk2's); in the closed loop, after wrk's post-run CO correction."""
        if not pacing_for(self.config).post_run_correction:
            if self.latency_intended is not None:
                return self.latency_intended
            return self.latency_uncorrected
        return self.latency_uncorrected.corrected(
            self.runtime_us, self.requests, self.config.connections
        )

    @cached_property
    def latency_hdr(self) -> HdrHistogram:
        """The uncorrected latencies as an HdrHistogram (1 µs .. 24 h, 3 significant figures)."""
        return hdr_from_counts(self.latency_uncorrected.counts)

    @property
    def notes(self) -> tuple[str, ...]:
        """pyload's lines after wrk's summary: a rate not held, the client saturated, a worker
        lost (wrk has none of them)."""
        notes = []
        shortfall = self.rate_shortfall()
        if shortfall is not None:
            asked = self.config.rate or 0.0
            achieved = self.requests_per_s
            unsent = f", {self.unsent_at_end} requests due never sent" if self.unsent_at_end else ""
            notes.append(
                f"  Rate not held: asked {asked:.2f}/s, achieved {achieved:.2f}/s "
                f"({achieved / asked:.1%}){unsent}: {shortfall}"
            )
        saturated = self.client.note()
        if saturated is not None:
            notes.append(saturated)
        notes += [
            f"  Partial result: {failure}; its counters are missing"
            for failure in self.worker_failures
        ]
        return tuple(notes)

    # -- constant rate ---------------------------------------------------------------------

    @property
    def unsent_at_end(self) -> int:
        """Constant rate: requests due before the end that were never sent."""
        return sum(w.unsent_at_end for w in self.workers)

    def rate_shortfall(self) -> str | None:
        """Why a constant-rate run fell short of its rate, or None if it held it (or is a
        closed-loop run). Held: the requests sent (answered, or in flight at the end) came to at
        least RATE_HELD of the rate asked; the responses then trail by the requests in flight
        at the end, about rate x latency."""
        asked = self.config.rate
        if asked is None or not self.runtime_us:
            return None
        if (self.requests + self.in_flight) / self.runtime_s >= RATE_HELD * asked:
            return None
        # The mean time on the wire: the latencies as measured, and the timeouts at least the
        # timeout each (a lower bound when there are any: they are not latencies).
        measured = self.latency_uncorrected
        answered = measured.count + self.timeouts
        total_us = sum(value * n for value, n in measured.counts.items())
        total_us += self.timeouts * self.config.timeout_us
        mean_s = total_us / answered / 1e6 if answered else math.nan
        connections = self.config.connections
        if not answered:
            return f"the server answered none of the {self.in_flight} requests sent"
        busy = self.cpu_busy
        socket_errors = sum(self.errors[k] for k in ("connect", "read", "write"))
        if mean_s > 0 and connections / mean_s < asked:
            at_least = "at least " if self.timeouts else ""
            return (
                f"too few connections for the server's latency ({connections} connections at "
                f"a mean {at_least}{mean_s * 1000:.2f}ms carry at most "
                f"{connections / mean_s:.2f} requests/s)"
            )
        if busy is not None and busy >= CPU_SATURATED:
            return f"the client's CPU was saturated ({busy:.0%} busy)"
        if socket_errors:
            return f"{socket_errors} socket errors"
        return "cause not identified: the server answered fewer"

    @cached_property
    def client(self) -> ClientLoad:
        """The worker processes' CPU during the load, and whether the busiest one was the
        limit (``client.saturated``, the report's "Client saturated" line; _saturation)."""
        return client_load(self.workers, self.config.warmup)

    @property
    def client_saturated(self) -> bool:
        """pyload's own CPU was the limit: Requests/sec measured pyload, not the server."""
        return self.client.saturated

    @property
    def cpu_busy(self) -> float | None:
        """The worker processes' CPU time over their time (1.0: every process always busy)."""
        if not self.runtime_us or not self.workers:
            return None
        cpu = sum(w.cpu_s for w in self.workers)
        return cpu / (self.runtime_s * self.processes)

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

    def check(self, thresholds: Sequence[str | Threshold] | None = None) -> tuple[Outcome, ...]:
        """Each threshold (``p99<250ms``, ``errors<1%``: docs/thresholds.md) checked against
        this result, in order: its observed value and whether it passed. None checks the
        config's (``--threshold``, ``run(..., thresholds=[...])``). Raises UsageError for an
        expression that is not one; a broken threshold is an outcome, not an error."""
        try:
            return check_thresholds(
                self, self.config.thresholds if thresholds is None else thresholds
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # -- the wire format -------------------------------------------------------------------

    def to_dict(self, raw: bool = True) -> dict[str, Any]:
        """The machine-readable result (``--json``; docs/json.md); NaN becomes null.

        ``raw=False`` leaves out the exact counts (``latency_counts_us``, ``req_per_s_samples``:
        the bulk of a long run's document) and each second's ``latency_hdr``, for a summary
        that ``from_json`` cannot read back.

        What was measured is under ``config``, ``runtime_us``, ``workers`` (counters),
        ``latency_counts_us``, ``req_per_s_samples``, ``worker_failures``, ``interrupted``,
        ``status_codes``, ``seconds`` and ``meta``; every other key is computed from those, for
        readers (``from_json`` ignores them).
        """
        hdr = self.latency_hdr
        data = {
            "schema": SCHEMA,
            "pyload_version": __version__,
            "config": self.config.to_json(),
            "protocol": self.config.protocol,
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
            "lost_workers": [lost.to_json() for lost in self.lost_workers],
            "agents": [agent.to_json() for agent in self.agents],
            "latency_us": _summary(self.latency),
            "latency_uncorrected_us": _summary(self.latency_uncorrected),
            "req_per_s_per_worker": _summary(self.rate, percentiles=()),
            "latency_hdr": {
                "encoded": encode_hdr(hdr),
                "count": hdr.get_total_count(),
                "percentiles": {_key(p): hdr.get_value_at_percentile(p) for p in JSON_PERCENTILES},
            },
            "constant_rate": self._constant_rate_json(),
            "workers": [w.to_json() for w in self.workers],
            "latency_counts_us": _pairs(self.latency_uncorrected),
            "latency_intended_counts_us": (
                None if self.latency_intended is None else _pairs(self.latency_intended)
            ),
            "req_per_s_samples": _pairs(self.rate),
            "wrk_text": self.to_wrk_text(),
            "thresholds": [outcome.to_json() for outcome in self.check()],
            "meta": None if self.meta is None else self.meta.to_json(),
            "status_codes": (
                None
                if self.status_codes is None
                else {str(code): n for code, n in self.status_codes.items()}
            ),
            "client": self.client.to_json(),
            "seconds": [second.to_json(hdr=raw) for second in self.seconds],
        }
        if not raw:
            del data["latency_counts_us"], data["req_per_s_samples"]
            del data["latency_intended_counts_us"]
        return data

    def _constant_rate_json(self) -> dict[str, Any] | None:
        if self.config.rate is None:
            return None
        shortfall = self.rate_shortfall()
        return {
            "asked_per_s": self.config.rate,
            "achieved_per_s": self.requests_per_s,
            "held": shortfall is None,
            "shortfall": shortfall,
            "unsent_at_end": self.unsent_at_end,
        }

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
            intended = data.get("latency_intended_counts_us")
            return cls(
                config=config,
                runtime_us=int(data["runtime_us"]),
                workers=tuple(ThreadStats.from_json(w) for w in data["workers"]),
                latency_uncorrected=_from_pairs(
                    data["latency_counts_us"], config.timeout_us + 1
                ),
                rate=_from_pairs(data["req_per_s_samples"], RATE_LIMIT),
                lost_workers=_lost_workers(data),
                agents=tuple(AgentSummary.from_json(agent) for agent in data.get("agents", ())),
                interrupted=bool(data["interrupted"]),
                latency_intended=(
                    None if intended is None else _from_pairs(intended, None)
                ),
                seconds=tuple(Second.from_json(s) for s in data.get("seconds") or ()),
                status_codes=_status_codes(data.get("status_codes")),
                meta=RunMeta.from_json(data.get("meta")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"malformed pyload result: {type(exc).__name__}: {exc}") from None

    @classmethod
    def combine(cls, runs: Sequence[RunResult]) -> RunResult:
        """One result of several runs that loaded the same target at the same time (on other
        machines, say): connections and threads add up, workers are numbered on, the run's
        length is the longest. Exact: the latency counts, samples and status codes are added
        up, the seconds second by second (``_seconds.merge_seconds``); ``meta`` is this
        process's, with the earliest start of the runs.

        Raises UsageError if the runs' settings differ otherwise (naming the settings).
        """
        if not runs:
            raise UsageError("no results to merge")
        check_mergeable([run.config for run in runs])
        rates = [run.config.rate for run in runs]
        config = dataclasses.replace(
            runs[0].config,
            connections=sum(run.config.connections for run in runs),
            threads=sum(run.config.threads for run in runs),
            rate=None if None in rates else sum(r for r in rates if r is not None),
        )
        workers, hosts = [], 0  # threads and processes are numbered on, run after run
        for run in runs:
            numbers = {p: hosts + i for i, p in enumerate(sorted({w.process for w in run.workers}))}
            workers += [dataclasses.replace(w, process=numbers[w.process]) for w in run.workers]
            hosts += len(numbers)
        latency = ExactHistogram(config.timeout_us + 1)
        rate = ExactHistogram(RATE_LIMIT)
        intended = ExactHistogram() if config.rate is not None else None
        for run in runs:
            latency.merge(run.latency_uncorrected)
            rate.merge(run.rate)
            if intended is not None and run.latency_intended is not None:
                intended.merge(run.latency_intended)
        codes: dict[int, int] | None = {}
        for run in runs:
            if run.status_codes is None or codes is None:
                codes = None
                continue
            for code, n in run.status_codes.items():
                codes[code] = codes.get(code, 0) + n
        starts = [run.meta.started_at for run in runs if run.meta is not None]
        return cls(
            config=config,
            runtime_us=max(run.runtime_us for run in runs),
            workers=tuple(dataclasses.replace(w, index=i) for i, w in enumerate(workers)),
            latency_uncorrected=latency,
            rate=rate,
            lost_workers=tuple(lost for run in runs for lost in run.lost_workers),
            interrupted=any(run.interrupted for run in runs),
            latency_intended=intended,
            seconds=merge_seconds([run.seconds for run in runs]),
            status_codes=None if codes is None else dict(sorted(codes.items())),
            meta=RunMeta.here(min(starts)) if starts else None,
        )


def check_mergeable(configs: Sequence[Config], names: Sequence[str] | None = None) -> None:
    """Raise UsageError unless runs of these configs may be merged: equal settings, apart from
    those that add up (``MERGE_ADDS``) or do not matter (``MERGE_IGNORES``); of those that add
    up, one unset in a run (a closed loop has no rate) must be unset in all (a closed-loop run
    and a constant-rate run measure different things).

    With ``names`` (the runs' files, ``pyload merge``), the message names the first run that
    differs from the first one, each setting and both values; without (``RunResult.combine``),
    the settings that differ in any run.
    """
    reference = configs[0].to_json()
    differences = []  # per run after the first: (setting, the first run's value, its value)
    for config in configs[1:]:
        differ = []
        for name, value in config.to_json().items():
            if name in MERGE_IGNORES:
                continue
            if name in MERGE_ADDS:
                if (value is None) != (reference[name] is None):
                    differ.append((name, reference[name], value))
            elif value != reference[name]:
                differ.append((name, reference[name], value))
        differences.append(differ)
    if names is not None:
        for name, differ in zip(names[1:], differences, strict=True):
            if differ:
                shown = ", ".join(f"{s} ({_shown(a)} vs {_shown(b)})" for s, a, b in differ)
                raise UsageError(f"cannot merge {name} with {names[0]}: different {shown}")
        return
    settings = sorted({s for differ in differences for s, _, _ in differ if s not in MERGE_ADDS})
    # Of the settings that add up, only the rate can be unset.
    added = sorted({s for differ in differences for s, _, _ in differ if s in MERGE_ADDS})
    settings += [f"{s} (a closed loop and a constant rate)" for s in added]
    if settings:
        raise UsageError(f"cannot merge runs with different settings: {', '.join(settings)}")


def _shown(value: Any) -> str:
    """A setting's value in a ``cannot merge`` message: ``none``, ``a,b``, ``2.0``."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "none"
    return "none" if value is None else str(value)


def _pairs(h: ExactHistogram) -> list[list[int]]:
    """A histogram's counts as sorted ``[value, count]`` pairs (JSON keys must be text)."""
    return sorted([value, n] for value, n in h.counts.items() if n)


def _from_pairs(pairs: Sequence[Sequence[int]], limit: int | None) -> ExactHistogram:
    return ExactHistogram.from_counts({int(value): int(n) for value, n in pairs}, limit)


def _status_codes(data: Mapping[str, Any] | None) -> dict[int, int] | None:
    """``status_codes`` (text keys in JSON); None for a document without them."""
    if data is None:
        return None
    return dict(sorted((int(code), int(n)) for code, n in data.items()))


def _lost_workers(data: Mapping[str, Any]) -> tuple[LostPart, ...]:
    """``lost_workers``; a document from before it had only the lines of ``worker_failures``,
    kept as reasons of unknown processes (-1)."""
    if "lost_workers" in data:
        return tuple(LostPart.from_json(lost) for lost in data["lost_workers"])
    return tuple(LostPart(-1, (), str(line)) for line in data["worker_failures"])


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
