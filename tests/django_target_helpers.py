"""Shared helpers of the django_target tests: plain HTTP over http.client, process trees read
from /proc, and reading a child's first stdout line with a deadline (no sleeps)."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange: status, content type, body and the client-side elapsed seconds."""

    status: int
    content_type: str
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(url: str, timeout: float = 10.0) -> Reply:
    """GET url on a fresh connection, timed with the monotonic clock."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        start = time.perf_counter()
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        return Reply(response.status, response.getheader("Content-Type", ""), body, elapsed)
    finally:
        conn.close()


def concurrent_gets(url: str, count: int, timeout: float = 30.0) -> tuple[list[Reply], float]:
    """count simultaneous GETs of url (one thread and connection each); replies and wall time."""
    with ThreadPoolExecutor(count) as pool:
        start = time.perf_counter()
        replies = list(pool.map(lambda _: http_get(url, timeout), range(count)))
        return replies, time.perf_counter() - start


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live descendant of pid (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                children.setdefault(stat[1], []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids that still exist and are not zombies."""
    return {pid for pid in pids if (stat := _stat(pid)) is not None and stat[0] != "Z"}


def read_line(stream: Any, timeout: float) -> str:
    """The first line of a pipe, or "" if it closes or the deadline passes first."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return ""
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                return ""
            data += chunk
    return data.split(b"\n", 1)[0].decode()


def cli_env() -> dict[str, str]:
    """The environment for `python -m django_target ...` from any working directory."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    return env


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "django_target", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def listening_socket() -> Iterator[int]:
    """A socket listening on a free 127.0.0.1 port for the duration; yields the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening on it (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
