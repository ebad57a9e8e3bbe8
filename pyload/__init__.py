"""pyload: a pure-Python HTTP load generator that speaks wrk (same flags, counters and report).

The public API. ``run()`` returns a :class:`RunResult` or raises a :class:`PyloadError`; it prints
nothing and never exits the process.

    >>> import pyload
    >>> result = pyload.run("http://127.0.0.1:8080/", connections=50, duration=5, threads=2)
    >>> again = pyload.RunResult.from_json(result.to_json())  # the wire format, exact
    >>> result.requests_per_s, result.percentile(99), result.errors
    >>> print(result.to_wrk_text())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyload.config import Config
from pyload.errors import (
    ConnectError,
    PyloadError,
    ResolveError,
    ResourceError,
    ScriptError,
    UsageError,
    WorkerError,
)
from pyload.messages import Counters, RunProgress
from pyload.options import keyword_signature, options_of

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = [
    "Config",
    "ConnectError",
    "Counters",
    "PyloadError",
    "ResolveError",
    "ResourceError",
    "RunProgress",
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


def run(url: str | Config, **options: Any) -> RunResult:
    """Load ``url`` and return the result; the keywords are Config's options.

    Each option has the name it has in ``Config`` and in the JSON result, and its default
    (the signature below is derived from Config's fields): ``connections``, ``duration`` and
    ``timeout`` (seconds, fractions allowed), ``threads`` (worker processes), ``headers`` (a
    mapping, ``(name, value)`` pairs or ``"Name: value"`` strings), ``print_latency``,
    ``method``, ``body`` or ``body_file``, ``loop``. Pass a :class:`Config` instead of a URL to
    reuse one. ``on_progress`` (a keyword too) is called about once a second during the load
    with a :class:`RunProgress`. Ctrl-C during the load ends it early: the partial result is
    returned with ``interrupted=True``.
    """
    on_progress = options.pop("on_progress", None)
    if isinstance(url, Config):
        if options:
            raise UsageError(f"options given beside a Config: {', '.join(sorted(options))}")
        config = url
    else:
        unknown = sorted(set(options) - set(_OPTION_NAMES))
        if unknown:
            raise UsageError(
                f"unknown option(s): {', '.join(unknown)} (options: {', '.join(_OPTION_NAMES)})"
            )
        config = Config(url, **options)
    from pyload.runner import run_config

    return run_config(config, on_progress=on_progress)


_OPTION_NAMES = tuple(f.name for f, _ in options_of(Config) if f.name != "url")
run.__signature__ = keyword_signature(Config, "url").replace(  # type: ignore[attr-defined]
    return_annotation="RunResult"
)
