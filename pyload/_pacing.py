"""Pacing: when a connection sends its next request, chosen once per run before the loop starts.

A pacing gives each connection slot a schedule, or None for "at once" (the closed loop of wrk:
the next request goes out the moment the previous response is complete, the fast path). A
schedule is a pure object: given the time now (``perf_counter_ns``), it says when the next
request is due; the connection waits until then, and measures the request's latency from that
intended time too (``ConstantRate``: wrk2's model). It is kept by the slot, so a reconnect keeps
the schedule. The pacing also says whether wrk's post-run coordinated-omission correction
(stats.c stats_correct()) applies to the result: it does for the closed loop only. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyload.config import Config

__all__ = [
    "CLOSED_LOOP",
    "ClosedLoop",
    "ConstantRate",
    "Pacing",
    "RateSchedule",
    "Schedule",
    "pacing_for",
]


class Schedule(Protocol):
    """One connection slot's sending times."""

    def next_send_ns(self, now_ns: int) -> int:
        """When the next request is due (``perf_counter_ns`` time; <= now_ns: at once). Each
        call takes the next send time, whether or not it lies in the past."""
        ...

    def overdue(self, now_ns: int) -> int:
        """How many send times up to ``now_ns`` were never taken (requests not sent)."""
        ...

    def connect_at_ns(self) -> int:
        """When the slot opens its first connection (shortly before its first send)."""
        ...


class Pacing(Protocol):
    """How a run paces its requests; pickled into every worker."""

    @property
    def post_run_correction(self) -> bool:
        """True if wrk's closed-loop correction of the latencies applies."""
        ...

    def schedule(self, slot: int, start_ns: int) -> Schedule | None:
        """The schedule of connection ``slot`` (numbered across the whole run, every worker
        and agent) when its worker starts at ``start_ns`` (None: at once)."""
        ...


class ClosedLoop:
    """wrk's pacing: every connection sends its next request as soon as it has the answer."""

    __slots__ = ()
    post_run_correction = True

    def schedule(self, slot: int, start_ns: int) -> Schedule | None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClosedLoop)

    def __hash__(self) -> int:
        return hash(ClosedLoop)


CLOSED_LOOP = ClosedLoop()


@dataclass(frozen=True)
class ConstantRate:
    """A fixed request rate for the whole run (wrk2's -R), spread over its connections.

    Every connection sends on its own fixed grid, one request every ``slots / rate`` seconds;
    connection ``slot``'s grid starts ``slot / rate`` seconds after its worker's start, so the
    run as a whole sends one request every ``1 / rate`` seconds, evenly (wrk2 instead starts
    every thread's connections together, 5 ms apart). Each worker's share of the rate is its
    share of the connections. The grid never shifts: a connection that is behind (a late
    response, a reconnect) sends at once until it is back on its grid, and each of those
    requests' latency counts from its intended time (wrk2 catches up at twice the rate
    instead, wrk2 wrk.c response_complete()).

    A slot opens its connection CONNECT_LEAD_NS before its first send, not all at the start:
    the connects are spread like the requests, so 2000 connections do not arrive at once and
    overflow the server's accept queue (whose dropped SYNs come back only after the kernel's
    1 s retransmission timeout); wrk2 likewise staggers its connects, by 5 ms each.
    """

    rate: float  # requests per second, the whole run
    slots: int  # request slots in the whole run: connections (HTTP/2: times --streams)
    post_run_correction = False

    def schedule(self, slot: int, start_ns: int) -> RateSchedule:
        return RateSchedule(start_ns + slot * 1e9 / self.rate, self.slots * 1e9 / self.rate)


CONNECT_LEAD_NS = 20_000_000  # a constant-rate slot connects this long before its first send


class RateSchedule:
    """One connection's grid: ``first_ns + n * interval_ns`` for n = 0, 1, 2, ..."""

    __slots__ = ("first_ns", "interval_ns", "taken")

    def __init__(self, first_ns: float, interval_ns: float) -> None:
        self.first_ns = first_ns
        self.interval_ns = interval_ns
        self.taken = 0

    def next_send_ns(self, now_ns: int) -> int:
        due = int(self.first_ns + self.taken * self.interval_ns)
        self.taken += 1
        return due

    def connect_at_ns(self) -> int:
        return int(self.first_ns) - CONNECT_LEAD_NS

    def overdue(self, now_ns: int) -> int:
        if now_ns < self.first_ns:
            return 0
        due = int((now_ns - self.first_ns) // self.interval_ns) + 1
        return max(0, due - self.taken)


def pacing_for(config: Config) -> Pacing:
    """The pacing a Config asks for: a constant rate with ``rate``, else the closed loop."""
    if config.rate is None:
        return CLOSED_LOOP
    return ConstantRate(config.rate, config.request_slots)  # HTTP/2: a slot per stream
