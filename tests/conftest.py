"""Shared fixtures: real servers on 127.0.0.1, started per test module or per test; and the rules
that keep tests from leaking into each other and CI from passing on a skip.

- After every test, no process the test started may still run (the check below: children of
  pytest, recursively, that were not there before the test), and nothing it left unclosed may
  warn when collected (``ResourceWarning``: a subprocess, a file, a socket, an event loop). Either
  fails that test, at its teardown, naming what it left; leftover processes are killed.
  Processes start through tests/procs.py's ``spawn``, which ends them whatever happens.
- With ``CI=true`` (``.ci/run`` sets it), a skip is a failure: a Quick-start machine has every
  tool and package the suite uses. ``SKIPS_ALLOWED_IN_CI`` lists the skips that depend on the
  machine's hardware instead.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import ssl
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path

import psutil
import pytest

from tests.procs import describe, kept_pids, run
from tests.target_server import TargetServer, running

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _ignored_here_not_in_children(signum: int, frame: object) -> None:
    """The handler of SIGHUP and SIGINT in pytest when it was started ignoring them (under
    ``nohup``; as a background job of a shell without job control, which ignores SIGINT): pytest
    goes on ignoring them, but a handler, unlike SIG_IGN, is not inherited across exec, so the
    processes the tests start get the default, as from a terminal. The tests that send these
    signals (and those that start pyload or the launcher with them ignored, on purpose) then
    test pyload, not how the suite was started."""


for _signum in (signal.SIGHUP, signal.SIGINT):
    if signal.getsignal(_signum) is signal.SIG_IGN:
        signal.signal(_signum, _ignored_here_not_in_children)

#: Skip reasons that stay skips under CI: what a Quick-start machine may lack by its hardware
#: (the x87 long double of x86: not on arm64), never a tool or a package.
SKIPS_ALLOWED_IN_CI = ("x87",)

#: Processes multiprocessing starts once and keeps for the rest of pytest's life (pyload's
#: workers come from a forkserver when the caller has threads; Dask spawns its workers, and
#: both start a resource tracker). Recognised by their command line, direct children only.
_LIFELONG = ("from multiprocessing.forkserver import main", "from multiprocessing.resource_tracker")


def require_tool(name: str) -> str:
    """The path of a program the suite needs (wrk, nginx, openssl): missing, the test skips
    locally and fails under CI."""
    path = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()), None
    )
    if path is None:
        message = f"{name} is not installed (scripts/setup installs Debian's {name})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


# -- no test leaks into the next -------------------------------------------------------------


def _live_children(me: psutil.Process) -> set[psutil.Process]:
    found = set()
    for child in me.children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.add(child)
        except psutil.Error:
            continue
    return found


def _lifelong(me: psutil.Process, process: psutil.Process) -> bool:
    try:
        if process.ppid() != me.pid:
            return False
        command = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return any(marker in command for marker in _LIFELONG)


def _leftovers(me: psutil.Process, before: set[psutil.Process]) -> list[psutil.Process]:
    """Live processes below pytest that were not there before the test and that nothing wider
    than the test keeps."""
    kept = kept_pids()
    return sorted(
        (p for p in _live_children(me) - before if p.pid not in kept and not _lifelong(me, p)),
        key=lambda p: p.pid,
    )


#: The test file of the last test checked: see _leaves_nothing_behind on gc.freeze().
_checked_file: list[str] = [""]


@pytest.fixture(autouse=True)
def _leaves_nothing_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test (at its teardown) that leaves a process running or an object that warns
    when collected. Autouse, so set up before the test's other function fixtures and torn down
    after them: what they start must be gone too; what wider fixtures started before is not
    this test's.

    The collection walks only what is new: the objects alive after a check are no test's leak
    yet, and are set aside (``gc.freeze()``), so the next check does not walk them again (a
    full collection of pytest's ~150,000 objects takes 0.1-0.3 s on 2 cores: a quarter of the
    suite's time, over 1,100 tests). At the first test of each file they are handed back
    (``gc.unfreeze()``) and that test's check walks everything: garbage that a wider fixture
    leaves at its teardown (a module's server) is found there, by the first test after it, as
    when every check walked everything; so is an object that outlived its test and became
    garbage later in the file. (An in-process run freezes what its test made before it and
    leaves it so, the caller's freeze being on: _local.py. Garbage among it is found at the
    next file's first test.)"""
    file = request.node.nodeid.split("::", 1)[0]
    if file != _checked_file[0]:
        gc.unfreeze()
        _checked_file[0] = file
    me = psutil.Process()
    before = _live_children(me)
    yield
    problems = []
    leaked = _leftovers(me, before)
    if leaked:
        names = [describe(p) for p in leaked]
        for process in leaked:
            try:
                process.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(leaked, timeout=30)
        problems.append("left processes running (now killed): " + "; ".join(names))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    gc.freeze()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    if unclosed:
        problems.append("left unclosed: " + "; ".join(unclosed))
    if problems:
        pytest.fail("this test " + "\n".join(problems), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """After the last teardown (wider fixtures included): nothing may be left at all."""
    me = psutil.Process()
    leaked = [p for p in _leftovers(me, set()) if p.pid != me.pid]
    if not leaked:
        return
    for process in leaked:
        try:
            process.kill()
        except psutil.Error:
            continue
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "processes left at the end of the session (killed): " + "; ".join(
        describe(p) for p in leaked
    )
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- under CI, a skip is a failure ------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if not any(allowed in reason for allowed in SKIPS_ALLOWED_IN_CI):
            report.outcome = "failed"
            report.longrepr = (
                f"skipped under CI ({reason}): a Quick-start machine has everything this "
                "test needs (tests/conftest.py, SKIPS_ALLOWED_IN_CI)"
            )
    return report


# -- servers and tools ----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[TargetServer]:
    """A fresh target server per test, so its counts are this test's alone."""
    with running() as state:
        yield state


@pytest.fixture(scope="session")
def wrk_path() -> str:
    """The real wrk; missing it skips the comparison locally and fails in CI."""
    return require_tool("wrk")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate made by openssl, and its key: their paths."""
    openssl = require_tool("openssl")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    done = run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cert, key


@pytest.fixture(scope="session")
def tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A server context with the throwaway self-signed certificate."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_server(tls_context: ssl.SSLContext) -> Iterator[TargetServer]:
    with running(tls=tls_context) as state:
        yield state
