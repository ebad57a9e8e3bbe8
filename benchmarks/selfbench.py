"""pyload's own speed: pyload, wrk, the floor and locust against one local nginx, in one run.

    python -m benchmarks.selfbench [--duration 3] [--rounds 5] [--shape-duration 3]
                                   [--shape-rounds 3] [--out DIR]
    python -m benchmarks.selfbench --http2 [...]   # pyload --http2 beside h2load instead
                                                   # (benchmarks.selfbench_h2, its own options)

Each tool runs with one worker (one wrk thread, one pyload worker process, one locust process;
the floor, benchmarks/floor.py, is one process and one loop whatever the shape), pinned to the
same core while nginx (one worker) is pinned to another. Every round runs each tool once, the
order rotating between rounds; the report takes the median of the rounds. Measured per run:
requests/s and the client's CPU per request, both for the whole process tree (start-up included)
and, for pyload and the floor, for the load phase alone (pyload's workers' ``cpu_s``, the
floor's own). Then pyload and wrk with 1 and 2 workers and 10, 100 and 1000 connections. Then
the shapes: wrk, pyload and the floor at ``-t1 -c100`` and ``-t20 -c2000``, each on nginx's
small response and on a 25,000-byte static file, every client pinned to the client CPU, the
tools alternating within each round; besides requests/s and CPU per request, each run's start-up
(launch to the first request nginx counts) and the peak total PSS of the client's process tree
(benchmarks.watch). Every run is observed that way. Every figure is divided by wrk's and by the
floor's (issue 20). Writes ``selfbench-<date>.json`` and ``.md`` (benchmarks.selfbench_report)
into benchmarks/results/ (``--out``) and prints the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.clients import (
    REFERENCE_TOOL,
    ClientError,
    ClientRun,
    Watch,
    locust_available,
    one_round,
    run_floor,
    run_locust,
    run_pyload,
    run_wrk,
    wrk_available,
)
from benchmarks.common import available_cpus, log, median, parse_shape, plan_cpus, write_dated
from benchmarks.machine import machine_info
from benchmarks.nginx import LARGE_PATH, LARGE_SIZE, STATUS_PATH, NginxError, running_nginx
from benchmarks.selfbench_h2 import main as http2_main
from benchmarks.selfbench_report import selfbench_markdown
from benchmarks.watch import RequestCounter

__all__ = ["main", "run_selfbench", "summarise", "write_outputs"]

DURATION_S = 3  # seconds per measured run (whole seconds: wrk's -d)
WARMUP_S = 1  # one unrecorded run per tool first
ROUNDS = 5  # the median of this many runs per tool
CONNECTIONS = 100  # the head-to-head comparison
SCALING_WORKERS = (1, 2)
SCALING_CONNECTIONS = (10, 100, 1000)
SCALING_ROUNDS = 1
TIMEOUT_S = 2  # wrk's default; nginx answers in microseconds
TOOLS = ("wrk", "pyload", "floor", "locust")
REFERENCE = REFERENCE_TOOL
#: The bare client (benchmarks/floor.py): what this design costs at the least (issue 20).
FLOOR = "floor"
TARGET_CPU_RATIO = 1.5  # the goal: pyload's client CPU per request <= 1.5x wrk's
#: The shapes table: (threads, connections) as wrk's -t and -c, times the response bodies.
SHAPES = ((1, 100), (20, 2000))
BODIES = ("small", "25k")
SHAPE_DURATION_S = 3
SHAPE_ROUNDS = 3
#: Response bodies by name: the path under nginx's URL and the body's size in bytes.
BODY_PATHS = {"small": ("", len("hello\n")), "25k": (LARGE_PATH, LARGE_SIZE)}
BODY_LABELS = {"small": "small", "25k": "25 KB"}
SCHEMA = "pyload.selfbench/3"  # 3: the floor, and every ratio to it


def _client_cpus(workers: int, client: int | None, server: int | None) -> list[int] | None:
    """One worker: the client CPU. More: as many CPUs besides nginx's as there are, else all."""
    if client is None:
        return None
    if workers == 1:
        return [client]
    others = [c for c in available_cpus() if c != server]
    return others[:workers] if len(others) >= workers else available_cpus()


def _runner(
    tool: str,
    url: str,
    connections: int,
    duration: float,
    threads: int,
    cpus: list[int] | None,
    loop: str,
    watch: Watch | None = None,
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
            watch=watch,
        )
    if tool == FLOOR:  # one loop: ``threads`` has no meaning for it
        return lambda: run_floor(
            url, connections=connections, duration_s=duration, cpus=cpus, watch=watch
        )
    if tool == "locust":
        return lambda: run_locust(
            url, connections=connections, duration_s=duration, cpus=cpus, watch=watch
        )
    raise ValueError(f"unknown tool {tool!r}")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of one tool (``ClientRun.to_dict()`` dicts)."""

    def of(key: str) -> float | None:
        return median(r.get(key) for r in runs)

    pss = of("peak_pss_bytes")
    return {
        "runs": len(runs),
        "requests_per_s": of("requests_per_s"),
        "cpu_us_per_request": of("cpu_us_per_request"),
        "load_cpu_us_per_request": of("load_cpu_us_per_request"),
        "p50_us": of("p50_us"),
        "p99_us": of("p99_us"),
        "requests": of("requests"),
        "startup_s": of("startup_s"),
        "startup_cpu_s": of("startup_cpu_s"),  # the tree's CPU by then (benchmarks.startup)
        "peak_pss_mb": pss / 1e6 if pss is not None else None,
        "wall_s": of("wall_s"),
        "wall_beyond_run_s": of("wall_beyond_run_s"),
        "processes": of("processes"),
        "errors": median(sum(r["errors"].values()) for r in runs),
    }


def _load_cpu(tool: str, m: dict[str, Any]) -> float | None:
    """A tool's load-phase CPU per request; wrk's start-up is negligible: its tree CPU is its
    load-phase CPU."""
    return m["cpu_us_per_request"] if tool == REFERENCE else m["load_cpu_us_per_request"]


def _ratios(
    medians: dict[str, dict[str, Any]], reference: str = REFERENCE
) -> dict[str, dict[str, float | None]]:
    """Each other tool's medians divided by the reference's (requests/s, CPU per request, start-up,
    PSS), and its median wall time less the reference's, in seconds (``wall_s_minus_wrk``,
    ``wall_s_minus_floor``)."""
    ref = medians.get(reference)
    out: dict[str, dict[str, float | None]] = {}
    if ref is None:
        return out
    for tool, m in medians.items():
        if tool == reference:
            continue
        out[tool] = {
            "requests_per_s": _ratio(m["requests_per_s"], ref["requests_per_s"]),
            "cpu_us_per_request": _ratio(m["cpu_us_per_request"], ref["cpu_us_per_request"]),
            "load_cpu_us_per_request": _ratio(_load_cpu(tool, m), _load_cpu(reference, ref)),
            "startup_s": _ratio(m.get("startup_s"), ref.get("startup_s")),
            "peak_pss_mb": _ratio(m.get("peak_pss_mb"), ref.get("peak_pss_mb")),
            f"wall_s_minus_{reference}": (
                m["wall_s"] - ref["wall_s"]
                if m.get("wall_s") is not None and ref.get("wall_s") is not None
                else None
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
        one_round(f"{label} round {round_index + 1}/{rounds}", tools, make, round_index,
                  runs, skipped)  # fmt: skip
    return runs


def shape_label(threads: int, connections: int, body: str) -> str:
    """``-t20 -c2000 25 KB``: a row of the shapes table."""
    return f"-t{threads} -c{connections} {BODY_LABELS.get(body, body)}"


def _measure_shapes(
    url: str,
    tools: Sequence[str],
    shapes: Sequence[tuple[int, int]],
    bodies: Sequence[str],
    duration: float,
    rounds: int,
    cpus: list[int] | None,
    loop: str,
    watch: Watch,
    skipped: dict[str, str],
) -> list[dict[str, Any]]:
    """Each round runs every shape once per tool, the tools' order alternating from shape to
    shape and round to round; every client on ``cpus``. One entry per shape, with medians."""
    table: list[dict[str, Any]] = [
        {
            "shape": shape_label(threads, conns, body),
            "threads": threads,
            "connections": conns,
            "body": body,
            "path": "/" + BODY_PATHS[body][0],
            "response_body_bytes": BODY_PATHS[body][1],
            "cpus": cpus,
            "runs": {t: [] for t in tools},
        }
        for threads, conns in shapes
        for body in bodies
    ]
    for round_index in range(rounds):
        for index, row in enumerate(table):

            def make(tool: str, row: dict[str, Any] = row) -> Callable[[], ClientRun]:
                return _runner(
                    tool,
                    url + BODY_PATHS[row["body"]][0],
                    row["connections"],
                    duration,
                    row["threads"],
                    cpus,
                    loop,
                    watch,
                )

            one_round(
                f"{row['shape']} round {round_index + 1}/{rounds}", tools, make,
                round_index + index, row["runs"], skipped,
            )  # fmt: skip
    for row in table:
        row["medians"] = {t: summarise(r) for t, r in row["runs"].items() if r}
        row["ratios"] = _ratios(row["medians"])
        row["ratios_to_floor"] = _ratios(row["medians"], FLOOR)
    return table


#: A target on a shape: (threads, connections, body), metric, op, limit, what it says, and
#: where the value is: pyload's ratios to wrk ("ratios"), to the floor ("ratios_to_floor"), or
#: its medians ("medians").
Target = tuple[tuple[int, int, str], str, str, float, str, str]
#: Issue 8's targets.
WRK_TARGETS: tuple[Target, ...] = (
    ((20, 2000, "small"), "requests_per_s", ">=", 1.0, "requests/s vs wrk", "ratios"),
    ((20, 2000, "small"), "cpu_us_per_request", "<=", 1.0, "CPU/request (tree) vs wrk", "ratios"),
    ((1, 100, "small"), "cpu_us_per_request", "<=", 1.05, "CPU/request (tree) vs wrk", "ratios"),
    ((1, 100, "25k"), "cpu_us_per_request", "<=", 1.0, "CPU/request (tree) vs wrk", "ratios"),
    ((20, 2000, "small"), "wall_s_minus_wrk", "<=", 0.3, "wall time - wrk's, s", "ratios"),
    ((20, 2000, "small"), "peak_pss_mb", "<=", 100.0, "peak PSS, MB", "medians"),
)
#: Issue 20's: pyload on the floor at both shapes (and the moonshot, wrk's CPU per request).
FLOOR_TARGETS: tuple[Target, ...] = (
    ((1, 100, "small"), "load_cpu_us_per_request", "<=", 1.05,
     "CPU/request (load phase) vs the floor", "ratios_to_floor"),
    ((1, 100, "small"), "cpu_us_per_request", "<=", 1.10,
     "CPU/request (tree) vs the floor", "ratios_to_floor"),
    ((20, 2000, "small"), "load_cpu_us_per_request", "<=", 1.05,
     "CPU/request (load phase) vs the floor", "ratios_to_floor"),
    ((20, 2000, "small"), "cpu_us_per_request", "<=", 1.10,
     "CPU/request (tree) vs the floor", "ratios_to_floor"),
    ((20, 2000, "small"), "requests_per_s", ">=", 0.95, "requests/s vs the floor",
     "ratios_to_floor"),
    ((1, 100, "small"), "cpu_us_per_request", "<=", 1.0, "CPU/request (tree) vs wrk, the moonshot",
     "ratios"),
    ((20, 2000, "small"), "cpu_us_per_request", "<=", 1.0,
     "CPU/request (tree) vs wrk, the moonshot", "ratios"),
    ((20, 2000, "small"), "peak_pss_mb", "<=", 100.0, "peak PSS, MB", "medians"),
)  # fmt: skip


def _shape_targets(
    shapes: list[dict[str, Any]], wanted: Sequence[Target] = WRK_TARGETS
) -> list[dict[str, Any]]:
    """The targets that this run's shapes measure (issue 8's by default), pyload's values."""
    by_key = {(r["threads"], r["connections"], r["body"]): r for r in shapes}
    out = []
    for key, metric, op, limit, what, where in wanted:
        row = by_key.get(key)
        if row is None:
            continue
        value = row.get(where, {}).get("pyload", {}).get(metric)
        met = None if value is None else (value >= limit if op == ">=" else value <= limit)
        out.append(
            {"shape": row["shape"], "metric": metric, "what": what, "op": op,
             "limit": limit, "value": value, "met": met}
        )  # fmt: skip
    return out


def run_selfbench(
    *,
    duration: float = DURATION_S,
    rounds: int = ROUNDS,
    connections: int = CONNECTIONS,
    tools: Sequence[str] = TOOLS,
    scaling_workers: Sequence[int] = SCALING_WORKERS,
    scaling_connections: Sequence[int] = SCALING_CONNECTIONS,
    scaling_rounds: int = SCALING_ROUNDS,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    bodies: Sequence[str] = BODIES,
    shape_duration: float = SHAPE_DURATION_S,
    shape_rounds: int = SHAPE_ROUNDS,
    warmup: float = WARMUP_S,
    loop: str = "auto",
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Run the whole selfbench and return its JSON-able result; ``notes`` are said under the
    report's heading (what else loaded the machine, say). Raises NginxError."""
    started = time.monotonic()
    skipped: dict[str, str] = {}
    requested, tools = list(tools), list(tools)
    if "locust" in tools and not locust_available():
        skipped["locust"] = "locust not installed"
        tools.remove("locust")
    if "wrk" in tools and not wrk_available():
        skipped["wrk"] = "wrk not installed"
        tools.remove("wrk")
    client, server = plan_cpus(available_cpus())
    one = _client_cpus(1, client, server)
    with running_nginx(cpu=server) as url, RequestCounter(url + STATUS_PATH) as counter:
        watch = Watch(requests=counter, cpu=server)
        log(
            f"selfbench: nginx at {url} on CPU {server}, clients on CPU {client}; "
            f"tools {', '.join(tools)}" + "".join(f"; {t}: {why}" for t, why in skipped.items())
        )
        for tool in tools if warmup else ():  # warm-up: page cache, bytecode, nginx's accepts
            try:
                _runner(tool, url, connections, warmup, 1, one, loop, watch)()
            except ClientError as exc:
                log(f"  warm-up: {tool} failed: {exc}")
        head = _measure(
            f"c{connections}",
            tools,
            lambda t: _runner(t, url, connections, duration, 1, one, loop, watch),
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
                    return _runner(tool, url, c, duration, w, p, loop, watch)

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
        shape_tools = scale_tools + [t for t in tools if t == FLOOR]
        shape_table = _measure_shapes(
            url,
            shape_tools,
            shapes,
            bodies,
            shape_duration,
            shape_rounds,
            one,
            loop,
            watch,
            skipped,
        )
    medians = {t: summarise(r) for t, r in head.items() if r}
    ratios = _ratios(medians)
    pyload_ratio = ratios.get("pyload", {})
    return {
        "schema": SCHEMA,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "notes": list(notes),
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
            "shapes": [list(s) for s in shapes],
            "bodies": list(bodies),
            "shape_duration_s": shape_duration,
            "shape_rounds": shape_rounds,
            "pss_interval_s": watch.pss_interval_s,
            "startup_poll_s": watch.startup_poll_s,
            "target_cpu_ratio": TARGET_CPU_RATIO,
            "server": "nginx, 1 worker, return 200",
        },
        "skipped": skipped,
        "machine": machine_info(),
        "medians": medians,
        "ratios_to_wrk": ratios,
        "ratios_to_floor": _ratios(medians, FLOOR),
        "target": {
            "cpu_ratio": pyload_ratio.get("cpu_us_per_request"),
            "load_cpu_ratio": pyload_ratio.get("load_cpu_us_per_request"),
            "limit": TARGET_CPU_RATIO,
        },
        "runs": head,
        "scaling": scaling,
        "shapes": shape_table,
        "shape_targets": _shape_targets(shape_table),
        "floor_targets": _shape_targets(shape_table, FLOOR_TARGETS),
    }


def write_outputs(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write selfbench-<date>.json and .md into out_dir; return both paths."""
    return write_dated(result, selfbench_markdown(result), out_dir, "selfbench")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _shapes(text: str) -> list[tuple[int, int]]:
    """``1x100,20x2000`` -> [(1, 100), (20, 2000)]: threads x connections ('': none)."""
    try:
        return [parse_shape(item) for item in text.split(",") if item]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bodies(text: str) -> list[str]:
    bodies = [x for x in text.split(",") if x]
    unknown = [b for b in bodies if b not in BODY_PATHS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown bodies {unknown}: {','.join(BODY_PATHS)}")
    return bodies


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
    add(
        "--shapes",
        type=_shapes,
        default=list(SHAPES),
        help="THREADSxCONNECTIONS of the shapes table, comma-separated ('' skips it)",
    )
    add(
        "--shape-bodies",
        type=_bodies,
        default=list(BODIES),
        help=f"comma-separated responses of the shapes table ({','.join(BODIES)})",
    )
    add(
        "--shape-duration",
        type=int,
        default=SHAPE_DURATION_S,
        help=f"seconds per shape run ({SHAPE_DURATION_S})",
    )
    add(
        "--shape-rounds",
        type=int,
        default=SHAPE_ROUNDS,
        help=f"rounds of the shapes table ({SHAPE_ROUNDS})",
    )
    add("--warmup", type=int, default=WARMUP_S,
        help=f"warm-up seconds per tool ({WARMUP_S}; 0: none)")  # fmt: skip
    add("--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="pyload's loop")
    add("--out", type=Path, default=RESULTS_DIR, help="output directory (benchmarks/results)")
    add(
        "--note",
        action="append",
        default=[],
        help="a line for the report, under its heading (repeatable): what else ran, say",
    )
    return parser


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--http2" in args:  # the HTTP/2 comparison: benchmarks.selfbench_h2 and its options
        return http2_main([a for a in args if a != "--http2"])
    ns = build_parser().parse_args(argv)
    tools = [t for t in ns.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    counts = (ns.duration, ns.rounds, ns.scaling_rounds, ns.shape_duration)
    if unknown or min(counts) < 1 or ns.shape_rounds < 1 or ns.warmup < 0:
        print(
            f"selfbench: bad arguments (tools {sorted(unknown)}; durations and rounds >= 1,"
            " warm-up >= 0)",
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
            shapes=ns.shapes,
            bodies=ns.shape_bodies,
            shape_duration=ns.shape_duration,
            shape_rounds=ns.shape_rounds,
            warmup=ns.warmup,
            loop=ns.loop,
            notes=ns.note,
        )
    except NginxError as exc:
        print(f"selfbench: {exc}", file=sys.stderr)
        return 1
    json_path, md_path = write_outputs(result, ns.out)
    print(selfbench_markdown(result))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
