"""The floor trials' summary table from run.py's ``--out`` files (floor-trials.md's table).

    python -m benchmarks.floor_trials.summary FILE.jsonl [FILE.jsonl ...]

Per tool and connection count: the median load-phase and whole-process µs CPU per request,
the median over rounds of the same-round ratio to wrk's and to the floor's load-phase CPU
(each file's rounds kept apart), and the median requests/s.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.floor_trials.run import from_files

LOAD = "load_cpu_us_per_request"


def paired(runs: list[dict[str, Any]], tool: str, ref: str, c: int) -> float | None:
    """The median of tool's load CPU divided by ref's in the same round."""
    by_round = {r["round"]: r[LOAD] for r in runs if r["tool"] == ref and r["connections"] == c}
    ratios = [
        r[LOAD] / by_round[r["round"]]
        for r in runs
        if r["tool"] == tool and r["connections"] == c and r["round"] in by_round
    ]
    return statistics.median(ratios) if ratios else None


def median(runs: list[dict[str, Any]], tool: str, c: int, key: str) -> float | None:
    values = [r[key] for r in runs if r["tool"] == tool and r["connections"] == c]
    return statistics.median(values) if values else None


def _text(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def summary(runs: list[dict[str, Any]]) -> str:
    """The Markdown table."""
    lines = [
        "| attempt | µs CPU/req at 100 (load / process) | ÷ wrk | ÷ floor | req/s at 100 "
        "| µs CPU/req at 2000 (load / process) | ÷ wrk | ÷ floor | req/s at 2000 | rounds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in dict.fromkeys(r["tool"] for r in runs):
        cells = []
        for c in (100, 2000):
            load = _text(median(runs, tool, c, LOAD))
            process = _text(median(runs, tool, c, "cpu_us_per_request"))
            cells += [
                f"{load} / {process}",
                _text(paired(runs, tool, "wrk", c)),
                _text(paired(runs, tool, "floor", c)),
                _text(median(runs, tool, c, "requests_per_s"), ",.0f"),
            ]
        rounds = sum(1 for r in runs if r["tool"] == tool and r["connections"] == 100)
        lines.append(f"| `{tool}` | " + " | ".join(cells) + f" | {rounds} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(from_files([Path(a) for a in sys.argv[1:]])))
