"""How the benchmark scripts stop: on a signal, within a bound, leaving no process behind.

    @sigterm_as_ctrl_c()            # every script's main() (or: with sigterm_as_ctrl_c():)
    def main(argv): ...             # SIGINT, SIGTERM, SIGHUP: the first raises
                                    # KeyboardInterrupt and starts the stop's clock
    stop_run()                      # where pyload.run() took the first signal itself (its
                                    # result says interrupted): the same, from there
    stop_process(process, signum)   # one child of ours: signal, wait a little, SIGKILL, reap

**The first stop signal** (SIGINT, SIGTERM or SIGHUP; one ignored at start, as under ``nohup``
or in a shell's background job, stays ignored) raises KeyboardInterrupt, so every ``with``
block stops what it started (a stack, nginx, a client run) and the script writes what it has
measured. It also starts the stop's clock: if the process still runs STOP_BOUND_S later, it
ends as on a second signal. **The second signal** (or the clock) ends the process at once:
every process below it, and every process group one of them leads (the stacks, wrk and nginx
run in sessions of their own), gets SIGKILL, and once they are gone (KILL_WAIT_S at the most;
milliseconds in practice) it exits with 128 + the signal's number, writing nothing more.

pyload.run() in this process (the matrix's cells and warm-ups) takes the stop signals itself
while it loads: the first ends the load at the workers' next tick and the run returns a result
marked interrupted, the second ends it at once (PYLOAD_STOP_S, PYLOAD_SECOND_STOP_S). Its
callers then call ``stop_run()``. The signals pyload took are still counted here, from the
byte the interpreter writes for every signal to the wakeup fd (``signal.set_wakeup_fd``), so
``stop_run()`` knows whether the stop follows a first signal or a second one. Hence the
bounds, from the signal to the end of the process, nothing left: FIRST_SIGNAL_BOUND_S and
SECOND_SIGNAL_BOUND_S (docs/benchmarks.md, "Stopping").

The handlers and the clock (ITIMER_REAL, SIGALRM: set only once a signal came, and restored
after the block) are the main thread's: the scripts run there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn

from benchmarks.watch import proc_stats, process_tree

__all__ = [
    "FIRST_SIGNAL_BOUND_S",
    "KILL_WAIT_S",
    "SECOND_SIGNAL_BOUND_S",
    "STOP_BOUND_S",
    "STOP_SIGNALS",
    "kill_descendants",
    "sigterm_as_ctrl_c",
    "stop_process",
    "stop_run",
]

STOP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The stop's clock: from the first stop signal the script sees to the end of the process.
STOP_BOUND_S = 10.0
#: After SIGKILL, how long the processes may take to be gone before the exit goes ahead (only
#: a process stuck in the kernel takes more than milliseconds).
KILL_WAIT_S = 2.0
#: pyload's own bounds while it loads in this process and has the signals (docs/reliability.md,
#: "Stopping"): after a first signal its workers' results are waited for 10 s at the most
#: (``STOP_GRACE_S``; they come at the workers' next 100 ms tick) and a worker gets 0.5 s more
#: to exit (``EXIT_GRACE_S``); after a second, none is waited for, a worker is killed after
#: the 0.5 s. Each rounded up for the result's assembly.
PYLOAD_STOP_S = 11.0
PYLOAD_SECOND_STOP_S = 1.0
#: The bounds docs/benchmarks.md states, from the signal to the end of the process with nothing
#: left: a first signal (pyload may hold it for PYLOAD_STOP_S before the clock starts), and a
#: second one.
FIRST_SIGNAL_BOUND_S = PYLOAD_STOP_S + STOP_BOUND_S + KILL_WAIT_S
SECOND_SIGNAL_BOUND_S = PYLOAD_SECOND_STOP_S + KILL_WAIT_S
#: How long stop_process lets a child exit after its first signal, before SIGKILL.
STOP_WAIT_S = 5.0
_POLL_S = 0.01  # polling /proc for the killed processes: nothing to wait on for a group


@dataclass
class _Signals:
    """What ``sigterm_as_ctrl_c`` installed, the stop signals counted so far, the first one's
    number, and the stop's clock once it runs (with the timer and SIGALRM handler it replaced)."""

    read_fd: int
    write_fd: int
    previous: dict[int, Any] = field(default_factory=dict)
    counted: int = 0
    first: int = int(signal.SIGINT)
    clock_since: float | None = None
    previous_timer: tuple[float, float] = (0.0, 0.0)
    previous_alarm: Any = None


_installed: _Signals | None = None


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """For the block or the decorated function (a script's main()): SIGTERM and SIGHUP like
    Ctrl-C, the stop bounded, a second signal the end (the module docstring). A signal ignored
    at start (``nohup``, a shell's background job) stays ignored. The previous handlers are
    restored after."""
    global _installed
    if _installed is not None:  # nested: the outer block's handlers stay
        yield
        return
    read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    state = _installed = _Signals(read_fd, write_fd)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                state.previous[signum] = signal.signal(signum, _on_stop_signal)
        yield
    finally:
        if state.clock_since is not None:  # the timer and SIGALRM as they were
            remaining, interval = state.previous_timer
            if remaining:
                remaining = max(0.001, remaining - (time.monotonic() - state.clock_since))
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)
            signal.signal(signal.SIGALRM, state.previous_alarm)
        for signum, handler in state.previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        _installed = None
        os.close(read_fd)
        os.close(write_fd)


def stop_run() -> NoReturn:
    """Stop as on a stop signal when one came while pyload.run() had its own handler (its
    result is marked interrupted): KeyboardInterrupt, with the stop's clock started; or the end
    at once if that signal was the second."""
    state = _installed
    if state is not None:
        _count(state)
        if state.counted >= 2:
            _end_now(state.first, "a second stop signal")
        _start_clock(state)
    raise KeyboardInterrupt


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    state = _installed
    if state is None:  # cannot be: the handler is only installed while the state is
        raise KeyboardInterrupt
    _count(state)  # this signal included: its byte is written before this handler runs
    if state.counted >= 2:
        _end_now(signum, "a second stop signal")
    _start_clock(state)
    raise KeyboardInterrupt


def _on_clock(signum: int, frame: FrameType | None) -> None:
    first = _installed.first if _installed is not None else signal.SIGINT
    _end_now(first, f"still running {STOP_BOUND_S:g} s after the stop signal")


def _count(state: _Signals) -> None:
    """Add the stop signals the wakeup fd has reported since the last count."""
    while True:
        try:
            data = os.read(state.read_fd, 512)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            return
        for number in data:
            if number in STOP_SIGNALS:
                if not state.counted:
                    state.first = number
                state.counted += 1


def _start_clock(state: _Signals) -> None:
    """From the first stop signal on: STOP_BOUND_S, then the end (SIGALRM)."""
    if state.clock_since is None:
        state.clock_since = time.monotonic()
        state.previous_alarm = signal.signal(signal.SIGALRM, _on_clock)
        state.previous_timer = signal.setitimer(signal.ITIMER_REAL, STOP_BOUND_S)


def _end_now(signum: int, why: str) -> NoReturn:
    """SIGKILL everything below this process, wait until it is gone, exit 128 + signum."""
    for number in (*STOP_SIGNALS, signal.SIGALRM):
        signal.signal(number, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    left = kill_descendants()
    message = f"benchmarks: {why}: stopped at once"
    if left:
        message += f"; still there after SIGKILL: {left}"
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), (message + "\n").encode())
    os._exit(128 + signum)


def _forget_after_fork() -> None:
    """In a child forked without exec (pyload's worker processes): not this module's state, so
    that no signal of the child is counted as the parent's."""
    global _installed
    state, _installed = _installed, None
    if state is not None:
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for fd in (state.read_fd, state.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


os.register_at_fork(after_in_child=_forget_after_fork)


def kill_descendants(wait_s: float = KILL_WAIT_S) -> list[int]:
    """SIGKILL every process below this one and every process group one of them leads; return
    once none of them runs (zombies do not), else the pids still running after ``wait_s``."""
    me = os.getpid()
    killed: set[int] = set()
    groups: set[int] = set()
    deadline = time.monotonic() + wait_s
    while True:
        stats = proc_stats()
        below = set(process_tree(me, stats)) - {me}
        for pid in sorted(below - killed):
            if stats[pid].zombie:
                continue
            if stats[pid].pgid == pid:  # a group of its own: its members, wherever they are
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                groups.add(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        running = sorted(
            pid
            for pid, stat in stats.items()
            if pid != me and not stat.zombie and (pid in below or stat.pgid in groups)
        )
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(_POLL_S)


def stop_process(
    process: subprocess.Popen[Any],
    signum: int = signal.SIGKILL,
    wait_s: float = STOP_WAIT_S,
    *,
    group: bool = False,
) -> None:
    """Send ``signum`` to a child (with ``group``, to the process group it leads), give it
    ``wait_s`` to exit, then SIGKILL it (its group) and reap it. An interrupt while it waits
    kills it all the same, then goes on."""

    def send(number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(process.pid, number)
            elif process.poll() is None:
                process.send_signal(number)

    if process.poll() is not None and not group:
        return
    send(signum)
    try:
        if signum != signal.SIGKILL:
            try:
                process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                send(signal.SIGKILL)
    except BaseException:
        send(signal.SIGKILL)
        process.wait()
        raise
    process.wait()
