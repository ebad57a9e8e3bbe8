"""The one frozen Config of a run: defaults, the target URL, validation (no I/O).

The CLI maps argv onto it, ``pyload.run()`` builds it from keyword arguments, and it is pickled
as-is into every worker process. Everything derived from it (request bytes, the split of
connections across workers) is computed from it, never stored beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pyload.errors import UsageError

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_DURATION_S",
    "DEFAULT_THREADS",
    "DEFAULT_TIMEOUT_S",
    "LOOPS",
    "Config",
    "Target",
    "parse_header",
]

DEFAULT_CONNECTIONS = 10
DEFAULT_DURATION_S = 10.0
DEFAULT_THREADS = 2
DEFAULT_TIMEOUT_S = 2.0
LOOPS = ("auto", "uvloop", "asyncio")
DEFAULT_PORTS = {"http": 80, "https": 443}

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True)
class Target:
    """Where the load goes, parsed from the URL the way wrk reads it."""

    url: str
    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def service(self) -> str:
        """What wrk passes to getaddrinfo and prints in its errors: the port, else the scheme."""
        return str(self.port) if self.explicit_port else self.scheme

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    @classmethod
    def parse(cls, url: str) -> Target:
        """Parse ``url``; raise UsageError("invalid URL: ...") like wrk.

        As wrk, the request path runs from the first character of the path to the end of the
        string (query and fragment included), and a URL without a path requests ``/``.
        Unlike wrk, only ``http`` and ``https`` are accepted (wrk sends plain HTTP to any scheme).
        """
        invalid = UsageError(f"invalid URL: {url}")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            explicit = parts.port
        except ValueError:
            raise invalid from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not host or any(c.isspace() for c in url):
            raise invalid
        after_authority = url[len(parts.scheme) + 3 + len(parts.netloc) :]
        path = after_authority if after_authority.startswith("/") else "/"
        port = explicit if explicit is not None else DEFAULT_PORTS[scheme]
        if not 0 < port < 65536:
            raise invalid
        return cls(url, scheme, host, port, explicit is not None, path)


def parse_header(text: str) -> tuple[str, str]:
    """Parse one ``-H "Name: value"``.

    wrk silently ignores ``Name:value`` without the space after the colon (wg/wrk#404); pyload
    accepts it and strips the leading blanks of the value. A header without a colon is an error.
    """
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _HEADER_NAME.match(name):
        raise UsageError(f"invalid header: {text!r} (expected 'Name: value')")
    return name, value.strip(" \t")


def _as_header_pairs(
    headers: Mapping[str, str] | Iterable[str | tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        items: Iterable[str | tuple[str, str]] = headers.items()
    else:
        items = headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            pairs.append(parse_header(item))
        else:
            name, value = item
            pairs.append(parse_header(f"{name}: {value}"))
    return tuple(pairs)


@dataclass(frozen=True)
class Config:
    """Everything a run needs; validated once, immutable, picklable.

    ``duration_s`` and ``timeout_s`` are seconds. The CLI only produces whole seconds (wrk's
    grammar); the API also takes fractions, which tests and the benchmark's time scale use.
    """

    url: str
    connections: int = DEFAULT_CONNECTIONS
    duration_s: float = DEFAULT_DURATION_S
    threads: int = DEFAULT_THREADS
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    latency: bool = False
    loop: str = "auto"
    script: str | None = None
    target: Target = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Validation order follows wrk's (spec §1.5): counts and duration, URL, connections.
        if not _is_count(self.threads) or self.threads < 1:
            raise UsageError(f"number of threads must be >= 1: {self.threads!r}")
        if not _is_seconds(self.duration_s) or self.duration_s <= 0:
            raise UsageError(f"duration must be > 0 seconds: {self.duration_s!r}")
        if not _is_seconds(self.timeout_s) or self.timeout_s < 0:
            raise UsageError(f"timeout must be >= 0 seconds: {self.timeout_s!r}")
        object.__setattr__(self, "headers", _as_header_pairs(self.headers))
        object.__setattr__(self, "target", Target.parse(self.url))
        if not _is_count(self.connections) or self.connections < self.threads:
            raise UsageError("number of connections must be >= threads")
        if self.loop not in LOOPS:
            raise UsageError(f"unknown event loop {self.loop!r} (choose from {', '.join(LOOPS)})")

    @property
    def timeout_us(self) -> int:
        """Latencies above this are timeouts (wrk's histogram limit minus one)."""
        return round(self.timeout_s * 1_000_000)

    def connections_per_worker(self) -> list[int]:
        """Split the connections across workers.

        wrk gives every thread ``c // t`` and silently drops the remainder (wg/wrk#157);
        pyload spreads the remainder over the first workers, so all ``c`` connections open.
        """
        base, extra = divmod(self.connections, self.threads)
        return [base + (1 if i < extra else 0) for i in range(self.threads)]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
