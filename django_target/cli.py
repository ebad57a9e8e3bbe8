"""The command line, a thin adapter over the launcher: argv -> ServerConfig -> start(), print the
URL, wait for Ctrl-C or SIGTERM, stop. The only module that prints or chooses exit codes.

    python -m django_target serve --server NAME [--port 8000] [--workers 1] [--scale 1] ...
    python -m django_target endpoints [--server NAME]

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a TargetError (one line on stderr, no traceback),
2 a usage error, 130 interrupted before the server was ready.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from django_target.catalog import ENDPOINTS, SERVERS, endpoints_for
from django_target.config import (
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_SCALE,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_UPSTREAM_DELAY,
    DEFAULT_UPSTREAM_POOL_SIZE,
    DEFAULT_UPSTREAM_SIZE,
    DEFAULT_UPSTREAM_TIMEOUT,
    DEFAULT_WORKER_CONNECTIONS,
    DEFAULT_WORKERS,
    ServerConfig,
)
from django_target.errors import TargetError
from django_target.launcher import start

__all__ = ["main"]

PROG = "django_target"
_WATCH_INTERVAL = 0.5


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog=f"python -m {PROG}", description="Run the Django load-test target.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="start the upstream and a server stack")
    serve.add_argument("--server", required=True, metavar="NAME",
                       help=f"one of: {', '.join(SERVERS)}")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port on 127.0.0.1, 0 picks a free one [{DEFAULT_PORT}]")
    serve.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                       help=f"worker processes [{DEFAULT_WORKERS}]")
    serve.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                       help=f"multiplies gateway waits and the upstream delay [{DEFAULT_SCALE}]")
    serve.add_argument("--worker-connections", type=int, default=DEFAULT_WORKER_CONNECTIONS,
                       help="gevent: simultaneous clients per worker "
                            f"[{DEFAULT_WORKER_CONNECTIONS}]")
    serve.add_argument("--backlog", type=int, default=None,
                       help="listen() backlog [server default: gunicorn 2048, hypercorn 100]")
    serve.add_argument("--keep-alive", type=int, default=None,
                       help="idle keep-alive seconds [server default: gunicorn 2, hypercorn 5]")
    serve.add_argument("--graceful-timeout", type=int, default=DEFAULT_GRACEFUL_TIMEOUT,
                       help=f"seconds to finish requests on stop [{DEFAULT_GRACEFUL_TIMEOUT}]")
    serve.add_argument("--asgi-threads", type=int, default=None,
                       help="ASGI: size of the loop's default executor [asyncio default]")
    serve.add_argument("--upstream-url", default=None,
                       help="use this loopback upstream instead of starting one")
    serve.add_argument("--upstream-size", type=int, default=DEFAULT_UPSTREAM_SIZE,
                       help=f"bytes of the upstream document [{DEFAULT_UPSTREAM_SIZE}]")
    serve.add_argument("--upstream-delay", type=float, default=DEFAULT_UPSTREAM_DELAY,
                       help=f"upstream wait, seconds before scaling [{DEFAULT_UPSTREAM_DELAY}]")
    serve.add_argument("--upstream-timeout", type=float, default=DEFAULT_UPSTREAM_TIMEOUT,
                       help=f"client timeout to the upstream, seconds [{DEFAULT_UPSTREAM_TIMEOUT}]")
    serve.add_argument("--upstream-pool-size", type=int, default=DEFAULT_UPSTREAM_POOL_SIZE,
                       help=f"upstream connections per client pool [{DEFAULT_UPSTREAM_POOL_SIZE}]")
    serve.add_argument("--startup-timeout", type=float, default=DEFAULT_STARTUP_TIMEOUT,
                       help=f"seconds to wait for the server [{DEFAULT_STARTUP_TIMEOUT}]")
    serve.add_argument("--stop-timeout", type=float, default=DEFAULT_STOP_TIMEOUT,
                       help=f"seconds between SIGTERM and SIGKILL [{DEFAULT_STOP_TIMEOUT}]")
    serve.add_argument("--log", default=None, metavar="FILE",
                       help="append the servers' output here [discarded]")

    endpoints = commands.add_parser("endpoints", help="list the endpoints (of a server)")
    endpoints.add_argument("--server", default=None, metavar="NAME",
                           help="only the endpoints this server stack serves")
    return parser


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        args.server,
        port=args.port,
        workers=args.workers,
        scale=args.scale,
        worker_connections=args.worker_connections,
        backlog=args.backlog,
        keep_alive=args.keep_alive,
        graceful_timeout=args.graceful_timeout,
        asgi_threads=args.asgi_threads,
        upstream_url=args.upstream_url,
        upstream_size=args.upstream_size,
        upstream_delay=args.upstream_delay,
        upstream_timeout=args.upstream_timeout,
        upstream_pool_size=args.upstream_pool_size,
        startup_timeout=args.startup_timeout,
        stop_timeout=args.stop_timeout,
        log_path=args.log,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve(config: ServerConfig) -> int:
    """Start, print the URL, watch the children until a signal; stop. Returns the exit code."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _interrupt)
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
            # No second Ctrl-C or SIGTERM may cut the stop short: it is bounded by stop_timeout.
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
