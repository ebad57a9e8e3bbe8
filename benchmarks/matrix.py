"""The matrix: every server stack in turn, pyload (and optionally wrk) on each of its endpoints.

Call chain, in execution order:

    plan(servers, filters)                 the cells: (stack, endpoint) pairs, reference order
    run_matrix(profile, cells, ...)
      for each stack:  serve(...)          django_target starts upstream + stack on port 0
                       _warm_up            a short unrecorded pyload run + one GET per client view
        for each cell: _settle             the previous cell's work drained, the stack answers
                       _run_pyload         pyload.run(...) -> RunResult.to_dict()
                       _run_wrk (--with-wrk) wrk on the same cell, parsed, compare_cell
                       (stack gone?)       restarted once for the next cell
                       stop (leave serve)
      -> the results document (JSON-able), written out by benchmarks.cli

Cells are independent: a stack that cannot start, a pyload error or a crashed stack makes that
cell "failed" with the reason, and the run goes on. Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyload
from benchmarks.clients import ClientError, run_wrk, wrk_seconds
from benchmarks.compare import compare_cell
from benchmarks.machine import machine_info
from benchmarks.profiles import Profile
from benchmarks.progress import Progress
from django_target import SERVERS, Endpoint, TargetError, endpoints_for, serve

__all__ = ["SCHEMA", "Cell", "cell_label", "estimate_s", "matches", "plan", "run_matrix"]

SCHEMA = "pyload.benchmarks/1"
SETTLE_TIMEOUT_S = 20.0  # the stack must answer GET / within this after a cell, else restart
SETTLE_DRAIN_CAP_S = 3.0  # wait at most this long for the previous cell's slow views to end
PROBE_TIMEOUT_S = 5.0
STARTUP_TIMEOUT_S = 60.0
WARMUP_CONNECTIONS = 10
CELL_WARMUP_S = 1.0  # with --with-wrk: unrecorded load on each cell before the two tools
PLANNED_STACK_S = 2.0  # start + stop (warm-up apart), for the first time-left estimate
CELL_OVERHEAD_S = 0.4  # pyload's worker start-up and the settle, for the same estimate


@dataclass(frozen=True)
class Cell:
    """One measurement: a server stack and one of its endpoints."""

    server: str
    endpoint: Endpoint

    @property
    def label(self) -> str:
        return cell_label(self.endpoint)


def cell_label(endpoint: Endpoint) -> str:
    """``sync/gateway_1s``: the endpoint as the reference experiment names it."""
    return f"{endpoint.kind}/{endpoint.scenario}"


def matches(endpoint: Endpoint, filters: Sequence[str]) -> bool:
    """An endpoint matches a filter equal to its scenario, kind or kind/scenario, or a filter
    starting with "/" that begins its path. No filters match everything."""
    if not filters:
        return True
    for f in filters:
        if f in (endpoint.scenario, endpoint.kind, cell_label(endpoint)):
            return True
        if f.startswith("/") and endpoint.path.startswith(f):
            return True
    return False


def plan(servers: Sequence[str] = SERVERS, filters: Sequence[str] = ()) -> list[Cell]:
    """The cells in the reference order (stack by stack, endpoints as the catalogue lists)."""
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}: choose from {', '.join(SERVERS)}")
    return [Cell(s, e) for s in servers for e in endpoints_for(s) if matches(e, filters)]


def estimate_s(profile: Profile, cells: Sequence[Cell], with_wrk: bool = False) -> float:
    """The expected wall time: cells, their overhead and the drains, plus the stacks."""
    per_cell = profile.duration_s + CELL_OVERHEAD_S
    if with_wrk:
        per_cell += profile.duration_s + CELL_WARMUP_S + 2 * CELL_OVERHEAD_S
    drains = sum(min(_drain_s(c, profile), SETTLE_DRAIN_CAP_S) for c in cells)
    stacks = len({c.server for c in cells})
    return (
        len(cells) * per_cell
        + drains * (3 if with_wrk else 1)
        + stacks * (PLANNED_STACK_S + profile.warmup_s)
    )


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def _errors_total(errors: dict[str, int]) -> int:
    return sum(errors[k] for k in ("connect", "read", "write", "status"))


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.1f}ms"


def _get(url: str, timeout: float) -> int:
    """One GET; returns the status. Raises OSError / http.client.HTTPException."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=timeout
    )
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _settle(base_url: str, drain_s: float) -> tuple[bool, float, str]:
    """Let the previous cell's in-flight work end, then wait until GET / answers.

    Returns (answering, seconds spent, last error)."""
    start = time.monotonic()
    if drain_s > 0:
        time.sleep(min(drain_s, SETTLE_DRAIN_CAP_S))  # the slow views' own wait, not a sync
    deadline = start + SETTLE_TIMEOUT_S
    error = ""
    while time.monotonic() < deadline:
        try:
            _get(base_url + "/", min(PROBE_TIMEOUT_S, max(0.1, deadline - time.monotonic())))
            return True, time.monotonic() - start, ""
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ConnectionRefusedError):
                break  # nothing listens: the stack is gone
            time.sleep(0.1)  # polling interval
    return False, time.monotonic() - start, error


class _StackRunner:
    """Owns one running stack (the serve() context) and can restart it."""

    def __init__(self, server: str, profile: Profile, log_dir: Path | None) -> None:
        self.server = server
        self.profile = profile
        self.log_path = str(log_dir / f"{server}.log") if log_dir is not None else None
        self._stack: contextlib.ExitStack | None = None
        self.base_url: str | None = None
        self.starts: list[dict[str, Any]] = []
        self.gave_up: str | None = None  # set when a start failed: no more attempts

    def start(self) -> str | None:
        """Start; returns the base URL or None (the reason is in ``starts``)."""
        began = time.monotonic()
        stack = contextlib.ExitStack()
        try:
            options: dict[str, Any] = {"startup_timeout": STARTUP_TIMEOUT_S}
            if self.log_path is not None:
                options["log_path"] = self.log_path
            self.base_url = stack.enter_context(
                serve(
                    self.server,
                    port=0,
                    workers=self.profile.server_workers,
                    scale=self.profile.scale,
                    **options,
                )
            )
        except TargetError as exc:
            stack.close()
            error = f"{type(exc).__name__}: {exc}"
            self.starts.append(
                {"ok": False, "seconds": round(time.monotonic() - began, 3), "error": error}
            )
            self.base_url = None
            self.gave_up = error
            return None
        self._stack = stack
        self.starts.append(
            {"ok": True, "seconds": round(time.monotonic() - began, 3), "error": None}
        )
        return self.base_url

    def stop(self) -> str | None:
        """Stop; returns an error text if the stack did not stop cleanly."""
        stack, self._stack, self.base_url = self._stack, None, None
        if stack is None:
            return None
        try:
            stack.close()
        except TargetError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def restart(self) -> str | None:
        self.stop()
        return self.start()


@contextlib.contextmanager
def _running(runner: _StackRunner) -> Iterator[_StackRunner]:
    try:
        runner.start()
        yield runner
    finally:
        runner.stop()


def _warm_up(base_url: str, cells: Sequence[Cell], profile: Profile) -> dict[str, Any]:
    """A short unrecorded pyload run on the stack's first cell, then one GET per client view."""
    began = time.monotonic()
    notes: list[str] = []
    if profile.warmup_s > 0 and cells:
        try:
            pyload.run(
                base_url + cells[0].endpoint.path,
                connections=min(WARMUP_CONNECTIONS, profile.connections),
                duration=profile.warmup_s,
                threads=1,
                timeout=profile.timeout_s,
            )
        except pyload.PyloadError as exc:
            notes.append(f"warm-up run: {exc}")
        for cell in cells:
            if not cell.endpoint.is_gateway:
                try:
                    _get(base_url + cell.endpoint.path, PROBE_TIMEOUT_S)
                except (OSError, http.client.HTTPException) as exc:
                    notes.append(f"warm-up GET {cell.endpoint.path}: {exc}")
    return {"seconds": round(time.monotonic() - began, 3), "notes": notes}


def _drain_s(cell: Cell | None, profile: Profile) -> float:
    """How long the previous cell's last requests may still be running in the stack."""
    if cell is None:
        return 0.0
    wait = cell.endpoint.gateway_seconds
    return profile.gateway_wait_s(wait) if wait is not None else 0.0


def _summary_line(result: dict[str, Any]) -> str:
    lat = result["latency_us"]
    p50 = lat["percentiles"]["50"] if lat["count"] else None
    p99 = lat["percentiles"]["99"] if lat["count"] else None
    errors = result["errors"]
    return (
        f"{result['requests_per_s']:9.1f} req/s  p50 {_ms(p50)}  p99 {_ms(p99)}  "
        f"timeouts {errors['timeout']}  errors {_errors_total(errors)}"
    )


def _run_wrk(url: str, profile: Profile) -> dict[str, Any]:
    try:
        run = run_wrk(
            url,
            connections=profile.connections,
            duration_s=profile.duration_s,
            threads=profile.threads,
            timeout_s=profile.timeout_s,
        )
    except ClientError as exc:
        return {"error": str(exc), "comparison": None}
    return {
        "error": None,
        "argv": run.argv,
        "text": run.text,
        "parsed": run.detail["parsed"],
        "cpu_s": run.cpu_s,
        "comparison": None,
    }


def run_matrix(
    profile: Profile,
    cells: Sequence[Cell],
    *,
    with_wrk: bool = False,
    log_dir: Path | None = None,
    progress: Progress | None = None,
    argv: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every cell; return the results document (see docs/benchmarks.md for its schema).

    With wrk, the cell duration is rounded up to whole seconds for both tools (wrk's -d)."""
    if with_wrk:
        profile = replace(profile, duration_s=float(wrk_seconds(profile.duration_s)))
    began, started_at = time.monotonic(), _now()
    servers = list(dict.fromkeys(c.server for c in cells))
    if progress is None:
        stacks_s = len(servers) * (PLANNED_STACK_S + profile.warmup_s)
        progress = Progress(
            len(cells),
            (estimate_s(profile, cells, with_wrk) - stacks_s) / max(1, len(cells)),
            len(servers),
            PLANNED_STACK_S + profile.warmup_s,
        )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    stacks: list[dict[str, Any]] = []
    interrupted = False
    for server in servers:
        stack_cells = [c for c in cells if c.server == server]
        if interrupted:
            records += [_not_run(c, profile, "not run: interrupted") for c in stack_cells]
            continue
        progress.stack(server)
        runner = _StackRunner(server, profile, log_dir)
        stack_info: dict[str, Any] = {"server": server, "workers": profile.server_workers}
        try:
            with _running(runner):
                if runner.base_url is not None:
                    stack_info["warm_up"] = _warm_up(runner.base_url, stack_cells, profile)
                previous: Cell | None = None
                for cell in stack_cells:
                    record = _run_cell(
                        cell, runner, profile, previous, with_wrk, progress, index=len(records)
                    )
                    records.append(record)
                    previous = cell
                    if record.get("interrupted"):
                        interrupted = True
                        break
                done = {id(r["_cell"]) for r in records if "_cell" in r}
                records += [
                    _not_run(c, profile, "not run: interrupted")
                    for c in stack_cells
                    if id(c) not in done
                ]
        except KeyboardInterrupt:
            interrupted = True
            done = {id(r["_cell"]) for r in records if "_cell" in r}
            records += [
                _not_run(c, profile, "not run: interrupted")
                for c in stack_cells
                if id(c) not in done
            ]
        stack_info["starts"] = runner.starts
        stacks.append(stack_info)
    for record in records:
        record.pop("_cell", None)
    return {
        "schema": SCHEMA,
        "profile": profile.to_dict(),
        "with_wrk": with_wrk,
        "wrk_timeout_s": wrk_seconds(profile.timeout_s) if with_wrk else None,
        "argv": list(argv),
        "started_at": started_at,
        "finished_at": _now(),
        "wall_s": round(time.monotonic() - began, 1),
        "interrupted": interrupted,
        "machine": machine_info(),
        "stacks": stacks,
        "cells": records,
    }


def _base_record(cell: Cell, profile: Profile) -> dict[str, Any]:
    wait = cell.endpoint.gateway_seconds
    return {
        "_cell": cell,
        "server": cell.server,
        "path": cell.endpoint.path,
        "kind": cell.endpoint.kind,
        "scenario": cell.endpoint.scenario,
        "label": cell.label,
        "gateway_wait_s": profile.gateway_wait_s(wait) if wait is not None else None,
        "status": "failed",
        "error": None,
        "pyload": None,
        "wrk": None,
    }


def _not_run(cell: Cell, profile: Profile, reason: str) -> dict[str, Any]:
    record = _base_record(cell, profile)
    record.update(status="not run", error=reason)
    return record


def _run_cell(
    cell: Cell,
    runner: _StackRunner,
    profile: Profile,
    previous: Cell | None,
    with_wrk: bool,
    progress: Progress,
    index: int = 0,
) -> dict[str, Any]:
    """Settle, then pyload on the cell; with wrk: a warm-up first, then both tools, the order
    alternating from cell to cell so neither always meets the colder (or warmer) server."""
    record = _base_record(cell, profile)
    t0 = progress.cell(f"{cell.server} {cell.label}")
    record["started_at"] = _now()
    try:
        if runner.gave_up is not None:
            record["error"] = f"stack did not start: {runner.gave_up}"
            progress.finished(t0, f"FAILED: {record['error']}")
            return record
        answering, settle_s, why = _settle(runner.base_url or "", _drain_s(previous, profile))
        if not answering:
            progress.note(f"    stack not answering ({why}); restarting it")
            if runner.restart() is None:
                record["error"] = (
                    "stack stopped answering and did not restart: " + runner.starts[-1]["error"]
                )
                progress.finished(t0, f"FAILED: {record['error']}")
                return record
            record["restarted"] = True
        record["settle_s"] = round(settle_s, 3)
        url = (runner.base_url or "") + cell.endpoint.path
        record["url"] = url
        wrk_first = with_wrk and index % 2 == 1
        if with_wrk:
            record["order"] = ["wrk", "pyload"] if wrk_first else ["pyload", "wrk"]
            _cell_warm_up(url, profile)
            _settle(runner.base_url or "", _drain_s(cell, profile))
        if wrk_first:
            record["wrk"] = _run_wrk(url, profile)
            _settle(runner.base_url or "", _drain_s(cell, profile))
        try:
            result = pyload.run(
                url,
                connections=profile.connections,
                duration=profile.duration_s,
                threads=profile.threads,
                timeout=profile.timeout_s,
                print_latency=True,
            )
        except pyload.PyloadError as exc:
            record["error"] = f"pyload: {type(exc).__name__}: {exc}"
            progress.finished(t0, f"FAILED: {record['error']}")
            return record
        data = result.to_dict(raw=False)  # the exact counts would make results.json huge
        record["pyload"] = data
        record["status"] = "ok"
        if result.worker_failures:
            record["error"] = "; ".join(result.worker_failures)
        if result.interrupted:
            record["interrupted"] = True
        summary = _summary_line(data)
        if with_wrk and not result.interrupted:
            if not wrk_first:
                _settle(runner.base_url or "", _drain_s(cell, profile))
                record["wrk"] = _run_wrk(url, profile)
            summary += _compare(record, profile)
        progress.finished(t0, summary)
    except KeyboardInterrupt:
        record["error"] = "interrupted"
        record["interrupted"] = True
        progress.finished(t0, "interrupted")
    record["wall_s"] = round(time.monotonic() - t0, 2)
    return record


def _cell_warm_up(url: str, profile: Profile) -> None:
    """Unrecorded load on the cell itself, at its concurrency (client pools grow, caches fill)."""
    with contextlib.suppress(pyload.PyloadError):
        pyload.run(
            url,
            connections=profile.connections,
            duration=CELL_WARMUP_S,
            threads=profile.threads,
            timeout=profile.timeout_s,
        )


def _compare(record: dict[str, Any], profile: Profile) -> str:
    """Attach pyload-vs-wrk to the record; return the progress line's suffix."""
    wrk = record["wrk"]
    if wrk["error"] is not None:
        return f"  | wrk failed: {wrk['error']}"
    comparison = compare_cell(
        record["pyload"],
        wrk["parsed"],
        timeout_s=profile.timeout_s,
        wrk_timeout_s=wrk_seconds(profile.timeout_s),
    )
    wrk["comparison"] = comparison
    verdict = (
        "agree" if comparison["agree"] else "DISAGREE: " + ", ".join(comparison["disagreements"])
    )
    return f"  | wrk {wrk['parsed']['requests_per_s']:.1f} req/s, {verdict}"
