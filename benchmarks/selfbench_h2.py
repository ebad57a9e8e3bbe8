"""The selfbench's HTTP/2 comparison: pyload --http2 beside h2load against one nginx speaking h2c.

    python -m benchmarks.selfbench --http2 [--duration 5] [--rounds 3] [--warmup 1] [--out DIR]

h2load (nghttp2's load generator, Debian's nghttp2-client, installed by scripts/setup) is the
reference, as wrk is for HTTP/1.1. Both tools load nginx's small answer (benchmarks.nginx with
``http2=True``: one worker, pinned to its own CPU) with one thread and 100 connections, first one
stream per connection and then ten (h2load's ``-m``, pyload's ``--streams``):

    h2load -t1 -c100 -m10 -D 5 URL
    python -m pyload --http2 -t1 -c100 --streams 10 -d5s --timeout 2s --latency --json F URL

each pinned to the client CPU (pyload's worker process too). Every round runs both tools on each
shape, the order alternating from shape to shape and round to round; the report takes the median
of the rounds. Measured per run, as the selfbench does: requests/s, and the client's CPU per
request, for the whole process tree (start-up included; ``benchmarks.clients``) and for the load
phase (pyload's ``--json`` ``cpu_s``; h2load's whole tree, its start-up being negligible); the
peak PSS of the tree. Each is divided by h2load's. Both tools' protocol is recorded (h2load's
``Application protocol`` line, pyload's JSON ``protocol``): a run that did not speak HTTP/2 is
said so in the report. Writes ``h2load-<date>.json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.clients import (
    GRACE_S,
    ClientError,
    ClientRun,
    Watch,
    one_round,
    run_pyload,
    wrk_seconds,
)
from benchmarks.clients import _run as run_measured  # one measured child: tree CPU, wall, PSS
from benchmarks.common import available_cpus, log, median, plan_cpus, write_dated
from benchmarks.formatting import fmt_or
from benchmarks.h2loadparse import H2loadParseError, parse_h2load
from benchmarks.machine import machine_info, machine_markdown, tool_version
from benchmarks.nginx import NginxError, running_nginx

__all__ = [
    "REFERENCE",
    "SHAPES",
    "h2_command",
    "h2_markdown",
    "h2load_available",
    "main",
    "ratios",
    "run_h2_comparison",
    "run_h2load",
    "shape_label",
    "summarise",
    "write_outputs",
]

REFERENCE = "h2load"
TOOLS = ("h2load", "pyload")
#: (connections, streams per connection): h2load's -c and -m, pyload's -c and --streams.
SHAPES = ((100, 1), (100, 10))
DURATION_S = 5  # seconds per measured run (whole seconds: both tools' -d/-D)
ROUNDS = 3
WARMUP_S = 1  # one unrecorded run per tool first
THREADS = 1
TIMEOUT_S = 2  # pyload's --timeout; nginx answers in microseconds
#: Issue 22's target: pyload's CPU per request at -m10 at most this many times h2load's.
TARGET_CPU_RATIO = 2.0
TARGET_STREAMS = 10
SCHEMA = "pyload.selfbench-h2/1"
#: The protocol each tool reports when it spoke HTTP/2 with prior knowledge.
HTTP2 = {"h2load": "h2c", "pyload": "HTTP/2"}


def h2load_available(binary: str = "h2load") -> bool:
    return shutil.which(binary) is not None


def run_h2load(
    url: str,
    *,
    connections: int,
    streams: int,
    duration_s: float,
    threads: int = THREADS,
    cpus: list[int] | None = None,
    watch: Watch | None = None,
    binary: str = "h2load",
) -> ClientRun:
    """``h2load -tT -cC -mM -D D URL`` (whole seconds, as pyload's -d takes them). Its CPU is
    its process tree's; it prints no percentiles (the mean request time is in ``detail``)."""
    if not h2load_available(binary):
        raise ClientError(f"{binary} is not installed (scripts/setup bench installs it)")
    duration = wrk_seconds(duration_s)
    argv = [binary, f"-t{threads}", f"-c{connections}", f"-m{streams}", "-D", str(duration), url]
    stdout, _, cpu, seen = run_measured(argv, duration + GRACE_S, cpus, watch)
    try:
        parsed = parse_h2load(stdout)
    except H2loadParseError as exc:
        raise ClientError(f"cannot parse h2load's output: {exc}") from None
    return ClientRun(
        tool=REFERENCE,
        argv=argv,
        requests=parsed.requests,
        runtime_s=parsed.runtime_s,
        requests_per_s=parsed.requests_per_s,
        cpu_s=cpu,
        wall_s=seen.wall_s,
        errors=parsed.errors,
        cpus=cpus,
        text=stdout[stdout.find("finished in") :],  # the report, without its progress lines
        detail={"parsed": parsed.to_dict(), "protocol": parsed.protocol},
    ).observed(seen)


def _run_pyload(
    url: str,
    connections: int,
    streams: int,
    duration_s: float,
    cpus: list[int] | None,
    loop: str,
    watch: Watch | None,
) -> ClientRun:
    run = run_pyload(
        url,
        connections=connections,
        duration_s=duration_s,
        threads=THREADS,
        timeout_s=TIMEOUT_S,
        cpus=cpus,
        loop=loop,
        watch=watch,
        options=("--http2", "--streams", str(streams)),
    )
    run.detail["protocol"] = run.detail.get("json", {}).get("protocol")
    return run


def _runner(
    tool: str,
    url: str,
    connections: int,
    streams: int,
    duration_s: float,
    cpus: list[int] | None,
    loop: str,
    watch: Watch | None,
) -> Callable[[], ClientRun]:
    if tool == REFERENCE:
        return lambda: run_h2load(
            url,
            connections=connections,
            streams=streams,
            duration_s=duration_s,
            cpus=cpus,
            watch=watch,
        )
    if tool == "pyload":
        return lambda: _run_pyload(url, connections, streams, duration_s, cpus, loop, watch)
    raise ValueError(f"unknown tool {tool!r}")


def shape_label(connections: int, streams: int) -> str:
    """``-c100 -m10``: a row of the table, in h2load's flags."""
    return f"-c{connections} -m{streams}"


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over one tool's runs on one shape (``ClientRun.to_dict()`` dicts)."""

    def of(key: str) -> float | None:
        return median(r.get(key) for r in runs)

    pss = of("peak_pss_bytes")
    load = [
        r["cpu_us_per_request"] if r["tool"] == REFERENCE else r["load_cpu_us_per_request"]
        for r in runs
    ]
    return {
        "runs": len(runs),
        "requests_per_s": of("requests_per_s"),
        "cpu_us_per_request": of("cpu_us_per_request"),
        "load_cpu_us_per_request": median(load),
        "requests": of("requests"),
        "wall_s": of("wall_s"),
        "peak_pss_mb": pss / 1e6 if pss is not None else None,
        "errors": median(sum(r["errors"].values()) for r in runs),
        "protocols": sorted({str(r["detail"].get("protocol")) for r in runs}),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(medians: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each other tool's medians divided by h2load's: requests/s, CPU per request (tree and
    load phase), peak PSS. Empty without h2load's."""
    ref = medians.get(REFERENCE)
    if ref is None:
        return {}
    keys = ("requests_per_s", "cpu_us_per_request", "load_cpu_us_per_request", "peak_pss_mb")
    return {
        tool: {key: _ratio(m.get(key), ref.get(key)) for key in keys}
        for tool, m in medians.items()
        if tool != REFERENCE
    }


def run_h2_comparison(
    *,
    duration: float = DURATION_S,
    rounds: int = ROUNDS,
    warmup: float = WARMUP_S,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    tools: Sequence[str] = TOOLS,
    loop: str = "auto",
) -> dict[str, Any]:
    """Run the comparison and return its JSON-able document. Raises NginxError."""
    started = time.monotonic()
    load_before = _load_average()
    skipped: dict[str, str] = {}
    ran = [t for t in tools if t != REFERENCE or h2load_available()]
    if len(ran) < len(tools):
        skipped[REFERENCE] = "h2load not installed (scripts/setup bench installs nghttp2-client)"
    client, server = plan_cpus(available_cpus())
    cpus = [client] if client is not None else None
    table: list[dict[str, Any]] = [
        {
            "shape": shape_label(conns, streams),
            "connections": conns,
            "streams": streams,
            "runs": {t: [] for t in ran},
        }
        for conns, streams in shapes
    ]
    with running_nginx(cpu=server, http2=True) as url:
        watch = Watch(requests=None, cpu=server)  # PSS only: h2c has no stub_status for HTTP/1.1
        log(
            f"selfbench --http2: nginx (h2c) at {url} on CPU {server}, clients on CPU {client}; "
            f"tools {', '.join(ran)}" + "".join(f"; {t}: {why}" for t, why in skipped.items())
        )
        for tool in ran if warmup else ():  # warm-up: page cache, bytecode, first accepts
            conns, streams = shapes[0]
            try:
                _runner(tool, url, conns, streams, warmup, cpus, loop, watch)()
            except ClientError as exc:
                log(f"  warm-up: {tool} failed: {exc}")
        for round_index in range(rounds):
            for index, row in enumerate(table):

                def make(tool: str, row: dict[str, Any] = row) -> Callable[[], ClientRun]:
                    return _runner(
                        tool, url, row["connections"], row["streams"], duration, cpus, loop, watch
                    )

                label = f"{row['shape']} round {round_index + 1}/{rounds}"
                one_round(label, ran, make, round_index + index, row["runs"], skipped)
    for row in table:
        row["medians"] = {t: summarise(r) for t, r in row["runs"].items() if r}
        row["ratios"] = ratios(row["medians"])
    return {
        "schema": SCHEMA,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "settings": {
            "duration_s": duration,
            "rounds": rounds,
            "warmup_s": warmup,
            "threads": THREADS,
            "timeout_s": TIMEOUT_S,
            "loop": loop,
            "client_cpu": client,
            "server_cpu": server,
            "tools": list(tools),
            "ran": ran,
            "shapes": [list(s) for s in shapes],
            "pss_interval_s": watch.pss_interval_s,
            "target_cpu_ratio": TARGET_CPU_RATIO,
            "target_streams": TARGET_STREAMS,
            "h2load_version": tool_version(["h2load", "--version"]),
            "server": "nginx, 1 worker, return 200, h2c (listen ... http2)",
            # the machine's 1-minute load average before and after: other work makes noise
            "load_average": [load_before, _load_average()],
        },
        "skipped": skipped,
        "machine": machine_info(),
        "shapes": table,
        "target": _target(table),
    }


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _target(table: list[dict[str, Any]]) -> dict[str, Any]:
    """pyload's CPU per request (tree, and load phase) over h2load's at -m TARGET_STREAMS."""
    row = next((r for r in table if r["streams"] == TARGET_STREAMS), None)
    got = row["ratios"].get("pyload", {}) if row is not None else {}
    return {
        "shape": row["shape"] if row is not None else None,
        "limit": TARGET_CPU_RATIO,
        "cpu_ratio": got.get("cpu_us_per_request"),
        "load_cpu_ratio": got.get("load_cpu_us_per_request"),
    }


def _load_text(load: list[float | None] | None) -> str:
    """The run's load averages as a sentence (one space first), or nothing if not known."""
    if not load or None in load:
        return ""
    return f" Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after."


def _verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "not measured"
    return f"{value:.2f}x, {'met' if value <= limit else 'NOT met'}"


def h2_markdown(result: dict[str, Any]) -> str:
    """The comparison's report (also printed), a pure function of ``run_h2_comparison()``."""
    s = result["settings"]
    lines = [
        f"# pyload --http2 beside h2load, {result['date']}",
        "",
        f"Server: {s['server']} on CPU {s['server_cpu']}; each client with {s['threads']} "
        f"thread on CPU {s['client_cpu']}; {s['duration_s']} s per run, median of "
        f"{s['rounds']} rounds (the tools' order alternating), "
        + (f"after a {s['warmup_s']} s warm-up per tool" if s["warmup_s"] else "no warm-up")
        + f". Total wall time {result['wall_s']} s. h2load: "
        f"{s['h2load_version'] or 'not installed'}." + _load_text(s.get("load_average")),
        "",
        "Client CPU is user+sys of the client's whole process tree (start-up included); "
        "load-phase CPU is pyload's worker processes while loading (`--json` `cpu_s`), and "
        "h2load's whole tree. Peak PSS: the client's process tree, sampled every "
        f"{s['pss_interval_s']} s. Protocol: h2load's `Application protocol`, pyload's JSON "
        "`protocol`.",
        "",
        "| shape | tool | requests/s | CPU µs/req (tree) | CPU µs/req (load phase) "
        "| peak PSS MB | errors | protocol | runs |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in result["shapes"]:
        for tool, m in row["medians"].items():
            protocols = ", ".join(m["protocols"])
            if any(p != HTTP2.get(tool) for p in m["protocols"]):
                protocols += " (not HTTP/2)"
            lines.append(
                f"| {row['shape']} | {tool} | {fmt_or(m['requests_per_s'], '{:.0f}')} "
                f"| {fmt_or(m['cpu_us_per_request'])} | {fmt_or(m['load_cpu_us_per_request'])} "
                f"| {fmt_or(m['peak_pss_mb'], '{:.1f}')} | {fmt_or(m['errors'], '{:.0f}')} "
                f"| {protocols} | {m['runs']} |"
            )
    lines += [
        "",
        "Ratios to h2load (pyload's median / h2load's median):",
        "",
        "| shape | requests/s | CPU/req (tree) | CPU/req (load phase) | peak PSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in result["shapes"]:
        r = row["ratios"].get("pyload")
        if r is None:
            continue
        lines.append(
            f"| {row['shape']} | {fmt_or(r['requests_per_s'], '{:.2f}x')} "
            f"| {fmt_or(r['cpu_us_per_request'], '{:.2f}x')} "
            f"| {fmt_or(r['load_cpu_us_per_request'], '{:.2f}x')} "
            f"| {fmt_or(r['peak_pss_mb'], '{:.1f}x')} |"
        )
    target = result["target"]
    if target["shape"] is not None:
        lines += [
            "",
            f"Target (issue 22): pyload's CPU per request at {target['shape']} at most "
            f"{target['limit']}x h2load's. Whole process tree: "
            f"{_verdict(target['cpu_ratio'], target['limit'])}; load phase: "
            f"{_verdict(target['load_cpu_ratio'], target['limit'])}.",
        ]
    for tool, why in result["skipped"].items():
        lines += ["", f"{tool}: {why}"]
    lines += [
        "",
        "## Machine",
        "",
        machine_markdown(result["machine"]).rstrip(),
        "",
        f"Reproduce: `{h2_command(s)}`",
        "",
    ]
    return "\n".join(lines)


def h2_command(s: dict[str, Any]) -> str:
    """The command line that repeats a run with the same settings."""
    shapes = ",".join(f"{c}x{m}" for c, m in s["shapes"])
    return (
        f"python -m benchmarks.selfbench --http2 --duration {s['duration_s']:g} "
        f"--rounds {s['rounds']} --warmup {s['warmup_s']:g} --shapes {shapes} "
        f"--tools {','.join(s['tools'])} --loop {s['loop']}"
    )


def write_outputs(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write h2load-<date>.json and .md into out_dir; return both paths."""
    return write_dated(result, h2_markdown(result), out_dir, "h2load")


def _shapes(text: str) -> list[tuple[int, int]]:
    """``100x1,100x10`` -> [(100, 1), (100, 10)]: connections x streams."""
    out = []
    for item in (x for x in text.split(",") if x):
        conns, sep, streams = item.lower().partition("x")
        if (
            not sep
            or not conns.isdigit()
            or not streams.isdigit()
            or min(int(conns), int(streams)) < 1
        ):
            raise argparse.ArgumentTypeError(f"{item!r} is not CONNECTIONSxSTREAMS (each >= 1)")
        out.append((int(conns), int(streams)))
    if not out:
        raise argparse.ArgumentTypeError("no shape")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.selfbench --http2", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--duration", type=int, default=DURATION_S, help=f"seconds per run ({DURATION_S})")
    add("--rounds", type=int, default=ROUNDS, help=f"rounds ({ROUNDS})")
    add(
        "--warmup",
        type=int,
        default=WARMUP_S,
        help=f"warm-up seconds per tool, 0 for none ({WARMUP_S})",
    )
    add(
        "--shapes",
        type=_shapes,
        default=list(SHAPES),
        help="CONNECTIONSxSTREAMS, comma-separated (100x1,100x10)",
    )
    add("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    add("--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="pyload's loop")
    add("--out", type=Path, default=RESULTS_DIR, help="output directory (benchmarks/results)")
    return parser


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    tools = [t for t in ns.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown or not tools or min(ns.duration, ns.rounds) < 1 or ns.warmup < 0:
        print(
            f"selfbench --http2: bad arguments (tools {sorted(unknown)}; duration and rounds "
            ">= 1, warm-up >= 0)",
            file=sys.stderr,
        )
        return 2
    try:
        result = run_h2_comparison(
            duration=ns.duration,
            rounds=ns.rounds,
            warmup=ns.warmup,
            shapes=ns.shapes,
            tools=tools,
            loop=ns.loop,
        )
    except NginxError as exc:
        print(f"selfbench --http2: {exc}", file=sys.stderr)
        return 1
    json_path, md_path = write_outputs(result, ns.out)
    print(h2_markdown(result))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
