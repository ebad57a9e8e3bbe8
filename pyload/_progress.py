"""The run's seconds, merged across threads as their Progress messages arrive. No I/O.

Every thread sends a Progress message each second of its measurement (and a final one for the
part-second before its end), with its counters so far, the latencies and the status codes
other than 200 it counted in that second, and its open connections. ``ProgressTally`` adds the
n-th messages of all threads into the run's n-th second once every thread has sent it or ended
(``RoundBarrier``, which a distributed run's client uses for its agents' seconds too), and
then:

- calls ``on_progress`` with a ``RunProgress``: the counters so far, the last second's responses
  and the p99 of every latency so far (the live progress line, the API's callback);
- keeps the second as a ``Second`` (_seconds): its responses by status class, its errors by
  kind, the connections open at its end, its latency summary and its latencies as an encoded
  HdrHistogram (``result.seconds``: the JSON's ``seconds``, ``--hdr-log``, ``--plot``), so that
  a long run keeps a few kilobytes per second, not every distinct latency.

That costs the parent a few milliseconds a second (_seconds: the threads' latencies added,
the percentiles and the histogram, with numpy); the p99 of every latency so far is kept only
for ``on_progress``. Without ``on_progress`` nothing needs a second at once, so up to
``UNBUILT_SECONDS`` complete seconds wait as the messages' counts and are built together, at the
end of a short run: the parent then imports numpy (about 0.1 s of CPU) after the load, not on a
core its worker processes are loading from (docs/benchmarks.md, "Issue 20, continued").

A thread whose process is lost stops counting toward the seconds after its last message; what
it had done by then is what ``last_words`` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING

from pyload._counters import ERROR_NAMES, Counters, RunProgress
from pyload._messages import Progress

if TYPE_CHECKING:
    from pyload._seconds import Arrays, Second

__all__ = ["UNBUILT_SECONDS", "ProgressTally", "RoundBarrier"]

# Complete seconds kept as the messages' latency counts before they are built (only without
# on_progress): a few megabytes at -t20 -c2000, where a second has over 10,000 distinct values.
UNBUILT_SECONDS = 10


def _p99(arrays: Arrays) -> int | None:
    """The p99 of every latency so far by wrk's rank (None: none yet). _stats (numpy) is
    imported on use, not with this module: the parent imports this module before it forks
    the worker processes, which need none of numpy."""
    from pyload._stats import rank_percentiles

    values, counts = arrays
    total = int(counts.sum())
    return rank_percentiles(values, counts, total, (99.0,))[0] if total else None


class RoundBarrier:
    """The all-parts barrier: round n (every part's n-th message) is complete once one part at
    least has sent its n-th message and every part still running has sent it too or ended.

    The parts are a run's threads (``ProgressTally``) or a distributed run's agents
    (``_dask._client``); a part that ended sends no more, so the rounds it misses complete
    without it. Counting only: the caller keeps the messages.
    """

    def __init__(self, parts: Iterable[Hashable]) -> None:
        self.sent: dict[Hashable, int] = dict.fromkeys(parts, 0)  # messages per part
        self.ended: set[Hashable] = set()  # parts that will send no more
        self.completed = 0  # how many rounds are complete

    def add(self, part: Hashable) -> int:
        """Count a message of ``part``; its number (1: the part's first)."""
        self.sent[part] += 1
        return self.sent[part]

    def end(self, part: Hashable) -> None:
        """``part`` sends no more."""
        self.ended.add(part)

    def end_all(self) -> None:
        self.ended.update(self.sent)

    def advance(self) -> list[int]:
        """The rounds complete now that were not before, in order."""
        done: list[int] = []
        while True:
            number = self.completed + 1
            if all(sent < number for sent in self.sent.values()):
                return done  # no part has sent its n-th message yet
            if any(sent < number and p not in self.ended for p, sent in self.sent.items()):
                return done  # a running part has not sent its n-th message yet
            self.completed = number
            done.append(number)


class _Round:
    """A second being added up: what the threads' n-th messages counted."""

    __slots__ = (
        "counts", "end_ns", "errors", "final_only", "open_connections", "requests", "statuses",
    )  # fmt: skip

    def __init__(self) -> None:
        self.counts: list[dict[int, int]] = []  # each message's latencies, µs -> count
        self.end_ns = 0
        self.requests = 0
        self.errors = dict.fromkeys(ERROR_NAMES, 0)
        self.statuses: dict[int, int] = {}  # every status code but 200
        self.open_connections = 0
        self.final_only = True  # every message in it was a thread's last (a part-second)


class ProgressTally:
    """The threads' Progress messages, merged second by second (see the module docstring)."""

    def __init__(self, threads: int, on_progress: Callable[[RunProgress], None] | None) -> None:
        self.on_progress = on_progress
        self.latest: dict[int, Progress] = {}
        self.final: dict[int, Counters] = {}  # threads that are done: their last counters
        self.rounds = RoundBarrier(range(threads))  # the n-th second: every thread's n-th
        self.adding: dict[int, _Round] = {}  # the seconds not yet complete, by number
        self.seconds: list[Second] = []
        self.unbuilt: list[_Round] = []  # complete seconds not built yet (no on_progress)
        self.cumulative: Arrays | None = None  # every latency so far (for the p99)

    def add(self, message: Progress) -> None:
        index = message.index
        previous = self.latest.get(index)
        self.latest[index] = message
        second = self.adding.setdefault(self.rounds.add(index), _Round())
        second.counts.append(message.latency_counts)
        statuses = second.statuses
        for code, n in message.status_counts.items():
            statuses[code] = statuses.get(code, 0) + n
        second.open_connections += message.open_connections
        second.end_ns = max(second.end_ns, message.elapsed_ns)
        now = message.counters
        before = previous.counters if previous is not None else Counters()
        second.requests += now.requests - before.requests
        for name, attr in ERROR_NAMES.items():
            second.errors[name] += getattr(now, attr) - getattr(before, attr)
        if not message.final:
            second.final_only = False
        else:
            self.rounds.end(index)
        self._advance()

    def finished(self, index: int, stats: Counters | None) -> None:
        """Thread ``index`` is done: its result came (``stats``), or its process was lost."""
        self.rounds.end(index)
        if stats is not None:
            self.final[index] = stats.counters()
        elif index in self.latest:
            self.final[index] = self.latest[index].counters
        self._advance()

    def flush(self) -> list[Second]:
        """Every thread has ended: complete the seconds left; the run's seconds."""
        self.rounds.end_all()
        self._advance()
        self._build()
        return self.seconds

    def last_words(self, threads: list[int]) -> tuple[Counters | None, float | None]:
        """What lost threads had done by their last progress messages, and when (None, None:
        they sent none)."""
        last = [self.latest[t] for t in threads if t in self.latest]
        if not last:
            return None, None
        return Counters.total(m.counters for m in last), max(m.elapsed_ns for m in last) / 1e9

    def _advance(self) -> None:
        for number in self.rounds.advance():
            second = self.adding.pop(number)
            if self.on_progress is not None:
                self._complete(second)
                continue
            self.unbuilt.append(second)
            if len(self.unbuilt) >= UNBUILT_SECONDS:
                self._build()

    def _build(self) -> None:
        """Build the complete seconds that wait (in order)."""
        unbuilt, self.unbuilt = self.unbuilt, []
        for second in unbuilt:
            self._complete(second)

    def _complete(self, second: _Round) -> None:
        # _seconds (hdrh, and numpy on use) is imported here, at the first second built: the
        # parent creates the tally before the load starts, and a run's start imports only what
        # the load needs (docs/architecture.md, "What a run imports").
        from pyload._seconds import Second, added, latency_arrays

        start_s = self.seconds[-1].end_s if self.seconds else 0.0
        end_s = max(start_s, second.end_ns / 1e9)
        latencies = latency_arrays(second.counts)
        self.seconds.append(
            Second.of(start_s, end_s, second.requests, second.statuses, second.errors,
                      second.open_connections, latencies)
        )  # fmt: skip
        if self.on_progress is None:
            return
        before = self.cumulative
        self.cumulative = cumulative = latencies if before is None else added(before, latencies)
        if second.final_only:
            return
        running = [self.latest[t] for t in self.latest if t not in self.final]
        total = Counters.total([m.counters for m in running] + list(self.final.values()))
        self.on_progress(
            RunProgress(
                end_s,
                total,
                len(running) + len(self.final),
                last_second_requests=second.requests,
                p99_us=_p99(cumulative),
            )
        )
