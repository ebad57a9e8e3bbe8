"""Runs a Config: resolve, probe, spawn one process per worker, start them together, merge.

Owns the worker processes and the run's wall-clock bounds. Call chain:

    run_config(config)
      prepare(config)                                   setup errors raise (errors.py)
        check_script, read_body, resolve, probe_connect
        ensure_fd_limit                                 soft limit raised to the hard one
        request source, pacing -> one WorkerSpec per worker
      spawn workers (worker.worker_main), wait Ready    a worker failing here raises WorkerError
      start_event.set(); _collect messages              Progress -> on_progress; Result; Failed
                                                        Ctrl-C sets stop_event
      RunResult(config, runtime, worker results)        counters summed, histograms merged

Workers are spawned (not forked), so the loop state and sockets of the parent never leak into
them and the same code runs on every platform multiprocessing supports.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from time import perf_counter_ns
from typing import Any, cast

from pyload.config import Config, Target
from pyload.errors import (
    ConnectError,
    ResolveError,
    ResourceError,
    ScriptError,
    UsageError,
    WorkerError,
)
from pyload.http11 import build_request
from pyload.messages import (
    Counters,
    Failed,
    Progress,
    Ready,
    Result,
    RunProgress,
    WorkerResult,
)
from pyload.pacing import pacing_for
from pyload.result import RunResult
from pyload.sources import StaticRequest
from pyload.worker import WorkerSpec, worker_main

__all__ = ["prepare", "probe_connect", "read_body", "resolve", "run_config"]

FDS_RESERVED_PER_WORKER = 64  # stdio, pipes, the loop's own descriptors, imports
PROBE_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 120.0  # generous: 20 workers spawning on 2 busy cores
STOP_GRACE_S = 10.0  # how long after the deadline a worker may take to send its result
POLL_S = 0.5


def run_config(
    config: Config,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> RunResult:
    """Run the load described by ``config`` and return its result.

    ``on_start`` is called once setup has succeeded, just before the load starts (the CLI prints
    wrk's two header lines there, as wrk does). ``on_progress`` is called about once a second
    during the load with the counters so far (a ``RunProgress``), in the calling thread.
    """
    specs = prepare(config)
    with _workers(specs) as (start_event, stop_event, pipes):
        if on_start is not None:
            on_start()
        start_ns = perf_counter_ns()
        start_event.set()
        results, failures, interrupted = _collect(config, pipes, stop_event, on_progress)
        runtime_us = (perf_counter_ns() - start_ns) // 1000
    return RunResult.from_workers(config, runtime_us, results, failures, interrupted)


def prepare(config: Config) -> list[WorkerSpec]:
    """Every check and computation before the load, in order; one WorkerSpec per worker.

    Raises ScriptError, UsageError (body file), ResolveError, ConnectError or ResourceError;
    nothing has been sent to the target when it returns or raises.
    """
    check_script(config.script)
    body = read_body(config)
    family, address = probe_connect(config.target, resolve(config.target))
    shares = config.connections_per_worker()
    ensure_fd_limit(max(shares) + FDS_RESERVED_PER_WORKER)
    requests = StaticRequest(build_request(config.target, config.headers, config.method, body))
    pacing = pacing_for(config)
    firsts = [sum(shares[:i]) for i in range(len(shares))]
    return [
        WorkerSpec(i, config, share, first, family, address, requests, pacing)
        for i, (share, first) in enumerate(zip(shares, firsts, strict=True))
    ]


def read_body(config: Config) -> bytes:
    """The request body: ``--body`` as UTF-8, or the bytes of ``--body-file``."""
    if config.body is not None:
        return config.body.encode("utf-8")
    if config.body_file is None:
        return b""
    try:
        with open(config.body_file, "rb") as body:
            return body.read()
    except OSError as exc:
        raise UsageError(f"cannot read body file {config.body_file}: {exc.strerror}") from None


def check_script(path: str | None) -> None:
    if path is None:
        return
    if not os.path.isfile(path):
        raise ScriptError(f"cannot open script {path}: No such file or directory")
    raise ScriptError(f"{path}: Python hook scripts (-s) are not supported yet")


def resolve(target: Target) -> list[tuple[int, tuple[Any, ...]]]:
    """getaddrinfo as wrk calls it; ``unable to resolve host:service reason`` on failure."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolveError(
            f"unable to resolve {target.host}:{target.service} {exc.strerror}"
        ) from None
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def probe_connect(
    target: Target, addresses: list[tuple[int, tuple[Any, ...]]]
) -> tuple[int, tuple[Any, ...]]:
    """Return the first address that accepts a connection (wrk probes each one the same way)."""
    reason = "no address"
    for family, sockaddr in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            try:
                sock.connect(sockaddr)
            except TimeoutError:
                reason = "Connection timed out"
            except OSError as exc:
                reason = exc.strerror or str(exc)
            else:
                return family, sockaddr
    raise ConnectError(f"unable to connect to {target.host}:{target.service} {reason}")


def ensure_fd_limit(needed: int) -> None:
    """Raise the soft descriptor limit (inherited by the workers) to the hard one if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ResourceError(
            f"too few file descriptors: each worker needs {needed}, the hard limit is {hard}"
            " (raise it with 'ulimit -n', or use more workers)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def _workers(specs: list[WorkerSpec]) -> Iterator[tuple[Any, Any, dict[int, Pipe]]]:
    """Spawn the workers, wait until each is ready; always reap them on the way out."""
    ctx = multiprocessing.get_context("spawn")
    start_event, stop_event = ctx.Event(), ctx.Event()
    pipes: dict[int, Pipe] = {}
    processes: list[Any] = []
    try:
        # Children must ignore Ctrl-C from the terminal (it reaches the whole process group;
        # the parent stops them through stop_event). SIG_IGN is the one disposition that
        # survives exec, so it is set while they are spawned; a blocked mask would not do:
        # fork_exec delivers pending signals. The parent ignores Ctrl-C for those moments.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for spec in specs:
                reader, writer = ctx.Pipe(duplex=False)
                process = ctx.Process(
                    target=worker_main,
                    args=(spec, writer, start_event, stop_event),
                    name=f"pyload-worker-{spec.index}",
                    daemon=True,
                )
                try:
                    process.start()
                except OSError as exc:
                    raise ResourceError(f"unable to start worker {spec.index}: {exc}") from None
                writer.close()
                pipes[spec.index] = reader
                processes.append(process)
        finally:
            signal.signal(signal.SIGINT, previous)
        _wait_ready(pipes)
        yield start_event, stop_event, pipes
    finally:
        stop_event.set()
        join_deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(timeout=max(0.0, join_deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for reader in pipes.values():
            reader.close()


def _wait_ready(pipes: dict[int, Pipe]) -> None:
    waiting: dict[Pipe, int] = {reader: index for index, reader in pipes.items()}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerError(f"{len(waiting)} worker(s) not ready after {READY_TIMEOUT_S:.0f}s")
        for reader in _wait(waiting, remaining):
            index = waiting.pop(reader)
            try:
                message = reader.recv()
            except EOFError:
                raise WorkerError(f"worker {index} exited before it was ready") from None
            match message:
                case Ready():
                    pass
                case Failed(error=error):
                    raise WorkerError(f"worker {index} failed to start: {error}")
                case _:
                    raise WorkerError(f"worker {index} sent {type(message).__name__} too early")


def _collect(
    config: Config,
    pipes: dict[int, Pipe],
    stop_event: Any,
    on_progress: Callable[[RunProgress], None] | None,
) -> tuple[list[WorkerResult], list[str], bool]:
    """Receive every worker's messages until each has sent its result or failed.

    A worker that dies or fails becomes a failure note; progress goes to ``on_progress``.
    """
    waiting: dict[Pipe, int] = {reader: index for index, reader in pipes.items()}
    results: list[WorkerResult] = []
    failures: list[str] = []
    progress = _ProgressTally(len(pipes), on_progress)
    interrupts: list[float] = []  # when Ctrl-C came, if it did
    hard_deadline = time.monotonic() + config.duration + STOP_GRACE_S

    def interrupt() -> None:
        # Ctrl-C ends the run early; the workers stop at their next 100 ms tick and report.
        interrupts.append(time.monotonic())
        stop_event.set()

    with _on_sigint(interrupt):
        while waiting:
            ready = _wait(waiting, POLL_S)
            if interrupts:
                hard_deadline = min(hard_deadline, interrupts[0] + STOP_GRACE_S)
            for reader in ready:
                index = waiting[reader]
                try:
                    message = reader.recv()
                except EOFError:
                    del waiting[reader]
                    progress.finished(index, None)
                    failures.append(
                        f"worker {index} died before sending its result"
                        + progress.last_words(index)
                    )
                    continue
                match message:
                    case Progress():
                        progress.add(message)
                    case Result(result=result):
                        del waiting[reader]
                        results.append(result)
                        progress.finished(index, result.stats)
                    case Failed(error=error):
                        del waiting[reader]
                        progress.finished(index, None)
                        failures.append(f"worker {index} failed: {error}")
            if not ready and time.monotonic() > hard_deadline:
                for index in sorted(waiting.values()):
                    failures.append(f"worker {index} sent no result within {STOP_GRACE_S:.0f}s")
                break
    return results, failures, bool(interrupts)


class _ProgressTally:
    """The workers' latest progress; calls ``on_progress`` once every running worker has
    reported its n-th second, with the counters of all workers summed."""

    def __init__(self, workers: int, on_progress: Callable[[RunProgress], None] | None) -> None:
        self.on_progress = on_progress
        self.latest: dict[int, Progress] = {}
        self.final: dict[int, Counters] = {}  # workers that are done: their last counters
        self.reports: dict[int, int] = dict.fromkeys(range(workers), 0)  # running workers
        self.reported = 0  # how many seconds were passed to on_progress

    def add(self, message: Progress) -> None:
        self.latest[message.index] = message
        self.reports[message.index] += 1
        self._maybe_report()

    def finished(self, index: int, stats: Counters | None) -> None:
        self.reports.pop(index, None)
        if stats is not None:
            self.final[index] = stats.counters()
        elif index in self.latest:
            self.final[index] = self.latest[index].counters
        self._maybe_report()

    def last_words(self, index: int) -> str:
        """What a lost worker had done by its last progress message, for its failure note."""
        last = self.latest.get(index)
        if last is None:
            return " (it sent no progress)"
        return (
            f" (by {last.elapsed_ns / 1e9:.1f} s it had {last.counters.requests} requests, "
            f"{sum(last.counters.errors.values())} errors)"
        )

    def _maybe_report(self) -> None:
        if self.on_progress is None or not self.reports:
            return
        if min(self.reports.values()) <= self.reported:
            return
        self.reported += 1
        running = [self.latest[i] for i in self.reports]
        total = Counters.total([m.counters for m in running] + list(self.final.values()))
        elapsed = max(m.elapsed_ns for m in running) / 1e9
        self.on_progress(RunProgress(elapsed, total, len(running) + len(self.final)))


@contextlib.contextmanager
def _on_sigint(callback: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT to ``callback``, so no KeyboardInterrupt lands mid-recv.

    Only the main thread can set a handler (and only it ever sees SIGINT); from another thread
    the run cannot be interrupted and goes to its deadline.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: callback())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait(waiting: dict[Pipe, int], timeout: float) -> list[Pipe]:
    """The pipes among ``waiting`` with something to read (or closed), within ``timeout``."""
    return cast(list[Pipe], wait(list(waiting), timeout=timeout))
