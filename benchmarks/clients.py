"""Runs the load generators as child processes and measures them: wrk, pyload's CLI, locust,
and the floor (benchmarks/floor.py, the least Python client, issue 20).

Each run is one subprocess, bounded in time, optionally pinned to a set of CPUs (inherited by
its threads and worker processes). Its client CPU is the user+sys time of the whole process
tree, taken from ``getrusage(RUSAGE_CHILDREN)`` before and after the child is waited for (a
process's waited-for descendants are folded into it, so pyload's worker processes count).
Nothing else may be reaped meanwhile: long-lived children (nginx, the stacks) are reaped later.

Given a ``Watch``, the runner also observes the client from outside while it runs (the
selfbench does): the total PSS of its process tree, sampled every ``pss_interval_s``, and its
start-up, from launch to its first request counted by the server (``benchmarks.watch``): the
wall time, and the CPU the whole tree (the parent and its workers) had used by then.
Meanwhile the runner itself is pinned to ``Watch.cpu`` (the server's CPU, idle while the client
starts) so that observing takes nothing from the client's CPU.
"""

from __future__ import annotations

import compileall
import json
import math
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks import PROJECT_ROOT
from benchmarks.common import child_env, log
from benchmarks.results import PyloadResult
from benchmarks.stopping import stop_process
from benchmarks.watch import RequestCounter, process_tree, tree_cpu_s, tree_pss_bytes
from benchmarks.wrkparse import WrkParseError, parse_wrk

__all__ = [
    "LOCUSTFILE",
    "REFERENCE_TOOL",
    "ClientError",
    "ClientRun",
    "Watch",
    "compile_pyload",
    "locust_available",
    "one_round",
    "run_floor",
    "run_locust",
    "run_pyload",
    "run_wrk",
    "wrk_available",
    "wrk_seconds",
]

#: The load generator the others are measured against.
REFERENCE_TOOL = "wrk"
#: The bare client every figure is also divided by: run by path, importing nothing of the repo.
FLOOR_SCRIPT = Path(__file__).resolve().parent / "floor.py"
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


#: While waiting for a client's first request, how often its process tree is looked up again.
TREE_LOOK_S = 0.01


class ClientError(RuntimeError):
    """A client failed: missing, exited with an error, printed nothing usable, or timed out."""


@dataclass
class Watch:
    """What to observe while a client runs: the server's request counter (for the start-up),
    the client tree's PSS every ``pss_interval_s``, from the runner pinned to ``cpu``."""

    requests: RequestCounter | None = None
    cpu: int | None = None
    pss_interval_s: float = 0.2
    startup_poll_s: float = 0.001


@dataclass
class Observed:
    """What a Watch saw: seconds from launch to the first request the server counted (None if
    not seen), the peak total PSS of the process tree, the most processes in it, the samples."""

    wall_s: float
    startup_s: float | None = None
    startup_cpu_s: float | None = None  # the tree's CPU at that moment
    peak_pss_bytes: int | None = None
    processes: int | None = None
    pss_samples: int = 0


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
    load_cpu_s: float | None = None  # pyload (its workers, --json) and the floor: loading CPU
    cpus: list[int] | None = None
    startup_s: float | None = None  # launch to the first request the server counted (Watch)
    startup_cpu_s: float | None = None  # the process tree's CPU by then (Watch)
    peak_pss_bytes: int | None = None  # peak total PSS of the process tree (Watch)
    processes: int | None = None  # the most processes seen in the tree (Watch)
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

    @property
    def wall_beyond_run_s(self) -> float:
        """Wall time beyond the run the tool reports: start-up, stopping and reporting."""
        return self.wall_s - self.runtime_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_us_per_request"] = self.cpu_us_per_request
        data["load_cpu_us_per_request"] = self.load_cpu_us_per_request
        data["wall_beyond_run_s"] = self.wall_beyond_run_s
        return data

    def observed(self, seen: Observed) -> ClientRun:
        self.startup_s = seen.startup_s
        self.startup_cpu_s = seen.startup_cpu_s
        self.peak_pss_bytes = seen.peak_pss_bytes
        self.processes = seen.processes
        return self


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


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    """This process on ``cpu`` for the block (its former CPUs restored after)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _observe(
    process: subprocess.Popen[bytes], start: float, deadline: float, watch: Watch | None
) -> Observed:
    """Wait for the client to exit (until ``deadline``), observing it as ``watch`` says."""
    seen = Observed(wall_s=0.0)
    counter = watch.requests if watch is not None else None
    waiting_first = counter is not None
    tree: list[int] = [process.pid]  # the client's processes, as last seen while waiting
    next_tree = start  # a look at /proc takes ~1 ms: every TREE_LOOK_S, not at every poll
    next_sample = start
    while True:
        now = time.perf_counter()
        if watch is not None and now >= next_sample:
            pss, count = tree_pss_bytes(process.pid)
            if count:
                seen.pss_samples += 1
                seen.peak_pss_bytes = max(seen.peak_pss_bytes or 0, pss)
                seen.processes = max(seen.processes or 0, count)
            next_sample = now + watch.pss_interval_s
        if waiting_first and counter is not None:
            served = counter.served()
            if served is None:
                waiting_first = False  # the status page is gone: no start-up figure
            elif served > 0:
                seen.startup_s = now - start
                seen.startup_cpu_s = _startup_cpu_s(process.pid, tree)
                waiting_first = False
            elif now >= next_tree:
                tree, next_tree = process_tree(process.pid), now + TREE_LOOK_S
        if now >= deadline:
            raise subprocess.TimeoutExpired(process.args, deadline - start)
        if watch is None:
            timeout = deadline - now
        elif waiting_first:
            timeout = watch.startup_poll_s
        else:
            timeout = max(0.0, min(next_sample, deadline) - time.perf_counter())
        if _exited(process, timeout):
            seen.wall_s = time.perf_counter() - start
            return seen


def _startup_cpu_s(pid: int, known: list[int]) -> float:
    """The tree's CPU now: the processes seen while waiting are read first (the load runs on
    while this reads), then any that appeared since the last look."""
    cpu = tree_cpu_s(known)
    return cpu + tree_cpu_s([p for p in process_tree(pid) if p not in known])


def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process to exit, woken the moment it does (a
    pidfd; ``Popen.wait`` with a timeout polls, up to 50 ms late); True if it has exited."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already reaped
        pidfd = None
    if pidfd is None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return process.poll() is not None


def _run(
    argv: list[str],
    timeout_s: float,
    cpus: list[int] | None,
    watch: Watch | None = None,
    source: Path | None = None,
) -> tuple[str, str, float, Observed]:
    """Run argv to completion; return stdout, stderr, the tree's CPU seconds, what was seen
    (wall seconds always; more with a Watch). ``source``: a folder holding another build of
    ``pyload/``, run from there and first on PYTHONPATH (``python -m`` imports that one)."""

    def pin() -> None:
        if cpus is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(cpus))

    def text(f: IO[bytes]) -> str:
        f.seek(0)
        return f.read().decode(errors="replace")

    counter = watch.requests if watch is not None else None
    if counter is not None and not counter.start():
        watch = Watch(None, watch.cpu, watch.pss_interval_s) if watch else None
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        _pinned(watch.cpu if watch else None),
    ):
        cpu_before = _cpu_children()
        start = time.perf_counter()
        env = child_env()
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join((str(source), env["PYTHONPATH"]))
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,  # files, not pipes: nothing to drain while the client is observed
            stderr=err,
            env=env,
            cwd=source or PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=pin,  # single-threaded caller: preexec_fn is safe
        )
        try:
            seen = _observe(process, start, start + timeout_s, watch)
        except subprocess.TimeoutExpired:
            stop_process(process, group=True)  # SIGKILL to its own process group
            raise ClientError(f"{argv[0]} did not finish within {timeout_s:.0f}s") from None
        except BaseException:  # Ctrl-C, SIGTERM: the client is in a session of its own
            stop_process(process, group=True)
            raise
        cpu = _cpu_children() - cpu_before
        stdout, stderr = text(out), text(err)
    if process.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise ClientError(
            f"{' '.join(argv[:3])}... exited {process.returncode}: " + " | ".join(tail)
        )
    return stdout, stderr, cpu, seen


def run_wrk(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 2.0,
    cpus: list[int] | None = None,
    binary: str = "wrk",
    watch: Watch | None = None,
    options: tuple[str, ...] = (),
) -> ClientRun:
    """``wrk -tT -cC -dDs --timeout Ts --latency [OPTIONS] URL``; duration and timeout rounded
    up to whole seconds (wrk's grammar has no fractions). ``options``: e.g. ``("-s", path)``."""
    duration, timeout = wrk_seconds(duration_s), wrk_seconds(timeout_s)
    argv = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        f"{timeout}s",
        "--latency",
        *options,
        url,
    ]
    if shutil.which(binary) is None:
        raise ClientError(f"{binary} is not installed")
    stdout, _, cpu, seen = _run(argv, duration + GRACE_S, cpus, watch)
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
        wall_s=seen.wall_s,
        p50_us=parsed.percentile(50),
        p99_us=parsed.percentile(99),
        errors=parsed.errors,
        cpus=cpus,
        text=stdout,
        detail={"parsed": parsed.to_dict()},
    ).observed(seen)


# pyload's --json keys a selfbench record leaves out: bulky, and derivable from the text.
_BULKY_JSON_KEYS = ("latency_hdr", "wrk_text", "latency_counts_us", "req_per_s_samples")


def compile_pyload(source: Path = PROJECT_ROOT) -> None:
    """pyload's modules compiled to bytecode (``__pycache__``) before a run is measured, as an
    installed pyload has them after its first run. Without it, a module edited since its
    bytecode was written (or every module, in an environment with PYTHONDONTWRITEBYTECODE set,
    which never writes it) is compiled from source at every launch: 15 to 20 ms more of
    start-up CPU, measured once in this project's shell. Cheap when nothing changed."""
    compileall.compile_dir(source / "pyload", quiet=2)


def run_pyload(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 2.0,
    cpus: list[int] | None = None,
    loop: str = "auto",
    processes: int | None = None,
    watch: Watch | None = None,
    options: tuple[str, ...] = (),
    source: Path | None = None,
) -> ClientRun:
    """``python -m pyload -tT -cC -dDs --timeout Ts --latency --json FILE [OPTIONS] URL``
    (whole seconds, as the CLI takes wrk's grammar), with ``--processes P`` if given (else
    pyload's default); ``options``: e.g. ``("-s", path)``; ``source``: a folder with another
    build's ``pyload/`` to run instead of this checkout's (``benchmarks.builds``).
    The load-phase CPU is the JSON's ``cpu_s`` (its worker processes while loading)."""
    duration, timeout = wrk_seconds(duration_s), wrk_seconds(timeout_s)
    compile_pyload(source or PROJECT_ROOT)  # a start-up measured, not a compile
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
            *(["--processes", str(processes)] if processes is not None else []),
            *options,
            url,
        ]
        stdout, _, cpu, seen = _run(argv, duration + GRACE_S, cpus, watch, source)
        try:
            result = json.loads(json_path.read_text())
        except (OSError, ValueError) as exc:
            raise ClientError(f"pyload wrote no readable --json: {exc}") from None
    pyload = PyloadResult.from_dict(result)
    return ClientRun(
        tool="pyload",
        argv=argv,
        requests=pyload.requests,
        runtime_s=pyload.runtime_s,
        requests_per_s=pyload.requests_per_s,
        cpu_s=cpu,
        wall_s=seen.wall_s,
        p50_us=pyload.p50_us,
        p99_us=pyload.p99_us,
        errors=pyload.errors,
        load_cpu_s=result["cpu_s"] if result.get("cpu_s") is not None else pyload.workers_cpu_s,
        cpus=cpus,
        text=stdout,
        detail={"json": {k: v for k, v in result.items() if k not in _BULKY_JSON_KEYS}},
    ).observed(seen)


def run_floor(
    url: str,
    *,
    connections: int,
    duration_s: float,
    cpus: list[int] | None = None,
    watch: Watch | None = None,
) -> ClientRun:
    """``python -P benchmarks/floor.py URL CONNECTIONS SECONDS``: every connection on one loop
    in one process (it has no threads). The load-phase CPU is its JSON's ``cpu_s``."""
    argv = [sys.executable, "-P", str(FLOOR_SCRIPT), url, str(connections), f"{duration_s:g}"]
    stdout, _, cpu, seen = _run(argv, duration_s + GRACE_S, cpus, watch)
    try:
        result = json.loads(stdout)
    except ValueError as exc:
        raise ClientError(f"the floor printed no JSON: {exc}") from None
    return ClientRun(
        tool="floor",
        argv=argv,
        requests=result["requests"],
        runtime_s=result["seconds"],
        requests_per_s=result["requests_per_s"],
        cpu_s=cpu,
        wall_s=seen.wall_s,
        p50_us=result["p50_us"],
        p99_us=result["p99_us"],
        errors=result["errors"],
        load_cpu_s=result["cpu_s"],
        cpus=cpus,
        text=stdout,
        detail={"json": result},
    ).observed(seen)


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
    url: str,
    *,
    connections: int,
    duration_s: float,
    cpus: list[int] | None = None,
    watch: Watch | None = None,
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
        stdout, _, cpu, seen = _run(argv, duration + GRACE_S, cpus, watch)
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
        wall_s=seen.wall_s,
        p50_us=_locust_percentile(times, 50),
        p99_us=_locust_percentile(times, 99),
        errors={"failures": failures},
        cpus=cpus,
    ).observed(seen)


def one_round(
    label: str,
    tools: Sequence[str],
    make: Callable[[str], Callable[[], ClientRun]],
    shift: int,
    runs: dict[str, list[dict[str, Any]]],
    skipped: dict[str, str],
) -> None:
    """One alternating round of the selfbenches: each tool once, starting ``shift`` tools in
    (so that no tool always runs first), its run added to ``runs``, a failure logged and kept
    in ``skipped``; one progress line per run."""
    shift %= len(tools)
    for tool in list(tools[shift:]) + list(tools[:shift]):
        try:
            run = make(tool)()
        except ClientError as exc:
            log(f"  {label}: {tool} failed: {exc}")
            skipped.setdefault(tool, str(exc))
            continue
        runs[tool].append(run.to_dict())
        cpu = run.cpu_us_per_request
        line = f"  {label} {tool:7s} {run.requests_per_s:10.0f} req/s  "
        line += f"{cpu:7.2f} us CPU/req" if cpu is not None else "no requests"
        if run.startup_s is not None:
            line += f"  start {run.startup_s * 1000:6.0f} ms"
        if run.startup_cpu_s is not None:
            line += f" ({run.startup_cpu_s * 1000:.0f} ms CPU)"
        if run.peak_pss_bytes is not None:
            line += f"  PSS {run.peak_pss_bytes / 1e6:6.1f} MB"
        if run.detail.get("protocol"):
            line += f"  {run.detail['protocol']}"
        errors = sum(run.errors.values())
        log(line + (f"  {errors} errors" if errors else ""))
