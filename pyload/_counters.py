"""What a thread counts and what a run reports of its parts: wrk's counters, a thread's stats and
result, a lost part, the progress seen by callers. Plain data: no asyncio, no I/O.

A thread is one of wrk's threads: a group of connections with its own counters and Req/Sec
sampler. A process hosts one or more threads on one event loop; an agent (a Dask-hosted
pyload, ``_dask``) hosts processes. The process messages that carry these are ``_messages``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "ERROR_NAMES",
    "Counters",
    "LostPart",
    "ProcessLatencies",
    "RunProgress",
    "ThreadResult",
    "ThreadStats",
]

ERROR_NAMES = {
    "connect": "connect_errors",
    "read": "read_errors",
    "write": "write_errors",
    "timeout": "timeouts",
    "status": "status_errors",
}
"""wrk's names of the error counters (its report and the JSON) -> the counter attributes."""


@dataclass(slots=True)
class Counters:
    """wrk's counters: completed requests, bytes read and the errors by kind."""

    requests: int = 0
    bytes_read: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    status_errors: int = 0

    @property
    def errors(self) -> dict[str, int]:
        """The error counters by wrk's names."""
        return {name: getattr(self, attr) for name, attr in ERROR_NAMES.items()}

    def counters(self) -> Counters:
        """A copy of just the counters (a snapshot while the run goes on)."""
        return Counters(*(getattr(self, f.name) for f in fields(Counters)))

    def clear_counts(self) -> None:
        """Every counter back to 0 (the end of a warm-up)."""
        for f in fields(Counters):
            setattr(self, f.name, 0)

    def add(self, other: Counters) -> None:
        for f in fields(Counters):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @classmethod
    def total(cls, parts: Iterable[Counters]) -> Counters:
        total = cls()
        for part in parts:
            total.add(part)
        return total

    def counters_json(self) -> dict[str, Any]:
        """``requests``, ``bytes_read`` and ``errors`` (by wrk's names), as the JSON has them."""
        return {"requests": self.requests, "bytes_read": self.bytes_read, "errors": self.errors}

    @staticmethod
    def counters_from_json(data: Mapping[str, Any]) -> dict[str, int]:
        """The keyword arguments of the counters in a ``counters_json()`` mapping."""
        errors = data["errors"]
        values = {"requests": int(data["requests"]), "bytes_read": int(data["bytes_read"])}
        values.update({attr: int(errors[name]) for name, attr in ERROR_NAMES.items()})
        return values


@dataclass(slots=True, kw_only=True)
class ThreadStats(Counters):
    """One worker's counters and the facts of its run; what a result keeps of each worker."""

    index: int  # the thread's number (wrk's thread: a group of connections)
    connections: int
    process: int = 0  # the worker process that hosted it
    in_flight: int = 0  # requests sent and not answered when the run stopped
    in_flight_over_timeout: int = 0  # ... of which older than the timeout
    runtime_us: int = 0
    all_connected_us: int | None = None  # from the start until every slot had connected once
    cpu_s: float = 0.0  # its process's CPU time during the load, on the process's first thread
    # ... and the time its process's loop was runnable but waited for a CPU (Linux), the same
    cpu_wait_s: float = 0.0
    unsent_at_end: int = 0  # constant rate: requests due by the end that were never sent

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "process": self.process,
            "connections": self.connections,
            **self.counters_json(),
            "in_flight_at_end": self.in_flight,
            "in_flight_over_timeout_at_end": self.in_flight_over_timeout,
            "cpu_s": self.cpu_s,
            "cpu_wait_s": self.cpu_wait_s,
            "all_connected_ms": (
                None if self.all_connected_us is None else self.all_connected_us / 1000
            ),
            "runtime_us": self.runtime_us,
            "unsent_at_end": self.unsent_at_end,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ThreadStats:
        connected = data["all_connected_ms"]
        return cls(
            **cls.counters_from_json(data),
            index=int(data["index"]),
            process=int(data["process"]),
            connections=int(data["connections"]),
            in_flight=int(data["in_flight_at_end"]),
            in_flight_over_timeout=int(data["in_flight_over_timeout_at_end"]),
            cpu_s=float(data["cpu_s"]),
            cpu_wait_s=float(data.get("cpu_wait_s", 0.0)),
            all_connected_us=None if connected is None else round(connected * 1000),
            runtime_us=int(data["runtime_us"]),
            unsent_at_end=int(data.get("unsent_at_end", 0)),
        )


@dataclass(slots=True)
class ThreadResult:
    """A worker's whole measurement: its stats, exact latency counts and Req/Sec samples.

    ``latency_counts`` holds the latencies as measured, from each request's send (wrk's);
    ``intended_counts``, at a constant rate only, from each request's intended send time
    (wrk2's corrected latency), timeouts included. The latencies recorded once a second (the
    closed loop's, and the intended ones at a constant rate) are those the thread sent: a
    process's threads record into one count (``ProcessLatencies``), so a thread's are part
    of its process's; only their sum over the run's threads is the run's. ``status_counts``
    counts the responses by status code, every code but 200: the 200s are the rest of
    ``stats.requests``.
    """

    stats: ThreadStats
    latency_counts: dict[int, int] = field(default_factory=dict)  # µs -> count, <= timeout
    rate_samples: list[int] = field(default_factory=list)  # 100 ms Req/Sec samples
    intended_counts: dict[int, int] = field(default_factory=dict)  # µs -> count
    # The responses by status code, every code but 200 (200's count: the rest of the requests)
    status_counts: dict[int, int] = field(default_factory=dict)
    # -s: the thread's script globals after the load, for thread.get() in done() (hooks.py)
    script_values: dict[str, Any] = field(default_factory=dict)


class ProcessLatencies:
    """The latencies one process's threads recorded since the last Progress (µs -> count), in
    one dict for all of them, and the start they share.

    One dict, not one per thread: at ``-t20 -c2000`` twenty dicts of thousands of distinct
    latencies each cost the hot path about 3 % more CPU per request than one, in cache misses
    (docs/benchmarks.md, "Issue 20, continued"). Each Progress takes what the process recorded
    since the one before (``take``), whichever of its threads sends it, so every latency is
    sent exactly once; a second's latencies may hold a few milliseconds of another thread's,
    whose seconds are not aligned to the microsecond anyway. The threads start together
    (``start_ns``), so their warm-up ends at the same planned moment: the first thread to reach
    it empties the count (``end_warm_up``), once; every response a thread counts after its own
    end of warm-up comes after that moment. Plain data: the engine (``_engine``) owns the recording.
    """

    __slots__ = ("counts", "start_ns", "warmed_up")

    def __init__(self, start_ns: int) -> None:
        self.counts: dict[int, int] = {}  # the same dict throughout: connections write to it
        self.start_ns = start_ns
        self.warmed_up = False

    def take(self) -> dict[int, int]:
        """What was recorded since the last ``take``; the count starts again (the same dict)."""
        counts = self.counts.copy()
        self.counts.clear()
        return counts

    def end_warm_up(self) -> None:
        """The warm-up is over: forget what it recorded (the first thread to see it, once)."""
        if not self.warmed_up:
            self.warmed_up = True
            self.counts.clear()


@dataclass(frozen=True, slots=True)
class LostPart:
    """A worker process whose result never came: its threads' counters are missing from the
    run's; ``last_progress`` is what they had done by their last Progress messages (None: they
    sent none), ``last_progress_s`` when."""

    process: int
    threads: tuple[int, ...]
    reason: str  # "died before sending its result", "failed: ...", "sent no result within ..."
    last_progress: Counters | None = None
    last_progress_s: float | None = None
    # A distributed run (pyload._dask): the agent that hosted it ("1 at tcp://host:port");
    # process -1 with an agent: the whole agent was lost.
    agent: str | None = None

    def __str__(self) -> str:
        """``worker process 1 (threads 10-19) died before sending its result (by 2.0 s:
        5000 requests, 0 errors)``; ``agent 1 at tcp://...`` for a lost agent."""
        if self.last_progress is None:
            done = "it sent no progress"
        else:
            errors = sum(self.last_progress.errors.values())
            done = (
                f"by {self.last_progress_s or 0.0:.1f} s: {self.last_progress.requests} "
                f"requests, {errors} errors"
            )
        who = f"worker process {self.process}"
        if self.agent is not None:  # pyload._dask
            who = f"agent {self.agent}" if self.process < 0 else f"{who} of agent {self.agent}"
        return f"{who} ({_threads(self.threads)}) {self.reason} ({done})"

    def to_json(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "threads": list(self.threads),
            "reason": self.reason,
            "last_progress_s": self.last_progress_s,
            "last_progress": (
                None if self.last_progress is None else self.last_progress.counters_json()
            ),
            "agent": self.agent,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LostPart:
        last = data["last_progress"]
        return cls(
            process=int(data["process"]),
            threads=tuple(int(t) for t in data["threads"]),
            reason=str(data["reason"]),
            last_progress=None if last is None else Counters(**Counters.counters_from_json(last)),
            last_progress_s=None
            if data["last_progress_s"] is None
            else float(data["last_progress_s"]),
            agent=None if data.get("agent") is None else str(data["agent"]),
        )


@dataclass(frozen=True, slots=True)
class RunProgress:
    """What ``on_progress`` receives about once a second: the run's counters so far.

    ``counters`` sums the latest progress of every worker that is still running (and the
    final counters of those that finished); ``workers`` is how many reported.
    ``last_second_requests`` is how many responses the last second brought, and
    ``p99_us`` the 99th percentile of every latency recorded so far (None: none yet).
    """

    elapsed_s: float
    counters: Counters
    workers: int
    last_second_requests: int = 0
    p99_us: int | None = None

    @property
    def requests_per_s(self) -> float:
        return self.counters.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _threads(threads: tuple[int, ...]) -> str:
    """``thread 3``, ``threads 0-9`` or ``threads 1, 4``."""
    if len(threads) == 1:
        return f"thread {threads[0]}"
    if threads and list(threads) == list(range(threads[0], threads[-1] + 1)):
        return f"threads {threads[0]}-{threads[-1]}"
    return "threads " + ", ".join(map(str, threads))
