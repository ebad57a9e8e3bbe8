"""The command line, a thin adapter over the launcher: argv -> ServerConfig -> start(), print the
URL, wait for Ctrl-C, SIGTERM or SIGHUP, stop. The only module that prints or chooses exit codes.

    python -m django_target serve --server NAME [--port 8000] [--workers 1] [--scale 1] ...
    python -m django_target endpoints [--server NAME]

The servers' output goes to stderr unless ``--log FILE`` is given (``serve()`` from Python
discards it by default). Exit codes: 0 stopped by SIGINT/SIGTERM/SIGHUP, 1 a TargetError (one
line on stderr, no traceback), 2 a usage error, 130 interrupted before the server was ready.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from django_target.catalog import ENDPOINTS, endpoints_for
from django_target.config import ServerConfig, serve_flags
from django_target.errors import TargetError
from django_target.launcher import LOG_TO_STDERR, start

__all__ = ["main"]

PROG = "django_target"
_WATCH_INTERVAL = 0.5
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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve(config: ServerConfig) -> int:
    """Start, print the URL, watch the children until a signal; stop. Returns the exit code."""
    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    signal.signal(signal.SIGTERM, _interrupt)
    if previous[signal.SIGHUP] is not signal.SIG_IGN:  # under nohup, a hangup stays ignored
        signal.signal(signal.SIGHUP, _interrupt)
    try:
        try:
            stack = start(config)
        except KeyboardInterrupt:
            return 130
        try:
            print(stack.url, flush=True)
            while (problem := stack.exited()) is None:
                time.sleep(_WATCH_INTERVAL)  # a signal interrupts it with KeyboardInterrupt
            print(f"{PROG}: error: {problem}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            # No second signal may cut the stop short: it is bounded by stop_timeout.
            for signum in previous:
                signal.signal(signum, signal.SIG_IGN)
            stack.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
