"""Helpers for tests that run the real command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pyload_cli(
    *args: str, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pyload ARGS`` to completion; return its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "pyload", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **kwargs,  # type: ignore[arg-type]
    )


def start_pyload_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyload", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


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
