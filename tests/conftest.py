"""Shared fixtures: real servers on 127.0.0.1, started per test module or per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.target_server import TargetServer, running

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def server() -> Iterator[TargetServer]:
    """A fresh target server per test, so its counts are this test's alone."""
    with running() as state:
        yield state


@pytest.fixture(scope="session")
def wrk_path() -> str:
    """The real wrk; missing it skips the comparison locally and fails in CI."""
    path = shutil.which("wrk")
    if path is None:
        if IN_CI:
            pytest.fail("wrk is not installed (.ci/run installs Debian's wrk)")
        pytest.skip("wrk is not installed")
    return path
