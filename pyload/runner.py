"""Runs a Config: resolve, probe, spawn one process per worker, start them together, merge.

Owns the worker processes and the run's wall-clock bounds. Call chain:

    run_config(config)
      check_script -> resolve -> probe_connect          setup errors raise (errors.py)
      ensure_fd_limit                                   soft limit raised to the hard one
      spawn workers (worker.worker_main), wait "ready"  a worker failing here raises WorkerError
      start_event.set(); collect results                Ctrl-C / KeyboardInterrupt sets stop_event
      RunResult.merge(...)                              counters summed, histograms merged

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
from pyload.errors import ConnectError, ResolveError, ResourceError, ScriptError, WorkerError
from pyload.http11 import build_request
from pyload.result import RunResult
from pyload.worker import WorkerResult, WorkerSpec, worker_main

__all__ = ["probe_connect", "resolve", "run_config"]

FDS_RESERVED_PER_WORKER = 64  # stdio, pipes, the loop's own descriptors, imports
PROBE_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 120.0  # generous: 20 workers spawning on 2 busy cores
STOP_GRACE_S = 10.0  # how long after the deadline a worker may take to send its result
POLL_S = 0.5


def run_config(config: Config, on_start: Callable[[], None] | None = None) -> RunResult:
    """Run the load described by ``config`` and return the merged result.

    ``on_start`` is called once setup has succeeded, just before the load starts (the CLI prints
    wrk's two header lines there, as wrk does).
    """
    check_script(config.script)
    family, address = probe_connect(config.target, resolve(config.target))
    shares = config.connections_per_worker()
    ensure_fd_limit(max(shares) + FDS_RESERVED_PER_WORKER)
    request = build_request(config.target, config.headers)
    specs = [
        WorkerSpec(i, config, share, family, address, request) for i, share in enumerate(shares)
    ]
    with _workers(specs) as (start_event, stop_event, pipes):
        if on_start is not None:
            on_start()
        start_ns = perf_counter_ns()
        start_event.set()
        results, failures, interrupted = _collect(config, pipes, stop_event)
        runtime_us = (perf_counter_ns() - start_ns) // 1000
    return RunResult.merge(config, results, failures, runtime_us, interrupted)


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
                kind, detail = reader.recv()
            except EOFError:
                raise WorkerError(f"worker {index} exited before it was ready") from None
            if kind != "ready":
                raise WorkerError(f"worker {index} failed to start: {detail}")


def _collect(
    config: Config, pipes: dict[int, Pipe], stop_event: Any
) -> tuple[list[WorkerResult], list[str], bool]:
    """Receive every worker's result; a worker that dies or fails becomes a failure note."""
    waiting: dict[Pipe, int] = {reader: index for index, reader in pipes.items()}
    results: list[WorkerResult] = []
    failures: list[str] = []
    interrupts: list[float] = []  # when Ctrl-C came, if it did
    hard_deadline = time.monotonic() + config.duration_s + STOP_GRACE_S

    def interrupt() -> None:
        # Ctrl-C ends the run early; the workers stop at their next 100 ms tick and report.
        interrupts.append(time.monotonic())
        stop_event.set()

    with _on_sigint(interrupt):
        while waiting:
            ready = _wait(waiting, POLL_S)
            if interrupts:
                hard_deadline = min(hard_deadline, interrupts[0] + STOP_GRACE_S)
            failures.extend(_receive(ready, waiting, results))
            if not ready and time.monotonic() > hard_deadline:
                for index in sorted(waiting.values()):
                    failures.append(f"worker {index} sent no result within {STOP_GRACE_S:.0f}s")
                break
    return results, failures, bool(interrupts)


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


def _receive(ready: list[Pipe], waiting: dict[Pipe, int], results: list[WorkerResult]) -> list[str]:
    """Read what the ready pipes hold; return the failures among them."""
    failures = []
    for reader in ready:
        index = waiting.pop(reader)
        try:
            kind, detail = reader.recv()
        except EOFError:
            failures.append(f"worker {index} died before sending its result")
            continue
        if kind == "result":
            results.append(detail)
        else:
            failures.append(f"worker {index} failed: {detail}")
    return failures


def _wait(waiting: dict[Pipe, int], timeout: float) -> list[Pipe]:
    """The pipes among ``waiting`` with something to read (or closed), within ``timeout``."""
    return cast(list[Pipe], wait(list(waiting), timeout=timeout))
