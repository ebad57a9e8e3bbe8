"""The launcher's one frozen configuration, ServerConfig, and every default as a named constant.

Each option is declared once, as a ServerConfig field whose metadata carries its ``serve`` flag,
help and check (``_option``): ``__post_init__`` runs the checks, and the CLI builds its
arguments from ``serve_flags()``. The Django settings module reads the same defaults (through
the environment variables the launcher sets), so each default is declared here once.

Nothing here comes from pyload: django_target stands on its own (a test checks its imports).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django_target.catalog import SERVERS, interface_of
from django_target.errors import ConfigError

__all__ = [
    "DEFAULT_GRACEFUL_TIMEOUT",
    "DEFAULT_PORT",
    "DEFAULT_SCALE",
    "DEFAULT_STARTUP_TIMEOUT",
    "DEFAULT_UPSTREAM_DELAY",
    "DEFAULT_UPSTREAM_POOL_SIZE",
    "DEFAULT_UPSTREAM_SIZE",
    "DEFAULT_UPSTREAM_TIMEOUT",
    "DEFAULT_WORKERS",
    "DEFAULT_WORKER_CONNECTIONS",
    "HOST",
    "KILL_MARGIN",
    "MIN_UPSTREAM_SIZE",
    "ServeFlag",
    "ServerConfig",
    "check_loopback_url",
    "check_upstream_settings",
    "serve_flags",
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
#: Seconds a server may finish in-flight requests after SIGTERM: the graceful shutdown timeout
#: every stack is given (gunicorn and hypercorn ``--graceful-timeout``; uvicorn's worker
#: ``timeout_graceful_shutdown`` through django_target.workers; the upstream's aiohttp
#: ``shutdown_timeout``). hypercorn's own default; gunicorn's own of 30 s would make every stop
#: of a loaded stack take 30 s.
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
#: Seconds after the graceful timeout before the launcher SIGKILLs whatever is left of a stack:
#: room for the servers to cancel what is still in flight, run their shutdown and exit. The
#: bound of a stop: everything has had SIGKILL graceful_timeout + KILL_MARGIN seconds after the
#: stop began (3 + 2 = 5 s by default), unless stop_timeout is given.
KILL_MARGIN = 2.0

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

# -- checks: each takes the option's name and its value, and raises ConfigError -------------

_Check = Callable[[str, Any], None]


def _integer(minimum: int = 1, *, optional: bool = False) -> _Check:
    """An int (a bool is not one) >= minimum; None too when optional."""

    def check(name: str, value: Any) -> None:
        if optional and value is None:
            return
        if type(value) is bool or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")

    return check


def _number(*, zero: bool = False, optional: bool = False) -> _Check:
    """A finite int or float (not a bool), > 0, or >= 0 when zero is allowed; None too when
    optional."""

    def check(name: str, value: Any) -> None:
        if optional and value is None:
            return
        if type(value) is bool or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")
        if value < 0 or (value == 0 and not zero):
            raise ConfigError(f"{name} must be {'>=' if zero else '>'} 0, not {value!r}")

    return check


def _check_server(name: str, value: Any) -> None:
    if not (isinstance(value, str) and value in SERVERS):
        interface_of(str(value))  # raises ConfigError, listing the names


def _check_port(name: str, value: Any) -> None:
    _integer(0)(name, value)
    if value > 65535:
        raise ConfigError(f"{name} must be <= 65535, not {value}")


def _check_upstream_url(name: str, value: Any) -> None:
    if value is not None:
        check_loopback_url(value if isinstance(value, str) else repr(value))


def check_upstream_settings(*, port: int, size: int, delay: float, scale: float) -> None:
    """Validate the settings of a lone upstream (serve_upstream); raise ConfigError."""
    _check_port("port", port)
    _integer(MIN_UPSTREAM_SIZE)("upstream size", size)
    _number(zero=True)("upstream delay", delay)
    _number()("scale", scale)


# -- options: a ServerConfig field that is also a ``serve`` flag ------------------------------

_META = "django_target.serve"


@dataclass(frozen=True)
class _Option:
    help: str  # may name {default}
    parse: Callable[[str], Any]  # int, float or str: argparse words the error for bad text
    check: _Check | None
    flag: str | None  # None: "--" and the field's name with dashes
    metavar: str | None  # None: argparse's, the field's name in capitals


def _option(default: Any, help: str, parse: Callable[[str], Any], check: _Check | None = None,
            *, flag: str | None = None, metavar: str | None = None) -> Any:
    return field(default=default, metadata={_META: _Option(help, parse, check, flag, metavar)})


class ServeFlag(NamedTuple):
    """One ``serve`` argument, ready for ``argparse.add_argument(flag, dest=name, ...)``."""

    name: str  # the ServerConfig field
    flag: str
    help: str
    parse: Callable[[str], Any]
    metavar: str | None
    default: Any  # None when required
    required: bool


def serve_flags() -> Iterator[ServeFlag]:
    """The ``serve`` arguments, one per ServerConfig field, in declaration order."""
    for f in fields(ServerConfig):
        spec: _Option = f.metadata[_META]
        required = f.default is MISSING
        default = None if required else f.default
        yield ServeFlag(
            name=f.name,
            flag=spec.flag or "--" + f.name.replace("_", "-"),
            help=spec.help.format(default=default),
            parse=spec.parse,
            metavar=spec.metavar,
            default=default,
            required=required,
        )


@dataclass(frozen=True)
class ServerConfig:
    """Everything the launcher needs to start one stack; validated on construction.

    Each field is an option, declared once (``_option``): the CLI's ``serve`` flags and the
    checks are derived from these fields, and ``serve()``'s keywords share their names.

    None for backlog and keep_alive means "the server's own default" (gunicorn: backlog 2048,
    keep-alive 2 s; hypercorn: backlog 100, keep-alive 5 s). asgi_threads None leaves the
    event loop's default executor alone (asyncio: min(32, CPUs + 4) threads). log_path None
    keeps the servers' output in a temporary file (read for error messages, then discarded);
    "-" sends it to this process's stderr, which the command line does unless --log is given.
    stop_timeout None SIGKILLs what is left of the stack graceful_timeout + KILL_MARGIN seconds
    after a stop began (``kill_after``).
    """

    server: str = _option(
        MISSING, f"one of: {', '.join(SERVERS)}", str, _check_server, metavar="NAME"
    )
    port: int = _option(
        DEFAULT_PORT, "port on 127.0.0.1, 0 picks a free one [{default}]", int, _check_port
    )
    workers: int = _option(DEFAULT_WORKERS, "worker processes [{default}]", int, _integer())
    scale: float = _option(
        DEFAULT_SCALE, "multiplies gateway waits and the upstream delay [{default}]", float,
        _number(),
    )
    worker_connections: int = _option(
        DEFAULT_WORKER_CONNECTIONS, "gevent: simultaneous clients per worker [{default}]", int,
        _integer(),
    )
    backlog: int | None = _option(
        None, "listen() backlog [server default: gunicorn 2048, hypercorn 100]", int,
        _integer(optional=True),
    )
    keep_alive: int | None = _option(
        None, "idle keep-alive seconds [server default: gunicorn 2, hypercorn 5]", int,
        _integer(0, optional=True),
    )
    graceful_timeout: int = _option(
        DEFAULT_GRACEFUL_TIMEOUT, "seconds to finish requests on stop [{default}]", int,
        _integer(0),
    )
    asgi_threads: int | None = _option(
        None, "ASGI: size of the loop's default executor [asyncio default]", int,
        _integer(optional=True),
    )
    upstream_url: str | None = _option(
        None, "use this loopback upstream instead of starting one", str, _check_upstream_url
    )
    upstream_size: int = _option(
        DEFAULT_UPSTREAM_SIZE, "bytes of the upstream document [{default}]", int,
        _integer(MIN_UPSTREAM_SIZE),
    )
    upstream_delay: float = _option(
        DEFAULT_UPSTREAM_DELAY, "upstream wait, seconds before scaling [{default}]", float,
        _number(zero=True),
    )
    upstream_timeout: float = _option(
        DEFAULT_UPSTREAM_TIMEOUT, "client timeout to the upstream, seconds [{default}]", float,
        _number(),
    )
    upstream_pool_size: int = _option(
        DEFAULT_UPSTREAM_POOL_SIZE, "upstream connections per client pool [{default}]", int,
        _integer(),
    )
    startup_timeout: float = _option(
        DEFAULT_STARTUP_TIMEOUT, "seconds to wait for the server [{default}]", float, _number()
    )
    stop_timeout: float | None = _option(
        None, f"seconds between SIGTERM and SIGKILL [graceful timeout + {KILL_MARGIN:g}]", float,
        _number(optional=True),
    )
    log_path: str | None = _option(
        None, "append the servers' output to FILE ('-': stderr) [stderr]", str, flag="--log",
        metavar="FILE",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata[_META].check
            if check is not None:
                check(f.name, getattr(self, f.name))

    @property
    def kill_after(self) -> float:
        """Seconds from the start of a stop to the SIGKILL of whatever is left of the stack."""
        if self.stop_timeout is not None:
            return self.stop_timeout
        return self.graceful_timeout + KILL_MARGIN

    @property
    def interface(self) -> str:
        """"wsgi" for gunicorn-gevent, "asgi" for the other stacks."""
        return interface_of(self.server)
