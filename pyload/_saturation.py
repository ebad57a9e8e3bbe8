"""Whether pyload's own CPU was the limit of a run: for each worker process, the share of its load's
wall time its loop was on a CPU or waiting for one, the busiest process against ``SATURATED``.
Pure: from the threads' stats.

A worker process runs one event loop on one core (Python's GIL). A loop that waits for the
server is idle, off the CPU. One that is on the CPU nearly all the time, or ready to run and
waiting for a core that other work holds (a loaded machine, a shared CI runner: Linux counts
that time, ``/proc/self/schedstat``), almost never waits for the server: responses queue
behind the client, so Requests/sec and the latencies measure pyload and its machine, not the
server. wrk has no such line; pyload prints it after wrk's (``RunResult.notes``), as it does
"Rate not held".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyload._counters import ThreadStats

__all__ = ["SATURATED", "ClientLoad", "client_load"]

SATURATED = 0.9
"""The busiest worker process on a CPU or waiting for one at least this share of its load's
wall time: the client was the limit. A process that waits for the server is well below it
(against the tests' Python server pyload's loop runs or waits for a core a tenth to a half of
the time, the most on a machine busy with other work); one that drives nginx flat out reads
about 1.0 (-t20 -c2000 on a 2-core machine: 1.03, the clocks' granularity allowing). 0.9
leaves room for the loop's own short waits (its timer, the parent's pipe) in a saturated
process without calling a busy but waiting one saturated."""


@dataclass(frozen=True)
class ClientLoad:
    """The worker processes during the load: their CPU time in all (``cpu_s``) and their time
    waiting for a CPU (``cpu_wait_s``), the load's wall time (``wall_s``: the warm-up and the
    measured run), and of the busiest process (the highest share of its wall time on a CPU or
    waiting for one: ``busiest_process_runnable``) the share on a CPU
    (``busiest_process_utilisation``, 1.0: a whole core). None: nothing ran."""

    cpu_s: float
    cpu_wait_s: float
    wall_s: float
    busiest_process_utilisation: float | None
    busiest_process_runnable: float | None

    @property
    def saturated(self) -> bool:
        busiest = self.busiest_process_runnable
        return busiest is not None and busiest >= SATURATED

    def note(self) -> str | None:
        """The report's line after wrk's when saturated, else None."""
        if not self.saturated:
            return None
        used = self.busiest_process_utilisation or 0.0
        waited = (self.busiest_process_runnable or 0.0) - used
        waiting = f", {waited:.0%} of the time waiting for one" if waited >= 0.05 else ""
        return (
            f"  Client saturated: pyload's own CPU was the limit "
            f"({used:.0%} of a core in its busiest process{waiting}); "
            "Requests/sec measured pyload, not the server"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_s": self.cpu_s,
            "cpu_wait_s": self.cpu_wait_s,
            "wall_s": self.wall_s,
            "busiest_process_utilisation": self.busiest_process_utilisation,
            "busiest_process_runnable": self.busiest_process_runnable,
            "saturated": self.saturated,
        }


def client_load(workers: Sequence[ThreadStats], warmup_s: float = 0.0) -> ClientLoad:
    """The client's load from its threads' stats: a process's CPU and wait times are on its
    first thread (``ThreadStats.cpu_s``, ``cpu_wait_s``), measured over the warm-up and its
    threads' longest load window."""
    cpu: dict[int, float] = {}
    wait: dict[int, float] = {}
    wall: dict[int, float] = {}
    for w in workers:
        cpu[w.process] = cpu.get(w.process, 0.0) + w.cpu_s
        wait[w.process] = wait.get(w.process, 0.0) + w.cpu_wait_s
        wall[w.process] = max(wall.get(w.process, 0.0), warmup_s + w.runtime_us / 1e6)
    ran = [p for p in cpu if wall[p] > 0]
    busiest = max(ran, key=lambda p: (cpu[p] + wait[p]) / wall[p], default=None)
    return ClientLoad(
        cpu_s=sum(cpu.values()),
        cpu_wait_s=sum(wait.values()),
        wall_s=max(wall.values(), default=0.0),
        busiest_process_utilisation=None if busiest is None else cpu[busiest] / wall[busiest],
        busiest_process_runnable=(
            None if busiest is None else (cpu[busiest] + wait[busiest]) / wall[busiest]
        ),
    )
