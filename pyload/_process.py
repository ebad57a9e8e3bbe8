"""A worker process: its event loop, the start barrier, its threads run together, the results sent.

    process_main(process, threads, pipe, start, stop)  process entry (started by _local.py)
      new_event_loop(config.loop)                     uvloop, or asyncio
      spec.requests.start() per thread                -s: the script's init() (_script.py)
      pipe <- Ready; wait for START on the pipe       the start barrier: the parent says START
                                                      to every process at once
      run_threads(threads, ...)                       gathers one _engine.run_thread per thread
      pipe <- Result(ThreadResult) per thread         (Progress messages go out during the load)

The process owns its loop and its pipe; each thread's load is ``_engine``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe

from pyload._counters import ProcessLatencies, ThreadResult
from pyload._engine import run_thread
from pyload._messages import Failed, HookFailed, ProcessMessage, Ready, Result
from pyload._plan import ThreadSpec
from pyload.errors import HookError

__all__ = [
    "START", "STOP", "new_event_loop", "preload_loop", "process_main", "run_queue_wait_s",
    "run_threads",
]  # fmt: skip

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # as _local's
START = b"start"  # the parent's word for the common start (sent to every process at once)
STOP = b"stop"  # ... and for the end of the run: a signal, a hook that raised, a setup failure
START_WAIT_S = 300.0  # a process whose start never comes gives up
START_POLL_S = 0.1  # how often a waiting process checks whether the run was called off


def new_event_loop(name: str) -> asyncio.AbstractEventLoop:
    """The loop factory: ``uvloop`` (the default where installed) or ``asyncio``."""
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def preload_loop(name: str) -> None:
    """Import the loop's module (uvloop for ``auto`` and ``uvloop``, where installed) in the
    parent before it forks the workers: each then has it already, instead of importing it again
    (once per process: 20 times at ``-t20`` on 20 cores)."""
    if name in ("auto", "uvloop"):
        with contextlib.suppress(ImportError):  # new_event_loop says what is missing
            import uvloop  # noqa: F401


def process_main(process: int, threads: list[ThreadSpec], pipe: Pipe) -> None:
    """Process entry: host ``threads`` (wrk's threads: groups of connections) on one loop; get
    ready, wait for the common start, run them together, send each one's result.

    ``pipe`` is this process's own duplex pipe to the parent: messages (_messages) go up, and
    the parent's START and STOP come down. Nothing is shared with the other processes: a lock
    shared between them (a multiprocessing Event) would stay held by a process killed while
    holding it, and hang every other one at its next look."""
    # A stop signal is the parent's to handle (a terminal's Ctrl-C and a group kill reach this
    # process too): it sends STOP and still collects every result. The parent started
    # this process with them blocked (fork) or ignored (forkserver): ignored now, then unblocked.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _name_process(f"pyload-p{process}")
    # The process that started this one: the runner's, also when a forkserver forked it (whose
    # pid getppid() would give, and which outlives a killed caller). Its sentinel is a pipe
    # that becomes readable when it exits.
    parent = multiprocessing.parent_process()
    parent_pid = os.getppid()
    parent_lost: list[bool] = []

    def parent_gone() -> bool:
        if parent_lost:
            return True
        if parent is not None:
            return not parent.is_alive()
        return os.getppid() != parent_pid

    told: list[bytes] = []  # what the parent said so far (START, STOP)

    def listen(timeout: float) -> None:
        with contextlib.suppress(OSError, EOFError):  # a parent gone: parent_gone() says so
            while pipe.poll(timeout):
                told.append(pipe.recv_bytes())
                timeout = 0

    def should_stop() -> bool:  # asked every 100 ms: a stop request, or the parent is gone
        listen(0)
        return STOP in told or parent_gone()

    def send(message: ProcessMessage) -> None:
        try:
            pipe.send(message)
        except OSError:  # the parent is gone: stop at the next tick, and say nothing more
            parent_lost.append(True)

    try:
        loop = new_event_loop(threads[0].config.loop)
        for spec in threads:  # -s: each thread's init(), before the common start (hooks.py)
            spec.requests.start()
        pipe.send(Ready(process))
        waited_until = time.monotonic() + START_WAIT_S
        while START not in told:
            listen(START_POLL_S)
            if START in told:
                # Started, even with a STOP already behind it (a stop signal right after
                # the start): the threads run, stop at their first tick and send their
                # (empty) results, which the parent waits for. Returning here would be taken
                # for a death: "died before sending its result", a partial run, exit 3.
                break
            if STOP in told or parent_gone() or time.monotonic() > waited_until:
                return  # the run was called off before it started
        try:
            results = loop.run_until_complete(run_threads(threads, send, should_stop))
        finally:
            loop.close()
        for result in results:
            pipe.send(Result(result))
    except HookError as exc:  # -s: init() raised (hooks.py); the parent calls the run off
        with contextlib.suppress(OSError):
            pipe.send(HookFailed(process, str(exc), exc.traceback))
    except BaseException as exc:  # reported to the parent, which reports it to the user
        with contextlib.suppress(OSError):  # unless the parent is gone
            pipe.send(Failed(process, f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def _name_process(name: str) -> None:
    """Name this process as ps and top show it (Linux: /proc/self/comm, 15 bytes)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:
        pass


async def run_threads(
    threads: list[ThreadSpec],
    send: Callable[[ProcessMessage], None],
    should_stop: Callable[[], bool],
) -> list[ThreadResult]:
    """Run several threads together on the running loop (one process's share of the run).

    The process's CPU time during the load is put on its first thread's ``cpu_s`` (0 on the
    others), so that the sum over all threads is the client's CPU time, not a multiple of it;
    so is the time its loop was ready to run but waited for a CPU (``cpu_wait_s``: a machine
    busy with other work, _saturation).
    """
    cpu_start, wait_start = time.process_time(), run_queue_wait_s()
    latencies = ProcessLatencies(time.perf_counter_ns())  # one count and start for them all
    results = await asyncio.gather(
        *(run_thread(spec, send, should_stop, latencies) for spec in threads)
    )
    for result in results:
        result.stats.cpu_s = result.stats.cpu_wait_s = 0.0
    results[0].stats.cpu_s = time.process_time() - cpu_start
    results[0].stats.cpu_wait_s = max(0.0, run_queue_wait_s() - wait_start)
    return list(results)


def run_queue_wait_s(schedstat: str = "/proc/self/schedstat") -> float:
    """How long this process's main thread (its loop's) has been runnable but waiting for a CPU,
    in seconds: the second field of Linux's ``/proc/self/schedstat`` (on the CPU, waiting on a
    run queue, time slices; ns). 0.0 where there is no such file."""
    try:
        with open(schedstat, encoding="ascii") as file:
            return int(file.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
