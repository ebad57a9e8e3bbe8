"""The command line: wrk's grammar mapped onto one Config; the only place that prints and exits.

Exit status as wrk: 0 for a completed run (socket and status errors included, Ctrl-C included),
1 for a usage or setup error (one line on stderr, never a traceback). pyload also exits
EXIT_PARTIAL (3) when a worker process was lost during the run: the report is printed, with a
"Partial result" line per lost process, but their counters are missing (wrk has no such case);
EXIT_THRESHOLD (4) when a ``--threshold`` was broken (one ``threshold broken: ...`` line each
on stderr, after the report and the outputs; a partial result still prints them, and exits 3,
as its numbers are incomplete; an interrupted run is checked as any other); and 130
(EXIT_INTERRUPTED) when a stop signal comes before the load started (``__main__``) or while the
report is written after it (a signal during the load stops it and still gets the report: exit 0
or 4). An output path (``--json``, ``--hdr-log``, ``--plot``, ``--html``) that cannot be written
is a setup error too, found before the load starts.

While the load runs, a progress line on stderr is redrawn every second when stderr is a
terminal (``--no-progress`` turns it off); it is cleared before the report, and stdout only
ever carries the report.

``pyload merge FILE... [--json PATH]`` (``pyload.merge``) prints the merged report of runs'
JSON results, with the same exit statuses (3: one of them was partial). ``pyload report RUN.json
[-o FILE.html]`` writes the HTML report of a run's JSON result (``pyload.htmlreport``): exit 0,
or 1 with one line for a file that cannot be read, is not a result or cannot be written.

``pyload compare BASE.json NEW.json [-o FILE.html] [--fail-on slower]`` (``pyload.compare``)
prints a table of two runs' numbers with a verdict per row, its warnings on stderr, and with
``-o`` writes the HTML page of both (``pyload.htmlreport``); exit 0, 1 for a file that cannot
be read or written, or EXIT_THRESHOLD (4) when a row fails ``--fail-on``, one ``--fail-on
slower: ...`` line each on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, TextIO

from pyload._counters import RunProgress
from pyload._options import add_arguments, values_from_args
from pyload._run import Run
from pyload._version import __version__
from pyload.config import Config
from pyload.errors import HookError, PyloadError, UsageError

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = [
    "EXIT_PARTIAL", "EXIT_THRESHOLD", "build_parser", "config_from_args", "exit_status", "main",
]  # fmt: skip

EXIT_PARTIAL = 3  # the run ended, but a worker process was lost: its counters are missing
EXIT_THRESHOLD = 4  # the run completed and a --threshold was broken (EXIT_PARTIAL wins)
EXIT_INTERRUPTED = 130  # a stop signal outside the load (__main__ says how they are handled)

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
    parser.add_argument(
        "--hdr-log",
        metavar="FILE",
        help="Write an HdrHistogram interval log (one histogram per second) to FILE",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="Draw the latency percentile curve and requests/s over time into FILE.png",
    )
    parser.add_argument(
        "--html",
        metavar="FILE.html",
        help="Write the report as one self-contained HTML page with charts to FILE.html",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="No live progress line on stderr (shown only when stderr is a terminal)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="With -s: print the whole traceback of a hook that raised, not just its line",
    )
    return parser


def config_from_args(ns: argparse.Namespace) -> Config:
    """Map parsed arguments onto the Config (validation happens there, in wrk's order)."""
    if ns.url is None:
        raise UsageError("missing URL (usage: pyload <options> <url>)")
    return Config(**values_from_args(ns, Config))


def version_line() -> str:
    import platform  # here, not at the top: a run's start imports only what the load needs

    try:
        from importlib.metadata import version

        loop = f"uvloop {version('uvloop')}"
    except ImportError:
        loop = "asyncio"
    return f"pyload {__version__} [{loop}] Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["merge"]:  # pyload merge a.json b.json ... (pyload.merge)
        return _merge(args[1:])
    if args[:1] == ["report"]:  # pyload report RUN.json [-o FILE.html] (pyload.htmlreport)
        return _html_report(args[1:])
    if args[:1] == ["compare"]:  # pyload compare base.json new.json (pyload.compare)
        return _compare(args[1:])
    try:
        ns = build_parser().parse_args(args)
        if ns.version:
            print(version_line())
            if ns.url is None:  # wrk prints the usage and exits 1 here
                return 0
        config = config_from_args(ns)
    except UsageError as exc:
        return _fail(str(exc))

    # With --json -, stdout carries only the JSON and the wrk text goes to stderr.
    text_out = sys.stderr if ns.json == "-" else sys.stdout
    outputs: dict[str, _OutputFile] = {}
    try:
        if ns.plot is not None and not _has_matplotlib():
            return _fail("--plot needs matplotlib: pip install 'pyload-wrk[plot]'")
        named = (("json", ns.json), ("hdr_log", ns.hdr_log), ("plot", ns.plot), ("html", ns.html))
        for name, path in named:
            if path is not None and not (name == "json" and path == "-"):
                try:
                    outputs[name] = _OutputFile(path)  # before the load: a bad path costs no run
                except OSError as exc:
                    return _fail(f"cannot write {path}: {exc.strerror}")
        progress = _ProgressLine(sys.stderr, config) if ns.progress else None
        command = ("pyload", *args)  # the result's meta: the command line as typed
        return _run(config, ns.json == "-", text_out, outputs, progress, ns.debug, command)
    finally:
        for output in outputs.values():
            output.close()


def _has_matplotlib() -> bool:
    import importlib.util  # only with --plot

    return importlib.util.find_spec("matplotlib") is not None


def _run(
    config: Config,
    json_to_stdout: bool,
    text_out: TextIO,
    outputs: dict[str, _OutputFile],
    progress: _ProgressLine | None,
    debug: bool = False,
    command: Sequence[str] | None = None,
) -> int:
    """Run the load, print wrk's report, write the outputs, call the -s script's done() (its
    output after the report, as wrk's); the exit status."""

    def print_header() -> None:
        from pyload._header import wrk_header  # not _report's: no numpy before the load

        text_out.write(wrk_header(config))
        text_out.flush()

    on_progress = progress.show if progress is not None and progress.visible else None
    try:
        run = Run(config, command)
        result = run.execute(
            on_start=print_header,
            on_progress=on_progress,
            on_notice=lambda line: print(f"pyload: {line}", file=sys.stderr),
        )
    except PyloadError as exc:
        return _fail_error(exc, debug)
    finally:
        if progress is not None:
            progress.clear()

    try:
        return _report(result, run, json_to_stdout, text_out, outputs, debug)
    except KeyboardInterrupt:  # a stop signal after the load: what was written stays
        print("interrupted while writing the report", file=sys.stderr)
        return EXIT_INTERRUPTED


def _report(
    result: RunResult,
    run: Run,
    json_to_stdout: bool,
    text_out: TextIO,
    outputs: dict[str, _OutputFile],
    debug: bool,
) -> int:
    """wrk's report, the outputs, the -s script's done(); the exit status."""
    from pyload._report import wrk_body

    text_out.write(wrk_body(result))
    text_out.flush()
    if json_to_stdout:
        sys.stdout.write(result.to_json())
    for name, output in outputs.items():
        try:
            output.write(_render(name, result))
        except OSError as exc:
            return _fail(f"cannot write {output.path}: {exc.strerror}")
    try:
        with contextlib.redirect_stdout(text_out):
            run.done(result)  # -s: its output after the report, as wrk's
    except PyloadError as exc:
        return _fail_error(exc, debug)
    return exit_status(result)


def exit_status(result: RunResult) -> int:
    """A reported run's exit status, with its lines on stderr: one per broken threshold
    (``--threshold``), then the partial result's. EXIT_PARTIAL wins over EXIT_THRESHOLD: a
    partial result's numbers are incomplete, so they cannot say a threshold held."""
    broken = [outcome for outcome in result.check() if not outcome.passed]
    for outcome in broken:
        print(f"threshold broken: {outcome}", file=sys.stderr)
    return _partial(result) or (EXIT_THRESHOLD if broken else 0)


def _fail_error(exc: PyloadError, debug: bool) -> int:
    """One line for an error; with ``--debug``, a failing hook's whole traceback first."""
    if debug and isinstance(exc, HookError) and exc.traceback:
        print(exc.traceback, end="", file=sys.stderr)
    return _fail(str(exc))


def _partial(result: RunResult) -> int:
    """EXIT_PARTIAL, with one line on stderr, when a worker process or an agent was lost."""
    if not result.lost_workers:
        return 0
    agents = sum(1 for lost in result.lost_workers if lost.process < 0 and lost.agent)
    processes = len(result.lost_workers) - agents
    parts = [f"{processes} worker process{'es' if processes > 1 else ''}"] if processes else []
    parts += [f"{agents} agent{'s' if agents > 1 else ''}"] if agents else []
    print(
        f"pyload: partial result: {' and '.join(parts)} lost (see the report's last lines)",
        file=sys.stderr,
    )
    return EXIT_PARTIAL


def _merge(argv: list[str]) -> int:
    """``pyload merge FILE... [--json PATH]``: the merged report of runs' JSON results
    (pyload.merge), printed as a run's: wrk's text on stdout (stderr with ``--json -``)."""
    from pyload.merge import build_parser as merge_parser
    from pyload.merge import merge_files

    try:
        ns = merge_parser().parse_args(argv)
        result = merge_files(ns.files)
        if result.meta is not None:  # the merged result's command line: this one
            command = ["pyload", "merge", *argv]
            result = dataclasses.replace(result, meta=result.meta.with_command(command))
    except PyloadError as exc:
        return _fail(str(exc))
    (sys.stderr if ns.json == "-" else sys.stdout).write(result.to_wrk_text())
    if ns.json == "-":
        sys.stdout.write(result.to_json())
    elif ns.json is not None:
        try:
            output = _OutputFile(ns.json)
            try:
                output.write(result.to_json().encode("utf-8"))
            finally:
                output.close()
        except OSError as exc:
            return _fail(f"cannot write {ns.json}: {exc.strerror}")
    return _partial(result)


def _compare(argv: list[str]) -> int:
    """``pyload compare BASE.json NEW.json [-o FILE.html] [--fail-on slower]``: the table on
    stdout, a warning per difference of settings on stderr, the page with ``-o``; exit
    EXIT_THRESHOLD when a row fails --fail-on."""
    from pyload.compare import build_parser as compare_parser
    from pyload.compare import compare, fails
    from pyload.merge import read_result

    try:
        ns = compare_parser().parse_args(argv)
        base, new = read_result(ns.base), read_result(ns.new)
    except PyloadError as exc:
        return _fail(str(exc))
    comparison = compare(base, new, (ns.base, ns.new))
    for warning in comparison.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(comparison.to_text())
    if ns.output is not None:
        from pyload.htmlreport import render_comparison

        names, warnings = (ns.base, ns.new), comparison.warnings
        page = render_comparison(base, new, comparison.table(), names=names, warnings=warnings)
        problem = _write_page(ns.output, page)
        if problem is not None:
            return _fail(problem)
    failed = fails(comparison, ns.fail_on)
    for option, row in failed:
        print(f"--fail-on {option}: {row.summary()}", file=sys.stderr)
    return EXIT_THRESHOLD if failed else 0


def _html_report(argv: list[str]) -> int:
    """``pyload report RUN.json [-o FILE.html]``: the HTML report of a saved run (a run's, a
    merge's or a Dask run's ``--json``); by default RUN.html beside RUN.json."""
    from pyload.htmlreport import render_report

    parser = _Parser(
        prog="pyload report",
        usage="pyload report RUN.json [-o FILE.html]",
        description="Write the HTML report of a run's JSON result (--json, pyload merge --json).",
    )
    parser.add_argument("file", metavar="RUN.json", help="a run's --json result")
    parser.add_argument(
        "-o", "--output", metavar="FILE.html", help="the page to write (default: RUN.html)"
    )
    try:
        ns = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(f"pyload report: {exc}")
    path: str = ns.file
    output = ns.output or (path[: -len(".json")] if path.endswith(".json") else path) + ".html"
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError:
        return _fail(f"{path}: not a pyload result (not UTF-8 text)")
    try:
        page = render_report(text)
    except UsageError as exc:
        return _fail(f"{path}: {exc}")
    problem = _write_page(output, page)
    return _fail(problem) if problem is not None else 0


def _write_page(path: str, page: str) -> str | None:
    """Write an HTML page of ``pyload compare -o`` or ``pyload report``; the one-line error,
    or None."""
    try:
        written = _OutputFile(path)
        try:
            written.write(page.encode("utf-8"))
        finally:
            written.close()
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror}"
    return None


def _render(name: str, result: RunResult) -> bytes:
    """The bytes of output ``name`` (json, hdr_log, plot, html) for ``result``."""
    if name == "json":
        return result.to_json().encode("utf-8")
    if name == "html":
        from pyload.htmlreport import render_report

        return render_report(result).encode("utf-8")
    if name == "hdr_log":
        from pyload.hdrlog import write_hdr_log

        text = io.StringIO()
        write_hdr_log(text, result.intervals, comment=f"pyload {result.config.url}")
        return text.getvalue().encode("ascii")
    from pyload._plot import plot_run

    image = io.BytesIO()
    plot_run(result, image)
    return image.getvalue()


class _ProgressLine:
    """The live progress line on a terminal: elapsed / total, the last second's requests/s,
    errors so far and the p99 so far, redrawn in place; cleared before the report."""

    def __init__(self, stream: TextIO, config: Config) -> None:
        self.stream = stream
        self.total = config.duration
        self.visible = _is_terminal(stream)
        self.shown = False

    def show(self, progress: RunProgress) -> None:
        from pyload.units import format_time_us  # numpy: loaded with the report's header

        errors = sum(progress.counters.errors.values())
        p99 = "-" if progress.p99_us is None else format_time_us(progress.p99_us)
        line = (
            f"  {progress.elapsed_s:5.1f}s / {self.total:g}s  "
            f"{progress.last_second_requests:>9,} req/s  {progress.counters.requests:>11,} "
            f"requests  errors {errors:,}  p99 {p99}"
        )
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _OutputFile:
    """An output file (``--json``, ``--hdr-log``, ``--plot``, ``--html``), opened for writing
    before the load without truncating it (an existing file keeps its content until the result
    replaces it). A file created here and never written (the run failed or was interrupted
    before the report) is removed again on close."""

    def __init__(self, path: str) -> None:
        self.path = path
        existed = os.path.lexists(path)
        # OSError (missing directory, a directory, no permission, read-only file system).
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
        self.created = not existed
        self.written = False

    def write(self, data: bytes) -> None:
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
