"""A worker process: its event loop, the start barrier, its threads run together, the results sent.

    process_main(process, threads, pipe, start, stop)  process entry (started by _local.py)
      new_event_loop(config.loop)                     uvloop, or asyncio
      spec.requests.start() per thread                -s: the script's init() (_script.py)
      pipe <- Ready; start_event.wait()               the start barrier shared by all processes
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
from multiprocessing.synchronize import Event

from pyload._counters import ThreadResult
from pyload._engine import ThreadSpec, run_thread
from pyload._messages import Failed, HookFailed, ProcessMessage, Ready, Result
from pyload.errors import HookError

__all__ = ["new_event_loop", "process_main", "run_threads"]

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


def process_main(
    process: int, threads: list[ThreadSpec], pipe: Pipe, start_event: Event, stop_event: Event
) -> None:
    """Process entry: host ``threads`` (wrk's threads: groups of connections) on one loop; get
    ready, wait for the common start, run them together, send each one's result."""
    # Ctrl-C is the parent's to handle: it sets stop_event and still collects every result.
    # (The parent already started this process with SIGINT ignored; this keeps it so.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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

    def should_stop() -> bool:  # asked every 100 ms: a stop request, or the parent is gone
        return stop_event.is_set() or parent_gone()

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
        while not start_event.wait(START_POLL_S):
            if should_stop() or time.monotonic() > waited_until:
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
    others), so that the sum over all threads is the client's CPU time, not a multiple of it.
    """
    cpu_start = time.process_time()
    results = await asyncio.gather(*(run_thread(spec, send, should_stop) for spec in threads))
    for result in results:
        result.stats.cpu_s = 0.0
    results[0].stats.cpu_s = time.process_time() - cpu_start
    return list(results)
