"""Helpers for tests that run the real command line in a subprocess (through tests/procs.py's
``spawn``, which owns every process a test starts)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.procs import ROOT, Spawned, run, spawn

__all__ = [
    "ROOT",
    "assert_accounted",
    "children_of",
    "descendants_of",
    "pyload_cli",
    "start_pyload_cli",
    "worker_processes",
]

#: How long a command-line run may take before the test calls it a hang: pyload's own runs
#: here last seconds; this is for a 2-core machine busy with other work, never a measurement.
CLI_HANG_S = 90.0


def pyload_cli(
    *args: str, timeout: float = CLI_HANG_S, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pyload ARGS`` to completion; its exit status and output (``timeout``: a
    deadline for a hang)."""
    return run([sys.executable, "-m", "pyload", *args], timeout=timeout, **popen)


@contextlib.contextmanager
def start_pyload_cli(*args: str, **popen: Any) -> Iterator[Spawned]:
    """``python -m pyload ARGS`` running, in a session of its own, for the block: a Popen with
    stdout and stderr piped (text). Killed with its workers at the end of the block if still
    running."""
    with spawn([sys.executable, "-m", "pyload", *args], **popen) as proc:
        yield proc


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def descendants_of(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    found, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in children_of(p)]
        found += children
        frontier = children
    return found


def worker_processes(pid: int) -> list[int]:
    """pyload's worker processes below ``pid``: they name themselves ``pyload-p<N>``."""
    workers = []
    for child in descendants_of(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().startswith("pyload-p"):
                workers.append(child)
        except OSError:
            continue
    return workers


def assert_accounted(requests: int, in_flight: int, seen_by_server: int) -> None:
    """Every response pyload counted was one the server saw; what the server saw beyond those
    is at most the requests still in flight when the run stopped (a request written just
    before the stop may be lost in the reset, so the server may see fewer)."""
    assert requests <= seen_by_server <= requests + in_flight, (requests, in_flight, seen_by_server)
