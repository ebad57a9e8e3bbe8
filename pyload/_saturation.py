"""Whether pyload's own CPU was the limit of a run: each worker process's CPU time over the wall
time of its load, the busiest process against ``SATURATED``. Pure: from the threads' stats.

A worker process runs one event loop on one core (Python's GIL). When it is on the CPU nearly
all the time, the loop almost never waits for the server: responses queue behind pyload's own
work, so Requests/sec and the latencies measure pyload, not the server. wrk has no such line;
pyload prints it after wrk's (``RunResult.notes``), as it does "Rate not held".

What it cannot see: a client starved by other processes on the same cores (a loaded machine)
gets less CPU time, not more, and reads as not saturated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyload._counters import ThreadStats

__all__ = ["SATURATED", "ClientLoad", "client_load"]

SATURATED = 0.9
"""The busiest worker process on the CPU at least this share of its load's wall time: the
client was the limit. A process that waits for the server is well below it (the tests' Python
server keeps pyload's process about a fifth busy); one that drives nginx flat out sits at 0.97
to 1.0 (benchmarks.selfbench); 0.9 leaves room for the loop's own waits (the timer, the
parent's pipe) in a saturated process without calling a busy but waiting one saturated."""


@dataclass(frozen=True)
class ClientLoad:
    """The worker processes' CPU during the load: in all (``cpu_s``), the load's wall time
    (``wall_s``: the warm-up and the measured run), and the highest of each process's CPU time
    over its own wall time (None: nothing ran)."""

    cpu_s: float
    wall_s: float
    busiest_process_utilisation: float | None

    @property
    def saturated(self) -> bool:
        busiest = self.busiest_process_utilisation
        return busiest is not None and busiest >= SATURATED

    def note(self) -> str | None:
        """The report's line after wrk's when saturated, else None."""
        if not self.saturated:
            return None
        return (
            f"  Client saturated: pyload's own CPU was the limit "
            f"({self.busiest_process_utilisation:.0%} of a core in its busiest process); "
            "Requests/sec measured pyload, not the server"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "busiest_process_utilisation": self.busiest_process_utilisation,
            "saturated": self.saturated,
        }


def client_load(workers: Sequence[ThreadStats], warmup_s: float = 0.0) -> ClientLoad:
    """The client's load from its threads' stats: a process's CPU time is on its first thread
    (``ThreadStats.cpu_s``), measured over the warm-up and its threads' longest load window."""
    cpu: dict[int, float] = {}
    wall: dict[int, float] = {}
    for w in workers:
        cpu[w.process] = cpu.get(w.process, 0.0) + w.cpu_s
        wall[w.process] = max(wall.get(w.process, 0.0), warmup_s + w.runtime_us / 1e6)
    return ClientLoad(
        cpu_s=sum(cpu.values()),
        wall_s=max(wall.values(), default=0.0),
        busiest_process_utilisation=_busiest(cpu, wall),
    )


def _busiest(cpu: Mapping[int, float], wall: Mapping[int, float]) -> float | None:
    shares = [cpu[p] / wall[p] for p in cpu if wall[p] > 0]
    return max(shares) if shares else None
