"""The suite's own rules (tests/conftest.py), checked on a small suite run by a real pytest in a
subprocess: a test that leaves a process running or an object unclosed fails itself, not the
next test; under CI a skip is a failure, but for the hardware-dependent ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from tests.procs import python_env, run

CONFTEST = (
    "from tests.conftest import (  # the suite's rules, as they apply to tests/\n"
    "    _leaves_nothing_behind, pytest_runtest_makereport, pytest_sessionfinish,\n"
    ")\n"
)


def pytest_on(folder: Path, tests: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_cases.py").write_text(tests)
    env = {k: v for k, v in python_env().items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    return run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", str(folder)],
        timeout=90, cwd=folder, env=env,
    )  # fmt: skip


def test_a_process_left_running_fails_the_test_that_started_it(tmp_path: Path):
    done = pytest_on(
        tmp_path,
        "import subprocess\n"
        "STARTED = []\n"
        "def test_leaks_a_sleep():\n"
        "    STARTED.append(subprocess.Popen(['sleep', '3600']))\n"
        "def test_the_next_test():\n"
        "    pass\n",
    )
    assert done.returncode == 1, done.stdout
    assert "ERROR at teardown of test_leaks_a_sleep" in done.stdout
    assert "this test left processes running (now killed): " in done.stdout
    assert " sleep 3600" in done.stdout
    assert "PASSED test_cases.py::test_the_next_test" in done.stdout
    pid = int(done.stdout.split("(now killed): ", 1)[1].split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_an_object_left_unclosed_fails_the_test_that_made_it(tmp_path: Path):
    done = pytest_on(
        tmp_path,
        "import socket\n"
        "def test_leaves_a_socket_for_the_collector():\n"
        "    cycle = [socket.socket()]\n"
        "    cycle.append(cycle)  # freed by the collector only: after the test\n"
        "def test_the_next_test():\n"
        "    pass\n",
    )
    assert done.returncode == 1, done.stdout
    assert "ERROR at teardown of test_leaves_a_socket_for_the_collector" in done.stdout
    assert "this test left unclosed: unclosed <socket.socket" in done.stdout
    assert "PASSED test_cases.py::test_the_next_test" in done.stdout


SKIPS = (
    "import pytest\n"
    "def test_needs_a_tool():\n"
    "    pytest.skip('frobnicator is not installed')\n"
    "def test_needs_x87():\n"
    "    pytest.skip('needs the x87 long double')\n"
)


def test_under_ci_a_skip_is_a_failure_unless_it_is_the_hardwares(tmp_path: Path):
    local = pytest_on(tmp_path, SKIPS)
    assert local.returncode == 0, local.stdout
    assert "2 skipped" in local.stdout
    ci = pytest_on(tmp_path, SKIPS, ci=True)
    assert ci.returncode == 1, ci.stdout
    assert "FAILED test_cases.py::test_needs_a_tool" in ci.stdout
    assert "skipped under CI (Skipped: frobnicator is not installed)" in ci.stdout
    assert "SKIPPED [1] test_cases.py:5: needs the x87 long double" in ci.stdout
