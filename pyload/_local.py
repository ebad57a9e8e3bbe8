"""The local executor: a Plan run by worker processes on this machine, their results merged.

Owns the worker processes and the run's wall-clock bounds. Call chain:

    run_local(plan)                                     (_run.Run chooses it; a Dask agent too)
      prepare(plan)                                     setup errors raise (errors.py)
        resolve, probe_connect (_net)
        ensure_fd_limit                                 soft limit raised to the hard one
        request source (-s: setup(thread) in order) -> one ThreadSpec per thread, each with
        its host process
      start worker processes (_process.process_main)    fork, else forkserver (_context); a
        wait for each one's Ready                       process failing here raises WorkerError
      START to each; _collect messages                  Progress -> the tally; Result; Failed;
                                                        HookFailed (-s) -> stop all, HookError
                                                        a stop signal: STOP to each;
                                                        a second one: no more waiting
      RunResult(config, runtime, thread results)        counters summed, histograms merged

The run's ``threads`` (wrk's: groups of connections, each with its own sampler) are hosted by
fewer worker processes (one per CPU by default; ``_plan.processes_for``), each with one event
loop. Processes start by fork where that is safe, else from a forkserver (``_context``).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from time import perf_counter_ns
from typing import TYPE_CHECKING, cast

from pyload._counters import LostPart, RunProgress, ThreadResult
from pyload._http11 import build_request
from pyload._messages import Failed, HookFailed, Progress, Ready, Result
from pyload._net import probe_connect, probe_http2, resolve_target
from pyload._plan import Plan, ThreadSpec, make_plan, with_streams
from pyload._process import START, STOP, STOP_SIGNALS, preload_loop, process_main
from pyload._progress import ProgressTally
from pyload._sources import RequestSource, StaticRequest
from pyload.config import Config
from pyload.errors import ConnectError, HookError, ResourceError, WorkerError

if TYPE_CHECKING:
    from pyload._script import MainScript
    from pyload.result import RunResult

__all__ = ["STOP_SIGNALS", "ensure_fd_limit", "kill_started_processes", "prepare", "run_local"]

FDS_RESERVED_PER_PROCESS = 64  # per process: stdio, pipes, the loop's own descriptors, imports
READY_TIMEOUT_S = 120.0  # generous: 20 processes starting on 2 busy cores
STOP_GRACE_S = 10.0  # how long after the deadline a process may take to send its results
POLL_S = 0.5
# -- signals (docs/reliability.md): the first ends the run early, the second at once --
INTERRUPTED_POLL_S = 0.05  # how soon the parent notices the second
EXIT_GRACE_S = 0.5  # once the results are in (or given up), how long a process may take to exit


def run_local(
    plan: Plan,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    script: MainScript | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``plan`` on this machine's worker processes and return its result.

    ``on_start`` is called once setup has succeeded, just before the load starts (the CLI prints
    wrk's two header lines there, as wrk does, and so loads its report code then: after the
    processes have forked, and not during the load, where it would take CPU from them).
    ``on_progress`` is called about once a second during the load with the counters so far
    (a ``RunProgress``), in the calling thread. ``script``: the ``-s`` script, loaded by the
    caller (``_run.Run``), which calls its ``done()`` after the report. The result keeps
    each second of the run (``result.seconds``: the progress tally's). ``on_notice`` gets a
    line about a setting the server made the run change (``--streams`` above its limit).
    """
    specs = prepare(plan, script, on_notice)
    config = specs[0].config  # the plan's, or with --streams capped at the server's limit
    interrupts: list[float] = []  # when a stop signal came during the load, if one did
    with _processes(specs) as (pipes, hosted):
        # Nothing more is imported before the START (numpy, for the seconds' percentiles, comes
        # with the first second the threads report; the report after the load): from launch to
        # the first request, a run imports only what the load needs (docs/architecture.md).
        started: list[bool] = []  # START sent to every process

        def interrupt() -> None:
            # SIGINT (Ctrl-C), SIGTERM or SIGHUP ends the run early: the threads stop at their
            # next 100 ms tick and report. A second one ends it at once (_collect). Before the
            # START is out (the header printed, START not sent yet) the STOP waits for it: a
            # process told STOP alone calls its part off and sends no result, which the
            # parent would take for a death (exit 3, "Partial result").
            interrupts.append(time.monotonic())
            if started:
                _tell(pipes, STOP)

        # From the header on, a signal stops the load and still gets its report.
        with _on_stop_signal(interrupt):
            if on_start is not None:
                on_start()
            start_ns = perf_counter_ns()
            started_at = time.time() + config.warmup  # the measurement's start, wall clock
            _tell(pipes, START)
            started.append(True)
            if interrupts:  # a signal came before the START was out: the STOP follows it
                _tell(pipes, STOP)
            tally = ProgressTally(config.threads, on_progress)
            results, failures = _collect(config, pipes, hosted, tally, interrupts)
            waited_us = (perf_counter_ns() - start_ns) // 1000
    interrupted = bool(interrupts)
    if script is not None:
        script.finish(results)  # -s: the threads' globals, for thread.get() in done()
    # The run's length is the load window the threads measured, not the time the parent took
    # to collect their results (which grows with a busy machine; Requests/sec divides by it).
    runtime_us = max((r.stats.runtime_us for r in results), default=waited_us)
    from pyload.result import RunMeta, RunResult  # numpy: after the processes were started

    return RunResult.from_threads(
        config, runtime_us, results, failures, interrupted, seconds=tally.flush(),
        meta=RunMeta.here(started_at),
    )  # fmt: skip


def prepare(
    plan: Plan | Config,
    script: MainScript | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> list[ThreadSpec]:
    """Every check before the load, in order; one ThreadSpec per thread.

    Raises ScriptError, ResolveError, ConnectError or ResourceError; nothing has been sent to
    the target when it returns or raises. With a ``script``, it runs ``setup(thread)`` for each
    thread in order after the probe, as wrk does, and each thread gets a request source of its
    own (_script.py). A Config instead of a Plan is planned first (the tests' shortcut).
    """
    if not isinstance(plan, Plan):
        plan = make_plan(plan)
    config = plan.config
    family, address = probe_connect(config.target, resolve_target(config.target))
    if config.http2:  # the server speaks HTTP/2, and says how many streams it takes
        limit = probe_http2(config.target, family, address)
        if limit < 1:
            raise ConnectError(
                f"unable to connect to {config.target.host}:{config.target.service} the server"
                " allows no concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS 0)"
            )
        if config.streams > limit:
            if on_notice is not None:
                on_notice(
                    f"--streams {config.streams} capped to {limit}, the server's"
                    " SETTINGS_MAX_CONCURRENT_STREAMS"
                )
            plan = with_streams(plan, limit)
            config = plan.config
    ensure_fd_limit(max(plan.connections_per_process) + FDS_RESERVED_PER_PROCESS)
    close = not config.keepalive  # --no-keepalive: every request says Connection: close
    requests = StaticRequest(
        build_request(config.target, config.headers, config.method, plan.body, close=close)
    )
    if config.http2:  # what the threads will send (UsageError now, not in every worker)
        from pyload._hpack import requests_from_http11  # HTTP/2: only for --http2

        requests_from_http11(requests.static or b"", config.target)
    specs = []
    for process, threads in enumerate(plan.processes):
        for t in threads:
            source: RequestSource = requests
            thread_family, thread_address = family, address
            if script is not None:
                from pyload.hooks import Address  # the hooks machinery: only for -s

                hooks = script.setup(t, Address(family, address), plan.body)  # wrk: in order
                source, (thread_family, thread_address) = hooks, hooks.thread.addr.pair
            specs.append(
                ThreadSpec(
                    index=t,
                    config=config,
                    connections=plan.connections[t],
                    first_slot=plan.first_slots[t],
                    family=thread_family,
                    address=thread_address,
                    requests=source,
                    pacing=plan.pacing,
                    process=process,
                    quota=plan.quotas[t],
                )
            )
    return specs


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


def _context() -> ForkContext | ForkServerContext | SpawnContext:
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
        ctx.set_forkserver_preload(["pyload._process", "uvloop"])
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _processes(
    specs: list[ThreadSpec],
) -> Iterator[tuple[dict[int, Pipe], dict[int, list[int]]]]:
    """Start the worker processes, wait until each is ready; always reap them on the way out.

    Yields each process's pipe (a duplex one: its messages up, START and STOP down) and the
    threads each hosts.
    """
    hosted: dict[int, list[ThreadSpec]] = {}
    for spec in specs:
        hosted.setdefault(spec.process, []).append(spec)
    ctx = _context()
    preload_loop(specs[0].config.loop)  # once here, not once in every forked worker
    pipes: dict[int, Pipe] = {}
    processes: list[BaseProcess] = []
    try:
        # Children ignore the stop signals a terminal or a group kill sends them too
        # (_signals_held_while_starting says how they never see one before they do).
        with _signals_held_while_starting(ctx.get_start_method()):
            # Forked workers inherit every object of this process: frozen, the collector of a
            # worker never walks them (CPU, and copy-on-write pages it would touch). Unfrozen
            # right after, so the caller's own objects are collected as before; a caller that
            # froze objects itself (a pre-forking server, the test suite) keeps them frozen:
            # gc cannot unfreeze only ours, and unfreezing all would undo its freeze.
            frozen_by_caller = gc.get_freeze_count() > 0
            gc.freeze()
            try:
                for process_index, threads in hosted.items():
                    ours, theirs = ctx.Pipe(duplex=True)
                    process = ctx.Process(
                        target=process_main,
                        args=(process_index, threads, theirs),
                        name=f"pyload-p{process_index}",
                        daemon=True,
                    )
                    try:
                        process.start()
                    except OSError as exc:
                        raise ResourceError(
                            f"unable to start worker process {process_index}: {exc}"
                        ) from None
                    theirs.close()
                    pipes[process_index] = ours
                    processes.append(process)
                    _started.add(process)
            finally:
                if not frozen_by_caller:
                    gc.unfreeze()
        _wait_ready(pipes)
        yield pipes, {p: [t.index for t in ts] for p, ts in hosted.items()}
    finally:
        _tell(pipes, STOP)
        # _collect has waited for every result (up to STOP_GRACE_S past the deadline, less
        # after an interrupt): a worker that sent its result exits in milliseconds; one still
        # here after EXIT_GRACE_S hangs (or was given up on) and is killed.
        join_deadline = time.monotonic() + EXIT_GRACE_S
        for started in processes:
            started.join(timeout=max(0.0, join_deadline - time.monotonic()))
            if started.is_alive():
                started.kill()
                started.join()
            _started.discard(started)
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
            except (EOFError, OSError):  # a socket pair: a peer killed with bytes unread resets
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
    progress: ProgressTally,
    interrupts: list[float],
) -> tuple[list[ThreadResult], list[LostPart]]:
    """Receive every process's messages until each has sent its threads' results or failed.

    A process that dies or fails becomes a failure note (naming its threads and what they had
    done by their last progress); progress messages go to the ``progress`` tally.
    ``interrupts`` fills up as stop signals come (``run_local``): after the first, the results
    have STOP_GRACE_S to come; after the second, none is waited for.
    """
    waiting: dict[Pipe, int] = {reader: index for index, reader in pipes.items()}
    outstanding = {process: set(threads) for process, threads in hosted.items()}
    results: list[ThreadResult] = []
    failures: list[LostPart] = []
    hook_failures: list[HookFailed] = []  # -s: a hook raised; the run is called off
    hard_deadline = time.monotonic() + config.warmup + config.duration + STOP_GRACE_S

    def lose(reader: Pipe, what: str) -> None:
        process = waiting.pop(reader)
        lost = sorted(outstanding.pop(process))
        done, when = progress.last_words(lost)
        for thread in lost:
            progress.finished(thread, None)
        failures.append(LostPart(process, tuple(lost), what, done, when))

    while waiting:
        ready = _wait(waiting, INTERRUPTED_POLL_S if interrupts else POLL_S)
        if interrupts:
            hard_deadline = min(hard_deadline, interrupts[0] + STOP_GRACE_S)
        for reader in ready:
            try:
                message = reader.recv()
            except (EOFError, OSError):  # a socket pair: a peer killed with bytes unread resets
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
                    _tell(pipes, STOP)
        if len(interrupts) > 1:  # -- a second stop signal: the run ends now --
            for reader in list(waiting):
                lose(reader, "sent no result before the second interrupt")
            break
        if not ready and time.monotonic() > hard_deadline:
            for reader in list(waiting):
                lose(reader, f"sent no result within {STOP_GRACE_S:.0f}s")
            break
    if hook_failures:
        raise HookError(hook_failures[0].error, hook_failures[0].traceback)
    return results, failures


@contextlib.contextmanager
def _on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to ``callback``: no KeyboardInterrupt lands mid-recv, and
    a SIGTERM (``kill``, a service manager's stop) still gets the report of what was done. A
    signal that this process ignores (SIGHUP under ``nohup``) stays ignored.

    Only the main thread can set a handler (and only it ever sees these signals); from another
    thread the run cannot be interrupted and goes to its deadline.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, lambda signum, frame: callback())
        for signum in STOP_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _signals_held_while_starting(start_method: str) -> Iterator[None]:
    """While the worker processes start, a stop signal must not reach them before they ignore
    it (process_main does, first thing: the parent stops them with STOP and still
    collects their results), nor be lost for the parent.

    fork: the stop signals are blocked in this thread, the children inherit the mask, ignore
    the signals and unblock; a signal that came meanwhile is delivered here on the way out (a
    forked child does not inherit pending signals). Other start methods exec a new program
    (the forkserver) that would be handed a pending signal: there SIG_IGN, the one disposition
    that survives exec, is set while they start, and a signal in that moment is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if start_method == "fork":
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_started: set[BaseProcess] = set()  # the worker processes not yet reaped (kill_started_processes)


def kill_started_processes() -> None:
    """SIGKILL every worker process this process started and has not reaped: the CLI's answer
    to a second stop signal outside the load, when waiting is no longer wanted."""
    for process in list(_started):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.kill()


def _tell(pipes: dict[int, Pipe], word: bytes) -> None:
    """Say ``word`` (START, STOP) to every process; a process already gone is not waited for."""
    for pipe in pipes.values():
        with contextlib.suppress(OSError):
            pipe.send_bytes(word)


def _wait(waiting: dict[Pipe, int], timeout: float) -> list[Pipe]:
    """The pipes among ``waiting`` with something to read (or closed), within ``timeout``."""
    return cast(list[Pipe], wait(list(waiting), timeout=timeout))
