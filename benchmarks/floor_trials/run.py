"""Issue 20, item 4's measurements: the floor's variants beside wrk and the floor, one nginx.

    python -m benchmarks.floor_trials.run [--python PY] [--tools wrk,floor,trial:scan,...]
        [--connections 100,2000] [--rounds 3] [--duration 5] [--out FILE.jsonl]

nginx (benchmarks.nginx, one worker) is pinned to CPU 1, every client to CPU 0 (``taskset -c
0``). Each round runs every tool once at each connection count, the tools' order rotating from
round to round. Per run: requests/s as the tool reports it, and CPU per request of the whole
client process (``getrusage(RUSAGE_CHILDREN)`` before and after, start-up included) and, for
the floor and its variants, of the load phase (their JSON's ``cpu_s``; wrk's start-up is
negligible, so its whole CPU stands for both). Prints every run and the medians; ``--out``
appends every run as a JSON line.

Tools: ``wrk`` (``wrk -t1 -cC``), ``wrk:T`` (``wrk -tT -cC``, its T threads on the one CPU),
``floor`` (benchmarks/floor.py as the selfbench runs it),
``trial:VARIANT`` (benchmarks/floor_trials/trials.py, interpreted), ``mypyc:VARIANT`` (the
same file compiled, from ``--mypyc-dir``), ``floor-mypyc`` (benchmarks/floor.py compiled, from
``--floor-mypyc-dir``), ``pyload@DIR`` (``python -m pyload -t1 -cC``, or ``-t20`` at 2000
connections, run in DIR, its workers' ``cpu_s`` from ``--json`` as the load phase).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.nginx import running_nginx
from benchmarks.wrkparse import parse_wrk

HERE = Path(__file__).resolve().parent
FLOOR = HERE.parent / "floor.py"
LAUNCH = HERE / "launch.py"
CLIENT_CPU, SERVER_CPU = 0, 1


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command(
    tool: str, url: str, connections: int, seconds: int, ns: argparse.Namespace
) -> tuple[list[str], str | None]:
    """The tool's argv (pinned) and the folder to run it in."""
    py, c, d = ns.python, str(connections), str(seconds)
    if tool == "wrk" or tool.startswith("wrk:"):
        threads = tool[4:] if tool.startswith("wrk:") else "1"
        argv = ["wrk", f"-t{threads}", f"-c{c}", f"-d{d}s", "--timeout", "2s", url]
    elif tool == "floor":
        argv = [py, "-P", str(FLOOR), url, c, d]
    elif tool == "floor-mypyc":
        argv = [py, "-P", str(LAUNCH), ns.floor_mypyc_dir, "floor", url, c, d]
    elif tool.startswith("trial:"):
        argv = [py, "-P", str(LAUNCH), str(HERE), "trials", tool[6:], url, c, d]
    elif tool.startswith("mypyc:"):
        argv = [py, "-P", str(LAUNCH), ns.mypyc_dir, "trials", tool[6:], url, c, d]
    elif tool.startswith("pyload@"):
        threads = "1" if connections <= 100 else "20"
        argv = [py, "-m", "pyload", f"-t{threads}", f"-c{c}", f"-d{d}s", "--json", "JSON", url]
        return ["taskset", "-c", str(CLIENT_CPU), *argv], tool[7:]
    else:
        raise ValueError(f"unknown tool {tool!r}")
    return ["taskset", "-c", str(CLIENT_CPU), *argv], None


def run_one(
    tool: str, url: str, connections: int, seconds: int, ns: argparse.Namespace
) -> dict[str, Any]:
    """One pinned run: requests, requests/s, whole-process and load-phase CPU per request."""
    argv, cwd = command(tool, url, connections, seconds, ns)
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "result.json"
        argv = [str(json_path) if a == "JSON" else a for a in argv]
        before = _children_cpu()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=seconds + 60)
        cpu = _children_cpu() - before
        if done.returncode:
            raise RuntimeError(f"{tool}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
        if tool == "wrk" or tool.startswith("wrk:"):
            parsed = parse_wrk(done.stdout)
            requests, rps, load_cpu = parsed.requests, parsed.requests_per_s, cpu
            errors = sum(parsed.errors.values())
        elif tool.startswith("pyload@"):
            result = json.loads(json_path.read_text())
            requests, rps = result["requests"], result["requests_per_s"]
            load_cpu = result.get("cpu_s") or cpu
            errors = sum(result.get("errors", {}).values())
        else:
            result = json.loads(done.stdout)
            requests, rps, load_cpu = result["requests"], result["requests_per_s"], result["cpu_s"]
            errors = result["errors"]["connect"] + result["errors"]["read"]
    return {
        "tool": tool,
        "connections": connections,
        "requests": requests,
        "requests_per_s": rps,
        "cpu_s": cpu,
        "load_cpu_s": load_cpu,
        "cpu_us_per_request": cpu / requests * 1e6 if requests else None,
        "load_cpu_us_per_request": load_cpu / requests * 1e6 if requests else None,
        "errors": errors,
    }


def _paired(runs: list[dict[str, Any]], tool: str, ref: str, c: int, key: str) -> float | None:
    """The median over rounds of tool's figure divided by ref's in the same round."""
    by_round = {r["round"]: r[key] for r in runs if r["tool"] == ref and r["connections"] == c}
    ratios = [
        r[key] / by_round[r["round"]]
        for r in runs
        if r["tool"] == tool and r["connections"] == c and by_round.get(r["round"])
    ]
    return statistics.median(ratios) if ratios else None


def _div(m: dict[str, float], med: dict[str, dict[str, float]], key: str, ref: str) -> str:
    return f"{m[key] / med[ref][key]:.2f}" if ref in med else "-"


def table(runs: list[dict[str, Any]], tools: list[str], shapes: list[int]) -> str:
    """Medians per tool and shape (and the load CPU's range), their ratios to wrk's and to the
    floor's, and the median of the same-round ratios to the floor (paired: less drift)."""
    lines = [
        "| tool | conns | req/s | µs CPU/req, load (min-max) | µs CPU/req, process | load ÷ wrk "
        "| load ÷ floor | same-round load ÷ floor | req/s ÷ wrk | req/s ÷ floor | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    load = "load_cpu_us_per_request"
    for c in shapes:
        med: dict[str, dict[str, float]] = {}
        for tool in tools:
            mine = [
                r for r in runs if r["tool"] == tool and r["connections"] == c and r["requests"]
            ]
            if mine:
                med[tool] = {
                    k: statistics.median(r[k] for r in mine)
                    for k in ("requests_per_s", load, "cpu_us_per_request")
                }
                med[tool]["runs"] = len(mine)
                med[tool]["min"] = min(r[load] for r in mine)
                med[tool]["max"] = max(r[load] for r in mine)
        for tool, m in med.items():
            paired = _paired(runs, tool, "floor", c, load)
            paired_text = "-" if paired is None else f"{paired:.2f}"
            lines.append(
                f"| {tool} | {c} | {m['requests_per_s']:,.0f} | {m[load]:.2f} "
                f"({m['min']:.2f}-{m['max']:.2f}) "
                f"| {m['cpu_us_per_request']:.2f} | {_div(m, med, load, 'wrk')} "
                f"| {_div(m, med, load, 'floor')} "
                f"| {paired_text} | {_div(m, med, 'requests_per_s', 'wrk')} "
                f"| {_div(m, med, 'requests_per_s', 'floor')} | {m['runs']:.0f} |"
            )
    return "\n".join(lines)


def from_files(paths: list[Path]) -> list[dict[str, Any]]:
    """The runs earlier ``--out`` files wrote, each file's rounds numbered apart (file i's
    round r as 100 i + r), so that same-round ratios pair runs of one round of one file."""
    runs = []
    for index, path in enumerate(paths):
        for line in path.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                run["round"] += 100 * index
                runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.floor_trials.run", description=__doc__
    )
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--tools", default="wrk,floor")
    parser.add_argument("--connections", default="100,2000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--mypyc-dir", default="/tmp/floor-mypyc/trials")
    parser.add_argument("--floor-mypyc-dir", default="/tmp/floor-mypyc/floor")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--table", type=Path, nargs="+", help="only print the table of earlier --out files"
    )
    ns = parser.parse_args(argv)
    tools = ns.tools.split(",")
    shapes = [int(c) for c in ns.connections.split(",")]
    if ns.table:
        earlier = from_files(ns.table)
        print(table(earlier, list(dict.fromkeys(r["tool"] for r in earlier)), shapes))
        return 0
    runs: list[dict[str, Any]] = []
    with running_nginx(cpu=SERVER_CPU) as url:
        for round_index in range(ns.rounds):
            shift = round_index % len(tools)
            for c in shapes:
                for tool in tools[shift:] + tools[:shift]:
                    try:
                        run = run_one(tool, url, c, ns.duration, ns)
                    except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
                        print(
                            f"round {round_index + 1} -c{c} {tool}: failed: {exc}", file=sys.stderr
                        )
                        continue
                    run["round"] = round_index + 1
                    run["loadavg_1m"] = os.getloadavg()[0]  # the machine's other load
                    runs.append(run)
                    print(
                        f"round {round_index + 1} -c{c:<5} {tool:22s}"
                        f" {run['requests_per_s']:9.0f} req/s"
                        f"  load {run['load_cpu_us_per_request']:6.2f}"
                        f"  process {run['cpu_us_per_request']:6.2f}"
                        f" µs CPU/req  errors {run['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if ns.out:
                        with ns.out.open("a") as f:
                            f.write(json.dumps(run) + "\n")
    print(table(runs, tools, shapes))
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
