"""The launcher: starts the upstream and one server stack as subprocesses, each in its own
session and process group, waits until they answer HTTP, and stops them, within a bound, with
nothing left over.

The call chain, in execution order:

    serve(server, ...) -> start(ServerConfig)
        _reserve_port         an explicit port: fail fast if it is taken
        _start_upstream       python -m django_target.upstream (unless upstream_url is given),
                              read its URL line, then _check_upstream (one real GET)
        _reserve_port         port 0: pick a free port now that the upstream has its own
        _server_argv          gunicorn (gevent / uvicorn workers) or hypercorn (asyncio / uvloop)
        _wait_ready           GET / until it answers 200, the process exits, or the deadline
    Stack.stop()              server first, then upstream: SIGTERM to the guard's child (the
                              master), wait until no member of its group is alive; SIGKILL to
                              the group if anything is left at the stop's deadline
    Stack.kill()              SIGKILL every group at once (a second Ctrl-C to the CLI)

The bound of a stop. Every server gets one graceful shutdown timeout, ServerConfig's
``graceful_timeout`` (``DEFAULT_GRACEFUL_TIMEOUT`` = 3 s): gunicorn's and hypercorn's
``--graceful-timeout``, uvicorn's ``timeout_graceful_shutdown`` (django_target.workers), the
upstream's aiohttp ``shutdown_timeout``. A stop gives the servers that long, plus
``KILL_MARGIN`` (2 s) to cancel, shut down and exit, then SIGKILLs the process groups of
whatever is left: everything has had SIGKILL at most graceful_timeout + KILL_MARGIN = 5 s after
the stop began (``stop_timeout`` overrides the sum), and the stop returns as soon as the killed
processes are gone, in milliseconds (after ``_KILL_GRACE`` more seconds it gives up with
StopError, which only a process stuck in the kernel can cause). The stop waits by polling /proc,
never by a blocking wait, so it cannot hang on a child that is never reaped.

The Stack owns the child processes and their log files; nothing else signals them. Each child
runs under a guard (django_target/guard.py) tied to the Stack's lifeline, a pipe whose write end
only this process holds: if this process dies without stopping the Stack (SIGKILL), each guard
stops its child's whole process group within about a second.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from django_target.config import (
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_SCALE,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_UPSTREAM_DELAY,
    DEFAULT_UPSTREAM_SIZE,
    DEFAULT_UPSTREAM_TIMEOUT,
    DEFAULT_WORKERS,
    HOST,
    KILL_MARGIN,
    ServerConfig,
    check_upstream_settings,
)
from django_target.errors import (
    ConfigError,
    PortInUseError,
    StartupError,
    StopError,
    TargetError,
    UpstreamError,
)
from django_target.guard import Lifeline, children, group_pids

__all__ = [
    "LOG_TO_STDERR",
    "Stack",
    "group_pids",
    "serve",
    "serve_upstream",
    "start",
]

#: The directory that holds the django_target package; put on the children's PYTHONPATH.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
_POLL_INTERVAL = 0.05
_PROBE_TIMEOUT = 2.0
_KILL_GRACE = 5.0
#: ``log_path`` value that sends the servers' output to this process's stderr (the CLI's default).
LOG_TO_STDERR = "-"
_STDERR_FD = 2


#: gunicorn's worker class for the gunicorn-uvicorn stack: uvicorn's, bounded by the graceful
#: timeout on its own (uvicorn-worker does not pass it on to uvicorn).
UVICORN_WORKER_CLASS = "django_target.workers.UvicornWorker"


# -- processes -----------------------------------------------------------------------------


@dataclass
class _Child:
    """One subprocess: the guard of a server (or of the upstream), leader of its own session
    and process group (pgid == pid); the server and its workers are members of that group.
    ``log`` is None when the output goes to this process's stderr."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes] | None

    @property
    def pgid(self) -> int:
        return self.proc.pid


def _spawn(name: str, argv: list[str], env: dict[str, str], log: IO[bytes] | None,
           lifeline: Lifeline, *, stdout_pipe: bool = False) -> _Child:
    output: IO[bytes] | int = log if log is not None else _STDERR_FD
    proc = subprocess.Popen(
        lifeline.command(argv),  # the guard runs argv and stops its group if we die
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else output,
        stderr=output,
        start_new_session=True,  # own session and process group: Ctrl-C does not reach it,
        bufsize=0,               # and the whole group can be signalled at once
        cwd=_PROJECT_ROOT,
        pass_fds=lifeline.pass_fds,
    )
    return _Child(name, proc, log)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _stop_child(child: _Child, deadline: float) -> list[int]:
    """SIGTERM the guard's child, SIGKILL the whole group if anything of it is alive at the
    deadline (at once if the deadline has passed), and return once no member is alive: [] then,
    else the survivors of _KILL_GRACE seconds after the SIGKILL.

    SIGTERM goes to the server's master (or the upstream), the guard's child, not to the group:
    the master then stops its workers itself, within the graceful timeout. A SIGTERM to every
    member would end hypercorn's workers at once (they leave SIGTERM at its default and wait
    for their master's shutdown event), cutting requests in flight short. A child the guard has
    not started yet when the stop begins gets its SIGTERM on a later round.

    Polls /proc rather than waiting for the guard: a group is stopped when none of its members
    is alive (a zombie is not), whether or not the guard has been reaped, so a Popen whose
    waitpid lock a KeyboardInterrupt once left taken cannot hold the stop."""
    terminated: set[int] = set()
    give_up: float | None = None  # set once the group has had SIGKILL
    while True:
        child.proc.poll()  # reap the guard when it has exited (keeps its status for exited())
        if not group_pids(child.pgid):
            break
        now = time.monotonic()
        if give_up is None and now >= deadline:
            _signal_group(child.pgid, signal.SIGKILL)
            give_up = now + _KILL_GRACE
        elif give_up is not None and now >= give_up:
            break
        elif give_up is None:
            for pid in set(children(child.pgid)) - terminated:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                terminated.add(pid)
        time.sleep(_POLL_INTERVAL)  # nothing to wait on for a group: poll /proc
    child.proc.poll()
    if child.proc.stdout is not None:
        child.proc.stdout.close()
    return group_pids(child.pgid)


def _log_tail(log: IO[bytes] | None) -> str:
    """The last non-empty line a child wrote to its log, for one-line error messages ("" when
    the output went to the terminal, where the reader has just seen it)."""
    if log is None:
        return ""
    try:
        log.flush()
        log.seek(0, os.SEEK_END)
        size = log.tell()
        log.seek(max(0, size - 8192))
        lines = log.read().decode(errors="replace").splitlines()
    except (OSError, ValueError):
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


def _exited(child: _Child) -> StartupError:
    tail = _log_tail(child.log)
    suffix = f": {tail}" if tail else ""
    return StartupError(f"{child.name} exited with code {child.proc.returncode} on start{suffix}")


# -- HTTP probes ---------------------------------------------------------------------------


def _http_get(url: str, timeout: float) -> tuple[int, bytes]:
    """One GET over a fresh connection (http.client: no proxy settings are consulted)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port or 80, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request("GET", target, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _check_upstream(url: str, timeout: float) -> None:
    """Raise UpstreamError unless url answers 200 with a JSON document."""
    try:
        status, body = _http_get(url, timeout)
    except ConnectionRefusedError:
        raise UpstreamError(f"upstream {url} is down: connection refused") from None
    except TimeoutError:
        raise UpstreamError(f"upstream {url} did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise UpstreamError(f"upstream {url} is unreachable: {exc}") from None
    if status != 200:
        raise UpstreamError(f"upstream {url} answered HTTP {status}")
    try:
        json.loads(body)
    except ValueError:
        raise UpstreamError(f"upstream {url} did not answer JSON") from None


def _wait_ready(child: _Child, url: str, deadline: float) -> None:
    """Poll GET url until Django answers 200, the child exits, or the deadline passes."""
    while True:
        if child.proc.poll() is not None:
            raise _exited(child)
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = _http_get(url, _PROBE_TIMEOUT)
            if status == 200:
                return
        if time.monotonic() >= deadline:
            raise StartupError(f"{child.name} did not answer {url} before the startup deadline")
        time.sleep(_POLL_INTERVAL)


def _read_line(child: _Child, deadline: float) -> str:
    """The first stdout line of a child, read without blocking past the deadline."""
    stdout = child.proc.stdout
    assert stdout is not None
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamError(f"{child.name} did not start before the startup deadline")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                child.proc.wait()
                tail = _log_tail(child.log)
                raise UpstreamError(
                    f"{child.name} exited with code {child.proc.returncode} on start"
                    + (f": {tail}" if tail else "")
                )
            data += chunk
    return data.split(b"\n", 1)[0].decode().strip()


# -- ports ---------------------------------------------------------------------------------


def _reserve_port(port: int) -> int:
    """Return port if 127.0.0.1:port can be bound now (a free ephemeral port for 0).

    Binds with SO_REUSEADDR like the servers do, so only a live listener makes it fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {HOST} is already in use") from None
            if exc.errno == errno.EACCES:
                raise PortInUseError(f"port {port} on {HOST} needs privileges") from None
            raise
        bound: int = sock.getsockname()[1]
        return bound


# -- commands ------------------------------------------------------------------------------


def _server_argv(config: ServerConfig, port: int) -> list[str]:
    bind = f"{HOST}:{port}"
    if config.server.startswith("gunicorn-"):
        if config.server == "gunicorn-gevent":
            app, worker_class = "django_target.wsgi:application", "gevent"
        else:
            app, worker_class = "django_target.asgi:application", UVICORN_WORKER_CLASS
        argv = [
            sys.executable, "-m", "gunicorn", app,
            "--bind", bind,
            "--workers", str(config.workers),
            "--worker-class", worker_class,
            "--worker-connections", str(config.worker_connections),
            "--graceful-timeout", str(config.graceful_timeout),
            "--no-control-socket",  # gunicorn >= 25.1 would share one gunicorn.ctl
        ]
    else:
        argv = [
            sys.executable, "-m", "hypercorn",
            "--bind", bind,
            "--workers", str(config.workers),
            "--worker-class", config.server.removeprefix("hypercorn-"),
            "--graceful-timeout", str(config.graceful_timeout),
        ]
    if config.backlog is not None:
        argv += ["--backlog", str(config.backlog)]
    if config.keep_alive is not None:
        argv += ["--keep-alive", str(config.keep_alive)]
    if config.server.startswith("hypercorn-"):
        argv.append("django_target.asgi:application")
    return argv


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = _PROJECT_ROOT + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _server_env(config: ServerConfig, upstream_url: str) -> dict[str, str]:
    env = _base_env()
    env["DJANGO_SETTINGS_MODULE"] = "django_target.settings"
    env["GATEWAY_SCALE"] = repr(float(config.scale))
    env["UPSTREAM_URL"] = upstream_url
    env["UPSTREAM_TIMEOUT"] = repr(float(config.upstream_timeout))
    env["UPSTREAM_POOL_SIZE"] = str(config.upstream_pool_size)
    env["TZ"] = "UTC"  # the masters log in UTC like their Django workers (TIME_ZONE = "UTC")
    if config.asgi_threads is not None:
        env["ASGI_THREADS"] = str(config.asgi_threads)
    else:
        env.pop("ASGI_THREADS", None)
    return env


def _open_log(log_path: str | None) -> IO[bytes] | None:
    """None: a temporary file, read for error messages, then discarded; LOG_TO_STDERR: this
    process's stderr (returns None); otherwise the file, appended to."""
    if log_path is None:
        return tempfile.TemporaryFile("w+b")
    if log_path == LOG_TO_STDERR:
        return None
    try:
        return open(log_path, "a+b")  # owned and closed by the Stack
    except OSError as exc:
        raise ConfigError(f"cannot open log file {log_path!r}: {exc.strerror}") from None


# -- the running stack ---------------------------------------------------------------------


@dataclass
class Stack:
    """A running upstream + server pair (or a lone upstream). Use as a context manager, or call
    stop(). url is the server's base URL ("" for a lone upstream). kill_after: seconds from the
    start of stop() to the SIGKILL of whatever is left (ServerConfig.kill_after)."""

    kill_after: float
    url: str = ""
    upstream_url: str = ""
    _children: list[_Child] = field(default_factory=list, repr=False)
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)
    _lifeline: Lifeline = field(default_factory=Lifeline, repr=False)

    def exited(self) -> str | None:
        """A one-line description of a child that has exited on its own, or None."""
        for child in self._children:
            if child.proc.poll() is not None:
                tail = _log_tail(child.log)
                return (f"{child.name} exited unexpectedly with code {child.proc.returncode}"
                        + (f": {tail}" if tail else ""))
        return None

    def pids(self) -> list[int]:
        """Every live process of the stack (servers, their workers, the upstream)."""
        return sorted(pid for child in self._children for pid in group_pids(child.pgid))

    def kill(self) -> None:
        """SIGKILL every process of the stack now, without waiting (safe in a signal handler);
        a stop under way, or the next stop(), then only waits for them to be gone."""
        for child in list(self._children):
            _signal_group(child.pgid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server, then the upstream; idempotent. SIGKILLs what is left kill_after
        seconds after the call; raises StopError on survivors of SIGKILL."""
        deadline = time.monotonic() + self.kill_after
        survivors: list[int] = []
        while self._children:
            child = self._children[-1]  # started last, stopped first; kill() still sees it
            survivors += _stop_child(child, deadline)
            self._children.pop()
        while self._logs:
            self._logs.pop().close()
        self._lifeline.close()
        if survivors:
            raise StopError(f"processes {survivors} survived SIGKILL")

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _start_upstream(stack: Stack, *, port: int, size: int, delay: float, log_path: str | None,
                    deadline: float, graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT) -> str:
    log = _open_log(log_path)
    if log is not None:
        stack._logs.append(log)
    argv = [sys.executable, "-m", "django_target.upstream", "--host", HOST, "--port", str(port),
            "--size", str(size), "--delay", repr(round(float(delay), 9)),
            "--graceful-timeout", str(graceful_timeout)]
    child = _spawn("upstream", argv, _base_env(), log, stack._lifeline, stdout_pipe=True)
    stack._children.append(child)
    return _read_line(child, deadline)


def start(config: ServerConfig) -> Stack:
    """Start the upstream (unless config.upstream_url is set) and the server; return the Stack
    once the server answers HTTP. Everything started is stopped again if anything fails.

    Raises PortInUseError, UpstreamError, StartupError, ConfigError (all TargetError).
    """
    deadline = time.monotonic() + config.startup_timeout
    stack = Stack(config.kill_after)
    try:
        if config.port:
            _reserve_port(config.port)  # fail fast, before starting the upstream
        if config.upstream_url is None:
            stack.upstream_url = _start_upstream(
                stack, port=0, size=config.upstream_size,
                delay=config.upstream_delay * config.scale, log_path=config.log_path,
                deadline=deadline, graceful_timeout=config.graceful_timeout,
            )
        else:
            stack.upstream_url = config.upstream_url
        _check_upstream(stack.upstream_url, config.upstream_timeout)
        port = _reserve_port(config.port)  # port 0: a free port, picked after the upstream's
        log = _open_log(config.log_path)
        if log is not None:
            stack._logs.append(log)
        child = _spawn(config.server, _server_argv(config, port),
                       _server_env(config, stack.upstream_url), log, stack._lifeline)
        stack._children.append(child)
        stack.url = f"http://{HOST}:{port}"
        _wait_ready(child, stack.url + "/", deadline)
    except BaseException:
        with contextlib.suppress(TargetError):
            stack.stop()
        raise
    return stack


@contextlib.contextmanager
def serve(
    server: str,
    *,
    port: int = DEFAULT_PORT,
    workers: int = DEFAULT_WORKERS,
    scale: float = DEFAULT_SCALE,
    **options: Any,
) -> Iterator[str]:
    """Run a stack for the duration of the with block; yield its base URL (no trailing slash).

    ``port=0`` picks a free port. ``options`` are the other ServerConfig fields:
    worker_connections, backlog, keep_alive, graceful_timeout, asgi_threads, upstream_url,
    upstream_size, upstream_delay, upstream_timeout, upstream_pool_size, startup_timeout,
    stop_timeout, log_path. Raises a TargetError subclass if the stack cannot start.
    """
    config = ServerConfig(server, port=port, workers=workers, scale=scale, **options)
    with start(config) as stack:
        yield stack.url


@contextlib.contextmanager
def serve_upstream(
    *,
    port: int = 0,
    size: int = DEFAULT_UPSTREAM_SIZE,
    delay: float = DEFAULT_UPSTREAM_DELAY,
    scale: float = DEFAULT_SCALE,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    stop_timeout: float | None = None,
    log_path: str | None = None,
) -> Iterator[str]:
    """Run only the upstream (delay x scale seconds per answer); yield its document URL.
    stop_timeout None SIGKILLs it DEFAULT_GRACEFUL_TIMEOUT + KILL_MARGIN seconds after the stop
    began if it is still alive (it has that graceful timeout for requests in flight).

    Raises ConfigError, PortInUseError or UpstreamError (all TargetError).
    """
    check_upstream_settings(port=port, size=size, delay=delay, scale=scale)
    if port:
        _reserve_port(port)
    stack = Stack(
        DEFAULT_GRACEFUL_TIMEOUT + KILL_MARGIN if stop_timeout is None else stop_timeout
    )
    try:
        stack.upstream_url = _start_upstream(
            stack, port=port, size=size, delay=delay * scale, log_path=log_path,
            deadline=time.monotonic() + startup_timeout,
        )
        _check_upstream(stack.upstream_url, DEFAULT_UPSTREAM_TIMEOUT + delay * scale)
    except BaseException:
        with contextlib.suppress(TargetError):
            stack.stop()
        raise
    with stack:
        yield stack.upstream_url

