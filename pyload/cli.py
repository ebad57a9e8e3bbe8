"""The command line: wrk's grammar mapped onto one Config; the only place that prints and exits.

Exit status as wrk: 0 for a completed run (socket and status errors included, Ctrl-C included),
1 for a usage or setup error (one line on stderr, never a traceback). pyload also exits 1 when a
worker process died during the run (its counters are missing from the report; wrk has no such
case), and 130 when Ctrl-C comes before the load started (``__main__`` handles that).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pyload import __version__
from pyload.config import (
    DEFAULT_CONNECTIONS,
    DEFAULT_DURATION_S,
    DEFAULT_THREADS,
    DEFAULT_TIMEOUT_S,
    LOOPS,
    Config,
    parse_header,
)
from pyload.errors import PyloadError, UsageError
from pyload.report import wrk_body, wrk_header
from pyload.runner import run_config
from pyload.units import parse_metric, parse_time_s

__all__ = ["build_parser", "config_from_args", "main"]

EPILOG = """\
Numeric arguments may include a SI unit (1k, 1M, 1G)
Time arguments may include a time unit (2s, 2m, 2h)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _typed(parse: Callable[[str], int], what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text!r}") from None

    return convert


def _header(text: str) -> tuple[str, str]:
    try:
        return parse_header(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pyload",
        usage="pyload <options> <url>",
        description="HTTP load generator with wrk's flags and report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    count, seconds = _typed(parse_metric, "number"), _typed(parse_time_s, "time")
    add = parser.add_argument
    add(
        "-c",
        "--connections",
        type=count,
        default=DEFAULT_CONNECTIONS,
        metavar="N",
        help=f"Connections to keep open (default {DEFAULT_CONNECTIONS})",
    )
    add(
        "-d",
        "--duration",
        type=seconds,
        default=int(DEFAULT_DURATION_S),
        metavar="T",
        help=f"Duration of test (default {DEFAULT_DURATION_S:.0f}s)",
    )
    add(
        "-t",
        "--threads",
        "-w",
        "--workers",
        dest="threads",
        type=count,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"Number of worker processes to use (default {DEFAULT_THREADS})",
    )
    add("-s", "--script", metavar="S", help="Load Python hook script (not supported yet)")
    add(
        "-H",
        "--header",
        action="append",
        type=_header,
        default=[],
        metavar="H",
        help="Add header to request (repeatable)",
    )
    add("-L", "--latency", action="store_true", help="Print latency statistics")
    add(
        "-T",
        "--timeout",
        type=seconds,
        default=int(DEFAULT_TIMEOUT_S),
        metavar="T",
        help=f"Latency above which a response counts as a timeout (default "
        f"{DEFAULT_TIMEOUT_S:.0f}s)",
    )
    add("-v", "--version", action="store_true", help="Print version details")
    add("--json", metavar="PATH", help="Write the full result as JSON to PATH ('-': stdout)")
    add("--loop", choices=LOOPS, default="auto", help="Event loop (default: uvloop if installed)")
    add("url", nargs="?", help=argparse.SUPPRESS)
    add("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def config_from_args(ns: argparse.Namespace) -> Config:
    """Map parsed arguments onto the Config (validation happens there, in wrk's order)."""
    if ns.url is None:
        raise UsageError("missing URL (usage: pyload <options> <url>)")
    return Config(
        url=ns.url,
        connections=ns.connections,
        duration_s=ns.duration,
        threads=ns.threads,
        headers=tuple(ns.header),
        timeout_s=ns.timeout,
        latency=ns.latency,
        loop=ns.loop,
        script=ns.script,
    )


def version_line() -> str:
    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio"
    return f"pyload {__version__} [{loop}] Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        ns = build_parser().parse_args(argv)
        if ns.version:
            print(version_line())
            if ns.url is None:  # wrk prints the usage and exits 1 here
                return 0
        config = config_from_args(ns)
    except UsageError as exc:
        return _fail(str(exc))

    # With --json -, stdout carries only the JSON and the wrk text goes to stderr.
    text_out = sys.stderr if ns.json == "-" else sys.stdout

    def print_header() -> None:
        text_out.write(
            wrk_header(config.url, config.duration_s, config.threads, config.connections)
        )
        text_out.flush()

    try:
        result = run_config(config, on_start=print_header)
    except PyloadError as exc:
        return _fail(str(exc))

    text_out.write(wrk_body(result.report_data()))
    text_out.flush()
    if ns.json is not None:
        payload = json.dumps(result.to_dict(), indent=2) + "\n"
        if ns.json == "-":
            sys.stdout.write(payload)
        else:
            try:
                with open(ns.json, "w", encoding="utf-8") as out:
                    out.write(payload)
            except OSError as exc:
                return _fail(f"cannot write {ns.json}: {exc.strerror}")
    for failure in result.worker_failures:
        print(f"pyload: {failure}; its counters are missing from the report", file=sys.stderr)
    return 1 if result.worker_failures else 0


def _fail(message: str, status: int = 1) -> int:
    print(message, file=sys.stderr)
    return status
