"""The one frozen Config of a run: defaults, the target URL, validation (no I/O).

Each field is an option, declared once (``pyload._options``): the command line, the keyword
arguments of ``pyload.run()`` and the JSON ``config`` block are derived from the fields. It is
pickled as-is into every worker process. Everything derived from it (request bytes, the split
of connections across threads) is computed from it, never stored beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyload._grammar import parse_metric, parse_time_s
from pyload._options import check_count, check_options, check_seconds, option, options_of
from pyload._options import from_json as options_from_json
from pyload._options import to_json as options_to_json
from pyload._split import even_split
from pyload.errors import UsageError

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_DURATION_S",
    "DEFAULT_METHOD",
    "DEFAULT_PERCENTILES",
    "DEFAULT_THREADS",
    "DEFAULT_TIMEOUT_S",
    "LOOPS",
    "Config",
    "Target",
    "header_pairs",
    "parse_header",
]

DEFAULT_CONNECTIONS = 10
DEFAULT_DURATION_S = 10.0
DEFAULT_THREADS = 2
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_METHOD = "GET"
DEFAULT_PERCENTILES = (50.0, 75.0, 90.0, 99.0)  # wrk's distribution block (wrk.c print_stats)
LOOPS = ("auto", "uvloop", "asyncio")
DEFAULT_PORTS = {"http": 80, "https": 443}

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB


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
        # As wrk prints it; escaped if it would not print as one line (tests/test_properties.py)
        shown = url if not isinstance(url, str) or url.isprintable() else repr(url)[1:-1]
        invalid = UsageError(f"invalid URL: {shown}")
        if not isinstance(url, str):
            raise invalid
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
    accepts it and strips the leading blanks of the value. A header without a colon is an error,
    and so is a control character in the value other than a tab (RFC 9110 5.5): wrk sends it,
    so ``-H $'X: a\r\nEvil: 1'`` adds a header of the argument's making (request splitting).
    """
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _HEADER_NAME.match(name):
        raise UsageError(f"invalid header: {text!r} (expected 'Name: value')")
    if _CONTROL.search(value):
        raise UsageError(f"invalid header: {text!r} (a control character in its value)")
    return name, value.strip(" \t")


def header_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """A mapping's items or an iterable of ``(name, value)`` pairs, as text pairs (the one
    normalisation of -H, the API's ``headers`` and a script's); TypeError for anything else."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    try:
        return [(str(name), str(value)) for name, value in items]
    except (TypeError, ValueError):
        raise TypeError(
            f"headers must be a dict or (name, value) pairs, not {type(headers).__name__}"
        ) from None


def _as_header_pairs(
    headers: Mapping[str, str] | Iterable[str | tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    """Config's ``headers``: pairs, or ``"Name: value"`` strings too, each checked."""
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, str):
            ((name, value),) = header_pairs([item])
            item = f"{name}: {value}"
        pairs.append(parse_header(item))
    return tuple(pairs)


def _seconds_shown(value: float) -> str:
    return f"{value:g}s"


def _rate(text: str) -> float:
    """wrk2's -R: a number with an SI unit (1k), or a fraction (0.5: one request every 2 s)."""
    try:
        return float(parse_metric(text))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"invalid rate: {text!r} (requests/s, e.g. 500, 2k or 0.5)") from None
    return value


def _check_rate(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"rate must be a finite number of requests/s, not {value!r}")
    if value <= 0:
        raise ValueError(f"rate must be > 0 requests/s, not {value:g}")
    return float(value)


def _percentile_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"invalid percentiles: {text!r} (comma-separated numbers, e.g. 50,90,99,99.9)"
        ) from None


def _check_percentiles(value: object) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"percentiles must be a list of numbers, not {value!r}")
    values = tuple(value)
    if not values:
        raise ValueError("percentiles must name at least one percentile")
    for p in values:
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise ValueError(f"percentiles must be numbers in (0, 100], not {p!r}")
        if not 0 < p <= 100:
            raise ValueError(f"percentiles must be numbers in (0, 100], not {p:g}")
    return tuple(float(p) for p in values)


def _check_script_args(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"script_args must be a list of strings, not {value!r}")
    values = tuple(value)
    if not all(isinstance(arg, str) for arg in values):
        raise ValueError(f"script_args must be strings, not {values!r}")
    return values


def _check_threads(value: object) -> object:
    if not _is_count(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"number of threads must be >= 1: {value!r}")
    return value


def _check_bool(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}")
        return value

    return check


def _check_method(value: object) -> object:
    if not isinstance(value, str) or not _HEADER_NAME.match(value):
        raise ValueError(f"invalid method: {value!r} (an HTTP token such as GET or POST)")
    return value


def _check_optional_text(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be text, not {type(value).__name__}")
        return value

    return check


def _check_loop(value: object) -> object:
    if value not in LOOPS:
        raise ValueError(f"unknown event loop {value!r} (choose from {', '.join(LOOPS)})")
    return value


def _header_arg(text: str) -> tuple[str, str]:
    try:
        return parse_header(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def _check_headers(value: object) -> tuple[tuple[str, str], ...]:
    try:
        return _as_header_pairs(value)  # type: ignore[arg-type]
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, ValueError):  # not a mapping, strings or pairs (tests/test_properties.py)
        raise ValueError(
            "headers must be a mapping, 'Name: value' strings or (name, value) pairs,"
            f" not {value!r}"
        ) from None


def _threshold_arg(text: str) -> str:
    """One ``--threshold``: checked now (a bad one is a usage error before the load)."""
    from pyload.thresholds import parse as parse_threshold  # only a run that has thresholds

    return parse_threshold(text).expression


def _check_thresholds(value: object) -> tuple[str, ...]:
    """The thresholds, each parsed (``pyload.thresholds``) and kept in its normal spelling."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"thresholds must be a list of expressions, not {value!r}")
    texts = tuple(value)
    if not texts:
        return ()
    # Their grammar is imported only for a run that has thresholds: a run's start imports only
    # what the load needs (docs/architecture.md, "What a run imports").
    from pyload.thresholds import parse as parse_threshold

    return tuple(parse_threshold(text).expression for text in texts)


@dataclass(frozen=True)
class Config:
    """Everything a run needs; validated once, immutable, picklable.

    Each field is an option, declared once (``pyload._options``): the command line, the keyword
    arguments of ``pyload.run()`` and the JSON ``config`` block are derived from these fields
    and share their names. ``duration`` and ``timeout`` are seconds: the CLI only produces whole
    seconds (wrk's grammar); the API also takes fractions, which tests and the benchmark's time
    scale use.
    """

    url: str = option(MISSING, "URL to load", positional=True)
    connections: int = option(
        DEFAULT_CONNECTIONS,
        "Connections to keep open (default {default})",
        flags=("-c", "--connections"),
        metavar="N",
        parse=parse_metric,
        check=check_count("connections"),
    )
    duration: float = option(
        DEFAULT_DURATION_S,
        "Duration of test (default {default})",
        flags=("-d", "--duration"),
        metavar="T",
        parse=parse_time_s,
        check=check_seconds("duration"),
        show=_seconds_shown,
    )
    threads: int = option(
        DEFAULT_THREADS,
        "Number of threads: groups of connections, each with its own Req/Sec sampler, as"
        " wrk's (default {default})",
        flags=("-t", "--threads", "-w", "--workers"),
        metavar="N",
        parse=parse_metric,
        check=_check_threads,
    )
    script: str | None = option(
        None,
        "Load Python hook script (wrk's Lua hooks, in Python: docs/hooks.md)",
        flags=("-s", "--script"),
        metavar="S",
        check=_check_optional_text("script"),
    )
    script_args: tuple[str, ...] = option(
        (),
        "Arguments after the URL: the script's init(args) gets them, as wrk's",
        positional=True,
        action="append",
        check=_check_script_args,
        to_json=list,
    )
    headers: tuple[tuple[str, str], ...] = option(
        (),
        "Add header to request (repeatable)",
        flags=("-H", "--header"),
        metavar="H",
        parse=_header_arg,
        action="append",
        check=_check_headers,
        to_json=lambda pairs: [list(pair) for pair in pairs],
    )
    print_latency: bool = option(
        False,
        "Print latency statistics",
        flags=("-L", "--latency"),
        action="store_true",
        check=_check_bool("print_latency"),
    )
    timeout: float = option(
        DEFAULT_TIMEOUT_S,
        "Latency above which a response counts as a timeout (default {default})",
        flags=("-T", "--timeout"),
        metavar="T",
        parse=parse_time_s,
        check=check_seconds("timeout", allow_zero=True),
        show=_seconds_shown,
    )
    method: str = option(
        DEFAULT_METHOD,
        "HTTP method of the request (default {default})",
        flags=("-m", "--method"),
        metavar="M",
        check=_check_method,
    )
    body: str | None = option(
        None,
        "Request body, sent as UTF-8 (Content-Length is set)",
        flags=("--body",),
        metavar="TEXT",
        check=_check_optional_text("body"),
    )
    body_file: str | None = option(
        None,
        "Send this file's bytes as the request body",
        flags=("--body-file",),
        metavar="FILE",
        check=_check_optional_text("body_file"),
    )
    processes: int | None = option(
        None,
        "Worker processes hosting the threads (default: one per CPU, at most the threads)",
        flags=("--processes",),
        metavar="P",
        parse=parse_metric,
        check=check_count("processes", optional=True),
    )
    loop: str = option(
        "auto",
        "Event loop of the workers (default: uvloop if installed)",
        flags=("--loop",),
        choices=LOOPS,
        check=_check_loop,
    )
    rate: float | None = option(
        None,
        "Constant rate: total requests/s across all connections, latency measured from each"
        " request's intended send time (wrk2's -R; default: closed loop, as wrk)",
        flags=("-R", "--rate"),
        metavar="N",
        parse=_rate,
        check=_check_rate,
    )
    u_latency: bool = option(
        False,
        "Print the uncorrected latency distribution too (implies --latency)",
        flags=("-U", "--u_latency", "--u-latency"),
        action="store_true",
        check=_check_bool("u_latency"),
    )
    requests: int | None = option(
        None,
        "Stop after N responses in total, across all threads (still bounded by -d)",
        flags=("-n", "--requests"),
        metavar="N",
        parse=parse_metric,
        check=check_count("requests", optional=True),
    )
    keepalive: bool = option(
        True,
        "Keep connections open between requests (--no-keepalive: one request per connection,"
        " sent with 'Connection: close')",
        flags=("--no-keepalive",),
        action="store_false",
        check=_check_bool("keepalive"),
    )
    http2: bool = option(
        False,
        "Speak HTTP/2: with prior knowledge on http:// (h2c), by ALPN on https://"
        " (docs/http2.md; wrk speaks HTTP/1.1 only)",
        flags=("--http2",),
        action="store_true",
        check=_check_bool("http2"),
    )
    streams: int = option(
        1,
        "HTTP/2: requests in flight per connection, each stream a closed loop of its own"
        " (h2load's -m; default {default}; capped at the server's limit)",
        flags=("--streams",),
        metavar="M",
        parse=parse_metric,
        check=check_count("streams"),
    )
    percentiles: tuple[float, ...] = option(
        DEFAULT_PERCENTILES,
        "Percentiles of the latency distribution block (default {default})",
        flags=("--percentiles",),
        metavar="P,P,...",
        parse=_percentile_list,
        check=_check_percentiles,
        show=lambda ps: ",".join(f"{p:g}" for p in ps),
        to_json=list,
    )
    warmup: float = option(
        0.0,
        "Send load for this long before the measured duration, recording nothing (default 0)",
        flags=("--warmup",),
        metavar="T",
        parse=parse_time_s,
        check=check_seconds("warmup", allow_zero=True),
        show=_seconds_shown,
    )
    dask: str | None = option(
        None,
        "Spread the run over a Dask cluster: a scheduler address (tcp://host:8786) or"
        " local:N for a local cluster of N workers",
        flags=("--dask",),
        metavar="ADDRESS",
        check=_check_optional_text("dask"),
    )
    thresholds: tuple[str, ...] = option(
        (),
        "Pass or fail criterion checked after the report, e.g. p99<250ms, errors<1%%,"
        " rps>=1k (repeatable; a broken one exits 4: docs/thresholds.md)",
        flags=("--threshold",),
        metavar="EXPR",
        parse=_threshold_arg,
        action="append",
        check=_check_thresholds,
        to_json=list,
    )
    target: Target = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # wrk's validation order (wrk.c parse_args, then main): the counts and the duration,
        # then the URL, then connections >= threads.
        check_options(self, UsageError)
        object.__setattr__(self, "target", Target.parse(self.url))
        if self.connections < self.threads:
            raise UsageError("number of connections must be >= threads")
        if self.processes is not None and self.processes > self.threads:
            raise UsageError("number of processes must be <= threads")
        if self.body is not None and self.body_file is not None:
            raise UsageError("--body and --body-file are exclusive: give one")
        if self.streams > 1 and not self.http2:
            raise UsageError(
                "--streams needs --http2: HTTP/1.1 has one request in flight per connection"
            )
        if self.http2 and not self.keepalive:
            raise UsageError(
                "--no-keepalive and --http2 are exclusive:"
                " an HTTP/2 connection carries many requests"
            )

    @classmethod
    def parse_option(cls, name: str, text: str) -> Any:
        """The value of option ``name`` written as on the command line (``"2k"`` for ``rate``),
        parsed and checked as the CLI does; ValueError (one line) if it is not one."""
        for f, spec in options_of(cls):
            if f.name == name:
                value = spec.parse(text) if spec.parse is not None else text
                return spec.check(value) if spec.check is not None else value
        raise ValueError(f"no option {name!r}")

    @property
    def timeout_us(self) -> int:
        """Latencies above this are timeouts (wrk's histogram limit minus one)."""
        return round(self.timeout * 1_000_000)

    @property
    def protocol(self) -> str:
        """The HTTP version the run speaks, as the JSON and the HTML report name it."""
        return "HTTP/2" if self.http2 else "HTTP/1.1"

    @property
    def request_slots(self) -> int:
        """Requests in flight at most across the run: a stream slot per connection and stream
        (HTTP/1.1: one per connection). At a constant rate these are what the pacer fills."""
        return self.connections * self.streams

    def connections_per_thread(self) -> list[int]:
        """Split the connections across the threads (wrk's threads: groups of connections).

        wrk gives every thread ``c // t`` and silently drops the remainder (wg/wrk#157);
        pyload spreads the remainder over the first threads, so all ``c`` connections open.
        """
        return even_split(self.connections, self.threads)

    def to_json(self) -> dict[str, Any]:
        """The options as the JSON ``config`` block (same names as the API and the CLI)."""
        return options_to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Config:
        """The Config a ``to_json()`` block describes; UsageError for what is not an option."""
        config: Config = options_from_json(cls, data, UsageError)
        return config


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
