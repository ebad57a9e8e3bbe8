"""Every process a test starts is owned by one helper, ``spawn``, which ends it whatever happens.

    from tests.procs import run, spawn

    with spawn([sys.executable, "-m", "pyload", "-d30", url]) as proc:   # a subprocess.Popen
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)

    done = run([wrk, "-d1s", url], timeout=60)     # a subprocess.CompletedProcess

``spawn(args, **popen)`` is a context manager around ``subprocess.Popen``. It starts ``args`` in a
session of its own (``start_new_session=True``): its own process group, which is the process's
pid, no controlling terminal, and out of reach of a Ctrl-C typed at pytest (pytest alone gets
it, and unwinds through this block). Defaults: stdin from /dev/null, stdout and stderr piped,
text mode, the repository as working directory, and ``PYTHONPATH`` set to it (``python -m
pyload`` and ``python -m tests.fault_server`` work from anywhere). Any ``Popen`` keyword may be
given (``stdin=subprocess.PIPE``, ``text=False``, ``pass_fds``, ``preexec_fn``...), except
``start_new_session`` and ``process_group``: the session is the point.

On leaving the block, whether the test passed, failed, timed out or was interrupted, it:

1. kills (SIGKILL) the whole process group, and every process below the process, those that
   made process groups or sessions of their own included: the ones found then, if the process
   still runs, and every one ``proc.descendants()`` found before (call it while the tree is up,
   to have a process killed even if its parent dies first and it is reparented away);
2. reaps the process, and waits until the others have exited (``KILL_WAIT_S`` at most, then
   fails naming them): dead, not yet reaped by whoever is their parent now, is exited;
3. closes the pipes.

A test may of course end the process itself first (``proc.communicate``, ``proc.wait``, a
signal it is testing); the clean-up then finds nothing left, which is the usual case.

``run(args, timeout=..., input=None, **popen)`` runs ``args`` to completion inside ``spawn``
and returns a ``subprocess.CompletedProcess`` (stdout and stderr captured). ``timeout`` is a
deadline for a hang, never a measurement: when it passes, the group is killed and
``subprocess.TimeoutExpired`` is raised carrying what the process had printed.

The suite's conftest checks after every test that no process it started is left (and kills and
names any); a process that a fixture wider than one test keeps on purpose (a module's Dask
cluster) is declared with ``kept_by_fixture``. multiprocessing's forkserver and resource
tracker, which live as long as pytest, are known to the check and need no declaration.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "KILL_WAIT_S",
    "ROOT",
    "Spawned",
    "freeze",
    "kept_by_fixture",
    "python_env",
    "run",
    "spawn",
]

ROOT = Path(__file__).resolve().parent.parent
#: After SIGKILL, how long the clean-up waits for a process to be gone: a deadline for a hang
#: (a process in uninterruptible sleep), generous for a loaded 2-core machine.
KILL_WAIT_S = 30.0

#: pids that fixtures wider than one test keep on purpose, asked for at every check.
_KEPT: list[Callable[[], Iterable[int]]] = []


def python_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with the repository first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    return env


class Spawned(subprocess.Popen[Any]):
    """A ``subprocess.Popen`` started by ``spawn``: the leader of its own process group, which
    remembers every process it has seen below it."""

    seen: set[psutil.Process]

    def descendants(self) -> set[int]:
        """The live processes below this one now (children, grandchildren..., whatever their
        session), from /proc; each is also killed when the ``spawn`` block ends."""
        try:
            found = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        live = {p for p in found if _running(p)}
        self.seen |= live
        return {p.pid for p in live}


@contextlib.contextmanager
def spawn(
    args: Sequence[str | os.PathLike[str]],
    *,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    text: bool = True,
    cwd: str | os.PathLike[str] = ROOT,
    env: Mapping[str, str] | None = None,
    **popen: Any,
) -> Iterator[Spawned]:
    """Start ``args`` in a session of its own; on exit, kill its process group and everything
    below it, reap it and close its pipes (the module docstring says exactly what)."""
    for forbidden in ("start_new_session", "process_group"):
        if forbidden in popen:
            raise TypeError(f"spawn() always starts a new session: drop {forbidden}=")
    proc = Spawned(
        list(args), stdin=stdin, stdout=stdout, stderr=stderr, text=text, cwd=cwd,
        env=python_env(env), start_new_session=True, **popen,
    )  # fmt: skip
    proc.seen = set()
    try:
        yield proc
    finally:
        _end(proc)


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    input: str | bytes | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[Any]:
    """Run ``args`` to completion under ``spawn``; its status and output. ``timeout``: a
    deadline for a hang; past it the group is killed and TimeoutExpired raised with the output
    so far."""
    popen.setdefault("stdin", subprocess.PIPE if input is not None else subprocess.DEVNULL)
    with spawn(args, **popen) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            stdout, stderr = _leftover_output(proc)
            raise subprocess.TimeoutExpired(proc.args, timeout, stdout, stderr) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@contextlib.contextmanager
def kept_by_fixture(pids: Callable[[], Iterable[int]]) -> Iterator[None]:
    """For a fixture wider than one test: while in this block, the processes ``pids()`` names
    (asked at each check) are the fixture's, not a leak of the test that was running when they
    started (a Dask nanny restarting its worker during a test). Their children are not
    covered: a process they start for a test must end with it."""
    _KEPT.append(pids)
    try:
        yield
    finally:
        _KEPT.remove(pids)


def kept_pids() -> set[int]:
    """The pids every ``kept_by_fixture`` declares now."""
    kept: set[int] = set()
    for pids in _KEPT:
        with contextlib.suppress(Exception):  # a fixture's object half torn down: nothing kept
            kept.update(pid for pid in pids() if pid)
    return kept


# -- stopped processes ------------------------------------------------------------------------


def _all_threads_stopped(pid: int) -> bool:
    """Every thread of ``pid`` is in state T (stopped) or gone, from /proc/PID/task/*/stat."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True  # gone: nothing of it runs
    for tid in tasks:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state = stat[stat.rindex(")") + 2]  # the field after "(comm)"; comm may hold spaces
        if state not in "TZX":
            return False
    return True


def freeze(pids: Iterable[int], timeout: float = KILL_WAIT_S) -> None:
    """SIGSTOP ``pids`` and return once each of them is stopped (or gone).

    ``kill(SIGSTOP)`` only queues the signal: a process waiting for a CPU stops when it next
    runs, and a signal sent to it meanwhile (SIGTERM, 15) is taken before SIGSTOP (19), its
    C handler run, and so no longer pending once it stops. A test that then looks for the
    pending SIGTERM of a "stopped" process waits in vain: seen under CPU load. ``timeout`` is a
    deadline for a hang (RuntimeError), not a measurement."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while running := [pid for pid in pids if not _all_threads_stopped(pid)]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not stopped {timeout:.0f} s after SIGSTOP: {running}")
        time.sleep(0.005)  # polling /proc: a process's stop has nothing to wait on


# -- the clean-up -----------------------------------------------------------------------------


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group(pgid: int) -> list[psutil.Process]:
    """The live members of process group ``pgid``, from /proc."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == pgid and _running(process):
                members.append(process)
    return members


def _kill(proc: Spawned) -> list[psutil.Process]:
    """SIGKILL the group and every process seen below ``proc``; the processes signalled."""
    if proc.returncode is None:
        proc.descendants()  # the tree as it is now: reparented away once the leader dies
    # The group id is the leader's pid. Once the leader is reaped and its group empty, the
    # number may be reused: a process with that pid is then someone else's, and is spared.
    targets = _group(proc.pid)
    reused = proc.returncode is not None and not targets and psutil.pid_exists(proc.pid)
    if not reused:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for process in proc.seen:
        if _running(process):
            with contextlib.suppress(psutil.Error):
                process.kill()  # pid and start time checked: never a reused pid
            targets.append(process)
    return targets


def _leftover_output(proc: Spawned) -> tuple[Any, Any]:
    """What a killed process left in its pipes (a process outside its tree may still hold them
    open: then what there is after KILL_WAIT_S)."""
    try:
        return proc.communicate(timeout=KILL_WAIT_S)
    except (subprocess.TimeoutExpired, ValueError):
        return None, None


def _still_running(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``processes`` that have not exited within ``timeout``. A process has exited when
    it is a zombie or gone: its pidfd is readable then. Not waited for: its reaping, which for a
    process reparented away (to init, once its parent was killed) is init's business and may
    come seconds later (as in a Firecracker VM, whose init reaps orphans every ~2 s)."""
    deadline = time.monotonic() + timeout
    alive = []
    for process in processes:
        try:
            pidfd = os.pidfd_open(process.pid)
        except ProcessLookupError:
            continue  # reaped
        try:
            if not _running(process):  # exited, or the pid is another process's by now
                continue
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                alive.append(process)
        finally:
            os.close(pidfd)
    return alive


def _end(proc: Spawned) -> None:
    targets = _kill(proc)
    try:
        proc.wait(timeout=KILL_WAIT_S)
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    alive = _still_running(targets, timeout=KILL_WAIT_S)
    if alive:
        raise RuntimeError(
            f"still running {KILL_WAIT_S:.0f} s after SIGKILL: "
            + ", ".join(f"{p.pid} {_cmdline(p)}" for p in alive)
        )


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[:200] or process.name()
    except psutil.Error:
        return "?"


def describe(process: psutil.Process) -> str:
    """``pid command line`` of a process, for a failure message."""
    return f"{process.pid} {_cmdline(process)}"
