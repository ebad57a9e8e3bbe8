"""The command line: wrk's grammar mapped onto one Config; the only place that prints and exits.

Exit status as wrk: 0 for a completed run (socket and status errors included, Ctrl-C included),
1 for a usage or setup error (one line on stderr, never a traceback). pyload also exits 1 when a
worker process died during the run (its counters are missing from the report; wrk has no such
case), and 130 when Ctrl-C comes before the load started (``__main__`` handles that). A
``--json`` path that cannot be written is a setup error too, found before the load starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from pyload import __version__
from pyload.config import Config
from pyload.errors import PyloadError, UsageError
from pyload.options import add_arguments, values_from_args
from pyload.runner import run_config

__all__ = ["build_parser", "config_from_args", "main"]

EPILOG = """\
Numeric arguments may include a SI unit (1k, 1M, 1G)
Time arguments may include a time unit (2s, 2m, 2h)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """wrk's command line: every Config option (declared in config.py), plus the CLI's own."""
    parser = _Parser(
        prog="pyload",
        usage="pyload <options> <url>",
        description="HTTP load generator with wrk's flags and report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, Config)
    parser.add_argument("-v", "--version", action="store_true", help="Print version details")
    parser.add_argument(
        "--json", metavar="PATH", help="Write the full result as JSON to PATH ('-': stdout)"
    )
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def config_from_args(ns: argparse.Namespace) -> Config:
    """Map parsed arguments onto the Config (validation happens there, in wrk's order)."""
    if ns.url is None:
        raise UsageError("missing URL (usage: pyload <options> <url>)")
    return Config(**values_from_args(ns, Config))


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
    json_out: _JsonFile | None = None
    if ns.json is not None and ns.json != "-":
        try:
            json_out = _JsonFile(ns.json)  # before the load: a bad path costs no run
        except OSError as exc:
            return _fail(f"cannot write {ns.json}: {exc.strerror}")
    try:
        return _run(config, ns.json, text_out, json_out)
    finally:
        if json_out is not None:
            json_out.close()


def _run(config: Config, json_path: str | None, text_out: TextIO,
         json_out: _JsonFile | None) -> int:
    """Run the load, print wrk's report, write the JSON; the exit status."""

    def print_header() -> None:
        from pyload.report import wrk_header  # numpy: after the fork, before the load

        text_out.write(wrk_header(config))
        text_out.flush()

    try:
        result = run_config(config, on_start=print_header)
    except PyloadError as exc:
        return _fail(str(exc))

    from pyload.report import wrk_body

    text_out.write(wrk_body(result))
    text_out.flush()
    if json_path == "-":
        sys.stdout.write(result.to_json())
    elif json_out is not None:
        try:
            json_out.write(result.to_json())
        except OSError as exc:
            return _fail(f"cannot write {json_path}: {exc.strerror}")
    for failure in result.worker_failures:
        print(f"pyload: {failure}; its counters are missing from the report", file=sys.stderr)
    return 1 if result.worker_failures else 0


class _JsonFile:
    """The ``--json`` file, opened for writing before the load without truncating it (an
    existing file keeps its content until the result replaces it). A file created here and
    never written (the run failed or was interrupted) is removed again on close."""

    def __init__(self, path: str) -> None:
        self.path = path
        existed = os.path.lexists(path)
        # OSError (missing directory, a directory, no permission, read-only file system).
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
        self.created = not existed
        self.written = False

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        with contextlib.suppress(OSError):  # a FIFO or a terminal cannot be truncated
            os.ftruncate(self.fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.written = True

    def close(self) -> None:
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1
        if self.created and not self.written:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _fail(message: str, status: int = 1) -> int:
    print(message, file=sys.stderr)
    return status
