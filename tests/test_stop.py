"""Stop means stop: pyload's command ends on SIGINT, SIGTERM and SIGHUP from any state, within its
bound, with no worker process left (docs/reliability.md, "Stopping").

The setup states that wait (a FIFO as the body, worker processes held in a script's init())
are made to wait for real; timeouts here are deadlines for a hang, never measurements.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.helpers import start_pyload_cli
from tests.target_server import TargetServer

HANG_S = 60  # a deadline for a hang: the runs below would take 30 s or more if not stopped
#: pyload's bound for a stop before the load (docs/reliability.md): the command has ended
#: within 2 s of the signal, a loaded 2-core machine included.
SETUP_STOP_BOUND_S = 2.0


def _ignoring(*signums: int) -> Callable[[], None]:
    """A preexec_fn: start the process with ``signums`` ignored (inherited SIG_IGN)."""

    def preexec() -> None:
        for signum in signums:
            signal.signal(signum, signal.SIG_IGN)

    return preexec


def _alive(pids: set[int]) -> list[int]:
    return [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name
)
def test_a_stop_signal_while_reading_a_fifo_body_exits_130(
    server: TargetServer, tmp_path: Path, signum: int, request: pytest.FixtureRequest
):
    """The bound is the behaviour under test: ``stop_s`` is recorded for scripts/stress-tests."""
    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    args = ("-t2", "-c2", "-d30", "--body-file", str(fifo), server.url)
    # open() for writing returns once pyload has opened the FIFO: it now blocks reading it.
    with start_pyload_cli(*args) as proc, open(fifo, "wb"):
        signalled = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=HANG_S)
        took = time.monotonic() - signalled
    request.node.user_properties.append(("stop_s", round(took, 3)))
    assert (proc.returncode, stdout, stderr) == (130, "", "interrupted before the load started\n")
    assert took <= SETUP_STOP_BOUND_S
    assert server.connections == 0


def test_sigint_stops_it_even_when_started_with_sigint_ignored(server: TargetServer, tmp_path):
    """A shell's background job starts with SIGINT ignored; pyload stops on it all the same (a
    load generator that keeps loading after Ctrl-C is worse than one that stops)."""
    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    args = ("-t2", "-c2", "-d30", "--body-file", str(fifo), server.url)
    with start_pyload_cli(*args, preexec_fn=_ignoring(signal.SIGINT)) as proc, open(fifo, "wb"):
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=HANG_S)
    assert (proc.returncode, stderr) == (130, "interrupted before the load started\n")


def test_sighup_during_the_load_stops_it_with_its_report(server: TargetServer):
    with start_pyload_cli("-t2", "-c4", "-d30", server.url) as proc:
        assert proc.stdout.readline().startswith("Running 30s test")
        assert server.wait_received("/", 100)  # the load is flowing
        workers = proc.descendants()
        assert workers
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 0, stderr
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s), ", stdout)
    assert found and int(found.group(1)) > 0, stdout
    assert found.group(3) != "s" or float(found.group(2)) < 30  # stopped early, not at the end
    assert _alive(workers) == []


def test_sighup_is_no_stop_under_nohup(server: TargetServer):
    """Started with SIGHUP ignored (nohup), pyload keeps it ignored: the run goes to its end."""
    with start_pyload_cli(
        "-t1", "-c2", "-d2", server.url, preexec_fn=_ignoring(signal.SIGHUP)
    ) as proc:
        assert proc.stdout.readline().startswith("Running 2s test")
        assert server.wait_received("/", 10)
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 0, stderr
    found = re.search(r"requests in ([\d.]+)s, ", stdout)
    assert found and float(found.group(1)) >= 1.9, stdout  # the whole duration was loaded


INIT_WAITS = """\
import os, time
def init(args):
    os.write(1, b"init\\n")  # one write: the two processes' lines never interleave
    time.sleep(120)  # holds the worker process before it is ready
"""


@pytest.mark.parametrize("signals", [1, 2], ids=["once", "twice"])
def test_a_stop_signal_while_the_processes_start_ends_it_and_them(
    server: TargetServer, tmp_path: Path, signals: int
):
    """The worker processes are up but not ready (their script's init() waits): the first
    signal ends the run and its processes within EXIT_GRACE_S; a second ends it at once."""
    script = tmp_path / "wait.py"
    script.write_text(INIT_WAITS)
    with start_pyload_cli(
        "-t2", "-c2", "--processes", "2", "-d30", "-s", str(script), server.url
    ) as proc:
        assert proc.stdout.readline() == "init\n"  # a worker process runs init()
        workers = proc.descendants()
        assert workers
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130
    assert stderr in ("interrupted before the load started\n", "interrupted\n")
    assert _alive(workers) == []
    assert server.connections == 1  # the probe only: no load was sent
