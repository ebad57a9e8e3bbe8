"""What the benchmark scripts share: their progress lines, the CPUs they pin the client and the
server to, the median of what was measured, the environment of the Python processes they start,
and their dated output files. (How they stop, on a signal and for each process they start, is
benchmarks.stopping.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks import PROJECT_ROOT

__all__ = [
    "available_cpus", "child_env", "log", "median", "parse_shape", "plan_cpus", "print_table",
    "write_dated",
]  # fmt: skip


def log(message: str) -> None:
    """One progress line on stderr, at once."""
    print(message, file=sys.stderr, flush=True)


def parse_shape(item: str) -> tuple[int, int]:
    """``20x2000`` -> (20, 2000): threads x connections, 1 <= threads <= connections (wrk's
    rule); ValueError saying what is wrong."""
    threads, sep, connections = item.lower().partition("x")
    if not sep or not threads.isdigit() or not connections.isdigit():
        raise ValueError(f"{item!r} is not THREADSxCONNECTIONS")
    if not 1 <= int(threads) <= int(connections):
        raise ValueError(f"{item!r}: 1 <= threads <= connections")
    return int(threads), int(connections)


def print_table(table: str, rows: Any, json_path: Path | None) -> int:
    """A short benchmark's end: its table on stdout, its rows (every run) as JSON into
    ``json_path`` if one was given; 0, the exit status."""
    sys.stdout.write(table)
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def available_cpus() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def plan_cpus(cpus: Iterable[int]) -> tuple[int | None, int | None]:
    """(client CPU, server CPU): the first and the last of ``cpus``; (None, None) if one."""
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[-1]


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values measured (None: not measured); None if there is none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def child_env() -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH, for the Python
    processes the scripts start (``python -m pyload``, locust, the slow endpoint)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def write_dated(
    doc: dict[str, Any], markdown: str, out_dir: Path, name: str, indent: int = 2
) -> tuple[Path, Path]:
    """Write ``<name>-<YYYY-MM-DD-HHMM>.json`` (the document) and ``.md`` (its report) into
    ``out_dir``, dated by the document's ``date``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(doc["date"]).strftime("%Y-%m-%d-%H%M")
    json_path = out_dir / f"{name}-{stamp}.json"
    md_path = out_dir / f"{name}-{stamp}.md"
    json_path.write_text(json.dumps(doc, indent=indent) + "\n")
    md_path.write_text(markdown)
    return json_path, md_path
