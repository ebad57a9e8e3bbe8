"""The launcher's one frozen configuration, ServerConfig, and every default as a named constant.

The Django settings module reads the same defaults (through the environment variables the
launcher sets), so each default is declared here once.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from django_target.catalog import SERVERS, interface_of
from django_target.errors import ConfigError

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


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, not {value!r}")


def _count(name: str, value: int | None, *, optional: bool = False, minimum: int = 1) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _port(value: int) -> None:
    _count("port", value, minimum=0)
    if value > 65535:
        raise ConfigError(f"port must be <= 65535, not {value}")


def check_upstream_settings(*, port: int, size: int, delay: float, scale: float) -> None:
    """Validate the settings of a lone upstream (serve_upstream); raise ConfigError."""
    _port(port)
    _count("upstream size", size, minimum=MIN_UPSTREAM_SIZE)
    _positive("upstream delay", delay, allow_zero=True)
    _positive("scale", scale)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the launcher needs to start one stack; validated on construction.

    None for backlog and keep_alive means "the server's own default" (gunicorn: backlog 2048,
    keep-alive 2 s; hypercorn: backlog 100, keep-alive 5 s). asgi_threads None leaves the
    event loop's default executor alone (asyncio: min(32, CPUs + 4) threads).
    """

    server: str
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    scale: float = DEFAULT_SCALE
    worker_connections: int = DEFAULT_WORKER_CONNECTIONS
    backlog: int | None = None
    keep_alive: int | None = None
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT
    asgi_threads: int | None = None
    upstream_url: str | None = None
    upstream_size: int = DEFAULT_UPSTREAM_SIZE
    upstream_delay: float = DEFAULT_UPSTREAM_DELAY
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    upstream_pool_size: int = DEFAULT_UPSTREAM_POOL_SIZE
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    log_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.server, str) or self.server not in SERVERS:
            interface_of(str(self.server))  # raises ConfigError with the list of names
        _port(self.port)
        _count("workers", self.workers)
        _positive("scale", self.scale)
        _count("worker_connections", self.worker_connections)
        _count("backlog", self.backlog, optional=True)
        _count("keep_alive", self.keep_alive, optional=True, minimum=0)
        _count("graceful_timeout", self.graceful_timeout, minimum=0)
        _count("asgi_threads", self.asgi_threads, optional=True)
        if self.upstream_url is not None:
            check_loopback_url(self.upstream_url)
        _count("upstream_size", self.upstream_size, minimum=MIN_UPSTREAM_SIZE)
        _positive("upstream_delay", self.upstream_delay, allow_zero=True)
        _positive("upstream_timeout", self.upstream_timeout)
        _count("upstream_pool_size", self.upstream_pool_size)
        _positive("startup_timeout", self.startup_timeout)
        _positive("stop_timeout", self.stop_timeout)

    @property
    def interface(self) -> str:
        """"wsgi" for gunicorn-gevent, "asgi" for the other stacks."""
        return interface_of(self.server)
