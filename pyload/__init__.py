"""pyload: a pure-Python HTTP load generator that speaks wrk (same flags, counters and report).

The public API. ``run()`` returns a :class:`RunResult` or raises a :class:`PyloadError`; it prints
nothing and never exits the process.

    >>> import pyload
    >>> result = pyload.run("http://127.0.0.1:8080/", connections=50, duration=5, threads=2)
    >>> again = pyload.RunResult.from_json(result.to_json())  # the wire format, exact
    >>> result.requests_per_s, result.percentile(99), result.errors
    >>> print(result.to_wrk_text())

The public modules (``PUBLIC_MODULES``; docs/architecture.md): ``pyload.config`` (Config, its
options and their checks), ``pyload.errors`` (the exception tree), ``pyload.result``
(RunResult and its JSON), ``pyload.hooks`` (what ``-s`` scripts import), ``pyload.merge``
(results of several runs merged), ``pyload.hdrlog`` (HdrHistogram interval logs),
``pyload.htmlreport`` (the offline HTML report of a run, ``--html``),
``pyload.thresholds`` (``--threshold``: the grammar and the check), ``pyload.compare`` (two
runs compared, a verdict per number: ``pyload compare``) and ``pyload.units`` (wrk's number
formatting). Every ``pyload._name`` module is private: it may change in any release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyload._counters import ERROR_NAMES, Counters, RunProgress
from pyload._options import keyword_signature, options_of
from pyload._version import __version__
from pyload.config import Config
from pyload.errors import (
    ConnectError,
    HookError,
    PyloadError,
    ResolveError,
    ResourceError,
    ScriptError,
    UsageError,
    WorkerError,
)

if TYPE_CHECKING:
    from pyload.hooks import format  # -s scripts build requests with it (wrk.format)
    from pyload.result import RunResult

__all__ = [  # noqa: RUF022 (plain sorted order, as tests/test_api.py checks)
    "Config",
    "ConnectError",
    "Counters",
    "ERROR_NAMES",
    "HookError",
    "PyloadError",
    "ResolveError",
    "ResourceError",
    "RunProgress",
    "RunResult",
    "ScriptError",
    "UsageError",
    "WorkerError",
    "__version__",
    "format",
    "run",
]



PUBLIC_MODULES = (
    "compare", "config", "errors", "hdrlog", "hooks", "htmlreport", "merge", "result",
    "thresholds", "units",
)  # fmt: skip
"""The modules outside the package's namespace that are public API (the rest are ``_name``)."""


def __getattr__(name: str) -> Any:
    # Loaded on first use, not with the package: a run's start imports only what the load needs
    # (docs/architecture.md, "What a run imports"). RunResult brings numpy and the report; format,
    # the hooks machinery (pyload.hooks), which only a -s script uses.
    if name == "RunResult":
        from pyload.result import RunResult

        return RunResult
    if name == "format":
        from pyload.hooks import format

        return format
    raise AttributeError(f"module 'pyload' has no attribute {name!r}")


def run(url: str | Config, **options: Any) -> RunResult:
    """Load ``url`` and return the result; the keywords are Config's options.

    Each option has the name it has in ``Config`` and in the JSON result, and its default
    (the signature below is derived from Config's fields): ``connections``, ``duration`` and
    ``timeout`` (seconds, fractions allowed), ``threads`` (worker processes), ``headers`` (a
    mapping, ``(name, value)`` pairs or ``"Name: value"`` strings), ``print_latency``,
    ``method``, ``body`` or ``body_file``, ``loop``, ``thresholds`` (``["p99<250ms",
    "errors<1%"]``: ``result.check()`` says which held; docs/thresholds.md). Pass a
    :class:`Config` instead of a URL to reuse one. ``on_progress`` (a keyword too) is called
    about once a second during the load with a :class:`RunProgress`. The result keeps each
    second of the run in ``result.seconds`` (requests, status classes, errors, open
    connections, latencies: docs/json.md; an interval log: ``pyload.hdrlog.write_hdr_log``);
    ``latency_intervals``, which used to ask for them, is still accepted. Ctrl-C during the
    load ends it early: the partial result is returned with ``interrupted=True``.

    ``script`` (``-s``) runs a hook script as the command line does, its ``done()`` after the
    run included; ``script_args`` are what its ``init(args)`` gets (docs/hooks.md).

    ``dask="tcp://scheduler:8786"`` (or ``"local:N"``) spreads the run over a Dask cluster's
    workers and returns their results merged exactly, with ``result.agents`` saying what each
    did (docs/distributed.md; needs the ``dask`` extra).
    """
    on_progress = options.pop("on_progress", None)
    options.pop("latency_intervals", None)  # the seconds are always kept now
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
    from pyload._run import Run

    run = Run(config)
    result = run.execute(on_progress=on_progress)
    run.done(result)
    return result


_OPTION_NAMES = tuple(f.name for f, _ in options_of(Config) if f.name != "url")
run.__signature__ = keyword_signature(Config, "url").replace(  # type: ignore[attr-defined]
    return_annotation="RunResult"
)
