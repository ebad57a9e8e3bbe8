"""Pacing: when a connection sends its next request, chosen once per run before the loop starts.

A pacing gives each connection slot a schedule, or None for "at once" (the closed loop of wrk:
the next request goes out the moment the previous response is complete, the fast path). A
schedule is a pure object: given the time now (``perf_counter_ns``), it says when the next
request is due; the connection waits until then. It is kept by the slot, so a reconnect keeps
the schedule. The pacing also says whether wrk's post-run coordinated-omission correction
(stats.c stats_correct()) applies to the result: it does for the closed loop only. No I/O.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CLOSED_LOOP", "ClosedLoop", "Pacing", "Schedule"]


class Schedule(Protocol):
    """One connection slot's sending times."""

    def next_send_ns(self, now_ns: int) -> int:
        """When the next request is due (``perf_counter_ns`` time; <= now_ns: at once)."""
        ...


class Pacing(Protocol):
    """How a run paces its requests; pickled into every worker."""

    @property
    def post_run_correction(self) -> bool:
        """True if wrk's closed-loop correction of the latencies applies."""
        ...

    def schedule(self, slot: int, slots: int, start_ns: int) -> Schedule | None:
        """The schedule of connection ``slot`` of ``slots`` in the whole run (None: at once)."""
        ...


class ClosedLoop:
    """wrk's pacing: every connection sends its next request as soon as it has the answer."""

    __slots__ = ()
    post_run_correction = True

    def schedule(self, slot: int, slots: int, start_ns: int) -> Schedule | None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClosedLoop)

    def __hash__(self) -> int:
        return hash(ClosedLoop)


CLOSED_LOOP = ClosedLoop()


def pacing_for(config: object) -> Pacing:
    """The pacing a Config asks for (the closed loop: pyload has no rate option yet)."""
    return CLOSED_LOOP
