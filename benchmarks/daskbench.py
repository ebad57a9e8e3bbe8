"""The same total load from one process set and from ``--dask local:2``, side by side.

    python -m benchmarks.daskbench [--duration 3] [--rounds 3] [--out DIR]

Both modes run pyload's command line against one local nginx (one worker) with the same
``-t``, ``-c``, ``-d`` and ``--processes``: once as a plain run (one set of worker processes),
once spread over a local Dask cluster of 2 workers, whose agents start their own worker
processes (each its share of ``--processes``). Each round runs both, the order alternating;
the report takes the median of the rounds. Measured per run: requests/s, the client CPU per
request for the load phase (the worker processes while loading, the JSON's ``cpu_s``) and for
the whole process tree (start-up included: for ``--dask``, the cluster's scheduler, nanny and
worker processes and the agents too), and the wall time. Both
modes share this machine's cores: on one machine ``local:2`` adds no capacity, so this measures
what the distributed path costs, not what more machines give. Writes ``results.json`` and
``README.md`` into ``--out`` (default benchmarks/results/daskbench/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.clients import ClientError, run_pyload
from benchmarks.common import log, median
from benchmarks.formatting import fmt_or
from benchmarks.machine import machine_info, machine_markdown
from benchmarks.nginx import NginxError, running_nginx

__all__ = ["main", "run_benchmark", "summarise"]

THREADS = 4
CONNECTIONS = 100
# The same worker processes in both modes (--dask splits --processes over the agents: 1 each);
# by default each agent would start one per CPU of its machine, twice as many here.
PROCESSES = 2
DURATION_S = 3
ROUNDS = 3
WARMUP_S = 1  # one unrecorded local run first (nginx, the page cache, the imports)
MODES: dict[str, tuple[str, ...]] = {"local": (), "dask local:2": ("--dask", "local:2")}
REFERENCE = "local"
METRICS = ("requests_per_s", "load_cpu_us_per_request", "cpu_us_per_request", "wall_s")
SCHEMA = "pyload.bench-distributed/1"
OUT_DIR = RESULTS_DIR / "daskbench"


def run_benchmark(
    duration: int = DURATION_S,
    rounds: int = ROUNDS,
    threads: int = THREADS,
    connections: int = CONNECTIONS,
    processes: int = PROCESSES,
) -> dict[str, Any]:
    """Every round runs each mode once against one nginx; the document of all runs."""
    runs: list[dict[str, Any]] = []
    with running_nginx() as url:
        log(f"nginx at {url}; warm-up {WARMUP_S}s")
        run_pyload(
            url, connections=connections, duration_s=WARMUP_S, threads=threads, processes=processes
        )
        for number in range(rounds):
            order = list(MODES) if number % 2 == 0 else list(reversed(MODES))
            for mode in order:
                run = run_pyload(
                    url,
                    connections=connections,
                    duration_s=duration,
                    threads=threads,
                    processes=processes,
                    options=MODES[mode],
                )
                log(
                    f"round {number + 1}/{rounds} {mode}: {run.requests_per_s:,.0f} req/s, "
                    f"{run.load_cpu_us_per_request or 0:.1f} µs CPU/request (load), "
                    f"{run.cpu_us_per_request or 0:.1f} µs (tree), {run.wall_s:.1f} s wall"
                )
                runs.append({"mode": mode, "round": number, **run.to_dict()})
    return {
        "schema": SCHEMA,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "threads": threads,
            "connections": connections,
            "processes": processes,
            "duration_s": duration,
            "rounds": rounds,
            "modes": {m: list(o) for m, o in MODES.items()},
        },
        "runs": runs,
        "summary": summarise(runs),
    }


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """The median of each metric per mode, and each mode's ratio to the reference's."""
    medians: dict[str, dict[str, float | None]] = {}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        medians[mode] = {metric: median(r[metric] for r in mine) for metric in METRICS}
        rates = [r["requests_per_s"] for r in mine]
        medians[mode]["requests_per_s_min"] = min(rates, default=None)
        medians[mode]["requests_per_s_max"] = max(rates, default=None)
    reference = medians.get(REFERENCE, {})
    for mode, values in medians.items():
        for metric in METRICS:
            base, value = reference.get(metric), values[metric]
            values[f"{metric}_ratio"] = value / base if value is not None and base else None
        medians[mode] = values
    return medians


def markdown(document: dict[str, Any]) -> str:
    """The report: the settings, the side-by-side table, the machine."""
    settings, summary = document["settings"], document["summary"]
    lines = [
        "# The same load: one process set vs `--dask local:2`",
        "",
        f"`python -m benchmarks.daskbench` on {document['date']}: pyload "
        f"`-t{settings['threads']} -c{settings['connections']} -d{settings['duration_s']}s "
        f"--processes {settings['processes']}` "
        f"against one local nginx (one worker), {settings['rounds']} rounds, the modes "
        "alternating; medians (`--dask` gives each agent its share of `--processes`, so both "
        "modes run the same worker processes). CPU per request: the load phase (the worker "
        "processes while loading) and the whole client process tree (start-up and, for "
        "`--dask`, the local cluster's processes included). Both modes share this machine's "
        "cores, so `local:2` adds no capacity here: the table shows what the distributed path "
        "costs. The machine is shared with other work: compare the modes within one run.",
        "",
        "| mode | requests/s (min-max) | CPU/request, load phase | CPU/request, tree | wall |",
        "|---|---:|---:|---:|---:|",
    ]
    na = functools.partial(fmt_or, none="n/a")
    for mode, values in summary.items():
        lines.append(
            f"| {mode} | {na(values['requests_per_s'], '{:,.0f}')}"
            f"{_ratio(values['requests_per_s_ratio'], mode)} "
            f"({na(values['requests_per_s_min'], '{:,.0f}')}-"
            f"{na(values['requests_per_s_max'], '{:,.0f}')}) "
            f"| {na(values['load_cpu_us_per_request'], '{:.1f} µs')}"
            f"{_ratio(values['load_cpu_us_per_request_ratio'], mode)} "
            f"| {na(values['cpu_us_per_request'], '{:.1f} µs')}"
            f"{_ratio(values['cpu_us_per_request_ratio'], mode)} "
            f"| {na(values['wall_s'], '{:.1f} s')} |"
        )
    lines += ["", "## Machine", "", machine_markdown(document["machine"])]
    return "\n".join(lines)


def _ratio(value: float | None, mode: str) -> str:
    return "" if value is None or mode == REFERENCE else f" ({value:.2f}x)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.daskbench",
        description="The same total load from one process set and from --dask local:2.",
    )
    parser.add_argument("--duration", type=int, default=DURATION_S, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs per mode")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the results")
    return parser


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if (
        min(ns.duration, ns.rounds) < 1
        or ns.threads < 2
        or ns.connections < ns.threads
        or not 2 <= ns.processes <= ns.threads
    ):
        print(
            "daskbench: durations and rounds >= 1, threads >= 2, connections >= threads,"
            " 2 <= processes <= threads",
            file=sys.stderr,
        )
        return 2
    try:
        document = run_benchmark(ns.duration, ns.rounds, ns.threads, ns.connections, ns.processes)
    except (NginxError, ClientError) as exc:
        print(f"daskbench: {exc}", file=sys.stderr)
        return 1
    ns.out.mkdir(parents=True, exist_ok=True)
    (ns.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    report = markdown(document)
    (ns.out / "README.md").write_text(report)
    print(report)
    print(f"wrote {ns.out / 'results.json'} and {ns.out / 'README.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
