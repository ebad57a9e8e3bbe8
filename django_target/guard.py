"""The guard: a server stack's processes live no longer than the process that launched them.

The launcher starts every server (and the upstream) through a guard, a tiny stdlib-only Python
process that leads the child's session and process group::

    launcher (holds the lifeline's write end)
      └── guard (session and group leader; holds the read end)        python -I guard.py FD -- ...
            └── server: gunicorn / hypercorn master, or the upstream  (same process group)
                  └── its workers, its resource tracker ...           (same process group)

Nothing is ever written to the lifeline: the kernel closes its write end when the launcher exits,
however it exits (SIGKILL included), and the guard then reads end-of-file. It sends SIGTERM to
its process group (the whole tree: gunicorn's and hypercorn's workers never leave their
master's group), and SIGKILL to the group if anything of it is alive ``ORPHAN_GRACE_S`` later.
While the launcher lives, the guard only waits: it ignores the stop signals (the launcher sends
SIGTERM to the guard's child and, at its deadline, SIGKILL to the whole group; a stop signal
for the whole group, from a terminal or ``kill -- -PGID``, reaches the child directly), leaves
when its child has exited, and exits with its child's status (re-raising the signal that
killed it), so the launcher sees the server's status.
If the guard itself is killed, ``PR_SET_PDEATHSIG`` (Linux) sends its child SIGTERM.

Why not ``PR_SET_PDEATHSIG`` from the launcher directly: it fires when the *thread* that started
the child ends (``start()`` returns a Stack that may outlive that thread), and it does not reach
grandchildren (gunicorn's workers). The lifeline ends with the launcher process and nothing
else, and the guard signals the process group.

Launcher side (``Lifeline``, imported by the launcher): one pipe per Stack; ``command(argv)``
wraps a command in the guard, ``pass_fds`` hands the read end to it. No other process may hold
the write end, or the servers would live as long as it does: the write end is close-on-exec (a
process the launcher runs, such as wrk, never gets it), and a child *forked* by Python without
exec (pyload's workers, forked from the benchmark process, or any ``os.fork()``) closes every
lifeline right after the fork (``os.register_at_fork``). Only a fork from C code that never
returns to Python would keep it.

This module imports only the standard library: it runs as a script (``python -I``), without the
package, so a guard costs one small interpreter and starts in tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import ClassVar

__all__ = [
    "ORPHAN_GRACE_S",
    "Lifeline",
    "child_groups",
    "children",
    "group_pids",
    "main",
    "parent_death_signal",
]

#: Seconds an orphaned group gets to stop on SIGTERM before the guard SIGKILLs it.
ORPHAN_GRACE_S = 0.5
#: How often the guard looks at /proc while its group stops (there is nothing to wait on).
_POLL_S = 0.02
#: Signals the guard outlives: sent to the whole group, they are for the server.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_SCRIPT = str(Path(__file__).resolve())


# -- launcher side ---------------------------------------------------------------------------


class Lifeline:
    """A pipe whose write end stays in this process: while it is open, the guards' children
    run; when this process exits (or ``close()`` is called), every guard stops its group."""

    _open: ClassVar[weakref.WeakSet[Lifeline]] = weakref.WeakSet()

    def __init__(self) -> None:
        self._read, self._write = os.pipe()  # both close-on-exec (non-inheritable)
        Lifeline._open.add(self)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run under a guard; start it with ``pass_fds=self.pass_fds`` and
        ``start_new_session=True`` (the guard leads the group it will stop)."""
        if self._read < 0:
            raise ValueError("the lifeline is closed")
        return [sys.executable, "-I", _SCRIPT, str(self._read), "--", *argv]

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._read,)

    def close(self) -> None:
        """Close both ends (idempotent): guards still running stop their groups."""
        for fd in (self._read, self._write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read = self._write = -1
        Lifeline._open.discard(self)

    def __del__(self) -> None:
        self.close()  # a Stack dropped without stop(): its servers do not outlive it


def _close_lifelines_after_fork() -> None:
    """In a child forked without exec: it is not the launcher, so it holds no lifeline (its
    copies of the fds only; the parent's stay open)."""
    for lifeline in list(Lifeline._open):
        lifeline.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_lifelines_after_fork)


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, ppid, process group) of every process, read from /proc (Linux)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        yield int(entry.name), fields[0], int(fields[1]), int(fields[2])


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc (Linux)."""
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux fallback: the group exists or not
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    return [pid for pid, state, _, pgrp in _processes() if pgrp == pgid and state not in "ZX"]


def child_groups(parent: int) -> list[int]:
    """The process groups led by a child of ``parent``, live or a zombie not yet reaped (for a
    launcher: its guards, each the leader of its server's or upstream's group; the group lives
    on while any member does). Linux only; [] elsewhere."""
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux
        return []
    return [pid for pid, _, ppid, pgrp in _processes() if ppid == parent and pgrp == pid]


def children(parent: int) -> list[int]:
    """The live (non-zombie) children of ``parent``, from /proc. Linux only; [] elsewhere."""
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux
        return []
    return [pid for pid, state, ppid, _ in _processes() if ppid == parent and state not in "ZX"]


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    # The running interpreter's own symbols, libc's among them: not ctypes.util.find_library,
    # which runs ``ldconfig -p`` in a subprocess (a process in the guard's group that a reader
    # of the group would take for the server, and tens of milliseconds at every start).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl in scope
        try:
            prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
        except (OSError, AttributeError):
            return None
    return prctl


def parent_death_signal(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``signum`` when the thread that forks it
    ends (``PR_SET_PDEATHSIG``; Linux only, None elsewhere). If the parent is already gone when
    the child gets there, the child sends itself the signal.

    Only right for a child owned by a block of code that cannot outlive the calling thread (a
    ``with`` block), and only for the child itself, not its own children."""
    prctl = _prctl()
    if prctl is None:  # pragma: no cover - non-Linux
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), signum)

    return preexec


# -- guard side ------------------------------------------------------------------------------


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python handler, not SIG_IGN: exec resets it, so the child gets the default."""


def _broken(fd: int, timeout: float | None) -> bool:
    """Wait up to timeout for the lifeline; True once it reads end-of-file."""
    readable, _, _ = select.select([fd], [], [], timeout)
    return bool(readable) and os.read(fd, 512) == b""


def _watch(fd: int, child: subprocess.Popen[bytes]) -> bool:
    """Wait until the child exits (False) or the lifeline breaks (True)."""
    try:
        pidfd: int | None = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # pragma: no cover - Linux < 5.3 or not Linux
        pidfd = None
    try:
        while True:
            watched = [fd] if pidfd is None else [fd, pidfd]
            readable, _, _ = select.select(watched, [], [], None if pidfd is not None else 0.1)
            if child.poll() is not None:
                return _broken(fd, 0)
            if fd in readable and os.read(fd, 512) == b"":
                return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the guard's process group, SIGKILL it after ORPHAN_GRACE_S (the guard too)."""
    me, pgid = os.getpid(), os.getpgrp()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)  # the guard ignores it
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while time.monotonic() < deadline:
        child.poll()  # reap it, so it counts as gone
        if child.returncode is not None and not [p for p in group_pids(pgid) if p != me]:
            return
        time.sleep(_POLL_S)  # polling /proc: nothing to wait on
    os.killpg(pgid, signal.SIGKILL)


def _exit_like(returncode: int) -> int:
    """Exit with the child's status: its code, or the signal that killed it."""
    if returncode >= 0:
        return returncode
    signum = -returncode
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    return 128 + signum


def main(argv: Sequence[str]) -> int:
    """``guard.py FD -- COMMAND...``: run COMMAND; stop its group when FD reads end-of-file."""
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print("usage: guard.py FD -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    fd, command = int(argv[0]), list(argv[2:])
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _ignore)
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)  # never signal a group the guard does not lead
    try:
        child = subprocess.Popen(command, preexec_fn=parent_death_signal(signal.SIGTERM))
    except OSError as exc:
        print(f"guard: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    # The child has the standard streams; without the guard's copies, a reader of its stdout
    # sees end-of-file when the child exits.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    if _watch(fd, child):
        _stop_group(child)
        return 1
    returncode = child.wait()
    return _exit_like(returncode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
