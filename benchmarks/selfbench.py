"""pyload's own speed: pyload, wrk and locust against one local nginx, in one run.

    python -m benchmarks.selfbench [--duration 3] [--rounds 5] [--out DIR]

Each tool runs with one worker (one wrk thread, one pyload worker process, one locust process),
pinned to the same core while nginx (one worker) is pinned to another. Every round runs each
tool once, the order rotating between rounds; the report takes the median of the rounds.
Measured per run: requests/s and the client's CPU per request, both for the whole process tree
(start-up included) and, for pyload, for the load phase alone (its workers' ``cpu_s``). Then
pyload and wrk with 1 and 2 workers and 10, 100 and 1000 connections. Writes
``selfbench-<date>.json`` and ``.md`` into benchmarks/results/ and prints the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.clients import (
    ClientError,
    ClientRun,
    locust_available,
    run_locust,
    run_pyload,
    run_wrk,
    wrk_available,
)
from benchmarks.machine import machine_info, machine_markdown
from benchmarks.nginx import NginxError, running_nginx

__all__ = ["main", "plan_cpus", "run_selfbench", "summarise", "write_outputs"]

DURATION_S = 3  # seconds per measured run (whole seconds: wrk's -d)
WARMUP_S = 1  # one unrecorded run per tool first
ROUNDS = 5  # the median of this many runs per tool
CONNECTIONS = 100  # the head-to-head comparison
SCALING_WORKERS = (1, 2)
SCALING_CONNECTIONS = (10, 100, 1000)
SCALING_ROUNDS = 1
TIMEOUT_S = 2  # wrk's default; nginx answers in microseconds
TOOLS = ("wrk", "pyload", "locust")
REFERENCE = "wrk"
TARGET_CPU_RATIO = 1.5  # the goal: pyload's client CPU per request <= 1.5x wrk's
SCHEMA = "pyload.selfbench/1"


def plan_cpus(cpus: Sequence[int]) -> tuple[int | None, int | None]:
    """(client CPU, server CPU): the first and the last CPU we may use; (None, None) if one."""
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[-1]


def _available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def _client_cpus(workers: int, client: int | None, server: int | None) -> list[int] | None:
    """One worker: the client CPU. More: as many CPUs besides nginx's as there are, else all."""
    if client is None:
        return None
    if workers == 1:
        return [client]
    others = [c for c in _available_cpus() if c != server]
    return others[:workers] if len(others) >= workers else _available_cpus()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _runner(
    tool: str,
    url: str,
    connections: int,
    duration: float,
    threads: int,
    cpus: list[int] | None,
    loop: str,
) -> Callable[[], ClientRun]:
    if tool in ("wrk", "pyload"):
        run = run_wrk if tool == "wrk" else functools.partial(run_pyload, loop=loop)
        return lambda: run(
            url,
            connections=connections,
            duration_s=duration,
            threads=threads,
            timeout_s=TIMEOUT_S,
            cpus=cpus,
        )
    if tool == "locust":
        return lambda: run_locust(url, connections=connections, duration_s=duration, cpus=cpus)
    raise ValueError(f"unknown tool {tool!r}")


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of one tool (``ClientRun.to_dict()`` dicts)."""
    return {
        "runs": len(runs),
        "requests_per_s": _median([r["requests_per_s"] for r in runs]),
        "cpu_us_per_request": _median([r["cpu_us_per_request"] for r in runs]),
        "load_cpu_us_per_request": _median([r["load_cpu_us_per_request"] for r in runs]),
        "p50_us": _median([r["p50_us"] for r in runs]),
        "p99_us": _median([r["p99_us"] for r in runs]),
        "requests": _median([r["requests"] for r in runs]),
    }


def _ratios(medians: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each tool's medians divided by wrk's (requests/s, CPU per request)."""
    ref = medians.get(REFERENCE)
    out: dict[str, dict[str, float | None]] = {}
    if ref is None:
        return out
    for tool, m in medians.items():
        if tool == REFERENCE:
            continue
        out[tool] = {
            "requests_per_s": _ratio(m["requests_per_s"], ref["requests_per_s"]),
            "cpu_us_per_request": _ratio(m["cpu_us_per_request"], ref["cpu_us_per_request"]),
            # wrk's start-up is negligible: its tree CPU is its load-phase CPU
            "load_cpu_us_per_request": _ratio(
                m["load_cpu_us_per_request"], ref["cpu_us_per_request"]
            ),
        }
    return out


def _measure(
    label: str,
    tools: Sequence[str],
    make: Callable[[str], Callable[[], ClientRun]],
    rounds: int,
    skipped: dict[str, str],
) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` rounds, each tool once per round, the order rotating; failures are recorded."""
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for round_index in range(rounds):
        shift = round_index % len(tools)
        for tool in list(tools[shift:]) + list(tools[:shift]):
            try:
                run = make(tool)()
            except ClientError as exc:
                _log(f"  {label} round {round_index + 1}: {tool} failed: {exc}")
                skipped.setdefault(tool, str(exc))
                continue
            runs[tool].append(run.to_dict())
            cpu = run.cpu_us_per_request
            cpu_text = f"{cpu:7.2f} us CPU/req" if cpu is not None else "no requests"
            _log(
                f"  {label} round {round_index + 1}/{rounds} {tool:7s}"
                f" {run.requests_per_s:10.0f} req/s  {cpu_text}"
            )
    return runs


def run_selfbench(
    *,
    duration: float = DURATION_S,
    rounds: int = ROUNDS,
    connections: int = CONNECTIONS,
    tools: Sequence[str] = TOOLS,
    scaling_workers: Sequence[int] = SCALING_WORKERS,
    scaling_connections: Sequence[int] = SCALING_CONNECTIONS,
    scaling_rounds: int = SCALING_ROUNDS,
    warmup: float = WARMUP_S,
    loop: str = "auto",
) -> dict[str, Any]:
    """Run the whole selfbench and return its JSON-able result. Raises NginxError."""
    started = time.monotonic()
    skipped: dict[str, str] = {}
    requested, tools = list(tools), list(tools)
    if "locust" in tools and not locust_available():
        skipped["locust"] = "locust not installed"
        tools.remove("locust")
    if "wrk" in tools and not wrk_available():
        skipped["wrk"] = "wrk not installed"
        tools.remove("wrk")
    client, server = plan_cpus(_available_cpus())
    one = _client_cpus(1, client, server)
    with running_nginx(cpu=server) as url:
        _log(
            f"selfbench: nginx at {url} on CPU {server}, clients on CPU {client}; "
            f"tools {', '.join(tools)}" + "".join(f"; {t}: {why}" for t, why in skipped.items())
        )
        for tool in tools:  # warm-up: page cache, Python bytecode, nginx's first accepts
            try:
                _runner(tool, url, connections, warmup, 1, one, loop)()
            except ClientError as exc:
                _log(f"  warm-up: {tool} failed: {exc}")
        head = _measure(
            f"c{connections}",
            tools,
            lambda t: _runner(t, url, connections, duration, 1, one, loop),
            rounds,
            skipped,
        )
        scaling: list[dict[str, Any]] = []
        scale_tools = [t for t in tools if t in ("pyload", REFERENCE)]
        for workers in scaling_workers:
            cpus = _client_cpus(workers, client, server)
            for conns in scaling_connections:

                def make(
                    tool: str, w: int = workers, c: int = conns, p: list[int] | None = cpus
                ) -> Callable[[], ClientRun]:
                    return _runner(tool, url, c, duration, w, p, loop)

                runs = _measure(f"t{workers} c{conns}", scale_tools, make, scaling_rounds, skipped)
                medians = {t: summarise(r) for t, r in runs.items() if r}
                scaling.append(
                    {
                        "workers": workers,
                        "connections": conns,
                        "cpus": cpus,
                        "medians": medians,
                        "ratios": _ratios(medians),
                        "runs": runs,
                    }
                )
    medians = {t: summarise(r) for t, r in head.items() if r}
    ratios = _ratios(medians)
    pyload_ratio = ratios.get("pyload", {})
    return {
        "schema": SCHEMA,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "settings": {
            "duration_s": duration,
            "rounds": rounds,
            "connections": connections,
            "warmup_s": warmup,
            "timeout_s": TIMEOUT_S,
            "loop": loop,
            "client_cpu": client,
            "server_cpu": server,
            "tools": requested,
            "ran": tools,
            "scaling_workers": list(scaling_workers),
            "scaling_connections": list(scaling_connections),
            "scaling_rounds": scaling_rounds,
            "target_cpu_ratio": TARGET_CPU_RATIO,
            "server": "nginx, 1 worker, return 200",
        },
        "skipped": skipped,
        "machine": machine_info(),
        "medians": medians,
        "ratios_to_wrk": ratios,
        "target": {
            "cpu_ratio": pyload_ratio.get("cpu_us_per_request"),
            "load_cpu_ratio": pyload_ratio.get("load_cpu_us_per_request"),
            "limit": TARGET_CPU_RATIO,
        },
        "runs": head,
        "scaling": scaling,
    }


def _f(value: float | None, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f} ms"


def markdown(result: dict[str, Any]) -> str:
    """The selfbench report (also printed)."""
    s = result["settings"]
    lines = [
        f"# pyload selfbench, {result['date']}",
        "",
        f"Server: {s['server']} on CPU {s['server_cpu']}; each client with one worker on CPU "
        f"{s['client_cpu']}; {s['connections']} connections; {s['duration_s']} s per run, "
        f"median of {s['rounds']} rounds (order rotating), after a {s['warmup_s']} s warm-up "
        f"per tool. Total wall time {result['wall_s']} s.",
        "",
        "Client CPU is user+sys of the client's whole process tree (start-up included); "
        "load-phase CPU is pyload's worker processes while loading (`--json` workers[].cpu_s).",
        "",
        "| tool | requests/s | CPU µs/request (tree) | CPU µs/request (load phase) | p50 | p99 "
        "| runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, m in result["medians"].items():
        load = m["load_cpu_us_per_request"]
        if tool == REFERENCE:
            load = m["cpu_us_per_request"]
        lines.append(
            f"| {tool} | {_f(m['requests_per_s'], '{:.0f}')} | {_f(m['cpu_us_per_request'])} "
            f"| {_f(load)} | {_ms(m['p50_us'])} | {_ms(m['p99_us'])} | {m['runs']} |"
        )
    lines += [
        "",
        "Ratios to wrk (median / wrk's median):",
        "",
        "| tool | requests/s | CPU/request (tree) | CPU/request (load phase) |",
        "|---|---:|---:|---:|",
    ]
    for tool, r in result["ratios_to_wrk"].items():
        lines.append(
            f"| {tool} | {_f(r['requests_per_s'], '{:.2f}x')} "
            f"| {_f(r['cpu_us_per_request'], '{:.2f}x')} "
            f"| {_f(r['load_cpu_us_per_request'], '{:.2f}x')} |"
        )
    target = result["target"]
    if target["cpu_ratio"] is not None:

        def verdict(x: float | None) -> str:
            if x is None:
                return "not measured"
            return f"{x:.2f}x, {'met' if x <= target['limit'] else 'NOT met'}"

        lines += [
            "",
            f"Target: pyload's client CPU per request at most {target['limit']}x "
            f"wrk's. Whole process tree: {verdict(target['cpu_ratio'])}; "
            f"load phase: {verdict(target['load_cpu_ratio'])}.",
        ]
    for tool, why in result["skipped"].items():
        lines += ["", f"{tool}: {why}"]
    if result["scaling"]:
        lines += [
            "",
            f"## Scaling (pyload vs wrk, median of {s['scaling_rounds']} run(s) each)",
            "",
            "| workers | connections | client CPUs | pyload req/s | wrk req/s | ratio "
            "| pyload CPU µs/req (tree / load) | wrk CPU µs/req | ratio (tree / load) |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in result["scaling"]:
            p = row["medians"].get("pyload", {})
            w = row["medians"].get(REFERENCE, {})
            r = row["ratios"].get("pyload", {})
            lines.append(
                f"| {row['workers']} | {row['connections']} | {row['cpus']} "
                f"| {_f(p.get('requests_per_s'), '{:.0f}')} "
                f"| {_f(w.get('requests_per_s'), '{:.0f}')} "
                f"| {_f(r.get('requests_per_s'), '{:.2f}x')} "
                f"| {_f(p.get('cpu_us_per_request'))} / {_f(p.get('load_cpu_us_per_request'))} "
                f"| {_f(w.get('cpu_us_per_request'))} "
                f"| {_f(r.get('cpu_us_per_request'), '{:.2f}x')} / "
                f"{_f(r.get('load_cpu_us_per_request'), '{:.2f}x')} |"
            )
    lines += [
        "",
        "## Machine",
        "",
        machine_markdown(result["machine"]).rstrip(),
        "",
        f"Reproduce: `{reproduce_command(s)}`",
        "",
    ]
    return "\n".join(lines)


def reproduce_command(s: dict[str, Any]) -> str:
    """The command line that repeats a run with the same settings."""

    def ints(values: list[int]) -> str:
        return ",".join(str(v) for v in values) or "''"

    return (
        f"python -m benchmarks.selfbench --duration {s['duration_s']} --rounds {s['rounds']} "
        f"--connections {s['connections']} --tools {','.join(s['tools'])} "
        f"--scaling-workers {ints(s['scaling_workers'])} "
        f"--scaling-connections {ints(s['scaling_connections'])} "
        f"--scaling-rounds {s['scaling_rounds']} --warmup {s['warmup_s']} --loop {s['loop']}"
    )


def write_outputs(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write selfbench-<date>.json and .md into out_dir; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(result["date"]).strftime("%Y-%m-%d-%H%M")
    json_path = out_dir / f"selfbench-{stamp}.json"
    md_path = out_dir / f"selfbench-{stamp}.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.selfbench", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--duration", type=int, default=DURATION_S, help=f"seconds per run ({DURATION_S})")
    add("--rounds", type=int, default=ROUNDS, help=f"rounds of the comparison ({ROUNDS})")
    add(
        "--connections",
        type=int,
        default=CONNECTIONS,
        help=f"connections of the comparison ({CONNECTIONS})",
    )
    add("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    add(
        "--scaling-workers",
        type=_ints,
        default=list(SCALING_WORKERS),
        help="comma-separated worker counts for the scaling table ('' skips it)",
    )
    add(
        "--scaling-connections",
        type=_ints,
        default=list(SCALING_CONNECTIONS),
        help="comma-separated connection counts for the scaling table",
    )
    add("--scaling-rounds", type=int, default=SCALING_ROUNDS)
    add("--warmup", type=int, default=WARMUP_S, help=f"warm-up seconds per tool ({WARMUP_S})")
    add("--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="pyload's loop")
    add("--out", type=Path, default=RESULTS_DIR, help="output directory (benchmarks/results)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    sigterm_as_ctrl_c()
    ns = build_parser().parse_args(argv)
    tools = [t for t in ns.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown or ns.duration < 1 or ns.rounds < 1 or ns.scaling_rounds < 1 or ns.warmup < 1:
        print(
            f"selfbench: bad arguments (tools {sorted(unknown)}; durations and rounds >= 1)",
            file=sys.stderr,
        )
        return 2
    try:
        result = run_selfbench(
            duration=ns.duration,
            rounds=ns.rounds,
            connections=ns.connections,
            tools=tools,
            scaling_workers=ns.scaling_workers,
            scaling_connections=ns.scaling_connections,
            scaling_rounds=ns.scaling_rounds,
            warmup=ns.warmup,
            loop=ns.loop,
        )
    except NginxError as exc:
        print(f"selfbench: {exc}", file=sys.stderr)
        return 1
    json_path, md_path = write_outputs(result, ns.out)
    print(markdown(result))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
