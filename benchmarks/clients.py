"""Runs the load generators as child processes and measures them: wrk, pyload's CLI, locust.

Each run is one subprocess, bounded in time, optionally pinned to a set of CPUs (inherited by
its threads and worker processes). Its client CPU is the user+sys time of the whole process
tree, taken from ``getrusage(RUSAGE_CHILDREN)`` before and after the child is waited for (a
process's waited-for descendants are folded into it, so pyload's worker processes count).
Nothing else may be reaped meanwhile: long-lived children (nginx, the stacks) are reaped later.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import PROJECT_ROOT
from benchmarks.wrkparse import WrkParseError, parse_wrk

__all__ = [
    "LOCUSTFILE",
    "ClientError",
    "ClientRun",
    "locust_available",
    "run_locust",
    "run_pyload",
    "run_wrk",
    "wrk_available",
    "wrk_seconds",
]

#: Seconds a client may run beyond its duration (start-up, spawning, reporting) before it's killed.
GRACE_S = 60.0
#: The locust user: one FastHttpUser per connection, no wait between requests.
LOCUSTFILE = """\
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser


class Hello(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self):
        self.client.get(PATH)
"""


class ClientError(RuntimeError):
    """A client failed: missing, exited with an error, printed nothing usable, or timed out."""


@dataclass
class ClientRun:
    """One measured run of one client. Latencies are µs; CPU is seconds of the process tree."""

    tool: str
    argv: list[str]
    requests: int
    runtime_s: float
    requests_per_s: float
    cpu_s: float  # user+sys of the client's process tree, start-up included
    wall_s: float
    p50_us: float | None = None
    p99_us: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    load_cpu_s: float | None = None  # pyload only: its workers' CPU while loading (--json)
    cpus: list[int] | None = None
    text: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_us_per_request(self) -> float | None:
        return self.cpu_s / self.requests * 1e6 if self.requests else None

    @property
    def load_cpu_us_per_request(self) -> float | None:
        if self.load_cpu_s is None or not self.requests:
            return None
        return self.load_cpu_s / self.requests * 1e6

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_us_per_request"] = self.cpu_us_per_request
        data["load_cpu_us_per_request"] = self.load_cpu_us_per_request
        return data


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def locust_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("locust") is not None
    except (ImportError, ValueError):
        return False


def wrk_seconds(seconds: float) -> int:
    """wrk's -d and --timeout take whole seconds: the smallest whole number >= seconds, >= 1."""
    return max(1, math.ceil(seconds - 1e-9))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    argv: list[str], timeout_s: float, cpus: list[int] | None
) -> tuple[str, str, float, float]:
    """Run argv to completion; return stdout, stderr, wall seconds and the tree's CPU seconds."""

    def pin() -> None:
        if cpus is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(cpus))

    cpu_before = _cpu_children()
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=PROJECT_ROOT,
        start_new_session=True,
        preexec_fn=pin,  # single-threaded caller: preexec_fn is safe
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the client's own process group, by its id
        process.communicate()
        raise ClientError(f"{argv[0]} did not finish within {timeout_s:.0f}s") from None
    wall = time.perf_counter() - start
    cpu = _cpu_children() - cpu_before
    if process.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise ClientError(
            f"{' '.join(argv[:3])}... exited {process.returncode}: " + " | ".join(tail)
        )
    return stdout, stderr, wall, cpu


def run_wrk(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 2.0,
    cpus: list[int] | None = None,
    binary: str = "wrk",
) -> ClientRun:
    """``wrk -tT -cC -dDs --timeout Ts --latency URL``; duration and timeout rounded up to whole
    seconds (wrk's grammar has no fractions)."""
    duration, timeout = wrk_seconds(duration_s), wrk_seconds(timeout_s)
    argv = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        f"{timeout}s",
        "--latency",
        url,
    ]
    if shutil.which(binary) is None:
        raise ClientError(f"{binary} is not installed")
    stdout, _, wall, cpu = _run(argv, duration + GRACE_S, cpus)
    try:
        parsed = parse_wrk(stdout)
    except WrkParseError as exc:
        raise ClientError(f"cannot parse wrk's output: {exc}") from None
    return ClientRun(
        tool="wrk",
        argv=argv,
        requests=parsed.requests,
        runtime_s=parsed.runtime_us / 1e6,
        requests_per_s=parsed.requests_per_s,
        cpu_s=cpu,
        wall_s=wall,
        p50_us=parsed.percentile(50),
        p99_us=parsed.percentile(99),
        errors=parsed.errors,
        cpus=cpus,
        text=stdout,
        detail={"parsed": parsed.to_dict()},
    )


# pyload's --json keys a selfbench record leaves out: bulky, and derivable from the text.
_BULKY_JSON_KEYS = ("latency_hdr", "wrk_text", "latency_counts_us", "req_per_s_samples")


def run_pyload(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 2.0,
    cpus: list[int] | None = None,
    loop: str = "auto",
) -> ClientRun:
    """``python -m pyload -tT -cC -dDs --timeout Ts --latency --json FILE URL`` (whole seconds,
    as the CLI takes wrk's grammar)."""
    duration, timeout = wrk_seconds(duration_s), wrk_seconds(timeout_s)
    with tempfile.TemporaryDirectory(prefix="pyload-bench-") as tmp:
        json_path = Path(tmp) / "result.json"
        argv = [
            sys.executable,
            "-m",
            "pyload",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            f"{timeout}s",
            "--latency",
            "--loop",
            loop,
            "--json",
            str(json_path),
            url,
        ]
        stdout, _, wall, cpu = _run(argv, duration + GRACE_S, cpus)
        try:
            result = json.loads(json_path.read_text())
        except (OSError, ValueError) as exc:
            raise ClientError(f"pyload wrote no readable --json: {exc}") from None
    return ClientRun(
        tool="pyload",
        argv=argv,
        requests=result["requests"],
        runtime_s=result["runtime_us"] / 1e6,
        requests_per_s=result["requests_per_s"],
        cpu_s=cpu,
        wall_s=wall,
        p50_us=result["latency_us"]["percentiles"]["50"],
        p99_us=result["latency_us"]["percentiles"]["99"],
        errors=result["errors"],
        load_cpu_s=sum(w["cpu_s"] for w in result["workers"]),
        cpus=cpus,
        text=stdout,
        detail={"json": {k: v for k, v in result.items() if k not in _BULKY_JSON_KEYS}},
    )


def _locust_percentile(times_ms: dict[str, int], p: float) -> float | None:
    """wrk's rank rule over locust's rounded-millisecond response-time buckets, in µs."""
    total = sum(times_ms.values())
    if not total:
        return None
    rank = math.floor(p / 100 * total + 0.5 + 0.5)
    seen = 0
    for value, count in sorted((float(k), v) for k, v in times_ms.items()):
        seen += count
        if seen >= rank:
            return value * 1000
    return None


def run_locust(
    url: str, *, connections: int, duration_s: float, cpus: list[int] | None = None
) -> ClientRun:
    """locust --headless with FastHttpUser: one user (one connection) per connection, all
    spawned at once, no wait time; one process (locust's default)."""
    if not locust_available():
        raise ClientError("locust is not installed")
    duration = wrk_seconds(duration_s)
    base, _, path = url.partition("//")[2].partition("/")
    with tempfile.TemporaryDirectory(prefix="pyload-locust-") as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(f"PATH = {'/' + path!r}\n" + LOCUSTFILE)
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "-u",
            str(connections),
            "-r",
            str(connections),
            "-t",
            f"{duration}s",
            "-H",
            f"http://{base}",
            "--json",
            "--only-summary",
            "--loglevel",
            "ERROR",
        ]
        stdout, _, wall, cpu = _run(argv, duration + GRACE_S, cpus)
    try:
        stats = json.loads(stdout)
    except ValueError as exc:
        raise ClientError(f"locust printed no JSON: {exc}") from None
    requests = sum(s["num_requests"] for s in stats)
    failures = sum(s["num_failures"] for s in stats)
    if stats:
        runtime = max(s["last_request_timestamp"] for s in stats) - min(
            s["start_time"] for s in stats
        )
    else:
        runtime = float(duration)
    times: dict[str, int] = {}
    for s in stats:
        for k, v in s["response_times"].items():
            times[k] = times.get(k, 0) + v
    return ClientRun(
        tool="locust",
        argv=argv,
        requests=requests,
        runtime_s=runtime,
        requests_per_s=requests / runtime if runtime > 0 else 0.0,
        cpu_s=cpu,
        wall_s=wall,
        p50_us=_locust_percentile(times, 50),
        p99_us=_locust_percentile(times, 99),
        errors={"failures": failures},
        cpus=cpus,
    )
