"""The benchmark scripts: wrk-text parsing, the pyload-vs-wrk tolerance, profiles and plans, a
real (tiny) matrix run with ``--repeat 2`` checked file against file, the report of an
interrupted run, failing cells, and a selfbench smoke run."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest

import pyload
from benchmarks import cli, matrix, selfbench, stacks
from benchmarks.charts import write_charts
from benchmarks.clients import wrk_seconds
from benchmarks.compare import RPS_ABS_TOL, RPS_REL_TOL, compare_cell, within
from benchmarks.formatting import fmt_latency, fmt_rate
from benchmarks.interpret import interpret
from benchmarks.profiles import QUICK, REFERENCE_DURATION_S, SEED, resolve_profile
from benchmarks.report import SUMMARY_HEADER, render_report
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
from django_target import ServerConfig, StartupError
from tests.conftest import IN_CI
from tests.target_server import running

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


def test_profiles_keep_the_experiment_shape() -> None:
    assert (SEED.connections, SEED.threads, SEED.duration_s, SEED.timeout_s) == (2000, 20, 22, 2)
    assert QUICK.duration_s == pytest.approx(REFERENCE_DURATION_S * QUICK.scale)
    assert QUICK.timeout_s == pytest.approx(2.0 * QUICK.scale)
    p = resolve_profile("quick", scale=0.5)
    assert (p.duration_s, p.timeout_s, p.connections) == (11.0, 1.0, QUICK.connections)
    q = resolve_profile("seed", scale=0.1, timeout_s=3.0, connections=50)
    assert (q.duration_s, q.timeout_s, q.connections) == (2.2, 3.0, 50)
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
    the 100 ms timeout), gateway_3s 150 ms (every response a timeout). wrk too when installed."""
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
    assert cli.main(argv + (["--with-wrk"] if with_wrk else [])) == 0
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


# -- the report of an interrupted run, and of the reference runs ------------------------------


def _interrupted_run() -> MatrixResult:
    """Ctrl-C during the second cell of a quick-profile run: the first cell complete, the
    second cut short after 2.31 s of its 6.6 s, the third not run."""

    def cell(kind: str, scenario: str, wait: float, run: CellRun) -> CellResult:
        return CellResult(
            "gunicorn-uvicorn", f"/myapp/{kind}/{scenario}", kind, scenario, wait, [run]
        )

    full = _pyload(300.0, 1980, 0, 301_000, 305_000, 1980, runtime_s=6.6, wrk_text=EXAMPLE_A)
    cut = _pyload(
        290.0, 670, 0, 302_000, 306_000, 670, runtime_s=2.31, interrupted=True, wrk_text=EXAMPLE_A
    )
    return MatrixResult(
        profile=QUICK,
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
    """The committed runs (schema pyload.benchmarks/1) are read and give their report.md."""
    folder = REFERENCE_RUNS / run
    doc = MatrixResult.from_json((folder / "results.json").read_text())
    report = (folder / "report.md").read_text()
    charts = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert render_report(doc, charts) == report
    assert doc.repeat == 1 and all(len(c.runs) == 1 for c in doc.cells)
    assert MatrixResult.from_json(doc.to_json()).to_json() == doc.to_json()


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
    """nginx + wrk + pyload, one round of 1 s, the smallest scaling table, and the shapes table
    shrunk to ``-t1 -c10`` and ``-t4 -c40`` (small and 25 KB responses) with every column
    filled for both tools."""
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
        "1",
        "--tools",
        "wrk,pyload",
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
    assert set(result["medians"]) == {"wrk", "pyload"}
    for tool in ("wrk", "pyload"):
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
    (row,) = result["scaling"]
    assert (row["workers"], row["connections"]) == (1, 10)
    assert math.isfinite(row["ratios"]["pyload"]["requests_per_s"])
    md = md_path.read_text()
    assert "| pyload |" in md and "| wrk |" in md and "Ratios to wrk" in md
    assert f"{ratios['cpu_us_per_request']:.2f}x" in md
    _check_shapes(result, md)
    # the report's own command line asks for the same run
    command = md.rsplit("Reproduce: `", 1)[1].split("`", 1)[0].split()[3:]
    again = selfbench.build_parser().parse_args([a.strip("'") for a in command])
    assert (again.shapes, again.shape_bodies) == ([(1, 10), (4, 40)], ["small", "25k"])
    assert (again.shape_duration, again.shape_rounds) == (1, 1)


def _check_shapes(result: dict[str, Any], md: str) -> None:
    """The shapes table: (shape x body) x (wrk, pyload), every figure measured."""
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
        assert set(row["medians"]) == {"wrk", "pyload"}
        for tool in ("wrk", "pyload"):
            m = row["medians"][tool]
            (run,) = row["runs"][tool]
            assert m["runs"] == 1 and run["errors"] == {k: 0 for k in run["errors"]}
            assert f"-t{row['threads']}" in run["argv"] and f"-c{row['connections']}" in run["argv"]
            assert run["argv"][-1].endswith(row["path"])
            for key in ("requests_per_s", "cpu_us_per_request", "startup_s", "peak_pss_mb"):
                assert m[key] is not None and m[key] > 0, (row["shape"], tool, key)
            assert 0 < m["startup_s"] < m["wall_s"]  # the first request came within the run
            assert m["processes"] >= 1 and m["wall_beyond_run_s"] is not None
        pyload_run = row["runs"]["pyload"][0]
        assert pyload_run["load_cpu_s"] == pyload_run["detail"]["json"]["cpu_s"] > 0
        assert pyload_run["detail"]["json"]["threads"] == row["threads"]
        # the response really is the body the row names (a 404 would be counted as an error)
        per_response = pyload_run["detail"]["json"]["bytes_read"] / pyload_run["requests"]
        assert row["response_body_bytes"] < per_response < row["response_body_bytes"] + 400
        r = row["ratios"]["pyload"]
        p, w = row["medians"]["pyload"], row["medians"]["wrk"]
        assert r["peak_pss_mb"] == pytest.approx(p["peak_pss_mb"] / w["peak_pss_mb"])
        assert r["startup_s"] == pytest.approx(p["startup_s"] / w["startup_s"])
        for tool, m in row["medians"].items():
            (cells,) = _md_rows(md, f"| {row['shape']} | {tool} |")
            assert len(cells) == 11 and "-" not in cells, cells  # every column filled
            assert cells[6] == f"{m['peak_pss_mb']:.1f}"
        (ratio_cells,) = [c for c in _md_rows(md, f"| {row['shape']} | ") if len(c) == 7]
        assert "-" not in ratio_cells and ratio_cells[5] == f"{r['peak_pss_mb']:.1f}x"
    assert "## Shapes" in md and "Ratios to wrk per shape" in md
    assert result["shape_targets"] == []  # issue 8's targets name -t1 -c100 and -t20 -c2000


def _md_rows(md: str, prefix: str) -> list[list[str]]:
    """The cells of each Markdown table row that starts with ``prefix``."""
    lines = [line for line in md.splitlines() if line.startswith(prefix)]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_sigterm_stops_the_matrix_and_its_stack(tmp_path: Path) -> None:
    """A plain ``kill`` of the benchmark stops the server stack it started (own session)."""
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT, children_of

    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--servers", "hypercorn-uvloop", "--endpoints",
         "async/gateway_1s", "--duration", "30", "--warmup", "0", "--out", str(tmp_path)],
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
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
