"""The launcher's one frozen configuration, ServerConfig, and every default as a named constant.

Each option is declared once, as a ServerConfig field (``pyload.options.option``) carrying its
``serve`` flag, help and check; the CLI is built from those fields. The Django settings module
reads the same defaults (through the environment variables the launcher sets), so each default
is declared here once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any
from urllib.parse import urlsplit

from django_target.catalog import SERVERS, interface_of
from django_target.errors import ConfigError
from pyload.options import check_count, check_number, check_options, option

__all__ = [
    "DEFAULT_GRACEFUL_TIMEOUT",
    "DEFAULT_PORT",
    "DEFAULT_SCALE",
    "DEFAULT_STARTUP_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "DEFAULT_UPSTREAM_DELAY",
    "DEFAULT_UPSTREAM_POOL_SIZE",
    "DEFAULT_UPSTREAM_SIZE",
    "DEFAULT_UPSTREAM_TIMEOUT",
    "DEFAULT_WORKERS",
    "DEFAULT_WORKER_CONNECTIONS",
    "HOST",
    "MIN_UPSTREAM_SIZE",
    "ServerConfig",
    "check_loopback_url",
    "check_upstream_settings",
]

#: Every server and the upstream bind here, and only here.
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Worker processes per server (gunicorn's and hypercorn's own default is 1 too).
DEFAULT_WORKERS = 1
#: Multiplies every simulated wait: the gateway sleeps and the upstream delay.
DEFAULT_SCALE = 1.0
#: gunicorn --worker-connections: simultaneous clients per gevent worker (gunicorn's default).
DEFAULT_WORKER_CONNECTIONS = 1000
#: Seconds a server may finish in-flight requests after SIGTERM (hypercorn's default; gunicorn's
#: own default of 30 s would make every stop of a loaded gevent stack take 30 s).
DEFAULT_GRACEFUL_TIMEOUT = 3
#: Bytes of the upstream's JSON document (the reference experiment's answers were about 25 KB).
DEFAULT_UPSTREAM_SIZE = 25_000
#: Seconds the upstream waits before answering, before scaling: a realistic fast internal API.
DEFAULT_UPSTREAM_DELAY = 0.1
#: Seconds every upstream client waits in total (connect, pool, read) before giving up: httpx's
#: default, applied to all four clients so they are compared on the same terms (not scaled).
DEFAULT_UPSTREAM_TIMEOUT = 5.0
#: Upstream connections each client pool keeps (and, for httpx and aiohttp, may open) per
#: process or per event loop: httpx's and aiohttp's default maximum, applied to requests too.
DEFAULT_UPSTREAM_POOL_SIZE = 100
#: Seconds to wait for a server to answer its first HTTP request.
DEFAULT_STARTUP_TIMEOUT = 30.0
#: Seconds to wait after SIGTERM before SIGKILL when stopping.
DEFAULT_STOP_TIMEOUT = 10.0

#: The smallest upstream document make_document() can build, rounded up.
MIN_UPSTREAM_SIZE = 128


def check_loopback_url(url: str) -> str:
    """Return url if it is an http:// URL on a loopback address; raise ConfigError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"upstream URL must look like http://127.0.0.1:PORT/, not {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(f"upstream URL must be on a loopback address, not {host!r}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConfigError(f"upstream URL has a bad port: {url!r}") from None
    return url


def _check_server(value: object) -> object:
    if not isinstance(value, str) or value not in SERVERS:
        try:
            interface_of(str(value))
        except ConfigError as exc:  # the message lists the names
            raise ValueError(str(exc)) from None
    return value


def _check_port(value: object) -> object:
    check_count("port", minimum=0)(value)
    if value > 65535:  # type: ignore[operator]
        raise ValueError(f"port must be <= 65535, not {value}")
    return value


def _check_upstream_url(value: object) -> object:
    if value is None:
        return None
    try:
        return check_loopback_url(value)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def check_upstream_settings(*, port: int, size: int, delay: float, scale: float) -> None:
    """Validate the settings of a lone upstream (serve_upstream); raise ConfigError."""
    checks: tuple[tuple[Callable[[Any], Any], object], ...] = (
        (_check_port, port),
        (check_count("upstream size", minimum=MIN_UPSTREAM_SIZE), size),
        (check_number("upstream delay", allow_zero=True), delay),
        (check_number("scale"), scale),
    )
    for check, value in checks:
        try:
            check(value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class ServerConfig:
    """Everything the launcher needs to start one stack; validated on construction.

    Each field is an option, declared once (``pyload.options``): the CLI's ``serve`` flags and
    the checks are derived from these fields, and ``serve()``'s keywords share their names.

    None for backlog and keep_alive means "the server's own default" (gunicorn: backlog 2048,
    keep-alive 2 s; hypercorn: backlog 100, keep-alive 5 s). asgi_threads None leaves the
    event loop's default executor alone (asyncio: min(32, CPUs + 4) threads). log_path None
    keeps the servers' output in a temporary file (read for error messages, then discarded);
    "-" sends it to this process's stderr, which the command line does unless --log is given.
    """

    server: str = option(
        MISSING,
        f"one of: {', '.join(SERVERS)}",
        flags=("--server",),
        metavar="NAME",
        parse=str,
        check=_check_server,
    )
    port: int = option(
        DEFAULT_PORT,
        "port on 127.0.0.1, 0 picks a free one [{default}]",
        flags=("--port",),
        parse=int,
        check=_check_port,
    )
    workers: int = option(
        DEFAULT_WORKERS,
        "worker processes [{default}]",
        flags=("--workers",),
        parse=int,
        check=check_count("workers"),
    )
    scale: float = option(
        DEFAULT_SCALE,
        "multiplies gateway waits and the upstream delay [{default}]",
        flags=("--scale",),
        parse=float,
        check=check_number("scale"),
    )
    worker_connections: int = option(
        DEFAULT_WORKER_CONNECTIONS,
        "gevent: simultaneous clients per worker [{default}]",
        flags=("--worker-connections",),
        parse=int,
        check=check_count("worker_connections"),
    )
    backlog: int | None = option(
        None,
        "listen() backlog [server default: gunicorn 2048, hypercorn 100]",
        flags=("--backlog",),
        parse=int,
        check=check_count("backlog", optional=True),
    )
    keep_alive: int | None = option(
        None,
        "idle keep-alive seconds [server default: gunicorn 2, hypercorn 5]",
        flags=("--keep-alive",),
        parse=int,
        check=check_count("keep_alive", minimum=0, optional=True),
    )
    graceful_timeout: int = option(
        DEFAULT_GRACEFUL_TIMEOUT,
        "seconds to finish requests on stop [{default}]",
        flags=("--graceful-timeout",),
        parse=int,
        check=check_count("graceful_timeout", minimum=0),
    )
    asgi_threads: int | None = option(
        None,
        "ASGI: size of the loop's default executor [asyncio default]",
        flags=("--asgi-threads",),
        parse=int,
        check=check_count("asgi_threads", optional=True),
    )
    upstream_url: str | None = option(
        None,
        "use this loopback upstream instead of starting one",
        flags=("--upstream-url",),
        parse=str,
        check=_check_upstream_url,
    )
    upstream_size: int = option(
        DEFAULT_UPSTREAM_SIZE,
        "bytes of the upstream document [{default}]",
        flags=("--upstream-size",),
        parse=int,
        check=check_count("upstream_size", minimum=MIN_UPSTREAM_SIZE),
    )
    upstream_delay: float = option(
        DEFAULT_UPSTREAM_DELAY,
        "upstream wait, seconds before scaling [{default}]",
        flags=("--upstream-delay",),
        parse=float,
        check=check_number("upstream_delay", allow_zero=True),
    )
    upstream_timeout: float = option(
        DEFAULT_UPSTREAM_TIMEOUT,
        "client timeout to the upstream, seconds [{default}]",
        flags=("--upstream-timeout",),
        parse=float,
        check=check_number("upstream_timeout"),
    )
    upstream_pool_size: int = option(
        DEFAULT_UPSTREAM_POOL_SIZE,
        "upstream connections per client pool [{default}]",
        flags=("--upstream-pool-size",),
        parse=int,
        check=check_count("upstream_pool_size"),
    )
    startup_timeout: float = option(
        DEFAULT_STARTUP_TIMEOUT,
        "seconds to wait for the server [{default}]",
        flags=("--startup-timeout",),
        parse=float,
        check=check_number("startup_timeout"),
    )
    stop_timeout: float = option(
        DEFAULT_STOP_TIMEOUT,
        "seconds between SIGTERM and SIGKILL [{default}]",
        flags=("--stop-timeout",),
        parse=float,
        check=check_number("stop_timeout"),
    )
    log_path: str | None = option(
        None,
        "append the servers' output to FILE ('-': stderr) [stderr]",
        flags=("--log",),
        metavar="FILE",
        parse=str,
    )

    def __post_init__(self) -> None:
        check_options(self, ConfigError)

    @property
    def interface(self) -> str:
        """"wsgi" for gunicorn-gevent, "asgi" for the other stacks."""
        return interface_of(self.server)
