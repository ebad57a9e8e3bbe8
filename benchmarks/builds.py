"""pyload builds side by side: a change measured before and after in one run, against one nginx.

    python -m benchmarks.builds HEAD .                   # the last commit against the working tree
    python -m benchmarks.builds 6135dec HEAD --shapes 1x100,20x2000 --rounds 10 --floor

Each build is a git revision's ``pyload/`` (``git archive``) in a temporary folder, or ``.`` for
this working tree, compiled to bytecode; each run is ``python -m pyload -tT -cC -dDs --json``
from that folder, so that it imports that build (``benchmarks.clients.run_pyload``'s
``source``). Pinned as the selfbench pins them: every client on one CPU, nginx (one worker,
its small ``return 200``) on another. Each round runs every build once per shape, the order
rotating from round to round; ``--floor`` adds the floor (benchmarks/floor.py) to each round.
Printed per shape and build: the medians of requests/s, load-phase CPU per request (the JSON's
``cpu_s``: the workers from their connects to their closes) and whole-tree CPU per request,
and each as a ratio to the first build's. On a shared machine a difference of a few per cent is
noise: run more rounds, and more than once (docs/benchmarks.md, "Issue 20, continued").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from benchmarks import PROJECT_ROOT, sigterm_as_ctrl_c
from benchmarks.clients import ClientRun, one_round, run_floor, run_pyload
from benchmarks.common import available_cpus, median, parse_shape, plan_cpus, print_table
from benchmarks.nginx import NginxError, running_nginx

__all__ = ["export_build", "main", "measure", "parse_shapes", "table"]

WORKING_TREE = "."
FLOOR = "floor"


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """``1x100,20x2000`` -> [(1, 100), (20, 2000)] (threads x connections); ValueError, also
    for an empty item."""
    return [parse_shape(item) for item in text.split(",")]


def export_build(revision: str, into: Path) -> Path:
    """A folder holding ``revision``'s ``pyload/`` (``.``: this working tree, used in place).
    Raises ValueError for a revision git does not know."""
    if revision == WORKING_TREE:
        return PROJECT_ROOT
    done = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", revision, "pyload"],
        capture_output=True,
    )
    if done.returncode != 0:
        raise ValueError(f"{revision!r}: {done.stderr.decode(errors='replace').strip()}")
    folder = into / revision.replace("/", "_")
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(done.stdout)) as archive:
        archive.extractall(folder, filter="data")
    return folder


def measure(
    builds: dict[str, Path], shapes: Sequence[tuple[int, int]], rounds: int, duration_s: int,
    floor: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per shape and build (and the floor): every round's run (``ClientRun.to_dict``),
    and the medians of requests/s, load-phase and whole-tree CPU per request."""
    client, server = plan_cpus(available_cpus())
    cpus = [client] if client is not None else None
    names = list(builds) + ([FLOOR] if floor else [])
    cells: list[tuple[int, int, dict[str, list[dict[str, Any]]]]] = [
        (t, c, {name: [] for name in names}) for t, c in shapes
    ]
    skipped: dict[str, str] = {}
    with running_nginx(cpu=server) as url:
        for round_index in range(rounds):
            for t, c, runs in cells:

                def make(name: str, t: int = t, c: int = c) -> Callable[[], ClientRun]:
                    if name == FLOOR:
                        return lambda: run_floor(url, connections=c, duration_s=duration_s,
                                                 cpus=cpus)  # fmt: skip
                    source = builds[name]
                    return lambda: run_pyload(url, connections=c, duration_s=duration_s,
                                              threads=t, cpus=cpus, source=source)  # fmt: skip

                label = f"-t{t} -c{c} round {round_index + 1}/{rounds}"
                one_round(label, names, make, round_index, runs, skipped)
    return [
        {
            "shape": f"-t{t} -c{c}",
            "build": name,
            "runs": runs[name],
            "requests_per_s": median(r["requests_per_s"] for r in runs[name]),
            "load_us": median(r["load_cpu_us_per_request"] for r in runs[name]),
            "tree_us": median(r["cpu_us_per_request"] for r in runs[name]),
        }
        for t, c, runs in cells
        for name in names
    ]


def _ratio(value: float | None, first: float | None) -> str:
    return "-" if value is None or not first else f"{value / first:.3f}x"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The medians, and each as a ratio to the shape's first build."""
    lines = [
        "| shape | build | req/s | CPU µs/req, load phase | CPU µs/req, tree "
        "| ratio: req/s, load, tree | runs |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        base = first.setdefault(row["shape"], row)
        cells = [f"{row[k]:.2f}" if row[k] is not None else "-" for k in ("load_us", "tree_us")]
        keys = ("requests_per_s", "load_us", "tree_us")
        ratios = ", ".join(_ratio(row[k], base[k]) for k in keys)
        rate = f"{row['requests_per_s']:.0f}" if row["requests_per_s"] is not None else "-"
        lines.append(f"| `{row['shape']}` | {row['build']} | {rate} | {cells[0]} | {cells[1]} "
                     f"| {ratios} | {len(row['runs'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.builds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("builds", nargs="+", help="git revisions, or . for the working tree")
    parser.add_argument("--shapes", default="1x100,20x2000", help="THREADSxCONNECTIONS,...")
    parser.add_argument("--rounds", type=int, default=6, help="runs per build and shape")
    parser.add_argument("--duration", type=int, default=3, help="whole seconds per run")
    parser.add_argument("--floor", action="store_true", help="the floor in every round too")
    parser.add_argument("--json", type=Path, help="also write the rows (every run) to FILE")
    ns = parser.parse_args(argv)
    try:
        shapes = parse_shapes(ns.shapes)
    except ValueError as exc:
        parser.error(f"--shapes: {exc}")
    if ns.rounds < 1 or ns.duration < 1 or len(set(ns.builds)) != len(ns.builds):
        parser.error("--rounds and --duration: at least 1; each build once")
    with tempfile.TemporaryDirectory(prefix="pyload-builds-") as tmp:
        try:
            builds = {name: export_build(name, Path(tmp)) for name in ns.builds}
        except ValueError as exc:
            print(f"builds: unknown revision {exc}", file=sys.stderr)
            return 1
        try:
            rows = measure(builds, shapes, ns.rounds, ns.duration, ns.floor)
        except NginxError as exc:
            print(f"cannot start nginx: {exc}", file=sys.stderr)
            return 1
    return print_table(table(rows), rows, ns.json)


if __name__ == "__main__":
    raise SystemExit(main())
