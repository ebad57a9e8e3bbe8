"""The upstream service the client endpoints call: an aiohttp server that answers GET / with
one fixed JSON document of a chosen size after a chosen delay.

Run it with ``python -m django_target.upstream --port P --size BYTES --delay SECONDS``: it binds
127.0.0.1 (port 0 picks a free port), prints its URL as the first line on stdout once it
listens, and stops on SIGINT or SIGTERM (requests in flight get ``--graceful-timeout``
seconds). The document is built once, at start, so answering costs only the delay and a write;
the server should never be the bottleneck of a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from django_target.config import (
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_UPSTREAM_DELAY,
    DEFAULT_UPSTREAM_SIZE,
    HOST,
)
from django_target.errors import ConfigError

__all__ = ["DOCUMENT_PATH", "main", "make_app", "make_document", "run_upstream"]

#: The path the document is served at.
DOCUMENT_PATH = "/"
#: listen() backlog of the upstream: room for every connection a 2000-connection run may open.
UPSTREAM_BACKLOG = 4096

_SOURCE = "django_target.upstream"


def make_document(size: int) -> bytes:
    """A deterministic compact JSON object of exactly ``size`` bytes (UTF-8, ASCII only).

    Shape: {"source": ..., "size": N, "items": [{"id", "sku", "name", "price", "stock",
    "tags"}, ...], "padding": "xxx..."}; items fill the document, padding makes the size exact.
    Raises ValueError if size is too small for the empty shape.
    """
    head = f'{{"source":"{_SOURCE}","size":{size},"items":['.encode()
    tail_empty = b'],"padding":""}'
    budget = size - len(head) - len(tail_empty)
    if budget < 0:
        raise ValueError(f"document size must be at least {len(head) + len(tail_empty)} bytes")
    items: list[bytes] = []
    used = 0
    index = 0
    while True:
        item = json.dumps(
            {
                "id": index,
                "sku": f"SKU-{index:06d}",
                "name": f"Item number {index}",
                "price": round(1.0 + (index * 37 % 10_000) / 100, 2),
                "stock": index * 13 % 97,
                "tags": ["gateway", "upstream", f"group-{index % 7}"],
            },
            separators=(",", ":"),
        ).encode()
        cost = len(item) + (1 if items else 0)
        if used + cost > budget:
            break
        items.append(item)
        used += cost
        index += 1
    padding = b"x" * (budget - used)
    document = head + b",".join(items) + b'],"padding":"' + padding + b'"}'
    assert len(document) == size
    return document


def make_app(body: bytes, delay: float) -> web.Application:
    """The aiohttp application: GET / waits ``delay`` seconds, then returns ``body`` as JSON."""

    async def document(request: web.Request) -> web.Response:
        if delay > 0:
            await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(DOCUMENT_PATH, document)
    return app


async def run_upstream(
    *,
    host: str = HOST,
    port: int = 0,
    size: int = DEFAULT_UPSTREAM_SIZE,
    delay: float = DEFAULT_UPSTREAM_DELAY,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT,
) -> None:
    """Serve the document until ``stop`` is set (or SIGINT/SIGTERM when stop is None).

    ``on_ready`` receives the URL (with the real port) once the socket listens. Requests still
    in flight when it stops get ``graceful_timeout`` seconds (aiohttp's own default is 60).
    Raises OSError if the address cannot be bound, ValueError for a bad size.
    """
    body = make_document(size)
    runner = web.AppRunner(make_app(body, delay), access_log=None, handle_signals=False,
                           shutdown_timeout=graceful_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=UPSTREAM_BACKLOG, reuse_address=True)
        await site.start()
        bound_port = runner.addresses[0][1]
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        if on_ready is not None:
            on_ready(f"http://{host}:{bound_port}{DOCUMENT_PATH}")
        await stop.wait()
    finally:
        await runner.cleanup()


def _loopback(host: str) -> str:
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ConfigError(f"the upstream binds loopback addresses only, not {host!r}")


def _default_delay() -> float:
    try:
        scale = float(os.environ.get("GATEWAY_SCALE", "1"))
    except ValueError:
        scale = 1.0
    return DEFAULT_UPSTREAM_DELAY * scale


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: serve the upstream until SIGINT/SIGTERM; errors are one line on stderr, exit 1."""
    parser = _Parser(prog="python -m django_target.upstream", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST, help=f"loopback address to bind [{HOST}]")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one [0]")
    parser.add_argument(
        "--size", type=int, default=DEFAULT_UPSTREAM_SIZE,
        help=f"bytes of the JSON document [{DEFAULT_UPSTREAM_SIZE}]",
    )
    parser.add_argument(
        "--delay", type=float, default=None,
        help=f"seconds before each answer [{DEFAULT_UPSTREAM_DELAY} x $GATEWAY_SCALE]",
    )
    parser.add_argument(
        "--graceful-timeout", type=float, default=DEFAULT_GRACEFUL_TIMEOUT,
        help=f"seconds requests in flight get on stop [{DEFAULT_GRACEFUL_TIMEOUT}]",
    )
    args = parser.parse_args(argv)
    delay = _default_delay() if args.delay is None else args.delay

    def ready(url: str) -> None:
        print(url, flush=True)

    try:
        _loopback(args.host)
        if delay < 0:
            raise ConfigError(f"delay must be >= 0, not {delay}")
        if not args.graceful_timeout >= 0:
            raise ConfigError(f"graceful timeout must be >= 0, not {args.graceful_timeout}")
        runner_loop = _loop_factory()
        with asyncio.Runner(loop_factory=runner_loop) as runner:
            runner.run(
                run_upstream(host=args.host, port=args.port, size=args.size, delay=delay,
                             on_ready=ready, graceful_timeout=args.graceful_timeout)
            )
    except (ConfigError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (a faster upstream distorts less), else asyncio's default loop."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop
    return None


if __name__ == "__main__":
    sys.exit(main())
