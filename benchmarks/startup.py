"""pyload's start-up alone: launch to the first request nginx counts, wall time and the CPU of
the whole process tree (the parent and its workers) by then, at the selfbench's shapes.

    python -m benchmarks.startup [--rounds 3] [--tools pyload,floor,wrk] [--json FILE]

The selfbench measures the same two figures (``benchmarks.clients.Watch``) inside its longer
rounds; this runs only short loads (DURATION_S), so a change to the start can be measured in a
minute: every client pinned to the client CPU, nginx (one worker) to another, the tools
alternating within each round, the medians of the rounds printed (issue 20's target: at
``-t20 -c2000``, pyload's start-up CPU <= 0.15 s). wrk (C) and the floor (benchmarks/floor.py:
Python, uvloop and httptools imported, nothing else) say what a start costs at the least.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import sigterm_as_ctrl_c
from benchmarks.clients import ClientError, ClientRun, Watch, run_floor, run_pyload, run_wrk
from benchmarks.common import available_cpus, log, median, plan_cpus, print_table
from benchmarks.nginx import STATUS_PATH, NginxError, running_nginx
from benchmarks.watch import RequestCounter

__all__ = ["TARGET_CPU_S", "main", "measure"]

SHAPES = ((1, 100), (20, 2000))  # the selfbench's: wrk's -t and -c
DURATION_S = 1  # the load after the start: only the start is measured
ROUNDS = 3
TOOLS = ("pyload", "floor", "wrk")
TIMEOUT_S = 2
TARGET_CPU_S = 0.15  # issue 20: pyload's start-up CPU at -t20 -c2000


def _runner(tool: str, url: str, threads: int, connections: int, cpus: list[int] | None,
            watch: Watch) -> Callable[[], ClientRun]:  # fmt: skip
    if tool == "floor":  # one loop, whatever the threads
        return lambda: run_floor(url, connections=connections, duration_s=DURATION_S,
                                 cpus=cpus, watch=watch)  # fmt: skip
    run = run_pyload if tool == "pyload" else run_wrk
    return lambda: run(url, connections=connections, duration_s=DURATION_S, threads=threads,
                       timeout_s=TIMEOUT_S, cpus=cpus, watch=watch)  # fmt: skip


def measure(tools: Sequence[str], rounds: int) -> list[dict[str, Any]]:
    """One row per shape and tool: each round's start-up (wall and CPU, seconds), and medians."""
    client, server = plan_cpus(available_cpus())
    cpus = [client] if client is not None else None
    rows: list[dict[str, Any]] = [
        {"shape": f"-t{t} -c{c}", "threads": t, "connections": c, "tool": tool, "runs": []}
        for t, c in SHAPES
        for tool in tools
    ]
    with running_nginx(cpu=server) as url, RequestCounter(url + STATUS_PATH) as counter:
        watch = Watch(requests=counter, cpu=server)
        for round_index in range(rounds):
            shift = round_index % len(tools)  # the tools' order rotates from round to round
            for t, c in SHAPES:
                for tool in list(tools[shift:]) + list(tools[:shift]):
                    row = next(r for r in rows if r["tool"] == tool and r["threads"] == t)
                    try:
                        run = _runner(tool, url, t, c, cpus, watch)()
                    except ClientError as exc:
                        log(f"  -t{t} -c{c} {tool}: failed: {exc}")
                        continue
                    row["runs"].append({"startup_s": run.startup_s, "cpu_s": run.startup_cpu_s})
                    log(
                        f"  round {round_index + 1}/{rounds} -t{t} -c{c} {tool:6s}"
                        f" start {_ms(run.startup_s)} ms, CPU {_ms(run.startup_cpu_s)} ms"
                    )
    for row in rows:
        row["startup_s"] = median(r["startup_s"] for r in row["runs"])
        row["cpu_s"] = median(r["cpu_s"] for r in row["runs"])
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The medians as a markdown table."""
    lines = [
        "| shape | client | start-up, ms (wall) | start-up CPU, ms (process tree) | runs |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['shape']}` | {row['tool']} | {_ms(row['startup_s'])} "
            f"| {_ms(row['cpu_s'])} | {len(row['runs'])} |"
        )
    return "\n".join(lines) + "\n"


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs per tool and shape")
    parser.add_argument("--tools", default=",".join(TOOLS), help="of: " + ", ".join(TOOLS))
    parser.add_argument("--json", type=Path, help="also write the rows (every run) to FILE")
    ns = parser.parse_args(argv)
    tools = [t for t in ns.tools.split(",") if t]
    if not tools or set(tools) - set(TOOLS) or ns.rounds < 1:
        parser.error(f"--tools: some of {', '.join(TOOLS)}; --rounds: at least 1")
    try:
        rows = measure(tools, ns.rounds)
    except NginxError as exc:
        print(f"cannot start nginx: {exc}", file=sys.stderr)
        return 1
    return print_table(table(rows), rows, ns.json)


if __name__ == "__main__":
    raise SystemExit(main())
