"""What a hook costs: client CPU per request with a ``request()`` hook that builds a new path
for every request, pyload (Python) next to wrk (Lua), on one local nginx.

    python -m benchmarks.hookbench [--duration 3] [--rounds 3] [--connections 100] [--out DIR]

Four cells, one thread each, the client pinned to one CPU and nginx (one worker) to another:
wrk and pyload without a script (the static request: the fast path), and each with its
equivalent script whose ``request()`` counts and builds ``/?n=<count>`` with ``wrk.format`` /
``pyload.format`` (wrk's scripts/counter.lua). Every round runs the four cells, the order
rotating; the report takes the median. Measured: requests/s and CPU per request, for the
client's whole process tree (start-up included) and, for pyload, for the load alone (its
workers' ``cpu_s``). Writes ``hookbench-<date>.json`` and ``.md`` into benchmarks/results/
(``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.clients import ClientError, ClientRun, run_pyload, run_wrk, wrk_available
from benchmarks.common import available_cpus, log, median, plan_cpus, write_dated
from benchmarks.formatting import fmt_or
from benchmarks.machine import machine_info
from benchmarks.nginx import NginxError, running_nginx

__all__ = ["LUA_COUNTER", "PYTHON_COUNTER", "main", "run_hookbench", "summarise"]

DURATION_S = 3
ROUNDS = 3
CONNECTIONS = 100
TIMEOUT_S = 2
SCHEMA = "pyload.hookbench/1"

LUA_COUNTER = """\
counter = 0
request = function()
   counter = counter + 1
   return wrk.format(nil, "/?n=" .. counter)
end
"""
PYTHON_COUNTER = """\
import pyload

counter = 0


def request():
    global counter
    counter += 1
    return pyload.format(path=f"/?n={counter}")
"""
CELLS = (("wrk", False), ("pyload", False), ("wrk", True), ("pyload", True))


def _name(tool: str, hook: bool) -> str:
    return f"{tool} {'hook' if hook else 'static'}"


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The medians of a cell's runs."""

    def of(key: str) -> float | None:
        return median(r.get(key) for r in runs)

    return {
        "requests_per_s": of("requests_per_s"),
        "cpu_us_per_request": of("cpu_us_per_request"),
        "load_cpu_us_per_request": of("load_cpu_us_per_request"),
        "runs": len(runs),
    }


def run_hookbench(
    duration_s: float = DURATION_S, rounds: int = ROUNDS, connections: int = CONNECTIONS
) -> dict[str, Any]:
    """Run the rounds; the document written as JSON (cells with their runs and medians)."""
    first, server = plan_cpus(available_cpus())
    client = [first] if first is not None else None
    runs: dict[str, list[dict[str, Any]]] = {_name(t, h): [] for t, h in CELLS}
    with tempfile.TemporaryDirectory(prefix="pyload-hookbench-") as tmp:
        lua, python = Path(tmp) / "counter.lua", Path(tmp) / "counter.py"
        lua.write_text(LUA_COUNTER)
        python.write_text(PYTHON_COUNTER)
        with running_nginx(cpu=server) as url:
            for round_ in range(rounds):
                order = CELLS[round_ % len(CELLS) :] + CELLS[: round_ % len(CELLS)]
                for tool, hook in order:
                    options = ("-s", str(lua if tool == "wrk" else python)) if hook else ()
                    run: Callable[..., ClientRun] = run_wrk if tool == "wrk" else run_pyload
                    result = run(
                        url, connections=connections, duration_s=duration_s, threads=1,
                        timeout_s=TIMEOUT_S, cpus=client, options=options,
                    )  # fmt: skip
                    name = _name(tool, hook)
                    record = result.to_dict()
                    record.pop("text", None)
                    record.pop("detail", None)
                    runs[name].append(record)
                    cpu = result.load_cpu_us_per_request or result.cpu_us_per_request or 0
                    log(
                        f"round {round_ + 1}/{rounds} {name}: {result.requests_per_s:,.0f} req/s,"
                        f" {cpu:.2f} µs CPU/request"
                    )
    cells = {name: {**summarise(r), "all": r} for name, r in runs.items()}
    return {
        "schema": SCHEMA,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "duration_s": duration_s,
            "rounds": rounds,
            "connections": connections,
            "threads": 1,
            "client_cpus": client,
            "server_cpu": server,
        },
        "scripts": {"lua": LUA_COUNTER, "python": PYTHON_COUNTER},
        "cells": cells,
    }


def markdown(doc: dict[str, Any]) -> str:
    """The table: each cell's medians, then what the hook adds per request for each tool."""
    cells = doc["cells"]
    lines = [
        f"# Hook cost: a new path per request ({doc['date']})",
        "",
        f"{doc['settings']['rounds']} rounds of {doc['settings']['duration_s']} s, -t1 "
        f"-c{doc['settings']['connections']}, client pinned to CPU "
        f"{doc['settings']['client_cpus']}, nginx to CPU {doc['settings']['server_cpu']}; "
        "medians. pyload's load CPU is its worker's CPU while loading (no start-up).",
        "",
        "| cell | requests/s | CPU µs/request (process tree) | load CPU µs/request |",
        "|---|---:|---:|---:|",
    ]
    for name, cell in cells.items():
        lines.append(
            f"| {name} | {fmt_or(cell['requests_per_s'], '{:,.0f}')} | "
            f"{fmt_or(cell['cpu_us_per_request'], '{:,.2f}')} | "
            f"{fmt_or(cell['load_cpu_us_per_request'], '{:,.2f}')} |"
        )

    def cpu(name: str) -> float | None:
        cell = cells.get(name, {})
        return cell.get("load_cpu_us_per_request") or cell.get("cpu_us_per_request")

    lines += ["", "| tool | static | with request() | the hook adds |", "|---|---:|---:|---:|"]
    for tool in ("wrk", "pyload"):
        static, hook = cpu(f"{tool} static"), cpu(f"{tool} hook")
        added = None if static is None or hook is None else hook - static
        figures = " | ".join(fmt_or(x, "{:,.2f}") for x in (static, hook, added))
        lines.append(f"| {tool} | {figures} |")
    wrk_hook, pyload_hook = cpu("wrk hook"), cpu("pyload hook")
    if wrk_hook and pyload_hook:
        lines += ["", f"pyload / wrk, CPU per request with the hook: {pyload_hook / wrk_hook:.2f}"]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hookbench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=int, default=DURATION_S, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs per cell (median)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where to write")
    return parser


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if not wrk_available():
        log("wrk is not installed: the comparison needs it")
        return 1
    try:
        doc = run_hookbench(ns.duration, ns.rounds, ns.connections)
    except (ClientError, NginxError) as exc:
        log(f"hookbench: {exc}")
        return 1
    text = markdown(doc)
    write_dated(doc, text, ns.out, "hookbench", indent=1)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
