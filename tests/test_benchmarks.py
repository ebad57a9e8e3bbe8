"""The benchmark scripts: wrk-text parsing, the pyload-vs-wrk tolerance, profiles and plans, a
real (tiny) matrix run checked file against file, failing cells, and a selfbench smoke run."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pyload
from benchmarks import cli, matrix, selfbench
from benchmarks.clients import wrk_seconds
from benchmarks.compare import RPS_ABS_TOL, RPS_REL_TOL, compare_cell, within
from benchmarks.interpret import interpret
from benchmarks.numbers import cell_numbers, fmt_latency, fmt_rate
from benchmarks.profiles import QUICK, REFERENCE_DURATION_S, SEED, resolve_profile
from benchmarks.report import SUMMARY_HEADER
from benchmarks.wrkparse import WrkParseError, parse_time_us, parse_wrk
from django_target import StartupError
from tests.conftest import IN_CI
from tests.target_server import running

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


def _pyload_dict(
    rps: float, requests: int, timeouts: int, p50: int, p99: int, count: int
) -> dict[str, Any]:
    return {
        "requests_per_s": rps,
        "requests": requests,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts, "status": 0},
        "latency_us": {"count": count, "percentiles": {"50": p50, "99": p99}},
    }


def test_within_tolerance() -> None:
    assert within(100, 80, 0.25, 5)
    assert not within(100, 70, 0.25, 5)
    assert within(2, 6, 0.25, 5)  # low rates: absolute slack
    assert not within(2, 8, 0.25, 5)


def test_compare_cell_same_timeout() -> None:
    wrk = parse_wrk(EXAMPLE_B).to_dict()
    same = compare_cell(_pyload_dict(0.66, 4, 4, 0, 0, 0), wrk, timeout_s=2, wrk_timeout_s=2)
    assert same["agree"] and same["metrics"]["timeouts"]["agree"] is True
    far = compare_cell(
        _pyload_dict(50.0, 300, 0, 1000, 2000, 300), wrk, timeout_s=2, wrk_timeout_s=2
    )
    assert not far["agree"]
    assert set(far["disagreements"]) >= {"requests_per_s", "timeouts"}


def test_compare_cell_fractional_timeout_is_not_comparable() -> None:
    wrk = parse_wrk(EXAMPLE_A).to_dict()
    result = compare_cell(
        _pyload_dict(57000.0, 177000, 10, 150, 1700, 176990), wrk, timeout_s=0.4, wrk_timeout_s=1
    )
    assert result["metrics"]["p50_us"]["agree"] is None
    assert result["metrics"]["timeouts"]["agree"] is None
    assert "whole seconds" in result["metrics"]["timeouts"]["note"]
    assert result["agree"] and result["metrics"]["requests_per_s"]["agree"] is True


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
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """One stack, two endpoints, scale 0.05: gateway_1s waits 50 ms (well inside the 100 ms
    timeout), gateway_3s 150 ms (every response a timeout). wrk too when it is installed."""
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
        "--out",
        str(out),
    ]
    assert cli.main(argv + (["--with-wrk"] if with_wrk else [])) == 0
    doc = json.loads((out / "results.json").read_text())
    return out, doc, (out / "report.md").read_text()


def test_matrix_writes_consistent_files(matrix_run: tuple[Path, dict[str, Any], str]) -> None:
    _, doc, report = matrix_run
    assert doc["schema"] == matrix.SCHEMA
    assert [(c["server"], c["label"], c["status"]) for c in doc["cells"]] == [
        ("gunicorn-uvicorn", "sync/gateway_1s", "ok"),
        ("gunicorn-uvicorn", "async/gateway_3s", "ok"),
    ]
    assert doc["profile"]["timeout_s"] == pytest.approx(0.1)
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["packages"]["django"]
    rows = _table(report)
    assert [(r["endpoint"], r["server"]) for r in rows] == [
        (c["label"], c["server"]) for c in doc["cells"]
    ]
    for row, cell in zip(rows, doc["cells"], strict=True):
        data = cell["pyload"]
        assert data["schema"] == "pyload.result/2"
        assert int(row["requests"]) == data["requests"] > 0
        assert float(row["req/s"]) == pytest.approx(data["requests_per_s"], abs=0.005)
        assert int(row["timeouts"]) == data["errors"]["timeout"]
        errors = sum(data["errors"][k] for k in ("connect", "read", "write", "status"))
        assert int(row["errors"]) == errors
        for p in ("50", "99"):
            if data["latency_us"]["count"]:
                printed = parse_time_us(row[f"p{p}"])
                assert printed == pytest.approx(data["latency_us"]["percentiles"][p], rel=0.01)
            else:
                assert row[f"p{p}"] == "-"
        # the wrk-style text in the report is pyload's, and says the same as the JSON
        assert "```\n" + data["wrk_text"].rstrip("\n") + "\n```" in report
        parsed = parse_wrk(data["wrk_text"])
        assert (parsed.requests, parsed.timeouts) == (data["requests"], data["errors"]["timeout"])


def test_matrix_report_layout_and_interpretation(
    matrix_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, doc, report = matrix_run
    fast, slow = (cell_numbers(c) for c in doc["cells"])
    assert fast is not None and slow is not None
    assert fast.p50_us is not None and fast.timeouts == 0  # 50 ms wait, 100 ms timeout
    assert slow.requests > 0 and slow.timeouts == slow.requests  # 150 ms wait: all late
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
    assert f"| sync/gateway_1s | {fmt_rate(fast.requests_per_s)} |" in report
    assert fmt_latency(fast.p50_us) in report
    assert "python -m benchmarks --profile quick --servers gunicorn-uvicorn" in report


def test_matrix_charts_are_pngs(matrix_run: tuple[Path, dict[str, Any], str]) -> None:
    import matplotlib.image

    out, doc, report = matrix_run
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    expected = {"requests_per_s.png", "latency_gateway_1s.png", "latency_gateway_3s.png"}
    if doc["with_wrk"]:
        expected.add("pyload_vs_wrk.png")
    assert set(referenced) == expected
    assert {p.name for p in out.glob("*.png")} == expected
    for name in referenced:
        path = out / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 200 and width > 300


def test_matrix_with_wrk_side_by_side(matrix_run: tuple[Path, dict[str, Any], str]) -> None:
    _, doc, report = matrix_run
    if not doc["with_wrk"]:
        pytest.skip("wrk is not installed")
    assert doc["wrk_timeout_s"] == 1  # 100 ms cannot be said to wrk
    for cell in doc["cells"]:
        wrk = cell["wrk"]
        assert wrk["error"] is None, wrk["error"]
        assert wrk["argv"][1:5] == ["-t1", "-c4", "-d1s", "--timeout"]
        assert wrk["parsed"]["requests"] > 0
        comparison = wrk["comparison"]
        rps = comparison["metrics"]["requests_per_s"]
        # always compared, on the two tools' own numbers, with the documented tolerance
        assert (rps["pyload"], rps["wrk"]) == (
            cell["pyload"]["requests_per_s"],
            wrk["parsed"]["requests_per_s"],
        )
        assert rps["pyload"] > 0 and rps["wrk"] > 0
        assert rps["agree"] is within(rps["pyload"], rps["wrk"], RPS_REL_TOL, RPS_ABS_TOL)
        assert ("requests_per_s" in comparison["disagreements"]) is not rps["agree"]
    slow = doc["cells"][1]["wrk"]["comparison"]["metrics"]
    assert slow["timeouts"]["agree"] is None  # pyload timed out at 100 ms, wrk at 1 s
    assert "## pyload vs wrk" in report and "n/c" in report


# -- failing cells -------------------------------------------------------------------------


def test_failing_cells_are_recorded_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack that cannot start and a pyload error fail their cells only."""
    real_run = pyload.run

    with running() as target:

        @contextlib.contextmanager
        def fake_serve(server: str, **options: Any) -> Iterator[str]:
            if server == "gunicorn-gevent":
                raise StartupError("gunicorn exited with status 3")
            yield target.url

        def flaky_run(url: str, **kwargs: Any) -> pyload.RunResult:
            if url.endswith("/async/gateway_1s"):
                raise pyload.ConnectError("unable to connect to 127.0.0.1:1 Connection refused")
            return real_run(url, **kwargs)

        monkeypatch.setattr(matrix, "serve", fake_serve)
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
    assert ok[0]["pyload"]["errors"]["status"] == ok[0]["pyload"]["requests"] > 0  # 404s
    report = (tmp_path / "report.md").read_text()
    assert "**failed**: stack did not start: StartupError: gunicorn exited" in report
    assert "Failed or not run** (2)" in report


def test_a_stack_that_dies_is_restarted_for_the_next_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = pyload.run
    stacks: list[contextlib.ExitStack] = []

    @contextlib.contextmanager
    def fake_serve(server: str, **options: Any) -> Iterator[str]:
        with contextlib.ExitStack() as stack:
            stacks.append(stack)
            yield stack.enter_context(running()).url

    def run_then_crash(url: str, **kwargs: Any) -> pyload.RunResult:
        result = real_run(url, **kwargs)
        if url.endswith("/sync/gateway_1s"):
            stacks[-1].close()  # the stack dies after its first cell: nothing listens any more
        return result

    monkeypatch.setattr(matrix, "serve", fake_serve)
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
    assert cli.main(argv) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [(c["label"], c["status"]) for c in doc["cells"]] == [
        ("sync/gateway_1s", "ok"),
        ("async/gateway_1s", "ok"),
    ]
    assert doc["cells"][1].get("restarted") is True
    assert [s["ok"] for s in doc["stacks"][0]["starts"]] == [True, True]
    assert len(stacks) == 2
    assert "stack restarted before this cell" in (tmp_path / "report.md").read_text()


# -- selfbench -----------------------------------------------------------------------------


def test_selfbench_smoke(tmp_path: Path) -> None:
    """nginx + wrk + pyload, one round of 1 s, the smallest scaling table."""
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
        "--out",
        str(tmp_path),
    ]
    assert selfbench.main(argv) == 0
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
    assert (tmp_path / "report.md").exists()  # interrupted, the run still wrote its report
