"""The messages a worker process sends its parent, as typed events (h11's style: one small frozen
class per kind; the parent dispatches on the type in one place, ``_local._collect``).

    process -> parent   Ready       the process's loop exists; it waits for the common start
                        Progress    every second, per thread: the counters so far, the
                                    latencies and the status codes other than 200 counted in
                                    that second, the connections open (then one last one, for
                                    the part-second before the end)
                        Result      per thread, at the end: counters, exact latency counts,
                                    Req/Sec samples
                        Failed      the process could not start or crashed (one line)
                        HookFailed  a hook of the -s script raised (_script.py): the parent
                                    stops the run and reports it as a HookError

Pickled through the process's pipe. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyload._counters import Counters, ThreadResult

__all__ = ["Failed", "HookFailed", "ProcessMessage", "Progress", "Ready", "Result"]


@dataclass(frozen=True, slots=True)
class Ready:
    process: int


@dataclass(frozen=True, slots=True)
class Progress:
    """One thread's second: its counters so far and the latencies recorded since its last
    Progress (µs -> count: from the intended send times at a constant rate, else as measured).
    ``final`` marks the last one, sent at the end for the part-second before it.
    ``status_counts``: the responses since its last Progress by status code, every code but
    200 (whose count is the rest of the responses); ``open_connections``: its connections open
    now (the last one: when it stopped)."""

    index: int  # the thread's
    elapsed_ns: int  # since the thread's start of measurement
    counters: Counters
    latency_counts: dict[int, int] = field(default_factory=dict)
    final: bool = False
    status_counts: dict[int, int] = field(default_factory=dict)
    open_connections: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    result: ThreadResult


@dataclass(frozen=True, slots=True)
class Failed:
    process: int
    error: str  # one line: "ExceptionType: message"


@dataclass(frozen=True, slots=True)
class HookFailed:
    """A hook of the -s script raised (hooks.py): ``error`` is the one line (file, line,
    hook), ``traceback`` the whole of it (printed with --debug)."""

    process: int
    error: str
    traceback: str


ProcessMessage = Ready | Progress | Result | Failed | HookFailed
