"""pyload at scale and over time: memory per worker process under 2000 and 10,000 connections,
the descriptor limit's one-line error, and a soak run at full speed with memory sampled.

    python -m benchmarks.reliability [--scale-duration 10] [--soak-duration 600] [--out DIR]
                                     [--no-soak] [--no-big]

1. Scale: ``-t20 -c2000`` against a slow endpoint (a uvloop server in a process of its own that
   answers each request SLOW_DELAY_S after it arrives, so 2000 connections ask for
   2000 / 0.1 = 20,000 requests/s); the parent's and each worker process's PSS and RSS sampled
   every SAMPLE_S from /proc, with the run's counts from ``--json``.
2. 10,000 connections (``-t20 -c10000``, each answer BIG_DELAY_S late: 10,000 requests/s) if
   the hard descriptor limit allows it; and always, pyload under a soft and hard RLIMIT_NOFILE
   of LOW_FD_LIMIT, for the one line it prints instead of a run.
3. Soak: ``-t2 -c100`` against nginx (one worker, pinned to CPU 1; pyload pinned to CPU 0: one
   worker process) for ``--soak-duration`` seconds, the processes' PSS sampled every
   SOAK_SAMPLE_S; the memory growth after the first minute and its least-squares slope.

Writes ``reliability-<date>.json`` and ``.md`` into benchmarks/results/reliability/ (``--out``).
The numbers of docs/reliability.md come from its committed run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import PROJECT_ROOT, RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.common import child_env, log, write_dated
from benchmarks.machine import machine_info, machine_markdown
from benchmarks.nginx import NginxError, running_nginx
from benchmarks.stopping import stop_process
from benchmarks.watch import process_tree

__all__ = ["main", "run_reliability", "serve_slow", "write_outputs"]

SLOW_DELAY_S = 0.1  # the slow endpoint of the scale run
SCALE_SHAPE = (20, 2000)  # the published shape, -t20 -c2000
SCALE_DURATION_S = 10
BIG_CONNECTIONS = 10_000
BIG_DELAY_S = 1.0  # 10,000 connections at 1 s: 10,000 requests/s, what one server core gives
BIG_DURATION_S = 10
LOW_FD_LIMIT = 256  # the descriptor limit of the run that must fail with one line
SOAK_SHAPE = (2, 100)
SOAK_DURATION_S = 600  # the 10 minutes
SAMPLE_S = 0.25  # memory samples during the scale runs
SOAK_SAMPLE_S = 10.0
SETTLE_S = 60.0  # the soak's growth is measured from here: imports, caches and buffers are done
FLAT_GROWTH_MB = 2.0  # "flat": a worker grows by less than this after the first minute
SOAK_CLIENT_CPU, SOAK_SERVER_CPU = 0, 1
SLOW_STOP_S = 10.0  # the slow endpoint's time to exit after SIGTERM, before SIGKILL
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"
SCHEMA = "pyload.reliability/1"


# -- the slow endpoint -----------------------------------------------------------------------


class _SlowProtocol(asyncio.Protocol):
    """Answers every request (each ``\\r\\n\\r\\n``: GET requests without a body) ``delay_s``
    after it arrived, keep-alive."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        requests = data.count(b"\r\n\r\n")
        self.pending = data[data.rindex(b"\r\n\r\n") + 4 :] if requests else data
        loop = asyncio.get_running_loop()
        for _ in range(requests):
            loop.call_later(self.delay_s, self.answer)

    def answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (as pyload's workers use), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve_slow(delay_s: float, port: int = 0) -> None:
    """The slow endpoint as a process: print ``listening PORT``, serve until SIGTERM."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = _new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: _SlowProtocol(delay_s), "127.0.0.1", port, backlog=4096)
    )
    sockets: Sequence[Any] = getattr(server, "sockets", None) or ()
    print(f"listening {sockets[0].getsockname()[1]}", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


@contextmanager
def slow_endpoint(delay_s: float) -> Iterator[str]:
    """Run ``serve_slow`` in a process of its own for the with block; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.reliability", "--serve-slow", str(delay_s)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=child_env(),
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the slow endpoint did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}/"
    finally:
        stop_process(proc, signal.SIGTERM, SLOW_STOP_S)
        proc.stdout.close()


# -- a pyload run, watched -------------------------------------------------------------------


def _memory(pid: int) -> tuple[int, int] | None:
    """(PSS, RSS) of a process in bytes, from /proc/<pid>/smaps_rollup; None if it is gone."""
    values: dict[bytes, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith((b"Pss:", b"Rss:")):
                    values[line[:3]] = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    if b"Pss" not in values or b"Rss" not in values:
        return None
    return values[b"Pss"], values[b"Rss"]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def watched_pyload(
    args: Sequence[str],
    sample_s: float,
    cpu: int | None = None,
    fd_limit: int | None = None,
    on_sample: Callable[[float, dict[str, tuple[int, int]]], None] | None = None,
) -> dict[str, Any]:
    """Run ``python -m pyload ARGS --json FILE`` and sample its processes' memory until it
    exits: the peaks per process (``parent``, ``pyload-p0``...), the samples, its exit status,
    stderr and the JSON result."""

    def preexec() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if fd_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    with tempfile.TemporaryDirectory(prefix="pyload-reliability-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "pyload", *args[:-1], "--json", str(out), args[-1]]
        started = time.monotonic()
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=PROJECT_ROOT, env=child_env(), preexec_fn=preexec, start_new_session=True,
        )  # fmt: skip
        peaks: dict[str, tuple[int, int]] = {}
        samples: list[dict[str, Any]] = []
        try:
            while True:
                now = time.monotonic() - started
                current: dict[str, tuple[int, int]] = {}
                for pid in process_tree(proc.pid):
                    memory = _memory(pid)
                    if memory is None:
                        continue
                    name = "parent" if pid == proc.pid else _comm(pid)
                    current[name] = memory
                    old = peaks.get(name, (0, 0))
                    peaks[name] = (max(old[0], memory[0]), max(old[1], memory[1]))
                if current:
                    samples.append(
                        {"t_s": round(now, 2), **{k: list(v) for k, v in current.items()}}
                    )
                    if on_sample is not None:
                        on_sample(now, current)
                try:
                    stdout, stderr = proc.communicate(timeout=sample_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        except BaseException:  # Ctrl-C, SIGTERM: pyload and its workers (its session) end too
            stop_process(proc, group=True)
            raise
        wall_s = time.monotonic() - started
        result = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
    return {
        "command": "python -m pyload " + " ".join(args),
        "returncode": proc.returncode,
        "stderr": stderr.strip(),
        "stdout_last": stdout.strip().splitlines()[-3:],
        "wall_s": round(wall_s, 2),
        "peak_mb": {name: {"pss": _mb(p), "rss": _mb(r)} for name, (p, r) in peaks.items()},
        "samples": samples,
        "result": _summary(result) if result is not None else None,
    }


def _mb(value: float) -> float:
    return round(value / 2**20, 1)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of a pyload JSON result the report uses."""
    latency = result.get("latency_us", {})
    return {
        "requests": result["requests"],
        "requests_per_s": round(result["requests_per_s"], 1),
        "errors": result["errors"],
        "runtime_s": round(result["runtime_us"] / 1e6, 3),
        "all_connected_ms": result.get("all_connected_ms"),
        "processes": result.get("processes"),
        "in_flight_at_end": result.get("in_flight_at_end"),
        "p50_ms": _ms(latency.get("percentiles", {}).get("50")),
        "p99_ms": _ms(latency.get("percentiles", {}).get("99")),
        "cpu_s": result.get("cpu_s"),
    }


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 2)


# -- the three parts -------------------------------------------------------------------------


def measure_scale(duration_s: int) -> dict[str, Any]:
    threads, connections = SCALE_SHAPE
    log(f"scale: -t{threads} -c{connections} -d{duration_s}s, answers {SLOW_DELAY_S * 1000:.0f}"
        " ms late")  # fmt: skip
    with slow_endpoint(SLOW_DELAY_S) as url:
        run = watched_pyload(
            [f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", url], SAMPLE_S
        )
    run["expected_requests_per_s"] = connections / SLOW_DELAY_S
    return run


def measure_big(duration_s: int) -> dict[str, Any]:
    """10,000 connections if the hard limit allows, and the low-limit error in any case."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    threads = SCALE_SHAPE[0]
    part: dict[str, Any] = {"hard_fd_limit": None if hard == resource.RLIM_INFINITY else hard}
    with slow_endpoint(BIG_DELAY_S) as url:
        needed = BIG_CONNECTIONS + 64 * threads  # the worst case: one process for all
        if hard == resource.RLIM_INFINITY or hard >= needed:
            log(f"scale: -t{threads} -c{BIG_CONNECTIONS} -d{duration_s}s, answers "
                f"{BIG_DELAY_S:g} s late")  # fmt: skip
            run = watched_pyload(
                [f"-t{threads}", f"-c{BIG_CONNECTIONS}", f"-d{duration_s}s", "--timeout", "5s",
                 "--latency", url],
                SAMPLE_S,
            )  # fmt: skip
            run["expected_requests_per_s"] = BIG_CONNECTIONS / BIG_DELAY_S
            part["run"] = run
        else:
            part["run"] = None
            part["skipped"] = f"the hard descriptor limit is {hard}, {needed} are needed"
        log(f"descriptor limit: -t1 -c2000 under RLIMIT_NOFILE {LOW_FD_LIMIT}")
        low = watched_pyload(["-t1", "-c2000", "-d1s", url], SAMPLE_S, fd_limit=LOW_FD_LIMIT)
    part["low_limit"] = {
        "fd_limit": LOW_FD_LIMIT,
        "command": f"(ulimit -n {LOW_FD_LIMIT}; {low['command']})",
        "returncode": low["returncode"],
        "stderr": low["stderr"],
    }
    return part


def measure_soak(duration_s: int) -> dict[str, Any]:
    threads, connections = SOAK_SHAPE
    log(f"soak: -t{threads} -c{connections} -d{duration_s}s against nginx, memory every "
        f"{SOAK_SAMPLE_S:g} s")  # fmt: skip

    def progress(t: float, current: dict[str, tuple[int, int]]) -> None:
        workers = sum(pss for name, (pss, _) in current.items() if name.startswith("pyload-p"))
        log(f"  {t:6.0f} s  workers' PSS {_mb(workers):6.1f} MB")

    with running_nginx(cpu=SOAK_SERVER_CPU) as url:
        run = watched_pyload(
            [f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", url],
            SOAK_SAMPLE_S,
            cpu=SOAK_CLIENT_CPU,
            on_sample=progress,
        )
    run["memory_trend"] = memory_trend(run["samples"])
    return run


def memory_trend(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per process: PSS at SETTLE_S and at the end, the growth between, and the least-squares
    slope over the samples after SETTLE_S (MB per minute)."""
    trend: dict[str, Any] = {}
    names = {name for sample in samples for name in sample if name != "t_s"}
    for name in sorted(names):
        points = [(s["t_s"], s[name][0] / 2**20) for s in samples if name in s]
        settled = [(t, mb) for t, mb in points if t >= SETTLE_S]
        if len(settled) < 2:
            continue
        n = len(settled)
        mean_t = sum(t for t, _ in settled) / n
        mean_mb = sum(mb for _, mb in settled) / n
        var = sum((t - mean_t) ** 2 for t, _ in settled)
        slope = sum((t - mean_t) * (mb - mean_mb) for t, mb in settled) / var if var else 0.0
        growth = settled[-1][1] - settled[0][1]
        trend[name] = {
            "pss_at_settle_mb": round(settled[0][1], 1),
            "pss_at_end_mb": round(settled[-1][1], 1),
            "growth_mb": round(growth, 1),
            "slope_mb_per_min": round(slope * 60, 3),
            "flat": abs(growth) < FLAT_GROWTH_MB,
        }
    return trend


def run_reliability(
    scale_duration_s: int, soak_duration_s: int, big: bool, soak: bool
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "command": "python -m benchmarks.reliability " + " ".join(sys.argv[1:]),
        "scale": measure_scale(scale_duration_s),
    }
    document["big"] = measure_big(scale_duration_s) if big else None
    try:
        document["soak"] = measure_soak(soak_duration_s) if soak else None
    except NginxError as exc:
        document["soak"] = {"skipped": str(exc)}
    return document


# -- the report ------------------------------------------------------------------------------


def _run_rows(title: str, run: dict[str, Any] | None) -> list[str]:
    if run is None or run.get("result") is None:
        return [f"| {title} | not run | | | | | | |"]
    result, peaks = run["result"], run["peak_mb"]
    workers = sorted(name for name in peaks if name.startswith("pyload-p"))
    per_worker = ", ".join(f"{peaks[w]['pss']:.1f} ({peaks[w]['rss']:.1f})" for w in workers)
    errors = sum(v for k, v in result["errors"].items() if k != "status")
    expected = run.get("expected_requests_per_s")
    rate = f"{result['requests_per_s']:,.0f}" + (f" of {expected:,.0f}" if expected else "")
    connected = result["all_connected_ms"]
    return [
        f"| {title} | {rate} | {errors} | "
        f"{f'{connected:.0f}' if connected is not None else 'n/a'} | "
        f"{result['p50_ms']} / {result['p99_ms']} | {result['processes']} | {per_worker} | "
        f"{peaks['parent']['pss']:.1f} ({peaks['parent']['rss']:.1f}) |"
    ]


def reliability_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# pyload at scale and over time",
        "",
        f"Run on {doc['date']} with `{doc['command'].strip()}`.",
        "",
        machine_markdown(doc["machine"]),
        "## Scale",
        "",
        "Memory is each process's peak PSS (RSS in brackets) in MB, sampled every "
        f"{SAMPLE_S:g} s from `/proc/<pid>/smaps_rollup`; workers are pyload's worker processes"
        " (`pyload-p<N>`), the parent collects their results.",
        "",
        "| run | requests/s (of asked) | socket errors | all connected (ms) | p50 / p99 (ms) "
        "| processes | worker PSS (RSS) | parent PSS (RSS) |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    scale = doc["scale"]
    lines += _run_rows(f"`{scale['command']}`", scale)
    big = doc.get("big")
    if big is not None:
        if big.get("run") is not None:
            lines += _run_rows(f"`{big['run']['command']}`", big["run"])
        else:
            lines.append(f"| -c{BIG_CONNECTIONS} | skipped: {big.get('skipped')} | | | | | | |")
        low = big["low_limit"]
        lines += [
            "",
            f"Under a descriptor limit of {low['fd_limit']}, `{low['command']}` exits "
            f"{low['returncode']} with one line on stderr:",
            "",
            "```",
            low["stderr"],
            "```",
        ]
    soak = doc.get("soak")
    lines += ["", "## Soak", ""]
    if soak is None or soak.get("skipped") or soak.get("result") is None:
        lines.append(f"Not run{': ' + soak['skipped'] if soak and soak.get('skipped') else ''}.")
    else:
        result = soak["result"]
        lines += [
            f"`{soak['command']}` against nginx (one worker, CPU {SOAK_SERVER_CPU}), pyload "
            f"pinned to CPU {SOAK_CLIENT_CPU}: {result['requests']:,} requests in "
            f"{result['runtime_s']:.0f} s ({result['requests_per_s']:,.0f}/s), socket errors "
            f"{sum(v for k, v in result['errors'].items() if k != 'status')}, p50 / p99 "
            f"{result['p50_ms']} / {result['p99_ms']} ms.",
            "",
            f"PSS sampled every {SOAK_SAMPLE_S:g} s; growth from {SETTLE_S:g} s to the end, and "
            "the least-squares slope over those samples:",
            "",
            "| process | PSS at 60 s (MB) | PSS at the end (MB) | growth (MB) | slope (MB/min) "
            "| flat |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for name, trend in soak["memory_trend"].items():
            lines.append(
                f"| {name} | {trend['pss_at_settle_mb']} | {trend['pss_at_end_mb']} | "
                f"{trend['growth_mb']} | {trend['slope_mb_per_min']} | "
                f"{'yes' if trend['flat'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write reliability-<date>.json and .md into out_dir; return both paths."""
    return write_dated(doc, reliability_markdown(doc), out_dir, "reliability")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--scale-duration",
        type=int,
        default=SCALE_DURATION_S,
        metavar="S",
        help=f"seconds of each scale run (default {SCALE_DURATION_S})",
    )
    parser.add_argument(
        "--soak-duration",
        type=int,
        default=SOAK_DURATION_S,
        metavar="S",
        help=f"seconds of the soak run (default {SOAK_DURATION_S})",
    )
    parser.add_argument("--no-soak", action="store_true", help="skip the soak run")
    parser.add_argument("--no-big", action="store_true", help="skip the 10,000-connection run")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "reliability",
        help="output directory (default benchmarks/results/reliability)",
    )
    parser.add_argument("--serve-slow", type=float, metavar="DELAY_S", help=argparse.SUPPRESS)
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.serve_slow is not None:
        serve_slow(args.serve_slow)
        return 0
    try:
        with sigterm_as_ctrl_c():
            doc = run_reliability(
                args.scale_duration, args.soak_duration, big=not args.no_big, soak=not args.no_soak
            )
    except KeyboardInterrupt:
        log("interrupted: nothing written")
        return 130
    json_path, md_path = write_outputs(doc, args.out)
    print(md_path.read_text())
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
