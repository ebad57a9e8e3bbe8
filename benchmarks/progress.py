"""Progress lines on stderr while the matrix runs: which cell, n/N, the time left, a summary."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``, ``9.4`` -> ``"9s"``."""
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts cells and estimates the time left from the cells measured so far (at first from
    the planned cell time), plus the start-up cost of the stacks not yet started."""

    def __init__(
        self,
        total: int,
        planned_cell_s: float,
        stacks: int,
        planned_stack_s: float,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.done = 0
        self.planned_cell_s = planned_cell_s
        self.stacks_left = stacks
        self.planned_stack_s = planned_stack_s
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._cell_time = 0.0

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, line: str) -> None:
        self._write(line)

    def left_s(self) -> float:
        per_cell = self._cell_time / self.done if self.done else self.planned_cell_s
        return (self.total - self.done) * per_cell + self.stacks_left * self.planned_stack_s

    def stack(self, server: str) -> None:
        self.stacks_left = max(0, self.stacks_left - 1)
        self._write(f"== {server}")

    def cell(self, label: str) -> float:
        """Announce the next cell; returns its start time for ``finished``."""
        width = len(str(self.total))
        self._write(
            f"[{self.done + 1:{width}d}/{self.total}] {label}  "
            f"(~{format_duration(self.left_s())} left)"
        )
        return time.monotonic()

    def finished(self, started: float, summary: str) -> None:
        self._cell_time += time.monotonic() - started
        self.done += 1
        self._write(f"    {summary}")

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
