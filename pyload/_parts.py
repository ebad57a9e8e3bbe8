"""The parts of a merged run (a distributed run's agents, ``pyload merge``'s files), as the
result's ``agents`` entries have them (docs/json.md): plain data, no I/O.

``AgentSummary`` is one entry; ``PartMeasured`` what an ``ok`` part measured; ``AgentLaunch``
how an agent started. ``to_json()`` gives the entry's exact keys, in their documented order,
and ``from_json()`` reads them back. Re-exported by ``pyload.result``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyload._counters import Counters

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["AgentLaunch", "AgentSummary", "PartMeasured"]


@dataclass(frozen=True)
class PartMeasured:
    """What an ``ok`` part of a merged run measured, as its ``agents`` entry has it."""

    counters: Counters
    latency_count: int  # the latencies it recorded
    requests_per_s: float
    runtime_us: int
    cpu_s: float
    lost_workers: int  # how many of its own worker processes were lost

    @classmethod
    def of(cls, run: RunResult) -> PartMeasured:
        cpu_s = sum(w.cpu_s for w in run.workers)
        return cls(run.counters.counters(), run.latency_uncorrected.count, run.requests_per_s,
                   run.runtime_us, cpu_s, len(run.lost_workers))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            **self.counters.counters_json(),
            "latency_count": self.latency_count,
            "requests_per_s": self.requests_per_s,
            "runtime_us": self.runtime_us,
            "cpu_s": self.cpu_s,
            "lost_workers": self.lost_workers,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartMeasured:
        return cls(Counters(**Counters.counters_from_json(data)), int(data["latency_count"]),
                   data["requests_per_s"], int(data["runtime_us"]), data["cpu_s"],
                   int(data["lost_workers"]))  # fmt: skip


@dataclass(frozen=True)
class AgentLaunch:
    """How an agent of a distributed run started: its machine and process (None: it never
    said), its first connection slot in the whole run, its wall clock minus the client's and
    half the round trip that measured it, how long before the agreed start its workers were
    ready and how late it started (ms; None: it never started)."""

    host: str | None
    pid: int | None
    first_slot: int
    clock_offset_ms: float
    clock_uncertainty_ms: float
    ready_margin_ms: float | None
    start_late_ms: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentLaunch:
        return cls(
            host=data.get("host"),
            pid=data.get("pid"),
            first_slot=int(data["first_slot"]),
            clock_offset_ms=data["clock_offset_ms"],
            clock_uncertainty_ms=data["clock_uncertainty_ms"],
            ready_margin_ms=data.get("ready_margin_ms"),
            start_late_ms=data.get("start_late_ms"),
        )


# An agent's entry: its launch and its reason among the part's keys, in this order.
_AGENT_KEYS = ("index", "name", "status", "host", "pid", "threads", "connections", "first_slot",
               "rate", "clock_offset_ms", "clock_uncertainty_ms", "ready_margin_ms",
               "start_late_ms", "reason")  # fmt: skip


@dataclass(frozen=True)
class AgentSummary:
    """One part of a merged run, its ``agents`` entry (docs/json.md): an agent of a distributed
    run (with its ``launch`` and, unless ``ok``, its ``reason``) or a file of ``pyload merge``.
    An ``ok`` part has what it ``measured``; a lost or failed agent its last progress instead.
    ``summary["key"]`` is the entry's JSON value, as when the entries were mappings."""

    index: int
    name: str  # its Dask worker's address, or the file's path
    status: str  # ok; an agent also lost (it started, its result never came) or failed
    threads: tuple[int, ...]  # its threads' numbers in the merged result
    connections: int
    rate: float | None
    measured: PartMeasured | None = None
    launch: AgentLaunch | None = None
    reason: str | None = None
    last_progress: Counters | None = None
    last_progress_s: float | None = None

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": self.index, "name": self.name, "status": self.status,
                                 "threads": list(self.threads), "connections": self.connections,
                                 "rate": self.rate}  # fmt: skip
        if self.launch is not None:
            entry.update(dataclasses.asdict(self.launch), reason=self.reason)
            entry = {key: entry[key] for key in _AGENT_KEYS}
        if self.measured is not None:
            return {**entry, **self.measured.to_json()}
        last = None if self.last_progress is None else self.last_progress.counters_json()
        return {**entry, "last_progress_s": self.last_progress_s, "last_progress": last}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentSummary:
        last = data.get("last_progress")
        return cls(
            index=int(data["index"]),
            name=str(data["name"]),
            status=str(data["status"]),
            threads=tuple(int(t) for t in data["threads"]),
            connections=int(data["connections"]),
            rate=data["rate"],
            measured=PartMeasured.from_json(data) if "latency_count" in data else None,
            launch=AgentLaunch.from_json(data) if "first_slot" in data else None,
            reason=data.get("reason"),
            last_progress=None if last is None else Counters(**Counters.counters_from_json(last)),
            last_progress_s=data.get("last_progress_s"),
        )
