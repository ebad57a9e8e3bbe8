"""``python -m benchmarks``: options to a profile and a cell plan, run the matrix, write the
run's folder (report.md, report.html, results.json, charts, server logs); ``--html-from DIR``
writes an existing run's report.html again, running nothing. The only module that exits."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import pyload
from benchmarks import RESULTS_DIR, sigterm_as_ctrl_c
from benchmarks.charts import chart_names, write_charts
from benchmarks.clients import wrk_available, wrk_seconds
from benchmarks.formatting import fmt_number
from benchmarks.matrix import estimate_s, run_matrix
from benchmarks.plan import default_servers, plan
from benchmarks.profiles import PROFILES, QUICK, Profile, resolve_profile
from benchmarks.progress import format_duration
from benchmarks.report import render_report
from benchmarks.report_html import REPORT_HTML, render_html
from benchmarks.results import OK, MatrixResult, ResultsError
from benchmarks.stacks import NOT_HTTP2, serves_h2c
from django_target import SERVERS

__all__ = [
    "build_parser",
    "command_line",
    "main",
    "profile_from_args",
    "write_html",
    "write_run",
]

REPORT = "report.md"
RESULTS = "results.json"


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _repeat(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rate(text: str) -> float:
    """pyload's ``-R``: its grammar (500, 2k, 0.5) and its check (> 0), as pyload's command line
    parses it (``pyload.Config.parse_option``)."""
    try:
        return float(pyload.Config.parse_option("rate", text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Load each Django server stack's endpoints with pyload; write a report.",
        epilog="Profiles: "
        + "; ".join(
            f"{p.name}: {p.connections} connections, {p.threads} threads, "
            f"{p.server_workers} server workers, {p.duration_s:g} s cells, timeout "
            f"{p.timeout_s:g} s, scale {p.scale:g}"
            for p in PROFILES.values()
        )
        + ". Both are the published -t20 -c2000 -d22s run with its time axis scaled: --scale X "
        "gives 2000 x X connections, 22 s x X cells and a 2 s x X timeout, so every gateway is "
        "offered the published requests/s.",
    )
    add = parser.add_argument
    add(
        "--profile",
        choices=sorted(PROFILES),
        default=QUICK.name,
        help=f"parameter set (default {QUICK.name})",
    )
    add(
        "--servers",
        type=_list,
        help=f"comma-separated stacks (default all: {','.join(SERVERS)}; with --http2 those "
        f"that serve it: {','.join(default_servers(http2=True))})",
    )
    add(
        "--endpoints",
        type=_list,
        default=[],
        help="comma-separated filters: scenario (gateway_1s), kind (async), kind/scenario "
        "(sync/httpx) or path (/myapp/sync/requests); default all",
    )
    add("--duration", type=float, help="seconds per cell (default 22 s x scale)")
    add("--connections", type=int, help="connections per cell (default 2000 x scale)")
    add(
        "--workers",
        type=int,
        help="pyload's threads, wrk's -t (default 20, at most the connections)",
    )
    add("--server-workers", type=int, help="worker processes per server stack")
    add(
        "--timeout",
        type=float,
        help="seconds after which a response is a timeout (default 2 s x scale)",
    )
    add(
        "--scale",
        type=float,
        help="time scale of the target's waits (rescales the default connections, duration, "
        "timeout and warm-up: docs/benchmarks.md)",
    )
    add("--warmup", type=float, help="seconds of unrecorded load per stack first")
    add(
        "--repeat",
        type=_repeat,
        default=1,
        metavar="N",
        help="run each cell N times; the report gives the median and the min-max (default 1)",
    )
    add(
        "--rate",
        type=_rate,
        metavar="N",
        help="also load each cell open-loop at N requests/s in total (pyload's -R: same "
        "connections, threads, duration and timeout) after its closed-loop run; the report "
        "puts the corrected percentiles beside the closed-loop figures",
    )
    add("--out", type=Path, help="output folder (default benchmarks/results/<date>-<profile>)")
    add(
        "--http2",
        action="store_true",
        help="also load each cell of a stack that serves HTTP/2 (h2c) over HTTP/2 (pyload "
        "--http2, one stream per connection), right before or after its HTTP/1.1 run; the "
        "report puts the two side by side and lists the stacks that do not serve HTTP/2",
    )
    add(
        "--with-wrk",
        action="store_true",
        help="also run wrk on every cell and compare (durations rounded up to whole seconds)",
    )
    add("--list", action="store_true", help="print the cells and the estimate, run nothing")
    add(
        "--html-from",
        type=Path,
        metavar="DIR",
        help="run nothing: write DIR/report.html again from DIR/results.json and the charts "
        "beside it (a run made before report.html existed, or after a change of its layout)",
    )
    return parser


def command_line(profile: Profile, ns: argparse.Namespace, out_dir: Path) -> str:
    """The explicit command that repeats this run."""
    argv = [
        "python",
        "-m",
        "benchmarks",
        "--profile",
        profile.name,
        "--servers",
        ",".join(ns.servers or default_servers(ns.http2)),
    ]
    if ns.endpoints:
        argv += ["--endpoints", ",".join(ns.endpoints)]
    argv += [
        "--duration",
        f"{profile.duration_s:g}",
        "--connections",
        str(profile.connections),
        "--workers",
        str(profile.threads),
        "--server-workers",
        str(profile.server_workers),
        "--timeout",
        f"{profile.timeout_s:g}",
        "--scale",
        f"{profile.scale:g}",
        "--warmup",
        f"{profile.warmup_s:g}",
    ]
    if ns.repeat != 1:
        argv += ["--repeat", str(ns.repeat)]
    if ns.http2:
        argv.append("--http2")
    if ns.with_wrk:
        argv.append("--with-wrk")
    if ns.rate is not None:
        argv += ["--rate", fmt_number(ns.rate)]
    return shlex.join(argv)


def write_run(doc: MatrixResult, out_dir: Path) -> list[Path]:
    """Write results.json, the charts, report.md and report.html into out_dir; return the
    paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / RESULTS
    results.write_text(doc.to_json())
    charts = write_charts(doc, out_dir)
    report = out_dir / REPORT
    report.write_text(render_report(doc, charts))
    return [report, write_html(doc, out_dir, charts), results, *(out_dir / c for c in charts)]


def write_html(doc: MatrixResult, out_dir: Path, charts: list[str]) -> Path:
    """Write report.html into out_dir, the charts (file names in out_dir) embedded."""
    html = out_dir / REPORT_HTML
    html.write_text(render_html(doc, [(name, (out_dir / name).read_bytes()) for name in charts]))
    return html


def html_from(run_dir: Path) -> Path:
    """report.html of the run in ``run_dir`` again, from its results.json and the charts there
    (those write_charts would draw; a missing one is left out). Raises OSError, ResultsError."""
    doc = MatrixResult.from_json((run_dir / RESULTS).read_text())
    return write_html(doc, run_dir, [n for n in chart_names(doc) if (run_dir / n).exists()])


def profile_from_args(ns: argparse.Namespace) -> Profile:
    """The profile the parsed options ask for (benchmarks.profiles' rule). Raises ValueError."""
    return resolve_profile(
        ns.profile,
        connections=ns.connections,
        threads=ns.workers,
        server_workers=ns.server_workers,
        scale=ns.scale,
        duration_s=ns.duration,
        timeout_s=ns.timeout,
        warmup_s=ns.warmup,
    )


def _say_http2(servers: Sequence[str]) -> None:
    """``--http2``: which stacks run over both protocols, and which not, on stderr."""
    both = [s for s in servers if serves_h2c(s)]
    one = [s for s in servers if not serves_h2c(s)]
    left_out = [s for s in SERVERS if not serves_h2c(s) and s not in servers]
    lines = [f"HTTP/1.1 and HTTP/2 on {', '.join(both) or 'no stack'}"]
    if one:
        lines.append(f"HTTP/1.1 only on {', '.join(one)}: {NOT_HTTP2}")
    if left_out:
        lines.append(f"left out, {NOT_HTTP2}: {', '.join(left_out)} (see the report)")
    for line in lines:
        print(f"benchmarks: {line}", file=sys.stderr)


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.html_from is not None:
        try:
            written = html_from(ns.html_from)
        except (OSError, ResultsError, ValueError) as exc:
            print(f"benchmarks: cannot write {ns.html_from / REPORT_HTML}: {exc}", file=sys.stderr)
            return 1
        print(f"benchmarks: wrote {written}", file=sys.stderr)
        return 0
    if ns.servers is None:
        ns.servers = default_servers(ns.http2)
    try:
        profile = profile_from_args(ns)
        cells = plan(ns.servers, ns.endpoints, http2=ns.http2)
    except ValueError as exc:
        parser.error(str(exc))
    if not cells:
        parser.error("no cell matches --servers and --endpoints")
    if ns.http2 and not any(cell.http2 for cell in cells):
        parser.error(f"--http2: {NOT_HTTP2} on {', '.join(ns.servers)}: nothing to compare")
    if ns.with_wrk and not wrk_available():
        print("benchmarks: --with-wrk needs wrk on the PATH", file=sys.stderr)
        return 1
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    out_dir = ns.out or RESULTS_DIR / f"{stamp}-{profile.name}"
    estimate = estimate_s(profile, cells, ns.with_wrk, ns.repeat, ns.rate)
    runs = f" x {ns.repeat} runs" if ns.repeat > 1 else ""
    open_loop = (
        f", each also open-loop at {fmt_number(ns.rate)} requests/s" if ns.rate is not None else ""
    )
    print(
        f"benchmarks: {len(cells)} cells{runs}{open_loop}, {profile.connections} connections, "
        f"{profile.duration_s:g} s each, timeout {profile.timeout_s:g} s, scale "
        f"{profile.scale:g}; about {format_duration(estimate)}; output {out_dir}",
        file=sys.stderr,
    )
    if ns.http2:
        _say_http2(ns.servers)
    if ns.with_wrk:
        duration = wrk_seconds(profile.duration_s)
        timeout = wrk_seconds(profile.timeout_s)
        if duration != profile.duration_s:
            print(
                f"benchmarks: wrk takes whole seconds: cells last {duration} s for both tools",
                file=sys.stderr,
            )
        if timeout != profile.timeout_s:
            print(
                f"benchmarks: wrk's --timeout takes whole seconds: wrk runs with {timeout} s "
                f"against pyload's {profile.timeout_s:g} s; timeouts and latency are compared "
                "only in cells where pyload counted no timeout (see the report)",
                file=sys.stderr,
            )
    if ns.list:
        for cell in cells:
            over = " (HTTP/1.1 and HTTP/2)" if cell.http2 else ""
            print(f"{cell.server} {cell.label} {cell.endpoint.path}{over}")
        return 0
    try:
        doc = run_matrix(
            profile,
            cells,
            repeat=ns.repeat,
            with_wrk=ns.with_wrk,
            log_dir=out_dir / "logs",
            argv=list(argv if argv is not None else sys.argv[1:]),
            rate=ns.rate,
            http2=ns.http2,
        )
        doc.command = command_line(profile, ns, out_dir)
        paths = write_run(doc, out_dir)
    except KeyboardInterrupt:  # a stop signal outside the cells: the stacks are stopped
        print("benchmarks: interrupted before the report was written", file=sys.stderr)
        return 130
    ok = sum(1 for c in doc.cells if c.status == OK)
    print(
        f"benchmarks: {ok}/{len(doc.cells)} cells ok in {format_duration(doc.wall_s)}; "
        f"wrote {paths[0]}",
        file=sys.stderr,
    )
    return 0 if ok else 1
