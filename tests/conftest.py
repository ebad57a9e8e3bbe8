"""Shared fixtures: real servers on 127.0.0.1, started per test module or per test."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a throwaway self-signed certificate made by openssl."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_server(tls_context: ssl.SSLContext) -> Iterator[TargetServer]:
    with running(tls=tls_context) as state:
        yield state
