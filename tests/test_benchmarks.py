"""The benchmark scripts: wrk-text parsing, the pyload-vs-wrk tolerance, profiles and plans, a
real (tiny) matrix run with ``--repeat 2`` and ``--rate`` checked file against file, the report
of an interrupted run and of an open-loop run, failing cells, and a selfbench smoke run."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import pyload
from benchmarks import cli, matrix, selfbench, stacks, stopping
from benchmarks.charts import chart_names, write_charts
from benchmarks.clients import FLOOR_SCRIPT, wrk_seconds
from benchmarks.compare import RPS_ABS_TOL, RPS_REL_TOL, compare_cell, within
from benchmarks.formatting import fmt_latency, fmt_rate, fmt_spread
from benchmarks.interpret import interpret, published_shapes
from benchmarks.profiles import (
    PROFILES,
    QUICK,
    REFERENCE_DURATION_S,
    SEED,
    Profile,
    resolve_profile,
)
from benchmarks.progress import format_duration
from benchmarks.report import OPEN_LOOP_HEADER, SUMMARY_HEADER, render_report
from benchmarks.report_html import REPORT_HTML
from benchmarks.results import (
    NOT_RUN,
    OK,
    SCHEMA,
    CellResult,
    CellRun,
    MatrixResult,
    PyloadResult,
)
from benchmarks.wrkparse import WrkParseError, parse_time_us, parse_wrk
from django_target import GATEWAY_SECONDS, ServerConfig, StartupError
from tests import procs, target_server
from tests.browser import network_references, open_page
from tests.conftest import IN_CI
from tests.django_target_helpers import pending_signals
from tests.helpers import children_of, worker_processes
from tests.procs import spawn
from tests.target_server import TargetServer, running
from tests.test_benchmark_html import SECTIONS_JS

REFERENCE_RUNS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
DASH = "\N{EN DASH}"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# -- wrk's text, as printed by wrk.c main() and print_stats() -------------------------------

EXAMPLE_A = """\
Running 3s test @ http://127.0.0.1:18080/
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   203.95us  285.58us   4.44ms   96.91%
    Req/Sec    29.29k     5.23k   53.28k    81.97%
  Latency Distribution
     50%  151.00us
     75%  191.00us
     90%  245.00us
     99%    1.73ms
  177661 requests in 3.10s, 13.22MB read
Requests/sec:  57320.30
Transfer/sec:      4.26MB
"""

EXAMPLE_B = """\
Running 6s test @ http://127.0.0.1:18080/slow/2500
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 6.02s, 312.00B read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      0.66
Transfer/sec:      51.86B
"""

EXAMPLE_C = """\
Running 2s test @ http://127.0.0.1:18080/hang
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 2.00s, 0.00B read
Requests/sec:      0.00
Transfer/sec:       0.00B
"""

EXAMPLE_D = """\
Running 1s test @ http://127.0.0.1:18080/status/404
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   161.43us  337.48us   3.89ms   96.17%
    Req/Sec    18.51k     1.44k   19.96k    80.00%
  18421 requests in 1.00s, 1.35MB read
  Non-2xx or 3xx responses: 18421
Requests/sec:  18390.64
Transfer/sec:      1.35MB
"""

EXAMPLE_E = """\
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.20ms    4.36ms  10.00ms   80.00%
    Req/Sec     3.33      5.77    10.00     66.67%
  Latency Distribution
     50%  300.00us
     75%  400.00us
     90%   10.00ms
     99%   10.00ms
  5 requests in 10.05s, 1.01KB read
Requests/sec:      0.50
Transfer/sec:     102.49B
"""


def test_parse_normal_run() -> None:
    r = parse_wrk(EXAMPLE_A)
    assert (r.requests, r.threads, r.connections) == (177661, 2, 10)
    assert (r.duration, r.url) == ("3s", "http://127.0.0.1:18080/")
    assert r.runtime_us == pytest.approx(3.10e6)
    assert r.bytes_read == pytest.approx(13.22 * 1024**2)
    assert r.requests_per_s == 57320.30
    assert r.transfer_per_s == pytest.approx(4.26 * 1024**2)
    assert (r.latency_avg_us, r.latency_stdev_us) == pytest.approx((203.95, 285.58))
    assert r.latency_max_us == pytest.approx(4440)
    assert r.latency_within_stdev_pct == 96.91
    assert (r.rate_avg, r.rate_stdev, r.rate_max) == pytest.approx((29290, 5230, 53280))
    assert r.percentiles_us == pytest.approx({"50": 151, "75": 191, "90": 245, "99": 1730})
    assert r.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}


def test_parse_all_timeouts() -> None:
    r = parse_wrk(EXAMPLE_B)
    assert (r.requests, r.timeouts) == (4, 4)
    assert r.latency_within_stdev_pct is None  # -nan%
    assert r.rate_within_stdev_pct == 100.0
    assert r.percentile(50) == 0 and r.percentile(99) == 0
    assert r.bytes_read == 312.0
    assert r.runtime_us == pytest.approx(6.02e6)


def test_parse_no_response_and_status_errors() -> None:
    c = parse_wrk(EXAMPLE_C)
    assert (c.requests, c.requests_per_s, sum(c.errors.values())) == (0, 0.0, 0)
    assert c.rate_within_stdev_pct is None
    d = parse_wrk(EXAMPLE_D)
    assert d.status_errors == 18421 and d.timeouts == 0
    assert d.percentiles_us == {}  # no --latency
    assert d.percentile(50) is None


def test_parse_without_header_lines() -> None:
    e = parse_wrk(EXAMPLE_E)
    assert (e.threads, e.duration) == (None, None)
    assert e.requests == 5 and e.runtime_us == pytest.approx(10.05e6)
    assert e.percentiles_us == pytest.approx({"50": 300, "75": 400, "90": 10000, "99": 10000})
    assert e.bytes_read == pytest.approx(1.01 * 1024)


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("850.00us", 850),
        ("0.85ms", 850),
        ("1.00s", 1e6),
        ("0.85m", 51e6),
        ("1000.00m", 1e6),  # "1000.00ms" truncated to a width-8 field (wrk.c print_units())
        ("1440.00", 86400e6),
    ],  # "1440.00m" with its unit truncated away
)
def test_parse_time_units(text: str, us: float) -> None:
    assert parse_time_us(text) == pytest.approx(us)


def test_parse_rejects_other_text() -> None:
    with pytest.raises(WrkParseError):
        parse_wrk("wrk: invalid option -- 'x'\nUsage: wrk <options> <url>\n")
    with pytest.raises(WrkParseError):
        parse_time_us("12.3parsecs")


# -- tolerance, profiles, plans ----------------------------------------------------------------


def _pyload(
    rps: float,
    requests: int,
    timeouts: int,
    p50: int,
    p99: int,
    count: int,
    *,
    runtime_s: float = 1.0,
    interrupted: bool = False,
    wrk_text: str = "",
) -> PyloadResult:
    """A pyload result as results.json keeps it, with the keys the benchmark reads."""
    return PyloadResult.from_dict(
        {
            "requests_per_s": rps,
            "requests": requests,
            "runtime_us": int(runtime_s * 1e6),
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts, "status": 0},
            "latency_us": {"count": count, "max": p99, "percentiles": {"50": p50, "99": p99}},
            "interrupted": interrupted,
            "wrk_text": wrk_text,
        }
    )


def test_within_tolerance() -> None:
    assert within(100, 80, 0.25, 5)
    assert not within(100, 70, 0.25, 5)
    assert within(2, 6, 0.25, 5)  # low rates: absolute slack
    assert not within(2, 8, 0.25, 5)


def test_compare_cell_same_timeout() -> None:
    wrk = parse_wrk(EXAMPLE_B)
    same = compare_cell(_pyload(0.66, 4, 4, 0, 0, 0), wrk, timeout_s=2, wrk_timeout_s=2)
    assert same.agree and same.metrics["timeouts"].agree is True
    far = compare_cell(_pyload(50.0, 300, 0, 1000, 2000, 300), wrk, timeout_s=2, wrk_timeout_s=2)
    assert not far.agree
    assert set(far.disagreements) >= {"requests_per_s", "timeouts"}


def test_compare_cell_fractional_timeout_is_not_comparable() -> None:
    wrk = parse_wrk(EXAMPLE_A)
    result = compare_cell(
        _pyload(57000.0, 177000, 10, 150, 1700, 176990), wrk, timeout_s=0.4, wrk_timeout_s=1
    )
    assert result.metrics["p50_us"].agree is None
    assert result.metrics["timeouts"].agree is None
    assert "whole seconds" in result.metrics["timeouts"].note
    assert result.agree and result.metrics["requests_per_s"].agree is True


def _profile(*argv: str) -> Profile:
    """The profile ``python -m benchmarks ARGV`` runs."""
    return cli.profile_from_args(cli.build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("scale", [None, 0.05, 0.1, 0.3, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("name", ["quick", "seed"])
def test_every_scale_offers_the_seeds_load(name: str, scale: float | None) -> None:
    """Each gateway endpoint is offered connections ÷ scaled wait requests/s: the seed's 2000 ÷ 1,
    3 and 10 s at every scale, with the seed's timeout-to-wait and cell-to-wait ratios."""
    argv = ["--profile", name] + ([] if scale is None else ["--scale", str(scale)])
    profile = _profile(*argv)
    assert profile == (PROFILES[name] if scale is None else resolve_profile(name, scale=scale))
    assert (profile.threads, profile.server_workers) == (SEED.threads, SEED.server_workers)
    for unscaled in GATEWAY_SECONDS.values():
        wait, seed_wait = unscaled * profile.scale, unscaled * SEED.scale
        assert profile.connections / wait == pytest.approx(SEED.connections / seed_wait)
        assert profile.offered_load_per_s(unscaled) == pytest.approx(SEED.connections / seed_wait)
        assert profile.timeout_s / wait == pytest.approx(SEED.timeout_s / seed_wait)
        assert profile.duration_s / wait == pytest.approx(SEED.duration_s / seed_wait)


def test_profiles_keep_the_experiment_shape() -> None:
    assert (SEED.connections, SEED.threads, SEED.duration_s, SEED.timeout_s) == (2000, 20, 22, 2)
    assert (QUICK.connections, QUICK.threads, QUICK.server_workers) == (600, 20, 4)
    assert (QUICK.duration_s, QUICK.timeout_s, QUICK.scale) == (6.6, 0.6, 0.3)
    assert [round(QUICK.offered_load_per_s(s)) for s in (1, 3, 10)] == [2000, 667, 200]
    assert QUICK.duration_s == pytest.approx(REFERENCE_DURATION_S * QUICK.scale)
    p = resolve_profile("quick", scale=0.5)
    assert (p.duration_s, p.timeout_s, p.connections, p.threads) == (11.0, 1.0, 1000, 20)
    q = resolve_profile("seed", scale=0.1, timeout_s=3.0, connections=50)
    assert (q.duration_s, q.timeout_s, q.connections, q.threads) == (2.2, 3.0, 50, 20)
    # --connections wins over the scale's 2000 x scale, and caps the 20 threads
    assert (_profile("--scale", "0.5", "--connections", "50").connections) == 50
    few = _profile("--connections", "8")
    assert (few.connections, few.threads) == (8, 8)
    # a scale whose 2000 x scale is not whole: rounded, the load off by less than half a connection
    odd = _profile("--scale", "0.0123")
    assert (odd.connections, odd.threads) == (25, 20)
    assert abs(odd.offered_load_per_s(1.0) - 2000) <= 0.5 / 0.0123
    assert _profile("--scale", "0.004").threads == 8  # 8 connections: at most 8 threads
    with pytest.raises(ValueError):
        resolve_profile("quick", connections=1, threads=2)
    assert wrk_seconds(0.4) == 1 and wrk_seconds(4.4) == 5 and wrk_seconds(2.0) == 2
    cells = matrix.plan(["gunicorn-gevent"])
    once, twice = matrix.estimate_s(QUICK, cells), matrix.estimate_s(QUICK, cells, repeat=2)
    assert once > len(cells) * QUICK.duration_s and twice > once + len(cells) * QUICK.duration_s
    assert cli.build_parser().parse_args(["--repeat", "3"]).repeat == 3
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["--repeat", bad])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "rate must be > 0 requests/s, not 0"),
        ("-5", "rate must be > 0 requests/s, not -5"),
        ("fast", "invalid rate: 'fast' (requests/s, e.g. 500, 2k or 0.5)"),
        ("inf", "rate must be a finite number of requests/s, not inf"),
    ],
)
def test_a_bad_rate_is_one_line_and_exit_2(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--rate", text, "--list"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"python -m benchmarks: error: argument --rate: {message}"
    assert "Traceback" not in err


def test_rate_option_is_parsed_as_pyloads_and_repeated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rate takes pyload's -R grammar; the estimate counts the open-loop runs, --list says it,
    and the run's command line repeats it (absent, nothing changes)."""
    parser = cli.build_parser()
    assert parser.parse_args([]).rate is None
    rates = [parser.parse_args(["--rate", t]).rate for t in ("500", "2k", "0.5", "12.25")]
    assert rates == [500.0, 2000.0, 0.5, 12.25]
    for argv in (["--rate", "2k"], []):
        ns = parser.parse_args(["--servers", "gunicorn-gevent", *argv])
        profile = cli.profile_from_args(ns)
        line = cli.command_line(profile, ns, tmp_path)
        assert ("--rate 2000" in line) is bool(argv)
        again = parser.parse_args(shlex.split(line)[3:])
        assert (again.rate, cli.profile_from_args(again)) == (ns.rate, profile)
    cells = matrix.plan(["gunicorn-gevent"])
    closed, both = matrix.estimate_s(QUICK, cells), matrix.estimate_s(QUICK, cells, rate=100)
    assert both - closed >= len(cells) * (QUICK.duration_s + matrix.CELL_OVERHEAD_S)
    assert matrix.estimate_s(QUICK, cells, rate=None) == closed
    argv = ["--servers", "gunicorn-gevent", "--endpoints", "gateway_1s", "--rate", "100"]
    assert cli.main([*argv, "--list", "--out", str(tmp_path / "x")]) == 0
    out, err = capsys.readouterr()
    one = matrix.plan(["gunicorn-gevent"], ["gateway_1s"])
    assert "benchmarks: 1 cells, each also open-loop at 100 requests/s, 600 connections" in err
    assert f"about {format_duration(matrix.estimate_s(QUICK, one, rate=100))};" in err
    assert out == "gunicorn-gevent sync/gateway_1s /myapp/sync/gateway_1s\n"
    assert not (tmp_path / "x").exists()  # --list runs nothing
    with pytest.raises(ValueError):
        matrix.run_matrix(QUICK, one, rate=0)


def test_plan_serves_async_only_on_asgi() -> None:
    cells = matrix.plan()
    assert len(cells) == 5 + 3 * 11
    assert all(c.endpoint.kind == "sync" for c in cells if c.server == "gunicorn-gevent")
    picked = matrix.plan(["hypercorn-uvloop"], ["gateway_1s", "async/httpx", "/myapp/sync/req"])
    assert [c.label for c in picked] == [
        "sync/gateway_1s",
        "async/gateway_1s",
        "sync/requests",
        "async/httpx",
    ]
    assert [c.label for c in matrix.plan(["gunicorn-uvicorn"], ["sync/gateway_1s"])] == [
        "sync/gateway_1s"
    ]  # not async/gateway_1s, whose path contains the text
    with pytest.raises(ValueError):
        matrix.plan(["apache"])


# -- a real matrix run ---------------------------------------------------------------------------


def _table(report: str) -> list[dict[str, str]]:
    """The rows of the 'every cell' summary table, by SUMMARY_HEADER."""
    header = "| " + " | ".join(SUMMARY_HEADER) + " |"
    lines = report.splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(
            dict(
                zip(SUMMARY_HEADER, (c.strip() for c in line.strip("|").split(" | ")), strict=True)
            )
        )
    return rows


@pytest.fixture(scope="module")
def matrix_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], MatrixResult, str]:
    """One stack, two endpoints, each run twice, scale 0.05: gateway_1s waits 50 ms (well inside
    the 100 ms timeout), gateway_3s 150 ms (every response a timeout). wrk too when installed;
    and each run open-loop at 40 requests/s (``--rate 40``). The progress lines (stderr) are
    kept in progress.txt."""
    with_wrk = shutil.which("wrk") is not None or IN_CI
    out = tmp_path_factory.mktemp("matrix")
    argv = [
        "--servers",
        "gunicorn-uvicorn",
        "--endpoints",
        "sync/gateway_1s,async/gateway_3s",
        "--scale",
        "0.05",
        "--duration",
        "1",
        "--connections",
        "4",
        "--workers",
        "1",
        "--server-workers",
        "1",
        "--warmup",
        "0.3",
        "--repeat",
        "2",
        "--out",
        str(out),
    ]
    with contextlib.redirect_stderr(io.StringIO()) as progress:
        assert cli.main(argv + ["--rate", "40"] + (["--with-wrk"] if with_wrk else [])) == 0
    (out / "progress.txt").write_text(progress.getvalue())
    text = (out / "results.json").read_text()
    return out, json.loads(text), MatrixResult.from_json(text), (out / "report.md").read_text()


def _spread_text(values: list[float], fmt: Any) -> str:
    """What the tables print for a number over two or more runs: median (min-max)."""
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}{DASH}{fmt(max(values))})"


def test_matrix_writes_consistent_files(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    """results.json holds two runs per cell; report.md's tables give each cell's median and
    min-max over them, computed here from the JSON's own numbers."""
    _, raw, doc, report = matrix_run
    assert raw["schema"] == SCHEMA == "pyload.benchmarks/2"
    assert raw["repeat"] == 2 and doc.repeat == 2
    assert [(c["server"], c["label"], c["status"]) for c in raw["cells"]] == [
        ("gunicorn-uvicorn", "sync/gateway_1s", "ok"),
        ("gunicorn-uvicorn", "async/gateway_3s", "ok"),
    ]
    for cell in raw["cells"]:
        assert [(r["run"], r["status"], r["interrupted"]) for r in cell["runs"]] == [
            (1, "ok", False),
            (2, "ok", False),
        ]
    assert raw["profile"]["timeout_s"] == pytest.approx(0.1)
    assert raw["machine"]["cores"] >= 1 and raw["machine"]["packages"]["django"]
    assert doc.to_json() == (matrix_run[0] / "results.json").read_text()  # read back exactly
    rows = _table(report)
    assert [(r["endpoint"], r["server"]) for r in rows] == [
        (c["label"], c["server"]) for c in raw["cells"]
    ]
    for row, cell in zip(rows, raw["cells"], strict=True):
        runs = [r["pyload"] for r in cell["runs"]]
        assert all(data["schema"] == "pyload.result/2" and data["requests"] > 0 for data in runs)
        rates = [data["requests_per_s"] for data in runs]
        assert row["req/s"] == _spread_text(rates, fmt_rate)
        assert f"| {cell['label']} | {_spread_text(rates, fmt_rate)}" in report  # req/s table
        assert int(row["requests"]) == min(data["requests"] for data in runs)  # lower median
        assert int(row["timeouts"]) == min(data["errors"]["timeout"] for data in runs)
        assert int(row["errors"]) == min(
            sum(data["errors"][k] for k in ("connect", "read", "write", "status")) for data in runs
        )
        for p in ("50", "99"):
            if all(data["latency_us"]["count"] for data in runs):
                values = [data["latency_us"]["percentiles"][p] for data in runs]
                assert row[f"p{p}"] == _spread_text(values, fmt_latency)
            else:
                assert row[f"p{p}"] == "-"
        assert cell["summary"]["runs"] == 2
        assert cell["summary"]["requests_per_s"] == {
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
        }
        # each run's wrk-style text is in the report, and says the same as the JSON
        for data in runs:
            assert "```\n" + data["wrk_text"].rstrip("\n") + "\n```" in report
            parsed = parse_wrk(data["wrk_text"])
            assert (parsed.requests, parsed.timeouts) == (
                data["requests"],
                data["errors"]["timeout"],
            )
    assert report.count("Run 1 of 2:") == report.count("Run 2 of 2:") == 2


def test_matrix_report_layout_and_interpretation(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    _, _, doc, report = matrix_run
    fast, slow = (c.summary for c in doc.cells)
    assert fast is not None and slow is not None
    assert fast.p50_us is not None and fast.timeouts == 0  # 50 ms wait, 100 ms timeout
    assert slow.requests > 0 and slow.all_timeouts  # 150 ms wait: all late
    headings = [line for line in report.splitlines() if line.startswith("#")]
    i = headings.index("## gunicorn-uvicorn")
    assert headings[i + 1 : i + 5] == [
        "### gateway_1s",
        "#### Sync",
        "### gateway_3s",
        "#### Async",
    ]
    assert "## Summary" in headings and "## Interpretation" in headings
    bullets = interpret(doc)
    assert any("1 of 1 cells are all timeouts" in b for b in bullets)
    assert any("closed-loop ceiling is 4 ÷ 50 ms = 80 req/s" in b for b in bullets)
    assert any(b.startswith("**Spread over the 2 runs**") for b in bullets)
    assert "each cell run 2 times (`--repeat 2`)" in report
    assert fmt_latency(fast.p50_us) in report
    assert "python -m benchmarks --profile quick --servers gunicorn-uvicorn" in report
    assert "--repeat 2" in report.split("## Reproduce")[1]
    # 1 s cells: wrk's header ("Running 1s test") is the cell's length, nothing to explain
    assert "rounded to whole seconds" not in report


def test_matrix_charts_are_pngs(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    import matplotlib.image

    out, _, doc, report = matrix_run
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    expected = {"requests_per_s.png", "latency_gateway_1s.png", "latency_gateway_3s.png"}
    if doc.with_wrk:
        expected.add("pyload_vs_wrk.png")
    assert set(referenced) == expected
    assert {p.name for p in out.glob("*.png")} == expected
    for name in referenced:
        path = out / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 200 and width > 300


def test_matrix_writes_report_html(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    """report.html beside report.md: offline, no console message in Chromium, every chart drawn,
    a collapsible section per cell run holding pyload's text (its open loop's, wrk's)."""
    out, _, doc, _ = matrix_run
    page_html = (out / REPORT_HTML).read_text()
    assert network_references(page_html) == []
    page = open_page(out / REPORT_HTML, evaluate={"sections": SECTIONS_JS})
    assert page.console == (), [str(m) for m in page.console]
    assert [c.name for c in page.charts] == [n.removesuffix(".png") for n in chart_names(doc)]
    assert all(c.drawn for c in page.charts), page.charts
    runs = [(c, r) for c in doc.cells for r in c.runs]
    sections = page.evaluated["sections"]
    assert [(cell, index) for cell, index, _ in sections] == [
        (f"{c.server} {c.label}", r.index) for c, r in runs
    ]
    assert len(sections) == 4  # 2 cells x --repeat 2
    for (_, _, text), (_, cell_run) in zip(sections, runs, strict=True):
        assert cell_run.pyload is not None and cell_run.pyload_rate is not None
        assert cell_run.pyload.wrk_text.strip() in text
        assert cell_run.pyload_rate.wrk_text.strip() in text  # the open loop's, --rate 40
        if doc.with_wrk:
            assert cell_run.wrk is not None and cell_run.wrk.text.strip() in text
    assert "Open loop: 40 requests/s" in page.text
    for cell in doc.cells:
        assert cell.summary is not None
        assert fmt_spread(cell.summary.rate, fmt_rate) in page.text  # as report.md prints it


def test_matrix_with_wrk_side_by_side(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    _, _, doc, report = matrix_run
    if not doc.with_wrk:
        pytest.skip("wrk is not installed")
    assert doc.wrk_timeout_s == 1  # 100 ms cannot be said to wrk
    orders = []
    for cell in doc.cells:
        for run in cell.runs:
            wrk, result = run.wrk, run.pyload
            assert wrk is not None and result is not None
            assert wrk.error is None, wrk.error
            assert wrk.argv[1:5] == ["-t1", "-c4", "-d1s", "--timeout"]
            assert wrk.parsed is not None and wrk.parsed.requests > 0
            assert wrk.comparison is not None
            rps = wrk.comparison.metrics["requests_per_s"]
            # always compared, on the two tools' own numbers, with the documented tolerance
            assert (rps.pyload, rps.wrk) == (result.requests_per_s, wrk.parsed.requests_per_s)
            assert rps.pyload and rps.pyload > 0 and rps.wrk and rps.wrk > 0
            assert rps.agree is within(rps.pyload, rps.wrk, RPS_REL_TOL, RPS_ABS_TOL)
            assert ("requests_per_s" in wrk.comparison.disagreements) is not rps.agree
            orders.append((run.index, run.order))
    # round 1 runs both cells, then round 2: the tools alternate from run to run
    assert [order for _, order in sorted(orders, key=lambda x: x[0])] == [
        ["pyload", "wrk"],
        ["wrk", "pyload"],
        ["pyload", "wrk"],
        ["wrk", "pyload"],
    ]
    slow = doc.cells[1].runs[0].wrk
    assert slow is not None and slow.comparison is not None
    assert slow.comparison.metrics["timeouts"].agree is None  # pyload 100 ms, wrk 1 s
    assert "## pyload vs wrk" in report and "n/c" in report
    assert "| sync/gateway_1s (run 2) | gunicorn-uvicorn |" in report


def _spread_or_one(values: list[float], fmt: Any) -> str:
    """What the tables print for the runs that have a number: -, the number, median (min-max)."""
    if not values:
        return "-"
    return fmt(values[0]) if len(values) == 1 else _spread_text(values, fmt)


def _open_loop_tables(report: str) -> dict[str, list[dict[str, str]]]:
    """The open-loop section's tables (--rate), by stack, each row by OPEN_LOOP_HEADER."""
    section = report.split("\n## Open loop: ", 1)[1].split("\n## Interpretation", 1)[0]
    header = "| " + " | ".join(OPEN_LOOP_HEADER) + " |"
    tables = {}
    for part in section.split("\n### ")[1:]:
        server, body = part.split("\n", 1)
        lines = body.strip().splitlines()
        assert lines[0] == header
        rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]
        tables[server] = [dict(zip(OPEN_LOOP_HEADER, row, strict=True)) for row in rows]
    return tables


def test_matrix_runs_each_cell_open_loop_too(
    matrix_run: tuple[Path, dict[str, Any], MatrixResult, str],
) -> None:
    """--rate 40: every run of every cell also ran open-loop at 40 requests/s with the closed
    loop's connections, threads, duration and timeout; the report's table gives, per stack, the
    closed-loop and open-loop medians computed here from the JSON. The 150 ms gateway cannot be
    held: 4 connections ÷ 150 ms carry at most 27 requests/s, and the table says why."""
    out, raw, doc, report = matrix_run
    assert raw["rate_per_s"] == doc.rate_per_s == 40
    assert "## Open loop: 40 requests/s" in report and "coordinated omission" in report
    assert "[docs/rate.md](../../../docs/rate.md)" in report
    assert (REFERENCE_RUNS.parent.parent / "docs" / "rate.md").exists()  # the link's target
    assert "--rate 40" in report.split("## Reproduce")[1]
    (rows,) = _open_loop_tables(report).values()
    assert [r["endpoint"] for r in rows] == [c["label"] for c in raw["cells"]]
    same = ("connections", "threads", "duration", "timeout", "url")
    for row, cell in zip(rows, raw["cells"], strict=True):
        closed = [r["pyload"] for r in cell["runs"]]
        opened = [r["pyload_rate"] for r in cell["runs"]]
        assert all(r["rate_error"] is None for r in cell["runs"])
        for c, o in zip(closed, opened, strict=True):
            assert (c["config"]["rate"], o["config"]["rate"]) == (None, 40)
            assert [o["config"][k] for k in same] == [c["config"][k] for k in same]
            assert c["constant_rate"] is None
            rate = o["constant_rate"]
            assert rate["asked_per_s"] == 40 and rate["achieved_per_s"] == o["requests_per_s"] > 0
            assert rate["held"] is (rate["shortfall"] is None)
            if o["latency_uncorrected_us"]["count"]:  # from the slot, never below from the send
                for p in ("50", "99"):
                    corrected, measured = o["latency_us"], o["latency_uncorrected_us"]
                    assert corrected["percentiles"][p] >= measured["percentiles"][p]
        assert row["closed req/s"] == _spread_text([c["requests_per_s"] for c in closed], fmt_rate)
        assert row["open req/s"] == _spread_text([o["requests_per_s"] for o in opened], fmt_rate)
        for p in ("50", "99", "99.9"):
            values = [o["latency_us"]["percentiles"][p] for o in opened]
            assert row[f"corrected p{p}"] == _spread_text(values, fmt_latency)
        measured = [
            o["latency_uncorrected_us"]["percentiles"]["99"]
            for o in opened
            if o["latency_uncorrected_us"]["count"]
        ]
        assert row["uncorrected p99"] == _spread_or_one(measured, fmt_latency)
        held = [o["constant_rate"]["held"] for o in opened]
        why = "; ".join(
            dict.fromkeys(
                o["constant_rate"]["shortfall"] for o in opened if not o["constant_rate"]["held"]
            )
        )
        assert row["rate held"] == (
            "yes, 2 of 2 runs"
            if all(held)
            else f"{'no, ' if not any(held) else ''}{sum(held)} of 2 runs: {why}"
        )
        summary = cell["open_loop_summary"]
        assert (summary["runs"], summary["held"]) == (2, sum(held))
    slow = raw["cells"][1]  # async/gateway_3s: 150 ms, every response later than the timeout
    assert not any(r["pyload_rate"]["constant_rate"]["held"] for r in slow["runs"])
    assert rows[1]["rate held"].startswith("no, 0 of 2 runs: ")
    assert rows[1]["uncorrected p99"] == "-"  # all timeouts: no measured latency
    progress = (out / "progress.txt").read_text()
    assert "2 cells x 2 runs, each also open-loop at 40 requests/s" in progress
    lines = [line.strip() for line in progress.splitlines() if "open loop at 40/s:" in line]
    assert len(lines) == 4 and all(" p99.9 " in line for line in lines)
    assert sum("NOT held" in line for line in lines) >= 2


# -- the report of an interrupted run, and of the reference runs ------------------------------


def _interrupted_run() -> MatrixResult:
    """Ctrl-C during the second cell of a quick-profile run at 100 connections: the first cell
    complete, the second cut short after 2.31 s of its 6.6 s, the third not run."""

    def cell(kind: str, scenario: str, wait: float, run: CellRun) -> CellResult:
        return CellResult(
            "gunicorn-uvicorn", f"/myapp/{kind}/{scenario}", kind, scenario, wait, [run]
        )

    full = _pyload(300.0, 1980, 0, 301_000, 305_000, 1980, runtime_s=6.6, wrk_text=EXAMPLE_A)
    cut = _pyload(
        290.0, 670, 0, 302_000, 306_000, 670, runtime_s=2.31, interrupted=True, wrk_text=EXAMPLE_A
    )
    return MatrixResult(
        profile=resolve_profile("quick", connections=100),
        cells=[
            cell("sync", "gateway_1s", 0.3, CellRun(status=OK, pyload=full)),
            cell("async", "gateway_1s", 0.3, CellRun(status=OK, pyload=cut, interrupted=True)),
            cell("sync", "gateway_3s", 0.9, CellRun.not_run(1, "interrupted")),
        ],
        interrupted=True,
        machine=MatrixResult.from_json(
            (REFERENCE_RUNS / "reference-quick" / "results.json").read_text()
        ).machine,
    )


def test_an_interrupted_cell_is_marked_in_every_table(tmp_path: Path) -> None:
    """The report is a pure function of the document: no run needed."""
    doc = _interrupted_run()
    report = render_report(doc)
    rows = {row["endpoint"]: row for row in _table(report)}
    # the per-cell table: the cut-short cell says so, the cell not reached says it once
    assert "**interrupted** after 2.31 s of the 6.6 s cell" in rows["async/gateway_1s"]["notes"]
    assert "interrupted" not in rows["sync/gateway_1s"]["notes"]
    assert rows["sync/gateway_3s"]["notes"] == "**not run**: interrupted"
    assert "not run: not run" not in report
    # the requests/s table
    assert "| async/gateway_1s | 290.00 **interrupted** |" in report
    assert "| sync/gateway_1s | 300.00 |" in report
    assert "| sync/gateway_3s | not run |" in report
    # the interpretation: named in a sentence of its own, left out of the others
    bullets = interpret(doc)
    (cut,) = [b for b in bullets if b.startswith("**Interrupted**")]
    assert "gunicorn-uvicorn async/gateway_1s after 2.31 s of the 6.6 s cell" in cut
    (gateway,) = [b for b in bullets if b.startswith("**gateway_1s**")]
    assert "1 of 1 cells" in gateway and "async/gateway_1s" not in gateway
    assert "**Failed or not run** (1): gunicorn-uvicorn sync/gateway_3s: not run: interrupted." in (
        bullets
    )
    assert "\n- **Interrupted** (Ctrl-C or SIGTERM) while loading" in report
    # the cell's own block, and the run as a whole
    assert "**Interrupted** (Ctrl-C or SIGTERM) after 2.31 s of the 6.6 s cell" in report
    assert "- **interrupted** (Ctrl-C or SIGTERM)" in report
    # the document keeps it all, and the charts draw it
    again = MatrixResult.from_json(doc.to_json())
    assert render_report(again) == report
    assert [c.interrupted for c in again.cells] == [False, True, False]
    assert [c.status for c in again.cells] == [OK, OK, NOT_RUN]
    assert "requests_per_s.png" in write_charts(again, tmp_path)
    # schema 1 said "not run: not run: interrupted": read, it says it once too
    old = CellResult.from_dict(
        {
            "server": "gunicorn-uvicorn",
            "path": "/myapp/async/httpx",
            "kind": "async",
            "scenario": "httpx",
            "label": "async/httpx",
            "gateway_wait_s": None,
            "status": "not run",
            "error": "not run: interrupted",
            "pyload": None,
            "wrk": None,
        }
    )
    assert (old.status, old.error, len(old.runs)) == (NOT_RUN, "interrupted", 1)


def _open_loop(
    rps: float,
    p50: int,
    p99: int,
    p999: int,
    uncorrected_p99: int | None,
    *,
    timeouts: int = 0,
    shortfall: str | None = None,
    asked: float = 120.0,
) -> PyloadResult:
    """An open-loop pyload result (6.6 s at ``asked`` requests/s) as results.json keeps it."""
    requests = round(rps * 6.6)
    measured = 0 if uncorrected_p99 is None else requests - timeouts
    return PyloadResult.from_dict(
        {
            "requests_per_s": rps,
            "requests": requests,
            "runtime_us": 6_600_000,
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts, "status": 0},
            "latency_us": {
                "count": requests,
                "max": p999,
                "percentiles": {"50": p50, "99": p99, "99.9": p999},
            },
            "latency_uncorrected_us": {
                "count": measured,
                "max": uncorrected_p99 or 0,
                "percentiles": {"50": 0, "99": uncorrected_p99 or 0},
            },
            "constant_rate": {
                "asked_per_s": asked,
                "achieved_per_s": rps,
                "held": shortfall is None,
                "shortfall": shortfall,
                "unsent_at_end": 0,
            },
        }
    )


SLOW = (
    "too few connections for the server's latency (100 connections at a mean 900.00ms carry "
    "at most 111.11 requests/s)"
)
BUSY = "the client's CPU was saturated (97% busy)"
NOT_ANSWERING = "stack not answering before the open-loop run (timed out)"


def _open_loop_run() -> MatrixResult:
    """``--rate 120 --repeat 2`` at 100 connections on two stacks: a cell that held the rate
    twice, one that held it once, and one whose second open-loop run could not start."""

    def cell(server: str, scenario: str, wait: float, *runs: CellRun) -> CellResult:
        return CellResult(server, f"/myapp/sync/{scenario}", "sync", scenario, wait, list(runs))

    def run(index: int, closed: PyloadResult, **open_loop: Any) -> CellRun:
        return CellRun(index=index, status=OK, pyload=closed, **open_loop)

    def closed(rps: float, p50: int, p99: int, timeouts: int = 0) -> PyloadResult:
        requests = round(rps * 6.6)
        count = requests - timeouts
        return _pyload(rps, requests, timeouts, p50, p99, count, runtime_s=6.6)

    return MatrixResult(
        profile=resolve_profile("quick", connections=100),
        repeat=2,
        rate_per_s=120.0,
        machine=_interrupted_run().machine,
        cells=[
            cell(
                "gunicorn-uvicorn",
                "gateway_1s",
                0.3,
                run(1, closed(300, 301_000, 305_000),
                    pyload_rate=_open_loop(120.0, 301_000, 306_000, 310_000, 304_000)),
                run(2, closed(310, 302_000, 309_000),
                    pyload_rate=_open_loop(119.5, 302_000, 308_000, 320_000, 306_000)),
            ),
            cell(
                "gunicorn-uvicorn",
                "gateway_3s",
                0.9,
                run(1, closed(100, 0, 0, timeouts=660), pyload_rate=_open_loop(
                    108.0, 1_500_000, 2_900_000, 3_000_000, None, timeouts=712, shortfall=SLOW)),
                run(2, closed(101, 0, 0, timeouts=667), pyload_rate=_open_loop(
                    119.0, 1_200_000, 2_500_000, 2_600_000, None, timeouts=785)),
            ),
            cell(
                "hypercorn-uvloop",
                "gateway_1s",
                0.3,
                run(1, closed(280, 310_000, 390_000), pyload_rate=_open_loop(
                    90.0, 500_000, 900_000, 950_000, 880_000, shortfall=BUSY)),
                run(2, closed(290, 305_000, 380_000), rate_error=NOT_ANSWERING),
            ),
        ],
    )  # fmt: skip


def test_open_loop_table_beside_the_closed_loop() -> None:
    """The open-loop section is a pure function of the document: per stack, each cell's
    closed-loop req/s, p50 and p99 beside the rate achieved, whether it was held (and why not),
    the corrected p50/p99/p99.9 and the uncorrected p99, medians over the runs."""
    doc = _open_loop_run()
    report = render_report(doc)
    assert report.index("## Open loop: 120 requests/s") < report.index("## Interpretation")
    paragraph = report.split("## Open loop: 120 requests/s\n\n", 1)[1].split("\n", 1)[0]
    assert "*coordinated omission*" in paragraph and "`-R 120`" in paragraph
    assert "[docs/rate.md](../../../docs/rate.md)" in paragraph
    assert "With `--repeat 2` every figure is the median" in paragraph
    tables = _open_loop_tables(report)
    assert list(tables) == ["gunicorn-uvicorn", "hypercorn-uvloop"]
    fast, slow = tables["gunicorn-uvicorn"]
    assert fast == {
        "endpoint": "sync/gateway_1s",
        "closed req/s": f"305.00 (300.00{DASH}310.00)",
        "closed p50": f"301.50ms (301.00ms{DASH}302.00ms)",
        "closed p99": f"307.00ms (305.00ms{DASH}309.00ms)",
        "open req/s": f"119.75 (119.50{DASH}120.00)",
        "rate held": "yes, 2 of 2 runs",
        "corrected p50": f"301.50ms (301.00ms{DASH}302.00ms)",
        "corrected p99": f"307.00ms (306.00ms{DASH}308.00ms)",
        "corrected p99.9": f"315.00ms (310.00ms{DASH}320.00ms)",
        "uncorrected p99": f"305.00ms (304.00ms{DASH}306.00ms)",
        "notes": "",
    }
    assert slow == {
        "endpoint": "sync/gateway_3s",
        "closed req/s": f"100.50 (100.00{DASH}101.00)",
        "closed p50": "-",  # every closed-loop response a timeout: no latency
        "closed p99": "-",
        "open req/s": f"113.50 (108.00{DASH}119.00)",
        "rate held": f"1 of 2 runs: {SLOW}",
        "corrected p50": f"1.35s (1.20s{DASH}1.50s)",
        "corrected p99": f"2.70s (2.50s{DASH}2.90s)",
        "corrected p99.9": f"2.80s (2.60s{DASH}3.00s)",
        "uncorrected p99": "-",
        "notes": "timeouts 712",
    }
    (other,) = tables["hypercorn-uvloop"]
    assert other["closed req/s"] == f"285.00 (280.00{DASH}290.00)"
    assert (other["open req/s"], other["rate held"]) == ("90.00", f"no: {BUSY}")
    assert [other[f"corrected p{p}"] for p in ("50", "99", "99.9")] == [
        "500.00ms",
        "900.00ms",
        "950.00ms",
    ]
    assert other["uncorrected p99"] == "880.00ms"
    assert other["notes"] == f"run 2: open loop: {NOT_ANSWERING}"
    # Ctrl-C during an open loop: left out of the medians while a whole one exists
    cut = doc.cells[0].runs[1]
    assert cut.pyload_rate is not None
    cut.pyload_rate = PyloadResult.from_dict(
        {**cut.pyload_rate.to_dict(), "interrupted": True, "runtime_us": 2_000_000}
    )
    fast = _open_loop_tables(render_report(doc))["gunicorn-uvicorn"][0]
    assert (fast["open req/s"], fast["corrected p99.9"]) == ("120.00", "310.00ms")
    assert fast["notes"] == "run 2: interrupted after 2.00 s of the 6.6 s cell, not counted"
    # one run: the figures alone, no median, no "of N runs"
    doc.repeat = 1
    for c in doc.cells:
        del c.runs[1:]
    single = render_report(doc)
    assert "With `--repeat" not in single
    fast, slow = _open_loop_tables(single)["gunicorn-uvicorn"]
    assert (fast["open req/s"], fast["rate held"], fast["corrected p99.9"]) == (
        "120.00",
        "yes",
        "310.00ms",
    )
    assert slow["rate held"] == f"no: {SLOW}"


def test_open_loop_runs_round_trip_and_older_documents_read() -> None:
    """results.json keeps the rate and every open-loop run beside its closed-loop one; a
    document without them (a closed-loop run, or one written before --rate) reads as before."""
    doc = _open_loop_run()
    text = doc.to_json()
    data = json.loads(text)
    assert data["schema"] == SCHEMA and data["rate_per_s"] == 120
    run = data["cells"][2]["runs"][0]
    assert run["pyload_rate"]["constant_rate"]["shortfall"] == BUSY
    assert data["cells"][2]["runs"][1]["pyload_rate"] is None
    assert data["cells"][2]["runs"][1]["rate_error"] == NOT_ANSWERING
    assert data["cells"][1]["open_loop_summary"]["held"] == 1
    assert data["cells"][0]["open_loop_summary"]["p99.9_us"] == {
        "median": 315_000,
        "min": 310_000,
        "max": 320_000,
    }
    again = MatrixResult.from_json(text)
    assert again.to_json() == text and render_report(again) == render_report(doc)
    assert again.rate_per_s == 120.0
    for before, after in zip(doc.cells, again.cells, strict=True):
        for r0, r1 in zip(before.runs, after.runs, strict=True):
            assert (r1.pyload_rate, r1.rate_error) == (r0.pyload_rate, r0.rate_error)
    first = again.cells[0].runs[0].pyload_rate
    assert first is not None and first.constant_rate is not None
    assert (first.p999_us, first.uncorrected_p99_us, first.constant_rate.held) == (
        310_000,
        304_000,
        True,
    )
    # written before --rate: no rate_per_s, no pyload_rate or rate_error in the runs
    for cell in data["cells"]:
        for r in cell["runs"]:
            del r["pyload_rate"], r["rate_error"]
        del cell["open_loop_summary"]
    del data["rate_per_s"]
    old = MatrixResult.from_dict(data)
    assert old.rate_per_s is None
    assert all(r.pyload_rate is None and r.rate_error is None for c in old.cells for r in c.runs)
    assert all(c.open_loop_summary is None for c in old.cells)
    assert "## Open loop" not in render_report(old)
    assert [c.summary for c in old.cells] == [c.summary for c in doc.cells]
    # a closed-loop run says so: null, and no section
    closed = _interrupted_run()
    data = json.loads(closed.to_json())
    assert data["rate_per_s"] is None
    assert {r["pyload_rate"] for c in data["cells"] for r in c["runs"]} == {None}
    assert "## Open loop" not in render_report(MatrixResult.from_dict(data))


def test_published_shapes_say_which_appear_and_why_not() -> None:
    """The full-size run shows the six shapes of the published table; an ASGI stack at the
    ceiling of 100 connections does not show the ASGI one and says why, with its numbers."""
    seed = MatrixResult.from_json((REFERENCE_RUNS / "reference-seed" / "results.json").read_text())
    assert [appears for _, appears, _ in published_shapes(seed)] == [True] * 6
    doc = _interrupted_run()  # measured whole: gunicorn-uvicorn sync/gateway_1s, 300 req/s
    wsgi, asgi, late, blocking, read, clients = published_shapes(doc)
    assert [s[1] for s in (wsgi, late, blocking, read, clients)] == [None] * 5  # not measured
    assert asgi[1] is False
    # 100 connections, 21 rounds of 300 ms in 6.6 s: 318 req/s, of which 300 is 94 %
    assert "offered 100 ÷ 300 ms = 333 req/s, so the stack kept up: " in asgi[2]
    assert "gunicorn-uvicorn sync/gateway_1s 94%" in asgi[2]
    (head,) = [b for b in interpret(doc) if b.startswith("**The published experiment's shapes**")]
    assert head.endswith("0 of 1 appear in this run.")
    assert any(b.startswith("**Does not appear**: the ASGI stacks") for b in interpret(doc))
    run = doc.cells[0].runs[0]
    run.pyload = _pyload(200.0, 1320, 50, 401_000, 605_000, 1270, runtime_s=6.6)
    _, asgi, *_ = published_shapes(doc)
    assert asgi[1] is True
    assert "1 of 1 cells: gunicorn-uvicorn sync/gateway_1s 200 req/s (63%, 50 late)" in asgi[2]


def test_wrk_headers_rounding_is_explained() -> None:
    """pyload prints wrk's header, "Running 7s test", for a 6.6 s cell: the report says why."""
    doc = _interrupted_run()
    text = doc.cells[0].runs[0].pyload
    assert text is not None
    doc.cells[0].runs[0].pyload = PyloadResult.from_dict(
        {**text.to_dict(), "wrk_text": EXAMPLE_A.replace("Running 3s", "Running 7s")}
    )
    report = render_report(doc)
    assert "`Running 7s test @ URL`" in report
    assert "`7s` stands for the 6.6 s cell" in report


@pytest.mark.parametrize("run", ["reference-quick", "reference-seed"])
def test_reference_runs_render_as_committed(run: str) -> None:
    """The committed runs (reference-seed in schema pyload.benchmarks/1, reference-quick in 2)
    are read and give their report.md."""
    folder = REFERENCE_RUNS / run
    doc = MatrixResult.from_json((folder / "results.json").read_text())
    report = (folder / "report.md").read_text()
    charts = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert render_report(doc, charts) == report
    assert doc.repeat == 1 and all(len(c.runs) == 1 for c in doc.cells)
    assert doc.rate_per_s is None and not any(r.pyload_rate for c in doc.cells for r in c.runs)
    assert MatrixResult.from_json(doc.to_json()).to_json() == doc.to_json()


@pytest.mark.parametrize(
    ("run", "render"),
    [
        ("selfbench/selfbench-2026-11-25-0010", "benchmarks.selfbench_report:selfbench_markdown"),
        ("selfbench/selfbench-2026-12-05-2229", "benchmarks.selfbench_report:selfbench_markdown"),
        ("selfbench/selfbench-2026-12-05-2243", "benchmarks.selfbench_report:selfbench_markdown"),
        ("hookbench/hookbench-2026-11-25-0105", "benchmarks.hookbench:markdown"),
        ("reliability/reliability-2026-11-25-0220", "benchmarks.reliability:reliability_markdown"),
        ("daskbench/results", "benchmarks.daskbench:markdown"),
    ],
)
def test_other_committed_runs_render_as_committed(run: str, render: str) -> None:
    """The other scripts' committed runs: each one's Markdown is its JSON rendered by its
    script's own report function (the selfbench's beside the selfbench, not in report.py)."""
    import importlib

    module, function = render.split(":")
    path = REFERENCE_RUNS / run
    doc = json.loads(path.with_suffix(".json").read_text())
    markdown = path.parent / "README.md" if run.startswith("daskbench") else path.with_suffix(".md")
    assert getattr(importlib.import_module(module), function)(doc) == markdown.read_text()


# -- failing cells -------------------------------------------------------------------------


class _FakeStack:
    """Stands in for django_target's Stack: a real test server's URL, "exited" once closed."""

    def __init__(self, url: str, close: Any = None) -> None:
        self.url = url
        self._close = close
        self.closed = False

    def exited(self) -> str | None:
        return "fake stack exited unexpectedly" if self.closed else None

    def stop(self) -> None:
        if self._close is not None:
            self._close()
        self.closed = True


def test_failing_cells_are_recorded_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack that cannot start and a pyload error fail their cells only."""
    real_run = pyload.run

    with running() as target:

        def fake_start(config: ServerConfig) -> _FakeStack:
            if config.server == "gunicorn-gevent":
                raise StartupError("gunicorn exited with status 3")
            return _FakeStack(target.url)

        def flaky_run(url: str, **kwargs: Any) -> pyload.RunResult:
            if url.endswith("/async/gateway_1s"):
                raise pyload.ConnectError("unable to connect to 127.0.0.1:1 Connection refused")
            return real_run(url, **kwargs)

        monkeypatch.setattr(stacks, "start", fake_start)
        monkeypatch.setattr(pyload, "run", flaky_run)
        argv = [
            "--servers",
            "gunicorn-gevent,hypercorn-asyncio",
            "--endpoints",
            "gateway_1s",
            "--duration",
            "0.3",
            "--connections",
            "2",
            "--workers",
            "1",
            "--warmup",
            "0",
            "--out",
            str(tmp_path),
        ]
        assert cli.main(argv) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    status = {(c["server"], c["label"]): (c["status"], c["error"]) for c in doc["cells"]}
    assert status[("gunicorn-gevent", "sync/gateway_1s")][0] == "failed"
    assert "gunicorn exited with status 3" in status[("gunicorn-gevent", "sync/gateway_1s")][1]
    assert status[("hypercorn-asyncio", "async/gateway_1s")][0] == "failed"
    assert "ConnectError" in status[("hypercorn-asyncio", "async/gateway_1s")][1]
    ok = [c for c in doc["cells"] if c["status"] == "ok"]
    assert [(c["server"], c["label"]) for c in ok] == [("hypercorn-asyncio", "sync/gateway_1s")]
    (result,) = [r["pyload"] for r in ok[0]["runs"]]
    assert result["errors"]["status"] == result["requests"] > 0  # 404s
    report = (tmp_path / "report.md").read_text()
    assert "**failed**: stack did not start: StartupError: gunicorn exited" in report
    assert "Failed or not run** (2)" in report


def test_a_stack_that_dies_is_restarted_for_the_next_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pyload.run
    started: list[_FakeStack] = []

    def fake_start(config: ServerConfig) -> _FakeStack:
        servers = contextlib.ExitStack()
        stack = _FakeStack(servers.enter_context(running()).url, servers.close)
        started.append(stack)
        return stack

    def run_then_crash(url: str, **kwargs: Any) -> pyload.RunResult:
        result = real_run(url, **kwargs)
        if url.endswith("/sync/gateway_1s"):
            started[-1].stop()  # the stack dies after its first cell: nothing listens any more
        return result

    monkeypatch.setattr(stacks, "start", fake_start)
    monkeypatch.setattr(pyload, "run", run_then_crash)
    argv = [
        "--servers",
        "hypercorn-asyncio",
        "--endpoints",
        "gateway_1s",
        "--duration",
        "0.3",
        "--connections",
        "2",
        "--workers",
        "1",
        "--warmup",
        "0",
        "--scale",
        "0.01",
        "--out",
        str(tmp_path),
    ]
    try:
        assert cli.main(argv) == 0
    finally:
        for stack in started:
            stack.stop()
    doc = MatrixResult.from_json((tmp_path / "results.json").read_text())
    assert [(c.label, c.status) for c in doc.cells] == [
        ("sync/gateway_1s", "ok"),
        ("async/gateway_1s", "ok"),
    ]
    assert doc.cells[1].runs[0].restarted is True
    assert [s.ok for s in doc.stacks[0].starts] == [True, True]
    assert len(started) == 2
    assert "stack restarted before this cell" in (tmp_path / "report.md").read_text()


# -- selfbench -----------------------------------------------------------------------------


def test_selfbench_smoke(tmp_path: Path) -> None:
    """nginx + wrk + pyload + the floor, one round of 1 s, the smallest scaling table (wrk and
    pyload), and the shapes table shrunk to ``-t1 -c10`` and ``-t4 -c40`` (small and 25 KB
    responses) with every column filled for the three tools, every figure also divided by the
    floor's."""
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            if IN_CI:
                pytest.fail(f"{tool} is not installed")
            pytest.skip(f"{tool} is not installed")
    argv = [
        "--duration",
        "1",
        "--rounds",
        "1",
        "--warmup",
        "0",
        "--tools",
        "wrk,pyload,floor",
        "--connections",
        "10",
        "--scaling-workers",
        "1",
        "--scaling-connections",
        "10",
        "--shapes",
        "1x10,4x40",
        "--shape-duration",
        "1",
        "--shape-rounds",
        "1",
        "--note",
        "a smoke run",
        "--out",
        str(tmp_path),
    ]
    cpus = os.sched_getaffinity(0)
    assert selfbench.main(argv) == 0
    assert os.sched_getaffinity(0) == cpus  # pinned next to nginx while watching, not after
    (json_path,) = tmp_path.glob("selfbench-*.json")
    (md_path,) = tmp_path.glob("selfbench-*.md")
    result = json.loads(json_path.read_text())
    assert result["schema"] == selfbench.SCHEMA
    assert set(result["medians"]) == {"wrk", "pyload", "floor"}
    for tool in ("wrk", "pyload", "floor"):
        m = result["medians"][tool]
        assert m["runs"] == 1 and m["requests_per_s"] > 0 and m["cpu_us_per_request"] > 0
        (run,) = result["runs"][tool]
        assert run["cpus"] == (
            [result["settings"]["client_cpu"]]
            if result["settings"]["client_cpu"] is not None
            else None
        )
    pyload_m, wrk_m = result["medians"]["pyload"], result["medians"]["wrk"]
    assert pyload_m["load_cpu_us_per_request"] > 0
    ratios = result["ratios_to_wrk"]["pyload"]
    assert ratios["requests_per_s"] == pytest.approx(
        pyload_m["requests_per_s"] / wrk_m["requests_per_s"]
    )
    assert ratios["cpu_us_per_request"] == pytest.approx(
        pyload_m["cpu_us_per_request"] / wrk_m["cpu_us_per_request"]
    )
    assert result["target"]["cpu_ratio"] == ratios["cpu_us_per_request"]
    floor_m = result["medians"]["floor"]
    to_floor = result["ratios_to_floor"]
    assert set(to_floor) == {"wrk", "pyload"}
    assert to_floor["pyload"]["load_cpu_us_per_request"] == pytest.approx(
        pyload_m["load_cpu_us_per_request"] / floor_m["load_cpu_us_per_request"]
    )
    # wrk's load phase is its whole tree; the floor's is its own, less than its tree
    assert to_floor["wrk"]["load_cpu_us_per_request"] == pytest.approx(
        wrk_m["cpu_us_per_request"] / floor_m["load_cpu_us_per_request"]
    )
    assert 0 < floor_m["load_cpu_us_per_request"] < floor_m["cpu_us_per_request"]
    assert result["ratios_to_wrk"]["floor"]["cpu_us_per_request"] == pytest.approx(
        floor_m["cpu_us_per_request"] / wrk_m["cpu_us_per_request"]
    )
    (row,) = result["scaling"]
    assert (row["workers"], row["connections"]) == (1, 10)
    assert set(row["medians"]) == {"wrk", "pyload"}  # one loop: the floor has no workers
    assert math.isfinite(row["ratios"]["pyload"]["requests_per_s"])
    md = md_path.read_text()
    assert "| pyload |" in md and "| wrk |" in md and "Ratios to wrk" in md
    assert f"{ratios['cpu_us_per_request']:.2f}x" in md
    assert "| floor |" in md and "Ratios to the floor (median" in md
    assert result["notes"] == ["a smoke run"] and "\n\nNote: a smoke run\n\n" in md
    _check_shapes(result, md)
    # the report's own command line asks for the same run
    command = md.rsplit("Reproduce: `", 1)[1].split("`", 1)[0].split()[3:]
    again = selfbench.build_parser().parse_args([a.strip("'") for a in command])
    assert (again.shapes, again.shape_bodies) == ([(1, 10), (4, 40)], ["small", "25k"])
    assert (again.shape_duration, again.shape_rounds) == (1, 1)


def test_selfbench_refuses_bad_counts_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Durations and rounds are at least 1, the warm-up at least 0 (0: none); anything else is
    one line and exit 2, before nginx or any client starts."""
    for argv in (["--warmup", "-1"], ["--rounds", "0"], ["--shape-duration", "0"]):
        assert selfbench.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("selfbench: bad arguments") and len(err.splitlines()) == 1


def _floor(*args: str) -> subprocess.CompletedProcess[str]:
    """benchmarks/floor.py run to completion, as the selfbench runs it."""
    return procs.run([sys.executable, "-P", str(FLOOR_SCRIPT), *args], timeout=60)


def test_the_floor_counts_exactly_what_the_server_saw(server: TargetServer) -> None:
    """4 connections for 1 s against the test server: every request the server received is a
    response the floor counted or one in flight when it stopped, one per connection."""
    done = _floor(server.url + "/", "4", "1")
    assert done.returncode == 0 and done.stderr == ""
    result = json.loads(done.stdout)
    requests, in_flight = result["requests"], result["in_flight_at_end"]
    assert requests > 100 and in_flight == 4 and server.connections == 4
    assert result["errors"] == {"connect": 0, "read": 0}
    assert server.wait_received("/", requests + in_flight, timeout=10)
    assert server.received["/"] == requests + in_flight
    response = len(target_server.OK)  # every response read whole, but those in flight
    assert requests * response <= result["bytes_read"] < (requests + in_flight) * response
    assert 0.99 < result["seconds"] < 3  # its bound, on a loaded machine
    assert result["requests_per_s"] == pytest.approx(requests / result["seconds"])
    assert result["cpu_s"] > 0 and 0 < result["p50_us"] <= result["p99_us"]


def test_the_floor_refuses_in_one_line() -> None:
    """Bad arguments, a host that is not loopback, or nothing listening: one line, exit 1."""
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        refused = _floor(f"http://127.0.0.1:{port}/", "2", "30")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"floor: unable to connect to 127.0.0.1:{port}\n"
    for args in (["http://192.0.2.1:80/", "2", "1"], ["http://127.0.0.1:80/", "x", "1"], []):
        done = _floor(*args)
        assert done.returncode == 1 and done.stdout == "", args
        assert done.stderr.startswith("floor: ") and done.stderr.count("\n") == 1, args


def _check_shapes(result: dict[str, Any], md: str) -> None:
    """The shapes table: (shape x body) x (wrk, pyload, floor), every figure measured, and
    divided by wrk's and by the floor's."""
    shapes = result["shapes"]
    assert [row["shape"] for row in shapes] == [
        "-t1 -c10 small",
        "-t1 -c10 25 KB",
        "-t4 -c40 small",
        "-t4 -c40 25 KB",
    ]
    client = result["settings"]["client_cpu"]
    for row in shapes:
        assert row["cpus"] == ([client] if client is not None else None)
        assert set(row["medians"]) == {"wrk", "pyload", "floor"}
        for tool in ("wrk", "pyload", "floor"):
            m = row["medians"][tool]
            (run,) = row["runs"][tool]
            assert m["runs"] == 1 and run["errors"] == {k: 0 for k in run["errors"]}
            if tool == "floor":  # URL CONNECTIONS SECONDS: one loop, no threads
                assert run["argv"][-3:] == [run["argv"][-3], str(row["connections"]), "1"]
                assert run["argv"][-3].endswith(row["path"])
            else:
                assert f"-t{row['threads']}" in run["argv"]
                assert f"-c{row['connections']}" in run["argv"]
                assert run["argv"][-1].endswith(row["path"])
            for key in ("requests_per_s", "cpu_us_per_request", "startup_s", "peak_pss_mb"):
                assert m[key] is not None and m[key] > 0, (row["shape"], tool, key)
            assert 0 < m["startup_s"] < m["wall_s"]  # the first request came within the run
            # the tree's CPU by its first request: measured, and part of the run's
            assert 0 < run["startup_cpu_s"] <= run["cpu_s"], (row["shape"], tool)
            assert m["processes"] >= 1 and m["wall_beyond_run_s"] is not None
        pyload_run = row["runs"]["pyload"][0]
        assert pyload_run["load_cpu_s"] == pyload_run["detail"]["json"]["cpu_s"] > 0
        assert pyload_run["detail"]["json"]["threads"] == row["threads"]
        # the response really is the body the row names (a 404 would be counted as an error)
        floor_run = row["runs"]["floor"][0]
        for run in (pyload_run, floor_run):  # (a response in flight at the end: partly read)
            per_response = run["detail"]["json"]["bytes_read"] / run["requests"]
            assert row["response_body_bytes"] < per_response < row["response_body_bytes"] + 400
        assert floor_run["load_cpu_s"] == floor_run["detail"]["json"]["cpu_s"] > 0
        assert floor_run["detail"]["json"]["in_flight_at_end"] == row["connections"]
        r = row["ratios"]["pyload"]
        p, w = row["medians"]["pyload"], row["medians"]["wrk"]
        assert r["peak_pss_mb"] == pytest.approx(p["peak_pss_mb"] / w["peak_pss_mb"])
        assert r["startup_s"] == pytest.approx(p["startup_s"] / w["startup_s"])
        for tool, m in row["medians"].items():
            (cells,) = [c for c in _md_rows(md, f"| {row['shape']} | {tool} |") if len(c) == 11]
            assert "-" not in cells, cells  # every column filled
            assert cells[6] == f"{m['peak_pss_mb']:.1f}"
        (ratio_cells,) = [c for c in _md_rows(md, f"| {row['shape']} | ") if len(c) == 7]
        assert "-" not in ratio_cells and ratio_cells[5] == f"{r['peak_pss_mb']:.1f}x"
        f, to_floor = row["medians"]["floor"], row["ratios_to_floor"]
        assert set(to_floor) == {"wrk", "pyload"}
        assert to_floor["pyload"]["requests_per_s"] == pytest.approx(
            p["requests_per_s"] / f["requests_per_s"]
        )
        assert to_floor["pyload"]["peak_pss_mb"] == pytest.approx(
            p["peak_pss_mb"] / f["peak_pss_mb"]
        )
        assert to_floor["wrk"]["startup_s"] == pytest.approx(w["startup_s"] / f["startup_s"])
        for tool in ("wrk", "pyload"):  # the ratios to the floor: every column filled
            (cells,) = [c for c in _md_rows(md, f"| {row['shape']} | {tool} |") if len(c) == 8]
            assert "-" not in cells and cells[2] == f"{to_floor[tool]['requests_per_s']:.2f}x"
    assert "## Shapes" in md and "Ratios to wrk per shape" in md
    assert "Ratios to the floor per shape" in md
    assert result["shape_targets"] == []  # issue 8's targets name -t1 -c100 and -t20 -c2000
    assert result["floor_targets"] == []  # and so do issue 20's


def _md_rows(md: str, prefix: str) -> list[list[str]]:
    """The cells of each Markdown table row that starts with ``prefix``."""
    lines = [line for line in md.splitlines() if line.startswith(prefix)]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_sigterm_stops_the_matrix_and_its_stack(tmp_path: Path) -> None:
    """A plain ``kill`` of the benchmark stops the server stack it started (own session)."""
    with spawn(_matrix_argv(tmp_path), stdout=subprocess.DEVNULL) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # the cell has started: the stack is up and under load
            if line.startswith("[1/1]"):
                break
        stack = children_of(proc.pid)
        assert stack  # the upstream and the server's master process
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert not [pid for pid in stack if Path(f"/proc/{pid}").exists()]
    report = (tmp_path / "report.md").read_text()  # interrupted, the run still wrote its report
    (row,) = _table(report)
    assert "interrupted" in row["notes"]
    (cell,) = MatrixResult.from_json((tmp_path / "results.json").read_text()).cells
    assert cell.interrupted


# -- stop means stop: a signal ends a run within a bound, leaving nothing ----------------------

#: A deadline for a hang (a stop that never comes), not a measurement.
HANG_S = 90.0


def _matrix_argv(out: Path, warmup: float = 0) -> list[str]:
    """``python -m benchmarks`` on one cell of 30 s (after a warm-up of ``warmup`` s): a signal
    always finds it mid-cell (or mid-warm-up)."""
    return [
        sys.executable, "-m", "benchmarks", "--servers", "hypercorn-uvloop", "--endpoints",
        "async/gateway_1s", "--duration", "30", "--connections", "50", "--server-workers", "1",
        "--warmup", f"{warmup:g}", "--out", str(out),
    ]  # fmt: skip


def _until(condition: Any, what: str) -> Any:
    """Poll ``condition()`` until it is true (its value returned); fail after HANG_S."""
    deadline = time.monotonic() + HANG_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"no {what} within {HANG_S:g} s"
        time.sleep(0.01)  # polling /proc
    return value


def _running(pids: set[int]) -> list[str]:
    """Those of ``pids`` still running (a zombie runs nothing), with their command lines."""
    left = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(process.cmdline())[:120]}")
    return left


@pytest.mark.parametrize(
    ("phase", "signals"),
    [("cell", 1), ("cell", 2), ("warm-up", 1)],
    ids=["cell-one-sigterm", "cell-two-sigterms", "warm-up-one-sigterm"],
)
def test_a_stop_signal_mid_cell_ends_the_run_within_its_bound(
    tmp_path: Path, phase: str, signals: int, request: pytest.FixtureRequest
) -> None:
    """SIGTERM to a real ``python -m benchmarks`` while pyload loads its cell (a worker process
    has its connections open): one ends the run within FIRST_SIGNAL_BOUND_S, its report written
    with the cell marked interrupted; a second, sent once the first was delivered, ends it at
    once (SECOND_SIGNAL_BOUND_S), exit 128 + 15, nothing written. Either way no process is
    left: not in the run's process group (pyload's workers), not below it (the stack, in
    sessions of its own). The same signal during the stack's warm-up (a pyload run of its own,
    which used to swallow it and go on with the cells) ends the run too: the cell not run."""
    warmup = 30 if phase == "warm-up" else 0
    with spawn(_matrix_argv(tmp_path, warmup), stdout=subprocess.DEVNULL) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # "== stack": it has started; "[1/1]": its cell starts
            if line.startswith("== " if warmup else "[1/1]"):
                break
        _until(lambda: _loading(proc.pid), "pyload worker with a connection")
        below = proc.descendants()  # the stack's processes and pyload's workers
        assert children_of(proc.pid)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        if signals == 2:  # once the first is delivered: two pending SIGTERMs would be one
            _until(lambda: signal.SIGTERM not in pending_signals(proc.pid), "delivery")
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG_S)
        took = time.monotonic() - signalled
        request.node.user_properties.append(("stop_s", round(took, 3)))  # for a stress loop
        group = {p.pid for p in psutil.process_iter() if _pgid(p.pid) == proc.pid}
    assert _running(below | group) == [], err
    if signals == 2:
        assert took <= stopping.SECOND_SIGNAL_BOUND_S, err
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "benchmarks: a second stop signal: stopped at once" in err
        assert not (tmp_path / "report.md").exists()
        return
    assert took <= stopping.FIRST_SIGNAL_BOUND_S, err
    doc = MatrixResult.from_json((tmp_path / "results.json").read_text())
    (cell,) = doc.cells
    (notes,) = [row["notes"] for row in _table((tmp_path / "report.md").read_text())]
    assert doc.interrupted
    if warmup:
        assert proc.returncode == 1, err  # no cell ran
        assert (cell.status, cell.error) == (NOT_RUN, "interrupted")
        assert notes == "**not run**: interrupted"
    else:
        assert proc.returncode == 0, err
        assert cell.status == OK and cell.interrupted and cell.runs[0].pyload is not None
        assert "**interrupted** after" in notes


def _loading(pid: int) -> bool:
    """Whether one of pyload's worker processes below ``pid`` has a connection open: the load
    is under way (they connect once the run has started, pyload's signal handlers in place)."""
    for worker in worker_processes(pid):
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_ESTABLISHED
                for c in psutil.Process(worker).net_connections("tcp")
            ):
                return True
    return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


# -- only pyload's public API ------------------------------------------------------------------

#: What benchmarks/ may import of pyload: the package (its ``__all__``) and its public modules.
PUBLIC_PYLOAD = {
    "pyload", "pyload.config", "pyload.errors", "pyload.hdrlog", "pyload.hooks", "pyload.merge",
    "pyload.result", "pyload.units",
}  # fmt: skip
BENCHMARKS = REFERENCE_RUNS.parent


def _private_pyload_uses(source: str) -> list[str]:
    """Each use of pyload in ``source`` outside its public API: an import of a module that is not
    public, a name imported from ``pyload`` outside ``pyload.__all__``, or ``pyload.X`` read
    where X is neither (``import pyload`` then ``pyload._options``)."""
    allowed_names = set(pyload.__all__) | {m.removeprefix("pyload.") for m in PUBLIC_PYLOAD}
    found = []
    aliases: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "pyload":
                    continue
                if alias.name not in PUBLIC_PYLOAD:
                    found.append(f"line {node.lineno}: import {alias.name}")
                elif alias.name == "pyload":
                    aliases.add(alias.asname or "pyload")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pyload":
            if node.module not in PUBLIC_PYLOAD:
                found.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module == "pyload":
                found += [
                    f"line {node.lineno}: from pyload import {alias.name}"
                    for alias in node.names
                    if alias.name not in allowed_names
                ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in ("import_module", "__import__") and node.args:
                target = node.args[0]
                if (
                    isinstance(target, ast.Constant)
                    and isinstance(target.value, str)
                    and target.value.split(".")[0] == "pyload"
                    and target.value not in PUBLIC_PYLOAD
                ):
                    found.append(f"line {node.lineno}: {name}({target.value!r})")
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in allowed_names
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "from pyload.options import options_of",
        "from pyload._options import options_of",
        "import pyload._process",
        "from pyload import _counters",
        "from pyload import worker",
        "import pyload as p\np._messages.ERROR_NAMES",
        "import pyload\npyload._run.Run",
        "import importlib\nimportlib.import_module('pyload._local')",
    ],
)
def test_the_public_api_check_finds_a_private_use(source: str) -> None:
    assert _private_pyload_uses(source)


def test_benchmarks_use_only_pyloads_public_api() -> None:
    """pyload's modules other than the public ones are private and renamed at will: the
    benchmark scripts import ``pyload`` (its ``__all__``) and the public modules only."""
    allowed = (
        "import pyload\nfrom pyload import ERROR_NAMES, Config, RunResult\n"
        "from pyload.result import RATE_HELD\nfrom pyload.units import format_time_us\n"
        "pyload.run\npyload.Config.parse_option\npyload.PyloadError"
    )
    assert _private_pyload_uses(allowed) == []
    sources = sorted(BENCHMARKS.glob("*.py"))
    assert len(sources) > 20
    found = {
        path.name: uses
        for path in sources
        if (uses := _private_pyload_uses(path.read_text(encoding="utf-8")))
    }
    # One exception: h2codec measures the HTTP/2 codec itself (its framing and HPACK), private
    # modules that the public API reaches only as --http2 (docs/http2.md); renamed, it breaks
    # here, by name.
    assert [use.split(": ", 1)[1] for use in found.pop("h2codec.py", [])] == [
        "from pyload import _hpack",
        "from pyload import _http2",
    ]
    # And hotpath measures the HTTP/1.1 engine's connection itself, without I/O (a thread
    # planned by _local, its Connection fed bytes): the Python part of one response.
    assert [use.split(": ", 1)[1] for use in found.pop("hotpath.py", [])] == [
        "from pyload._engine import ...",
        "from pyload._local import ...",
    ]
    assert found == {}
