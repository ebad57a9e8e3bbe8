"""Runs a Config: resolve, probe, spawn one process per worker, start them together, merge.

Owns the worker processes and the run's wall-clock bounds. Call chain:

    run_config(config)
      prepare(config)                                   setup errors raise (errors.py)
        MainScript (-s), read_body, resolve, probe_connect
        ensure_fd_limit                                 soft limit raised to the hard one
        request source (-s: setup(thread) in order), -n's shares, pacing -> one ThreadSpec
        per thread, each with its host process
      start worker processes (worker.process_main)       fork, else forkserver (_context); a
        wait for each one's Ready                       process failing here raises WorkerError
      start_event.set(); _collect messages              Progress -> on_progress; Result; Failed;
                                                        HookFailed (-s) -> stop all, HookError
                                                        SIGINT, SIGTERM set stop_event;
                                                        a second one: no more waiting
      RunResult(config, runtime, worker results)        counters summed, histograms merged

The run's ``threads`` (wrk's: groups of connections, each with its own sampler) are hosted by
fewer worker processes (one per CPU by default; ``processes_for``), each with one event loop.
Processes start by fork where that is safe, else from a forkserver (``_context``).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, cast

from pyload._counters import LostPart, RunProgress, ThreadResult
from pyload._engine import ThreadSpec, process_main
from pyload._http11 import build_request
from pyload._messages import Failed, HookFailed, Progress, Ready, Result
from pyload._pacing import Pacing, pacing_for
from pyload._progress import ProgressTally
from pyload._sources import StaticRequest
from pyload.config import Config, Target
from pyload.errors import (
    ConnectError,
    HookError,
    ResolveError,
    ResourceError,
    UsageError,
    WorkerError,
)
from pyload.hooks import Address, MainScript, read_script

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = [
    "Share",
    "prepare",
    "probe_connect",
    "read_body",
    "request_quotas",
    "resolve",
    "run_config",
]

FDS_RESERVED_PER_WORKER = 64  # per process: stdio, pipes, the loop's own descriptors, imports
PROBE_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 120.0  # generous: 20 workers spawning on 2 busy cores
STOP_GRACE_S = 10.0  # how long after the deadline a worker may take to send its result
POLL_S = 0.5
# -- signals (SIGINT, SIGTERM): docs/reliability.md --
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # the first ends the run early, the second
INTERRUPTED_POLL_S = 0.05  # at once (how soon the parent notices the second)
EXIT_GRACE_S = 0.5  # once the results are in (or given up), how long a worker may take to exit


def run_config(
    config: Config,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    share: Share | None = None,
    script: MainScript | None = None,
    keep_latency_intervals: bool = False,
) -> RunResult:
    """Run the load described by ``config`` and return its result.

    ``on_start`` is called once setup has succeeded, just before the load starts (the CLI prints
    wrk's two header lines there, as wrk does, and so loads its report code then: after the
    workers have forked, and not during the load, where it would take CPU from them).
    ``on_progress`` is called about once a second during the load with the counters so far
    (a ``RunProgress``), in the calling thread. ``share`` makes this run one part of a larger
    one (see ``Share``). ``script``: the ``-s`` script already loaded by the caller, who calls
    its ``done()`` after the report (hooks.py); else ``prepare`` loads it.
    ``keep_latency_intervals`` keeps each second's latencies as an HdrHistogram in the result's
    ``intervals`` (for ``--hdr-log``; it costs the parent CPU during the load). With
    ``config.dask`` the run is spread over a Dask cluster (``pyload._dask``), whose
    agents each run their part through this function.
    """
    if config.dask is not None:  # -- distributed runs (pyload._dask) --
        from pyload._dask import run_distributed

        return run_distributed(config, on_start, on_progress, keep_latency_intervals)
    specs = prepare(config, share, script)
    with _workers(specs) as (start_event, stop_event, pipes, hosted):
        if on_start is not None:
            on_start()
        start_ns = perf_counter_ns()
        start_event.set()
        tally = ProgressTally(config.threads, on_progress, keep_latency_intervals)
        results, failures, interrupted = _collect(config, pipes, hosted, stop_event, tally)
        waited_us = (perf_counter_ns() - start_ns) // 1000
    if script is not None:
        script.finish(results)  # -s: the threads' globals, for thread.get() in done()
    # The run's length is the load window the workers measured, not the time the parent took
    # to collect their results (which grows with a busy machine; Requests/sec divides by it).
    runtime_us = max((r.stats.runtime_us for r in results), default=waited_us)
    from pyload.result import RunResult  # numpy: loaded after the workers were started

    return RunResult.from_workers(
        config, runtime_us, results, failures, interrupted, intervals=tally.flush()
    )


@dataclass(frozen=True)
class Share:
    """This run as one part of a larger one (a distributed run's agent): its connection slots
    are numbered from ``first_slot`` in the whole run, and paced by the whole run's ``pacing``
    (so that the parts' constant-rate grids interleave instead of coinciding)."""

    first_slot: int
    pacing: Pacing


def prepare(
    config: Config, share: Share | None = None, script: MainScript | None = None
) -> list[ThreadSpec]:
    """Every check and computation before the load, in order; one ThreadSpec per thread.

    Raises ScriptError, UsageError (body file), ResolveError, ConnectError or ResourceError;
    nothing has been sent to the target when it returns or raises. With ``config.script``, the
    script (``script``, else loaded here) runs ``setup(thread)`` for each thread in order after
    the probe, as wrk does, and each thread gets a request source of its own (hooks.py).
    """
    if config.script is not None and script is None:
        script = MainScript(config)  # a missing file, a syntax error: before anything else
    body = read_body(config)
    family, address = probe_connect(config.target, resolve(config.target))
    shares = config.connections_per_thread()
    hosts = threads_per_process(config.threads, processes_for(config))
    offset = share.first_slot if share is not None else 0
    firsts = [offset + first for first in [0, *itertools.accumulate(shares)]]  # slot numbers
    per_process = [sum(shares[t] for t in threads) for threads in hosts]
    ensure_fd_limit(max(per_process) + FDS_RESERVED_PER_WORKER)
    close = not config.keepalive  # --no-keepalive: every request says Connection: close
    requests = StaticRequest(
        build_request(config.target, config.headers, config.method, body, close=close)
    )
    pacing = share.pacing if share is not None else pacing_for(config)
    quotas = request_quotas(config)
    specs = []
    for process, threads in enumerate(hosts):
        for t in threads:
            if script is None:
                spec = ThreadSpec(
                    t, config, shares[t], firsts[t], family, address, requests, pacing, process,
                    quotas[t],
                )  # fmt: skip
            else:
                source = script.setup(t, Address(family, address), body)  # wrk: in order
                addr = source.thread.addr
                spec = ThreadSpec(
                    t, config, shares[t], firsts[t], addr.family, addr.sockaddr, source, pacing,
                    process, quotas[t],
                )  # fmt: skip
            specs.append(spec)
    return specs


def request_quotas(config: Config) -> list[int | None]:
    """``-n`` split over the threads as the connections are (``Config.connections_per_thread``):
    each thread stops once it has its share; None each without ``-n``."""
    if config.requests is None:
        return [None] * config.threads
    base, extra = divmod(config.requests, config.threads)
    return [base + (1 if i < extra else 0) for i in range(config.threads)]


def processes_for(config: Config) -> int:
    """How many worker processes host the run's threads: ``--processes``, else one per CPU this
    process may run on (``os.sched_getaffinity``), never more than the threads.

    One process per CPU is the cheapest per request: a Python process uses one core, and more
    processes than cores only add interpreters (memory, start-up) and context switches.
    """
    if config.processes is not None:
        return config.processes
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(config.threads, cpus))


def threads_per_process(threads: int, processes: int) -> list[list[int]]:
    """Thread numbers per process, in contiguous blocks as even as can be: 5 over 2 -> [[0, 1, 2],
    [3, 4]]."""
    base, extra = divmod(threads, processes)
    blocks, start = [], 0
    for process in range(processes):
        size = base + (1 if process < extra else 0)
        blocks.append(list(range(start, start + size)))
        start += size
    return blocks


def read_body(config: Config) -> bytes:
    """The request body: ``--body`` as UTF-8 (an argument byte that is not UTF-8 is sent as
    itself, as wrk sends its arguments: ``surrogateescape``), or the bytes of ``--body-file``."""
    if config.body is not None:
        try:
            return config.body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:  # a lone surrogate that no argument byte gives
            raise UsageError(f"cannot send {exc.object[exc.start:exc.end]!r} in a body") from None
    if config.body_file is None:
        return b""
    try:
        with open(config.body_file, "rb") as body:
            return body.read()
    except OSError as exc:
        raise UsageError(f"cannot read body file {config.body_file}: {exc.strerror}") from None


def check_script(path: str | None) -> None:
    """ScriptError if the ``-s`` script is missing or does not compile (nothing of it runs)."""
    if path is not None:
        read_script(path)


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
    """Return the first address that accepts a connection (wrk probes each one the same way)
    and, for an https target, completes a TLS handshake as the workers do it.

    Unlike wrk, a failed handshake is a setup error (``unable to connect to host:port TLS
    handshake failed: reason``): https to a plain-HTTP port would otherwise run the whole
    load as connect errors. Nothing is sent but the handshake: no request reaches the target.
    """
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
                failure = probe_tls(sock, target.host) if target.tls else None
                if failure is None:
                    return family, sockaddr
                reason = f"TLS handshake failed: {failure}"
    raise ConnectError(f"unable to connect to {target.host}:{target.service} {reason}")


def probe_tls(sock: socket.socket, host: str) -> str | None:
    """Do a TLS handshake on a connected socket as the workers do (as wrk: SNI = the URL's
    host, no certificate verification), then close it; None, or why it failed, in one line
    (OpenSSL's ``[LIB: CODE] text`` without its ``(_ssl.c:NNN)`` source position)."""
    import re
    import ssl  # only for https targets

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False) as tls:
            tls.settimeout(PROBE_TIMEOUT_S)
            tls.do_handshake()  # then closed: unwrap() could wait for the server's close_notify
    except TimeoutError:
        return "timed out"
    except ssl.SSLError as exc:
        text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
        return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def ensure_fd_limit(needed: int) -> None:
    """Raise the soft descriptor limit (inherited by the workers) to the hard one if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ResourceError(
            f"too few file descriptors: each worker process needs {needed}, the hard limit is "
            f"{hard} (raise it with 'ulimit -n', or spread the connections over more worker "
            "processes with --processes)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _context() -> Any:
    """How worker processes start: ``fork`` where that is safe, else ``forkserver``.

    fork takes milliseconds and the workers share the parent's already imported modules
    (copy-on-write), so a run starts fast and small. It is safe only in a process with one
    thread (a lock held by another thread would stay locked in the child), so a library caller
    with threads of its own (a test suite's server thread, a web app) gets the forkserver: one
    single-threaded process, started once per caller with pyload's engine imported, that
    forks the workers. Neither re-runs the caller's script in every worker as spawn does.
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pyload._engine"])
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _workers(
    specs: list[ThreadSpec],
) -> Iterator[tuple[Any, Any, dict[int, Pipe], dict[int, list[int]]]]:
    """Start the worker processes, wait until each is ready; always reap them on the way out.

    Yields the start and stop events, each process's pipe and the threads each hosts.
    """
    hosted: dict[int, list[ThreadSpec]] = {}
    for spec in specs:
        hosted.setdefault(spec.process, []).append(spec)
    ctx = _context()
    start_event, stop_event = ctx.Event(), ctx.Event()
    pipes: dict[int, Pipe] = {}
    processes: list[Any] = []
    try:
        # Children must ignore Ctrl-C from the terminal and a SIGTERM sent to the group
        # (both reach the whole process group; the parent stops them through stop_event and
        # still collects their results). SIG_IGN is the one disposition that survives fork and
        # exec (and so reaches a forkserver started now and its children), so it is set while
        # they start; a blocked mask would not do: fork_exec delivers pending signals. The
        # parent ignores both for those moments (only the main thread can: _ignoring_interrupts).
        previous = _ignoring_interrupts()
        # Forked workers inherit every object of this process: frozen, the collector of a
        # worker never walks them (CPU, and copy-on-write pages it would touch). Unfrozen here
        # right after, so the caller's own objects are collected as before.
        gc.freeze()
        try:
            for process_index, threads in hosted.items():
                reader, writer = ctx.Pipe(duplex=False)
                process = ctx.Process(
                    target=process_main,
                    args=(process_index, threads, writer, start_event, stop_event),
                    name=f"pyload-p{process_index}",
                    daemon=True,
                )
                try:
                    process.start()
                except OSError as exc:
                    raise ResourceError(
                        f"unable to start worker process {process_index}: {exc}"
                    ) from None
                writer.close()
                pipes[process_index] = reader
                processes.append(process)
        finally:
            gc.unfreeze()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        _wait_ready(pipes)
        yield start_event, stop_event, pipes, {p: [t.index for t in ts] for p, ts in hosted.items()}
    finally:
        stop_event.set()
        # _collect has waited for every result (up to STOP_GRACE_S past the deadline, less
        # after an interrupt): a worker that sent its result exits in milliseconds; one still
        # here after EXIT_GRACE_S hangs (or was given up on) and is killed.
        join_deadline = time.monotonic() + EXIT_GRACE_S
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
            raise WorkerError(
                f"{len(waiting)} worker process(es) not ready after {READY_TIMEOUT_S:.0f}s"
            )
        for reader in _wait(waiting, remaining):
            index = waiting.pop(reader)
            try:
                message = reader.recv()
            except EOFError:
                raise WorkerError(f"worker process {index} exited before it was ready") from None
            match message:
                case Ready():
                    pass
                case Failed(error=error):
                    raise WorkerError(f"worker process {index} failed to start: {error}")
                case HookFailed(error=error, traceback=text):  # -s: an init() raised
                    raise HookError(error, text)
                case _:
                    raise WorkerError(
                        f"worker process {index} sent {type(message).__name__} too early"
                    )


def _collect(
    config: Config,
    pipes: dict[int, Pipe],
    hosted: dict[int, list[int]],
    stop_event: Any,
    progress: ProgressTally,
) -> tuple[list[ThreadResult], list[LostPart], bool]:
    """Receive every process's messages until each has sent its threads' results or failed.

    A process that dies or fails becomes a failure note (naming its threads and what they had
    done by their last progress); progress messages go to the ``progress`` tally.
    """
    waiting: dict[Pipe, int] = {reader: index for index, reader in pipes.items()}
    outstanding = {process: set(threads) for process, threads in hosted.items()}
    results: list[ThreadResult] = []
    failures: list[LostPart] = []
    interrupts: list[float] = []  # when SIGINT or SIGTERM came, if they did
    hook_failures: list[HookFailed] = []  # -s: a hook raised; the run is called off
    hard_deadline = time.monotonic() + config.warmup + config.duration + STOP_GRACE_S

    def interrupt() -> None:
        # SIGINT (Ctrl-C) or SIGTERM ends the run early: the workers stop at their next 100 ms
        # tick and report. A second one ends it at once: results not in yet are given up.
        interrupts.append(time.monotonic())
        stop_event.set()

    def lose(reader: Pipe, what: str) -> None:
        process = waiting.pop(reader)
        lost = sorted(outstanding.pop(process))
        done, when = progress.last_words(lost)
        for thread in lost:
            progress.finished(thread, None)
        failures.append(LostPart(process, tuple(lost), what, done, when))

    with _on_interrupt(interrupt):
        while waiting:
            ready = _wait(waiting, INTERRUPTED_POLL_S if interrupts else POLL_S)
            if interrupts:
                hard_deadline = min(hard_deadline, interrupts[0] + STOP_GRACE_S)
            for reader in ready:
                try:
                    message = reader.recv()
                except EOFError:
                    lose(reader, "died before sending its result")
                    continue
                match message:
                    case Progress():
                        progress.add(message)
                    case Result(result=result):
                        results.append(result)
                        progress.finished(result.stats.index, result.stats)
                        threads = outstanding[waiting[reader]]
                        threads.discard(result.stats.index)
                        if not threads:
                            del outstanding[waiting.pop(reader)]
                    case Failed(error=error):
                        lose(reader, f"failed: {error}")
                    case HookFailed():  # -s: every worker stops; the results still come
                        hook_failures.append(message)
                        stop_event.set()
            if len(interrupts) > 1:  # -- a second SIGINT or SIGTERM: the run ends now --
                for reader in list(waiting):
                    lose(reader, "sent no result before the second interrupt")
                break
            if not ready and time.monotonic() > hard_deadline:
                for reader in list(waiting):
                    lose(reader, f"sent no result within {STOP_GRACE_S:.0f}s")
                break
    if hook_failures:
        raise HookError(hook_failures[0].error, hook_failures[0].traceback)
    return results, failures, bool(interrupts)


@contextlib.contextmanager
def _on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``callback``: no KeyboardInterrupt lands mid-recv, and a
    SIGTERM (``kill``, a service manager's stop) still gets the report of what was done.

    Only the main thread can set a handler (and only it ever sees these signals); from another
    thread the run cannot be interrupted and goes to its deadline.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, lambda signum, frame: callback())
        for signum in INTERRUPT_SIGNALS
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ignoring_interrupts() -> dict[int, Any]:
    """Ignore SIGINT and SIGTERM (in the main thread; elsewhere the dispositions cannot be
    changed and stay as they are); the previous handlers, to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, signal.SIG_IGN) for signum in INTERRUPT_SIGNALS}


def _wait(waiting: dict[Pipe, int], timeout: float) -> list[Pipe]:
    """The pipes among ``waiting`` with something to read (or closed), within ``timeout``."""
    return cast(list[Pipe], wait(list(waiting), timeout=timeout))
