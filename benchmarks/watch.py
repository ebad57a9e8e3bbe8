"""What the selfbench observes from outside a client while it runs: the memory of its process
tree and the moment its first request reaches the server.

``tree_pss_bytes(pid)`` sums ``Pss`` from ``/proc/<pid>/smaps_rollup`` over a process and all
its descendants (found from ``/proc/*/stat``), so pages shared between pyload's parent and its
forked workers count once in all. ``RequestCounter`` reads nginx's ``stub_status`` request
counter over one keep-alive connection and subtracts its own polls: the first time it is above
zero, a client's first request has reached the server. ``tree_cpu_s(pids)`` is the CPU the
processes have used so far (``/proc/<pid>/task/*/schedstat``, nanoseconds, plus the children
each has reaped), read at that moment: the client's start-up CPU.
"""

from __future__ import annotations

import http.client
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "ProcStat", "RequestCounter", "proc_stats", "process_tree", "tree_cpu_s", "tree_pss_bytes",
]  # fmt: skip

_PROC = Path("/proc")
_REQUESTS = re.compile(rb"server accepts handled requests\s+\d+\s+\d+\s+(\d+)")


@dataclass(frozen=True)
class ProcStat:
    """A process as ``/proc/<pid>/stat`` shows it: its parent, its process group, and whether it
    has exited and waits to be reaped (a zombie runs nothing)."""

    ppid: int
    pgid: int
    zombie: bool


def proc_stats() -> dict[int, ProcStat]:
    """pid -> ProcStat for every process we can see."""
    stats = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # exited meanwhile
            continue
        state, ppid, pgid = stat.rsplit(b")", 1)[1].split()[:3]
        stats[int(entry.name)] = ProcStat(int(ppid), int(pgid), state == b"Z")
    return stats


def process_tree(pid: int, stats: dict[int, ProcStat] | None = None) -> list[int]:
    """``pid`` and every process below it (children, grandchildren...), from /proc (or from
    ``stats``, a ``proc_stats()`` already taken)."""
    children: dict[int, list[int]] = {}
    for child, stat in (proc_stats() if stats is None else stats).items():
        children.setdefault(stat.ppid, []).append(child)
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, ())]
        tree += frontier
    return tree


def _pss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError):  # exited meanwhile, or a kernel thread (empty file)
        return None
    return None


def tree_pss_bytes(pid: int) -> tuple[int, int]:
    """(total PSS in bytes, number of processes counted) of ``pid``'s process tree now."""
    total = counted = 0
    for member in process_tree(pid):
        pss = _pss_bytes(member)
        if pss is not None:
            total += pss
            counted += 1
    return total, counted


def _cpu_s(pid: int) -> float:
    """CPU seconds ``pid`` has used: its live threads' time on a CPU (schedstat's first field,
    ns) plus its reaped children's (``cutime + cstime``, clock ticks); 0.0 if it is gone."""
    total_ns = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"{task.path}/schedstat", "rb") as f:
                    total_ns += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
                continue
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, ValueError):
        return total_ns / 1e9
    reaped_ticks = int(fields[13]) + int(fields[14])  # cutime, cstime (fields 16 and 17)
    return total_ns / 1e9 + reaped_ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pids: list[int]) -> float:
    """The CPU seconds used so far by ``pids`` (a ``process_tree``), each with its reaped
    children. Threads that already ended are not counted (pyload's and the floor's run none)."""
    return sum(_cpu_s(pid) for pid in pids)


class RequestCounter:
    """The requests nginx has read since ``start()``, less this counter's own polls.

    nginx counts a request when it reads its header (``stub_status``'s third number, the
    request being answered included), so after a baseline poll that returned B, the k-th poll
    returning R means R - B - k requests came from elsewhere. A poll that fails is counted as
    one of ours all the same (it may have reached nginx), so the count can only be low by the
    failed polls, never high.
    """

    def __init__(self, status_url: str, timeout_s: float = 2.0) -> None:
        parts = urlsplit(status_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._baseline = 0
        self._polls = 0

    def _read(self) -> int | None:
        for _ in range(2):  # once more on a fresh connection if the kept-alive one was closed
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
            try:
                self._conn.request("GET", self._path)
                response = self._conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                self._polls += 1
                continue
            self._polls += 1
            match = _REQUESTS.search(body)
            return int(match.group(1)) if match else None
        return None

    def start(self, settle_s: float = 0.005, patience_s: float = 2.0) -> bool:
        """Take the baseline once nginx counts nothing but these polls for ``settle_s`` (the
        previous client's last requests may still be in its sockets); False if nginx's status
        page cannot be read."""
        deadline = time.monotonic() + patience_s
        self._polls = 0
        before = self._read()
        while before is not None:
            polls = self._polls
            time.sleep(settle_s)
            value = self._read()
            if value is None:
                return False
            if value - before == self._polls - polls or time.monotonic() > deadline:
                self._baseline, self._polls = value, 0
                return True
            before = value
        return False

    def served(self) -> int | None:
        """Requests from others since ``start()``; None if the status page cannot be read."""
        value = self._read()
        return None if value is None else value - self._baseline - self._polls

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RequestCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
