"""No server outlives what started it: the CLI killed by SIGHUP (a closed terminal) stops cleanly;
killed by SIGKILL, the CLI's and the benchmark's stacks and the selfbench's nginx exit anyway
(django_target/guard.py: a guard per child, a lifeline pipe per Stack; PR_SET_PDEATHSIG for
nginx). And no pyload worker outlives its run: SIGINT and SIGTERM end a run with its report, a
second one ends it at once, a hung worker is given up after the grace period, a killed library
caller takes its forkserver and workers along. Everything is checked through /proc and by
connecting to the ports."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from django_target import SERVERS
from django_target.guard import ORPHAN_GRACE_S, Lifeline, group_pids
from tests.conftest import IN_CI
from tests.django_target_helpers import alive, read_line
from tests.procs import Spawned, freeze, spawn
from tests.target_server import TargetServer

SCALE = 0.01
#: "Within about a second": the guards give an orphaned group 0.5 s before SIGKILL; the rest is
#: slack for a loaded 2-core machine.
GONE_WITHIN_S = 3.0
POLL_S = 0.02


def _pgids(pids: set[int]) -> dict[int, str]:
    """Each process's group, state and first arguments: for a failure message."""
    found: dict[int, str] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = f"pgid {stat[2]} state {stat[0]} {' '.join(_cmdline(pid)[:3])[:60]}"
    return found


def _running_in_group(pgid: int, argument: str) -> bool:
    """Whether a live member of the group other than its leader has ``argument`` on its
    command line (its exec done; the leader, a guard, has its child's command on its own)."""
    members = [pid for pid in group_pids(pgid) if pid != pgid]
    return any(argument in arg for pid in members for arg in _cmdline(pid))


def _wait_gone(pids: set[int], timeout: float) -> tuple[set[int], float]:
    """Poll /proc until none of pids is alive or the deadline passes; (survivors, seconds)."""
    start = time.monotonic()
    while (left := alive(pids)) and time.monotonic() - start < timeout:
        time.sleep(POLL_S)  # polling /proc: there is nothing to wait on
    return left, time.monotonic() - start


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _first_line(proc: Spawned, timeout: float = 60) -> str:
    """The process's first stdout line (``timeout``: a deadline for a hang); if none comes, a
    failure that says why."""
    assert proc.stdout is not None and proc.stderr is not None
    line = read_line(proc.stdout, timeout=timeout)
    if line:
        return line
    if proc.poll() is None:
        pytest.fail(f"no line on stdout within {timeout} s (still running)")
    pytest.fail(f"exited {proc.returncode} without a line on stdout: {proc.stderr.read()!r}")


@contextmanager
def _cli(*args: str, log: Path) -> Iterator[tuple[Spawned, int, set[int]]]:
    """``python -m django_target serve`` on a free port, output to ``log``; yields the process,
    the server's port and every process it started, once the server answers. (``spawn``: its
    group and every process seen below it are killed at the end of the block.)"""
    with spawn(
        [sys.executable, "-m", "django_target", "serve", "--port", "0", "--scale", str(SCALE),
         "--log", str(log), *args],
        text=False,
    ) as proc:  # fmt: skip
        url = _first_line(proc)
        assert url.startswith("http://127.0.0.1:"), url
        yield proc, int(url.rsplit(":", 1)[1]), proc.descendants()


# -- the CLI -------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["gunicorn-gevent", "hypercorn-uvloop"])
def test_sighup_stops_the_cli_like_sigterm(server: str, tmp_path: Path) -> None:
    with _cli("--server", server, "--workers", "2", log=tmp_path / "servers.log") as (
        proc, port, started,
    ):  # fmt: skip
        assert len(started) >= 6, started  # 2 guards, upstream, master, 2 workers
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert err == b""
        assert alive(started) == set()  # a clean stop waits for every process
        assert _refused(port)


@pytest.mark.parametrize("server", SERVERS)
def test_sigkill_of_the_cli_leaves_no_server(server: str, tmp_path: Path) -> None:
    with _cli("--server", server, "--workers", "2", log=tmp_path / "servers.log") as (
        proc, port, started,
    ):  # fmt: skip
        assert len(started) >= 6, started
        assert not _refused(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left, took = _wait_gone(started, timeout=10)
        assert left == set(), [_cmdline(pid) for pid in left]
        assert took < GONE_WITHIN_S
        assert _refused(port)


# -- the benchmarks ------------------------------------------------------------------------


def test_sigkill_of_the_benchmark_stops_its_stack(tmp_path: Path) -> None:
    """A tiny matrix (one stack, one cell), killed while pyload loads the stack (its workers
    forked from the benchmark process, which must not keep the stack's lifeline open): the
    stack's processes (the guards' process groups) exit, and nothing listens on its port."""
    with spawn(
        [sys.executable, "-m", "benchmarks", "--servers", "gunicorn-uvicorn", "--endpoints",
         "sync/gateway_1s", "--scale", "0.05", "--duration", "3", "--connections", "2",
         "--workers", "1", "--server-workers", "1", "--warmup", "0", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:  # the stack is up and the cell has started
            if line.startswith("[1/1]"):
                break
            lines.append(line)
        else:
            status = proc.wait(timeout=60)
            pytest.fail(f"the benchmark exited {status} before its cell: {''.join(lines[-20:])}")
        deadline = time.monotonic() + 10
        while len(group_pids(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(POLL_S)  # polling /proc until pyload's worker processes exist
        assert len(group_pids(proc.pid)) >= 2  # the benchmark and pyload's workers
        everything = proc.descendants()
        guards = [pid for pid in everything if any("guard.py" in a for a in _cmdline(pid))]
        assert len(guards) == 2, [_cmdline(pid) for pid in everything]  # upstream, server
        stack = {pid for guard in guards for pid in group_pids(guard)}
        assert len(stack) >= 5, stack  # 2 guards, upstream, master, worker
        masters = [pid for pid in stack if "--bind" in _cmdline(pid)]
        bind = _cmdline(masters[0])
        port = int(bind[bind.index("--bind") + 1].rsplit(":", 1)[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left, took = _wait_gone(stack, timeout=10)
        assert left == set(), [_cmdline(pid) for pid in left]
        assert took < GONE_WITHIN_S
        assert _refused(port)


def test_a_forked_child_does_not_keep_the_servers_alive() -> None:
    """A process forked without exec by the launcher (pyload forks its workers) closes its
    copy of the lifeline: the launcher's SIGKILL stops the guarded group while it lives on."""
    code = (
        "import os, subprocess, sys\n"
        "from django_target.guard import Lifeline\n"
        "lifeline = Lifeline()\n"
        "guard = subprocess.Popen(lifeline.command([sys.executable, '-c',"
        " 'import sys; sys.stdin.read()']), pass_fds=lifeline.pass_fds,"
        " start_new_session=True, stdin=subprocess.PIPE)\n"
        "forked = os.fork()\n"
        "if forked == 0:\n"
        "    sys.stdin.read()  # lives until the test closes stdin\n"
        "    os._exit(0)\n"
        "print(guard.pid, forked, flush=True)\n"
        "sys.stdin.read()\n"
    )
    with spawn([sys.executable, "-c", code], stdin=subprocess.PIPE, text=False) as proc:
        guard, forked = map(int, _first_line(proc).split())
        started = proc.descendants()
        deadline = time.monotonic() + 30  # a deadline for a hang
        # The guard's child, recognised by its command line: a count of the group's members
        # would also count a short-lived helper of the guard's (ctypes' ldconfig did that).
        while not _running_in_group(guard, "sys.stdin.read()") and time.monotonic() < deadline:
            time.sleep(POLL_S)  # polling /proc until the guard's child runs
        group = set(group_pids(guard))
        assert forked in started
        assert len(group) == 2, (guard, group, _pgids(proc.descendants()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left, took = _wait_gone(group, timeout=10)
        assert left == set()
        assert took < GONE_WITHIN_S
        assert alive({forked}) == {forked}  # the fork lives on, without the lifeline


def test_sigkill_of_a_process_running_nginx_stops_nginx() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if IN_CI:
            pytest.fail("nginx is not installed")
        pytest.skip("nginx is not installed")
    code = (
        "import sys\n"
        "from benchmarks.nginx import running_nginx\n"
        "with running_nginx() as url:\n"
        "    print(url, flush=True)\n"
        "    sys.stdin.read()  # until the test closes stdin, or kills us\n"
    )
    with spawn([sys.executable, "-c", code], stdin=subprocess.PIPE, text=False) as proc:
        url = _first_line(proc)
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        started = proc.descendants()
        assert [Path(_cmdline(pid)[0]).name for pid in started] == ["nginx"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left, took = _wait_gone(started, timeout=10)
        assert left == set()
        assert took < GONE_WITHIN_S
        assert _refused(port)


# -- the guard's own rules -----------------------------------------------------------------


@contextmanager
def _guarded(lifeline: Lifeline, code: str, **kwargs: object) -> Iterator[Spawned]:
    """``python -c CODE`` under a guard holding ``lifeline``, the guard leading a session of
    its own (as the launcher starts it); killed with its group at the end of the block."""
    with spawn(
        lifeline.command([sys.executable, "-c", code]), pass_fds=lifeline.pass_fds, text=False,
        **kwargs,
    ) as guard:  # fmt: skip
        yield guard


@pytest.mark.parametrize(("code", "status"), [
    ("import sys; sys.exit(3)", 3),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM),
])  # fmt: skip
def test_the_guard_exits_with_its_childs_status(code: str, status: int) -> None:
    lifeline = Lifeline()
    try:
        with _guarded(lifeline, code) as guard:
            assert guard.wait(timeout=60) == status
    finally:
        lifeline.close()


def test_the_guard_passes_the_childs_output_and_stops_on_the_groups_sigterm() -> None:
    """The launcher's stop: SIGTERM to the whole group; the guard outlives it, its child does
    not, and the guard then exits like the child (killed by SIGTERM)."""
    lifeline = Lifeline()
    code = "import sys; print('ready', flush=True); sys.stdin.read()"
    try:
        with _guarded(lifeline, code, stdin=subprocess.PIPE) as guard:
            assert guard.stdout is not None
            assert _first_line(guard) == "ready"
            os.killpg(guard.pid, signal.SIGTERM)
            assert guard.wait(timeout=60) == -signal.SIGTERM
            assert guard.stdout.read() == b""  # end-of-file: nobody holds the child's stdout
            assert group_pids(guard.pid) == []
    finally:
        lifeline.close()


def test_a_broken_lifeline_kills_the_group_even_processes_that_ignore_sigterm() -> None:
    """The child and its own child ignore SIGTERM: after ORPHAN_GRACE_S, SIGKILL for all."""
    code = (
        "import signal, subprocess, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],"
        " stdin=subprocess.PIPE)\n"
        "print(grandchild.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    lifeline = Lifeline()
    try:
        with _guarded(lifeline, code, stdin=subprocess.PIPE) as guard:
            grandchild = int(_first_line(guard))
            members = set(group_pids(guard.pid))
            assert grandchild in members and guard.pid in members and len(members) == 3
            broken = time.monotonic()
            lifeline.close()  # what the kernel does when the launcher dies
            assert guard.wait(timeout=60) == -signal.SIGKILL
            left, _ = _wait_gone(members, timeout=10)
            took = time.monotonic() - broken
            assert left == set()
            assert ORPHAN_GRACE_S <= took < GONE_WITHIN_S
    finally:
        lifeline.close()


def test_a_killed_guard_takes_its_child_along() -> None:
    """PR_SET_PDEATHSIG: the child gets SIGTERM when its guard dies."""
    lifeline = Lifeline()
    code = "import os, sys; print(os.getpid(), flush=True); sys.stdin.read()"
    try:
        with _guarded(lifeline, code, stdin=subprocess.PIPE) as guard:
            child = int(_first_line(guard))
            assert alive({child}) == {child}
            guard.kill()
            guard.wait(timeout=30)
            left, took = _wait_gone({child}, timeout=10)
            assert left == set()
            assert took < GONE_WITHIN_S
    finally:
        lifeline.close()


# -- pyload's own run: SIGINT, SIGTERM, a second one, a hung worker, a killed caller ----------
# (Ctrl-C once: tests/test_engine.py::test_ctrl_c_still_prints_the_report; the CLI killed with
# SIGKILL, workers forked: test_engine.py::test_workers_exit_when_their_parent_is_killed.)


@contextmanager
def _pyload(*args: str, code: str | None = None) -> Iterator[tuple[Spawned, set[int]]]:
    """``python -m pyload ARGS`` (or ``python -c CODE ARGS``) in a session of its own, once the
    load starts (wrk's header is out, the workers are ready); yields it and its workers."""
    command = ["-m", "pyload"] if code is None else ["-c", code]
    with spawn([sys.executable, *command, *args]) as proc:
        header = _first_line(proc)  # (read_line drops the rest of its read)
        assert header.startswith("Running "), header
        workers = {pid for pid in proc.descendants() if _comm(pid).startswith("pyload-p")}
        yield proc, workers


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _requests_in(report: str) -> int:
    found = re.search(r"^ +(\d+) requests in ", report, re.M)
    assert found is not None, report
    return int(found.group(1))


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGTERM-to-the-group", "SIGINT-to-the-group"],
)
def test_an_interrupt_ends_the_run_with_its_report_and_no_worker_left(
    server: TargetServer, signum: int, group: bool, tmp_path: Path
) -> None:
    """As Ctrl-C in a terminal (SIGINT to the whole group) or a service manager's stop (SIGTERM,
    to the parent or to the group): the workers stop at their next tick, the report of what
    was done is printed, exit 0, and no worker outlives the parent."""
    out = tmp_path / "result.json"
    args = ["-t2", "-c4", "-d30", "--processes", "2", "--json", str(out), server.url]
    with _pyload(*args) as (proc, workers):
        assert len(workers) == 2
        assert server.wait_received("/", 100)
        started = time.monotonic()
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == 0, stdout + stderr  # exit 3: the report's last lines say why
        result = json.loads(out.read_text())
        assert result["interrupted"] is True and result["requests"] >= 100
        assert _requests_in(stdout) == result["requests"]
        assert result["runtime_us"] < 30_000_000 and took < GONE_WITHIN_S
        assert alive(workers) == set()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_right_after_the_header_still_gets_a_whole_report(
    server: TargetServer, signum: int
) -> None:
    """The signal comes as the header is read: before the parent has sent START, or before a
    process has read it (then START and STOP arrive together). Either way every process runs
    its threads, stops at their first tick and sends its result: a report, exit 0, no
    'Partial result' (both cases used to lose a process: 10 of 10 runs then, exit 3)."""
    with _pyload("-t2", "-c4", "-d30", "--processes", "2", server.url) as (proc, workers):
        assert len(workers) == 2
        os.killpg(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout + stderr
    assert "Partial result" not in stdout + stderr
    assert re.search(r"^ +\d+ requests in ", stdout, re.M), stdout
    assert alive(workers) == set()


def test_a_second_interrupt_ends_the_run_at_once(server: TargetServer) -> None:
    """One worker hangs (SIGSTOP): the first SIGINT waits for it, the second gives it up. The
    report of the other worker is printed, the lost one is named, exit EXIT_PARTIAL, and the
    stopped worker is killed, not left behind."""
    from pyload._cli import EXIT_PARTIAL

    with _pyload("-t2", "-c4", "-d30", "--processes", "2", server.url) as (proc, workers):
        assert len(workers) == 2
        # A second request on each of the 4 connections: each worker has counted a response
        # (100 requests in all could have come from one worker, the other still connecting).
        assert server.wait_until(lambda s: sum(n >= 2 for n in s.requests_per_connection) >= 4), (
            server.requests_per_connection
        )
        hung = min(workers)
        freeze([hung])
        proc.send_signal(signal.SIGINT)
        assert proc.stdout is not None and proc.stderr is not None
        # The first interrupt: the other worker's result comes; the parent waits for this one.
        left, _ = _wait_gone(workers - {hung}, timeout=10)
        assert left == set() and proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == EXIT_PARTIAL, stderr
        assert _requests_in(stdout) > 0
        assert "sent no result before the second interrupt" in stdout + stderr
        assert took < 1.5  # INTERRUPTED_POLL_S + EXIT_GRACE_S, and the report
        assert alive(workers) == set()


def test_a_hung_worker_is_bounded_by_the_deadline_and_the_grace_period(
    server: TargetServer,
) -> None:
    """A worker that stops answering (SIGSTOP) holds the run for the deadline and
    STOP_GRACE_S (shortened to 1 s here), then is given up, killed, and named in the report."""
    from pyload._cli import EXIT_PARTIAL

    code = (
        "import sys\n"
        "import pyload._local\n"
        "pyload._local.STOP_GRACE_S = 1.0\n"
        "from pyload.__main__ import run\n"
        "sys.exit(run())\n"
    )
    with _pyload("-t2", "-c4", "-d1", "--processes", "2", server.url, code=code) as (
        proc, workers,
    ):  # fmt: skip
        started = time.monotonic()
        hung = min(workers)
        freeze([hung])
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == EXIT_PARTIAL, stderr
        assert _requests_in(stdout) > 0  # the other worker's
        assert "sent no result within 1s" in stdout + stderr
        # duration + STOP_GRACE_S + (POLL_S + EXIT_GRACE_S at most), and slack for a busy machine
        assert 1.0 + 1.0 <= took < 1.0 + 1.0 + 1.0 + 1.5
        assert alive(workers) == set()


def test_no_worker_outlives_a_killed_library_caller(server: TargetServer) -> None:
    """A caller with a thread of its own gets its workers from a forkserver (runner._context);
    killed with SIGKILL mid-run, it leaves neither the forkserver nor a worker behind."""
    code = (
        "import sys, threading\n"
        "import pyload\n"
        "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
        "pyload.run(sys.argv[1], threads=2, processes=2, connections=4, duration=60,\n"
        "           on_progress=lambda p: print('Running', p.elapsed_s, flush=True))\n"
    )
    with spawn([sys.executable, "-c", code, server.url]) as proc:
        assert _first_line(proc).startswith("Running")  # a second of load
        started = proc.descendants()
        workers = {pid for pid in started if _comm(pid).startswith("pyload-p")}
        assert len(workers) == 2 and len(started) >= 3  # the forkserver, its two workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left, _ = _wait_gone(started, timeout=GONE_WITHIN_S)
        assert left == set(), [_cmdline(pid) for pid in left]
