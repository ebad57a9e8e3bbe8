"""pyload: a pure-Python HTTP load generator that speaks wrk (same flags, counters and report).

The public API. ``run()`` returns a :class:`RunResult` or raises a :class:`PyloadError`; it prints
nothing and never exits the process.

    >>> import pyload
    >>> result = pyload.run("http://127.0.0.1:8080/", connections=50, duration=5, threads=2)
    >>> result.requests_per_s, result.percentile(99), result.errors
    >>> print(result.to_wrk_text())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pyload.config import (
    DEFAULT_CONNECTIONS,
    DEFAULT_DURATION_S,
    DEFAULT_THREADS,
    DEFAULT_TIMEOUT_S,
    Config,
)
from pyload.errors import (
    ConnectError,
    PyloadError,
    ResolveError,
    ResourceError,
    ScriptError,
    UsageError,
    WorkerError,
)

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = [
    "Config",
    "ConnectError",
    "PyloadError",
    "ResolveError",
    "ResourceError",
    "RunResult",
    "ScriptError",
    "UsageError",
    "WorkerError",
    "__version__",
    "run",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # RunResult (and with it numpy) loads on first use: worker processes never need it.
    if name == "RunResult":
        from pyload.result import RunResult

        return RunResult
    raise AttributeError(f"module 'pyload' has no attribute {name!r}")


def run(
    url: str | Config,
    *,
    connections: int = DEFAULT_CONNECTIONS,
    duration: float = DEFAULT_DURATION_S,
    threads: int = DEFAULT_THREADS,
    headers: Mapping[str, str] | Iterable[str | tuple[str, str]] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    latency: bool = False,
    loop: str = "auto",
) -> RunResult:
    """Load ``url`` and return the merged result.

    ``duration`` and ``timeout`` are seconds (fractions allowed); ``threads`` is the number of
    worker processes; ``headers`` is a mapping, ``(name, value)`` pairs or ``"Name: value"``
    strings. Pass a :class:`Config` instead of a URL to reuse one. Ctrl-C during the load ends
    it early: the partial result is returned with ``interrupted=True``.
    """
    if isinstance(url, Config):
        config = url
    else:
        config = Config(
            url=url,
            connections=connections,
            duration_s=duration,
            threads=threads,
            headers=headers,  # type: ignore[arg-type]  # normalised by Config
            timeout_s=timeout,
            latency=latency,
            loop=loop,
        )
    from pyload.runner import run_config

    return run_config(config)
