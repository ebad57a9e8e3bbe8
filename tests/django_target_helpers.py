"""Shared helpers of the django_target tests: plain HTTP over http.client, process trees and
process groups read from /proc, reading a child's first stdout line with a deadline (no sleeps),
and the CLI run as a launcher that is always killed and reaped, with everything it started."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
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


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, process group) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


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


def parent_of(pid: int) -> int | None:
    """The parent's pid, or None if the process is gone."""
    stat = _stat(pid)
    return None if stat is None else stat[1]


def pending_signals(pid: int) -> set[int]:
    """The signals pending for a process (sent to it, not yet handled: a stopped process
    keeps them), from /proc/PID/status; empty if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return set()
    mask = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            mask |= int(line.split()[1], 16)
    return {signum for signum in range(1, 65) if mask & (1 << (signum - 1))}


def groups_of(pids: set[int]) -> set[int]:
    """The process groups of the pids that still exist."""
    return {stat[2] for pid in pids if (stat := _stat(pid)) is not None}


def group_members(groups: set[int]) -> set[int]:
    """Every live (non-zombie) process whose process group is one of groups, from /proc."""
    members: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] not in ("Z", "X") and stat[2] in groups:
                members.add(int(entry.name))
    return members


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


# -- the CLI as a launcher -----------------------------------------------------------------

#: Runs ``python -m django_target ARGS`` with SIGINT ignored, as a shell without job control
#: starts a background job (exec keeps an ignored signal ignored).
_SIGINT_IGNORED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'django_target', *sys.argv[1:]])"
)
#: Seconds the clean-up gives SIGKILLed processes to be gone (a hang, not a measurement).
_CLEANUP_TIMEOUT = 30.0


@dataclass
class Launcher:
    """A running ``python -m django_target serve``: its process, the URL it printed, and what
    it had started once the server answered (pids, and their process groups)."""

    proc: subprocess.Popen[bytes]
    url: str = ""
    started: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)


@contextmanager
def launched(
    *args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False
) -> Iterator[Launcher]:
    """``python -m django_target serve ARGS`` until it prints its URL (60 s at most); yields a
    Launcher. Whatever happens in the block, on the way out the launcher and every process
    group of its children are SIGKILLed, the launcher is reaped and its pipes are closed, and
    the groups are waited for (up to _CLEANUP_TIMEOUT) until none of their members is alive."""
    prefix = ["-c", _SIGINT_IGNORED] if sigint_ignored else ["-m", "django_target"]
    proc = subprocess.Popen(
        [sys.executable, *prefix, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env() if env is None else env,
        cwd=REPO_ROOT,
    )
    launcher = Launcher(proc)
    try:
        assert proc.stdout is not None
        launcher.url = read_line(proc.stdout, timeout=60)
        launcher.started = descendants(proc.pid)
        launcher.groups = groups_of(launcher.started) - {os.getpgrp()}
        if not launcher.url:
            proc.kill()
            _, err = proc.communicate(timeout=_CLEANUP_TIMEOUT)
            raise AssertionError(f"the CLI printed no URL: {err.decode(errors='replace')}")
        yield launcher
    finally:
        _kill_launcher(launcher)


def _kill_launcher(launcher: Launcher) -> None:
    proc = launcher.proc
    groups = set(launcher.groups)
    if proc.poll() is None:
        groups |= groups_of(descendants(proc.pid)) - {os.getpgrp()}
        proc.kill()
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=_CLEANUP_TIMEOUT)  # reaps it; EOF once every holder is gone
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    deadline = time.monotonic() + _CLEANUP_TIMEOUT
    while group_members(groups) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILLed processes have nothing to wait on: poll /proc
