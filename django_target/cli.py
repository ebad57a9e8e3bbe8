"""The command line, a thin adapter over the launcher: argv -> ServerConfig -> start(), print the
URL, wait for Ctrl-C, SIGTERM or SIGHUP, stop. The only module that prints or chooses exit codes.

    python -m django_target serve --server NAME [--port 8000] [--workers 1] [--scale 1] ...
    python -m django_target endpoints [--server NAME]

The servers' output goes to stderr unless ``--log FILE`` is given (``serve()`` from Python
discards it by default). Exit codes: 0 stopped by SIGINT/SIGTERM/SIGHUP, 1 a TargetError (one
line on stderr, no traceback), 2 a usage error, 130 interrupted before the server was ready.

A stop signal stops the stack within its bound (the graceful timeout + the kill margin: 5 s by
default, see django_target.launcher); a second one SIGKILLs everything at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any, NoReturn

from django_target.catalog import ENDPOINTS, endpoints_for
from django_target.config import ServerConfig, serve_flags
from django_target.errors import TargetError
from django_target.guard import child_groups, group_pids
from django_target.launcher import LOG_TO_STDERR, Stack, start

__all__ = ["main"]

PROG = "django_target"
_WATCH_INTERVAL = 0.5
#: How long _sweep() waits for the SIGKILLed leftovers to be gone, and how often it looks.
_SWEEP_TIMEOUT = 5.0
_SWEEP_POLL = 0.02
#: Each stops the servers the same way: a terminal's Ctrl-C, a plain kill, a closed terminal.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog=f"python -m {PROG}", description="Run the Django load-test target.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="start the upstream and a server stack")
    for flag in serve_flags():  # one flag per ServerConfig field, dest = the field's name
        serve.add_argument(flag.flag, dest=flag.name, type=flag.parse, metavar=flag.metavar,
                           default=flag.default, required=flag.required, help=flag.help)

    endpoints = commands.add_parser("endpoints", help="list the endpoints (of a server)")
    endpoints.add_argument("--server", default=None, metavar="NAME",
                           help="only the endpoints this server stack serves")
    return parser


def _config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig of the command line: ServerConfig's defaults, except that the servers'
    output goes to the terminal (stderr) unless --log names a file."""
    values = {flag.name: getattr(args, flag.name) for flag in serve_flags()}
    if values.get("log_path") is None:
        values["log_path"] = LOG_TO_STDERR
    return ServerConfig(**values)


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP while ``serve`` runs (a context manager: the previous
    handlers are back on exit).

    The first signal asks for a stop. While the stack starts, it raises KeyboardInterrupt, and
    start() stops what it has started; once the stack serves, it only sets ``requested`` and
    wakes ``wait()`` (an exception raised at an arbitrary point of the watch loop could leave a
    Popen half-polled). Every later signal SIGKILLs, at once, the process groups of the stack
    and of every child of this process (the guards lead them, even before start() returns):
    the stop under way then finds them gone. After the first signal the handler neither blocks
    nor raises, so nothing on the stop path can be cut short or held.

    SIGINT is handled even when it was ignored at start, as a shell without job control starts
    its background jobs: a SIGINT sent to the launcher must stop it (ignored, the launcher and
    its servers ran on). Only an ignored SIGHUP stays ignored (nohup).
    """

    def __init__(self) -> None:
        self.requested = False
        self.stack: Stack | None = None  # set once start() has returned
        self._previous: dict[int, Any] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def __enter__(self) -> _StopSignals:
        for signum in _STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if signum == signal.SIGHUP and previous is signal.SIG_IGN:
                continue  # under nohup, a hangup stays ignored
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self._kill()
            return
        self.requested = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")
        if self.stack is None:
            raise KeyboardInterrupt

    def _kill(self) -> None:
        if self.stack is not None:
            self.stack.kill()
        for pgid in child_groups(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

    def wait(self, timeout: float) -> None:
        """Sleep up to timeout; return at once when a stop is asked for."""
        if not self.requested:
            select.select([self._wake_r], [], [], timeout)


def _sweep(timeout: float = _SWEEP_TIMEOUT) -> None:
    """SIGKILL and reap whatever this process still runs: nothing, unless a signal cut in
    between a child's start and its Stack's record of it (a Popen not yet in the Stack, a Stack
    lost on its way out of start()). Its guards would stop it too, within a second, but
    perhaps after this process has gone."""
    deadline = time.monotonic() + timeout
    groups: set[int] = set()
    while time.monotonic() < deadline:
        leaders = child_groups(os.getpid())
        groups.update(leaders)
        for pgid in leaders:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)
        if not leaders and not any(group_pids(pgid) for pgid in groups):
            return
        time.sleep(_SWEEP_POLL)


def _serve(config: ServerConfig) -> int:
    """Start, print the URL, watch the children until a signal; stop. Returns the exit code."""
    stack: Stack | None = None
    with _StopSignals() as signals:
        try:
            stack = start(config)  # a signal raises KeyboardInterrupt in it: start() cleans up
            signals.stack = stack  # from here on, a signal only sets signals.requested
            print(stack.url, flush=True)
            while not signals.requested:
                problem = stack.exited()
                if problem is not None:
                    print(f"{PROG}: error: {problem}", file=sys.stderr)
                    return 1
                signals.wait(_WATCH_INTERVAL)
            return 0
        except KeyboardInterrupt:  # the first signal, before the stack served
            return 130
        finally:
            signals.requested = True  # from here on, a signal SIGKILLs everything at once
            try:
                if stack is not None:
                    stack.stop()  # bounded: SIGKILL at graceful_timeout + KILL_MARGIN
            finally:
                _sweep()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "endpoints":
            chosen = endpoints_for(args.server) if args.server else ENDPOINTS
            for endpoint in chosen:
                print(f"{endpoint.path}\t{endpoint.kind}\t{endpoint.scenario}")
            return 0
        return _serve(_config(args))
    except TargetError as exc:
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
