"""The matrix: every server stack in turn, each of its cells ``repeat`` times; assembles the
results document.

Call chain, in execution order:

    plan(servers, filters)                  the cells (benchmarks.plan), reference order
    run_matrix(profile, cells, repeat=N)
      for each stack:  StackRunner          benchmarks.stacks: the launcher starts upstream +
                                            stack on port 0 and waits until it answers
                       runner.warm_up       a short unrecorded pyload run + one GET per client view
        N rounds, each over the stack's cells:
                       run_cell             benchmarks.cells: settle (restart a dead stack once),
                                            pyload (and wrk; with --http2, pyload over HTTP/2;
                                            with a rate, settle again and pyload open-loop),
                                            -> CellRun
                       (leaving the runner stops the stack)
      -> MatrixResult (benchmarks.results), written out by benchmarks.cli

The N runs of a cell are spread over the stack's life (round 1 runs every cell once, then round
2, ...), so a slow spell of the machine does not fall on one cell's runs only. Cells are
independent: a stack that cannot start, a pyload error or a crashed stack makes that run
"failed" with the reason, and the run goes on. Ctrl-C (or SIGTERM, SIGHUP) ends the matrix:
the cell under way keeps what pyload measured until then, marked interrupted, the stack is
killed, and every run not reached is "not run"; a second signal ends the process at once
(benchmarks.stopping). Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.cells import CELL_WARMUP_S, now, run_cell
from benchmarks.clients import wrk_seconds
from benchmarks.machine import machine_info
from benchmarks.plan import Cell, cell_label, matches, plan
from benchmarks.profiles import Profile
from benchmarks.progress import Progress
from benchmarks.results import SCHEMA, CellResult, CellRun, Http2Scope, MatrixResult
from benchmarks.stacks import H2C_GAPS, SETTLE_DRAIN_CAP_S, StackRunner
from benchmarks.stopping import stop_run

__all__ = ["SCHEMA", "Cell", "cell_label", "estimate_s", "matches", "plan", "run_matrix"]

PLANNED_STACK_S = 2.0  # start + stop (warm-up apart), for the first time-left estimate
CELL_OVERHEAD_S = 0.1  # pyload's start-up and the settle, for the same estimate...
CONNECTION_OVERHEAD_S = 0.0005  # ...plus opening and closing each connection (seed: 1.1 s/cell)
CLIENT_BACKLOG_S = 1.5  # an overloaded client cell's queue, which the next settle waits out
INTERRUPTED = "interrupted"


def estimate_s(
    profile: Profile,
    cells: Sequence[Cell],
    with_wrk: bool = False,
    repeat: int = 1,
    rate: float | None = None,
) -> float:
    """The expected wall time: cells, their overhead and the drains (one before each run of a
    tool on the cell), plus the stacks. A rate adds an open-loop pyload run per cell, a cell
    over HTTP/2 too (``Cell.http2``) a pyload run and a warm-up of its stack."""
    pyload_s = profile.duration_s + CELL_OVERHEAD_S + CONNECTION_OVERHEAD_S * profile.connections
    per_cell, settles = pyload_s, 1
    if with_wrk:
        per_cell += profile.duration_s + CELL_WARMUP_S + 2 * CELL_OVERHEAD_S
        settles += 2
    if rate is not None:
        per_cell += pyload_s
        settles += 1

    def drain(c: Cell) -> float:
        return min(c.drain_s(profile), SETTLE_DRAIN_CAP_S) + (
            0.0 if c.endpoint.is_gateway else CLIENT_BACKLOG_S
        )

    total = sum(per_cell + drain(c) * settles for c in cells)
    total += sum(pyload_s + drain(c) for c in cells if c.http2)
    stacks = len({c.server for c in cells})
    h2_stacks = len({c.server for c in cells if c.http2})
    return (
        repeat * total
        + stacks * (PLANNED_STACK_S + profile.warmup_s)
        + h2_stacks * (profile.warmup_s)
    )


def _planned(cell: Cell, profile: Profile) -> CellResult:
    return CellResult(
        server=cell.server,
        path=cell.endpoint.path,
        kind=cell.endpoint.kind,
        scenario=cell.endpoint.scenario,
        gateway_wait_s=cell.gateway_wait_s(profile),
    )


def run_matrix(
    profile: Profile,
    cells: Sequence[Cell],
    *,
    repeat: int = 1,
    with_wrk: bool = False,
    log_dir: Path | None = None,
    progress: Progress | None = None,
    argv: Sequence[str] = (),
    rate: float | None = None,
    http2: bool = False,
) -> MatrixResult:
    """Run every cell ``repeat`` times; return the results document (docs/benchmarks.md).
    ``rate``: each run of a cell also loads it open-loop at that many requests/s. ``http2``:
    the run is ``--http2`` (its cells say which also run over HTTP/2; the document lists the
    stacks that do not serve it).

    With wrk, the cell duration is rounded up to whole seconds for both tools (wrk's -d)."""
    if repeat < 1:
        raise ValueError("repeat must be >= 1")
    if rate is not None and not rate > 0:
        raise ValueError("rate must be > 0 requests/s")
    if with_wrk:
        profile = replace(profile, duration_s=float(wrk_seconds(profile.duration_s)))
    began, started_at = time.monotonic(), now()
    servers = list(dict.fromkeys(c.server for c in cells))
    if progress is None:
        stack_s = PLANNED_STACK_S + profile.warmup_s
        progress = Progress(
            len(cells) * repeat,
            (estimate_s(profile, cells, with_wrk, repeat, rate) - len(servers) * stack_s)
            / max(1, len(cells) * repeat),
            len(servers),
            stack_s,
        )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    results = [(cell, _planned(cell, profile)) for cell in cells]
    doc = MatrixResult(
        profile=profile,
        cells=[result for _, result in results],
        repeat=repeat,
        with_wrk=with_wrk,
        wrk_timeout_s=wrk_seconds(profile.timeout_s) if with_wrk else None,
        rate_per_s=rate,
        http2=(
            Http2Scope(
                tuple(dict.fromkeys(c.server for c in cells if c.http2)),
                {server: why for server, why in H2C_GAPS.items() if why is not None},
            )
            if http2
            else None
        ),
        argv=list(argv),
        started_at=started_at,
    )
    runs_so_far = 0
    for server in servers:
        if doc.interrupted:
            break
        group = [(cell, result) for cell, result in results if cell.server == server]
        progress.stack(server)
        runner = StackRunner(server, profile, log_dir)
        try:
            with runner:
                runner.warm_up([cell for cell, _ in group])
                previous: Cell | None = None
                for round_ in range(1, repeat + 1):
                    for cell, result in group:
                        run = run_cell(
                            cell,
                            runner,
                            profile,
                            previous=previous,
                            with_wrk=with_wrk,
                            progress=progress,
                            index=runs_so_far,
                            run=round_,
                            repeat=repeat,
                            rate=rate,
                        )
                        result.runs.append(run)
                        runs_so_far += 1
                        previous = cell
                        if run.interrupted:
                            stop_run()  # KeyboardInterrupt, or the end at once (2nd signal)
        except KeyboardInterrupt:
            doc.interrupted = True
        doc.stacks.append(runner.record)
    for result in doc.cells:  # every cell has its ``repeat`` runs, those not reached "not run"
        result.runs += [
            CellRun.not_run(i, INTERRUPTED) for i in range(len(result.runs) + 1, repeat + 1)
        ]
    doc.machine = machine_info()
    doc.finished_at = now()
    doc.wall_s = round(time.monotonic() - began, 1)
    return doc
