"""``python -m benchmarks --http2``: which stacks serve HTTP/2 (declared in benchmarks.stacks and
checked against the real stacks), the plan and the command line, the reports' HTTP/1.1 and
HTTP/2 side by side rendered from the results document, and a tiny real run."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import pyload
from benchmarks import cli, matrix
from benchmarks.plan import Cell, default_servers
from benchmarks.profiles import QUICK, resolve_profile
from benchmarks.progress import Progress
from benchmarks.report import render_report, summary_header
from benchmarks.report_html import render_html
from benchmarks.report_http2 import HTTP2_HEADER, http2_rows
from benchmarks.results import (
    HTTP1,
    HTTP2,
    OK,
    CellResult,
    CellRun,
    Http2Scope,
    MatrixResult,
    PyloadResult,
)
from benchmarks.stacks import H2C_GAPS, NOT_HTTP2, serves_h2c
from django_target import SERVERS, endpoints_for, serve
from tests.browser import network_references, open_page
from tests.test_benchmark_html import SECTIONS_JS

REFERENCE_QUICK = Path(__file__).resolve().parent.parent / "benchmarks/results/reference-quick"
HYPERCORN = ("hypercorn-asyncio", "hypercorn-uvloop")
GUNICORN = ("gunicorn-gevent", "gunicorn-uvicorn")


# -- which stacks serve HTTP/2 ---------------------------------------------------------------


def test_every_stack_declares_whether_it_serves_h2c() -> None:
    """Declared once, for every stack of the catalogue: hypercorn does, gunicorn's two do not,
    each with a reason."""
    assert tuple(H2C_GAPS) == SERVERS
    assert [s for s in SERVERS if serves_h2c(s)] == list(HYPERCORN)
    assert all(H2C_GAPS[s] for s in GUNICORN)
    assert not serves_h2c("apache")


@pytest.mark.parametrize("server", SERVERS)
def test_the_declaration_holds_for_the_real_stack(server: str) -> None:
    """Each stack as the launcher starts it: pyload --http2 (prior knowledge, h2c) loads the
    hypercorn stacks over HTTP/2, and its setup probe refuses the gunicorn stacks in one line."""
    endpoint = endpoints_for(server)[0]
    with serve(server, port=0, workers=1, scale=0.05) as base:
        if serves_h2c(server):
            result = pyload.run(
                base + endpoint.path, connections=2, duration=0.5, threads=1, http2=True
            )
            data = result.to_dict(raw=False)
            assert data["protocol"] == HTTP2 and data["config"]["streams"] == 1
            assert result.requests > 0 and not any(data["errors"].values())
        else:
            with pytest.raises(pyload.PyloadError, match="not an HTTP/2 server"):
                pyload.run(base + endpoint.path, connections=1, duration=0.5, threads=1, http2=True)


# -- the plan and the command line -----------------------------------------------------------


def test_http2_plans_the_h2c_stacks_over_both_protocols() -> None:
    """By default --http2 runs the stacks that serve h2c, every cell over both protocols; a
    stack that does not, named in --servers, runs over HTTP/1.1 only."""
    assert default_servers() == list(SERVERS)
    assert default_servers(http2=True) == list(HYPERCORN)
    cells = matrix.plan(default_servers(http2=True), http2=True)
    assert len(cells) == 2 * 11 and all(c.http2 for c in cells)
    mixed = matrix.plan(["gunicorn-uvicorn", "hypercorn-uvloop"], ["sync/gateway_1s"], http2=True)
    assert [(c.server, c.http2) for c in mixed] == [
        ("gunicorn-uvicorn", False),
        ("hypercorn-uvloop", True),
    ]
    assert not any(c.http2 for c in matrix.plan(HYPERCORN))  # without --http2
    one = matrix.plan(["hypercorn-uvloop"], ["sync/httpx"])
    both = matrix.plan(["hypercorn-uvloop"], ["sync/httpx"], http2=True)
    extra = matrix.estimate_s(QUICK, both) - matrix.estimate_s(QUICK, one)
    assert extra >= QUICK.duration_s + QUICK.warmup_s  # a pyload run more, a warm-up more


def test_http2_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--list shows which cells run over both protocols, stderr which stacks do not serve
    HTTP/2 (run over HTTP/1.1 or left out); --http2 on stacks none of which serves it is one
    line and exit 2; the run's command repeats --http2."""
    out = str(tmp_path / "x")
    assert cli.main(["--http2", "--endpoints", "sync/gateway_1s", "--list", "--out", out]) == 0
    stdout, err = capsys.readouterr()
    assert stdout.splitlines() == [
        f"{s} sync/gateway_1s /myapp/sync/gateway_1s (HTTP/1.1 and HTTP/2)" for s in HYPERCORN
    ]
    assert f"benchmarks: HTTP/1.1 and HTTP/2 on {', '.join(HYPERCORN)}\n" in err
    assert f"benchmarks: left out, {NOT_HTTP2}: {', '.join(GUNICORN)} (see the report)\n" in err
    argv = ["--http2", "--servers", "gunicorn-gevent,hypercorn-asyncio", "--endpoints", "sync"]
    assert cli.main([*argv, "--list", "--out", out]) == 0
    stdout, err = capsys.readouterr()
    assert "gunicorn-gevent sync/httpx /myapp/sync/httpx\n" in stdout
    assert "hypercorn-asyncio sync/httpx /myapp/sync/httpx (HTTP/1.1 and HTTP/2)\n" in stdout
    assert f"benchmarks: HTTP/1.1 only on gunicorn-gevent: {NOT_HTTP2}\n" in err
    assert "left out, does not serve HTTP/2: gunicorn-uvicorn (see the report)" in err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--http2", "--servers", ",".join(GUNICORN), "--list"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"python -m benchmarks: error: --http2: {NOT_HTTP2} on {', '.join(GUNICORN)}: "
        "nothing to compare"
    )
    parser = cli.build_parser()
    for given in (["--http2"], []):
        ns = parser.parse_args(given)
        ns.servers = default_servers(ns.http2)
        line = cli.command_line(cli.profile_from_args(ns), ns, tmp_path)
        again = parser.parse_args(shlex.split(line)[3:])
        assert (again.http2, again.servers) == (bool(given), ns.servers)


# -- the reports, from the document ----------------------------------------------------------


def _result(
    rps: float,
    p50: int,
    p99: int,
    *,
    timeouts: int = 0,
    read: int = 0,
    cpu_us: int = 100,
    saturated: bool = False,
) -> PyloadResult:
    """A 6.6 s pyload result as results.json keeps it (``RunResult.to_dict(raw=False)``'s keys
    that the benchmark reads), its wrk-style text naming the numbers; ``cpu_us`` of pyload's
    CPU per response."""
    requests = round(rps * 6.6)
    return PyloadResult.from_dict(
        {
            "requests_per_s": rps,
            "requests": requests,
            "runtime_us": 6_600_000,
            "errors": {"connect": 0, "read": read, "write": 0, "timeout": timeouts, "status": 0},
            "workers": [{"cpu_s": requests * cpu_us / 1e6}],
            "client": {"saturated": saturated, "busiest_process_utilisation": 0.5},
            "latency_us": {
                "count": requests - timeouts,
                "max": p99,
                "percentiles": {"50": p50, "99": p99},
            },
            "wrk_text": f"{requests} requests in 6.60s\nRequests/sec: {rps:10.2f}\n",
        }
    )


REFUSED = "pyload --http2: ConnectError: unable to connect to 127.0.0.1:1 not an HTTP/2 server"


def _http2_run() -> MatrixResult:
    """``--http2 --repeat 2`` on hypercorn-uvloop and gunicorn-uvicorn: two hypercorn cells over
    both protocols (the second run of the client cell failed over HTTP/2; the first had 10 %
    of its responses late, read errors, and pyload's CPU was its limit), gunicorn-uvicorn's over
    HTTP/1.1. pyload spends 100 µs per response over HTTP/1.1, 250 over HTTP/2."""

    def cell(server: str, kind: str, scenario: str, wait: float | None, *runs: CellRun) -> Any:
        return CellResult(server, f"/myapp/{kind}/{scenario}", kind, scenario, wait, list(runs))

    def run(index: int, h1: PyloadResult, h2: PyloadResult | None = None, **more: Any) -> Any:
        return CellRun(index=index, status=OK, pyload=h1, pyload_h2=h2, **more)

    return MatrixResult(
        profile=resolve_profile("quick", connections=100),
        repeat=2,
        machine=MatrixResult.from_json((REFERENCE_QUICK / "results.json").read_text()).machine,
        http2=Http2Scope(
            ("hypercorn-uvloop",), {s: why for s, why in H2C_GAPS.items() if why is not None}
        ),
        cells=[
            cell("hypercorn-uvloop", "sync", "gateway_1s", 0.3,
                 run(1, _result(300, 301_000, 305_000), _result(299, 302_000, 309_000, cpu_us=250)),
                 run(2, _result(310, 302_000, 309_000), _result(305, 303_000, 311_000, cpu_us=250)),
                 ),
            cell("hypercorn-uvloop", "async", "httpx", None,
                 run(1, _result(200, 20_000, 40_000),
                     _result(150, 25_000, 60_000, timeouts=99, read=3, cpu_us=250, saturated=True)),
                 run(2, _result(220, 21_000, 44_000), None, h2_error=REFUSED)),
            cell("gunicorn-uvicorn", "sync", "gateway_1s", 0.3,
                 run(1, _result(290, 301_000, 320_000)), run(2, _result(296, 301_000, 322_000))),
        ],
    )  # fmt: skip


def _rows(text: str, header: tuple[str, ...], after: str = "") -> list[dict[str, str]]:
    """The rows of the Markdown table with ``header`` (the first after ``after``)."""
    head = "| " + " | ".join(header) + " |"
    lines = text[text.index(after) :].splitlines()
    start = lines.index(head) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def test_report_puts_http1_and_http2_side_by_side() -> None:
    """report.md: the requests/s table has a column per protocol for the stack run over both,
    the every-cell table a protocol column and an HTTP/2 row under each HTTP/1.1 one (a stack
    that does not serve HTTP/2 says so), and the side-by-side table per stack gives the medians
    of each protocol's runs, the ratio and what went wrong over HTTP/2."""
    doc = _http2_run()
    report = render_report(doc)
    dash = "\N{EN DASH}"
    assert (
        "| req/s | hypercorn-uvloop HTTP/1.1 | hypercorn-uvloop HTTP/2 | gunicorn-uvicorn |\n"
        "| --- | ---: | ---: | ---: |\n"
        f"| sync/gateway_1s | 305.00 (300.00{dash}310.00) | 302.00 (299.00{dash}305.00) "
        f"| 293.00 (290.00{dash}296.00) |\n"
        f"| async/httpx | 210.00 (200.00{dash}220.00) | 150.00 | n/a |\n"
    ) in report
    every = _rows(report, summary_header(doc))
    assert [(r["endpoint"], r["server"], r["protocol"]) for r in every] == [
        ("sync/gateway_1s", "hypercorn-uvloop", HTTP1),
        ("sync/gateway_1s", "hypercorn-uvloop", HTTP2),
        ("sync/gateway_1s", "gunicorn-uvicorn", HTTP1),
        ("sync/gateway_1s", "gunicorn-uvicorn", HTTP2),
        ("async/httpx", "hypercorn-uvloop", HTTP1),
        ("async/httpx", "hypercorn-uvloop", HTTP2),
    ]
    assert every[1]["req/s"] == f"302.00 (299.00{dash}305.00)"
    assert every[1]["requests"] == str(round(299 * 6.6))  # the lower median
    assert (every[3]["req/s"], every[3]["notes"]) == ("-", NOT_HTTP2)
    assert every[5]["req/s"] == "150.00" and every[5]["errors"] == "3"
    assert every[5]["timeouts"] == "99"
    saturated = "client saturated over HTTP/2"
    assert every[5]["notes"] == f"{saturated}, read 3, run 2: {REFUSED}"
    section = report[report.index("## HTTP/1.1 and HTTP/2") : report.index("## Interpretation")]
    assert "### hypercorn-uvloop" in section and "### gunicorn-uvicorn" not in section
    side = _rows(section, HTTP2_HEADER)
    assert side[0] == {
        "endpoint": "sync/gateway_1s",
        "req/s HTTP/1.1": f"305.00 (300.00{dash}310.00)",
        "req/s HTTP/2": f"302.00 (299.00{dash}305.00)",
        "HTTP/2 ÷ HTTP/1.1": f"{302 / 305:.2f}x",
        "p50 HTTP/1.1": f"301.50ms (301.00ms{dash}302.00ms)",
        "p50 HTTP/2": f"302.50ms (302.00ms{dash}303.00ms)",
        "p99 HTTP/1.1": f"307.00ms (305.00ms{dash}309.00ms)",
        "p99 HTTP/2": f"310.00ms (309.00ms{dash}311.00ms)",
        "timeouts HTTP/1.1": "0",
        "timeouts HTTP/2": "0",
        "errors HTTP/1.1": "0",
        "errors HTTP/2": "0",
        "notes": "",
    }
    assert side[1]["HTTP/2 ÷ HTTP/1.1"] == f"{150 / 210:.2f}x"
    assert (side[1]["errors HTTP/1.1"], side[1]["errors HTTP/2"]) == ("0", "3")
    assert side[1]["notes"] == f"{saturated}, read 3, run 2: {REFUSED}"
    assert (
        f"- `hypercorn-uvloop` over HTTP/2: {150 / 210:.2f}x HTTP/1.1's requests/s on the client "
        f"endpoints (1 cell); {302 / 305:.2f}x HTTP/1.1's requests/s on the gateway endpoints "
        "(1 cell); pyload's CPU per response 100 µs over HTTP/1.1 and 250 µs over HTTP/2 "
        "(medians), its busiest process at most 50% busy; a larger share of timeouts or errors "
        "than over HTTP/1.1 (by 5% of the responses or more) on async/httpx."
    ) in section
    # every stack that does not serve HTTP/2 is named, with why, in the section and up top
    for server in GUNICORN:
        ran = "run over HTTP/1.1 only" if server == "gunicorn-uvicorn" else "not run"
        line = f"`{server}` {NOT_HTTP2}: {H2C_GAPS[server]} ({ran})."
        assert f"- {line}" in section and report.count(line) == 2
    # each run's block: the HTTP/1.1 text, then the HTTP/2 text or why there is none
    assert report.count("Over HTTP/2 (`--http2`):") == 3
    assert f"HTTP/2: {REFUSED}" in report
    assert "Requests/sec:     150.00" in report.split("# Results by server stack")[1]
    # the document keeps it all
    again = MatrixResult.from_json(doc.to_json())
    assert render_report(again) == report
    raw = json.loads(doc.to_json())
    assert raw["http2"]["servers"] == ["hypercorn-uvloop"]
    assert set(raw["http2"]["not_served"]) == set(GUNICORN)
    httpx = raw["cells"][1]
    assert httpx["http2_summary"]["requests_per_s"]["median"] == 150
    assert [r["h2_error"] for r in httpx["runs"]] == [None, REFUSED]


def test_html_report_puts_http1_and_http2_side_by_side() -> None:
    """report.html says what report.md says: the protocol columns, the side-by-side table, the
    stacks that do not serve HTTP/2, each run's HTTP/2 text."""
    doc = _http2_run()
    page = render_html(doc)
    assert "<th>hypercorn-uvloop HTTP/1.1</th><th>hypercorn-uvloop HTTP/2</th>" in page
    assert "<th>server</th><th>protocol</th>" in page
    assert "<h2 id='http2'>HTTP/1.1 and HTTP/2</h2>" in page
    assert "".join(f"<th>{h}</th>" for h in HTTP2_HEADER) in page
    assert f'<td class="num">{302 / 305:.2f}x</td>' in page
    for server in GUNICORN:
        assert f"<code>{server}</code> {NOT_HTTP2}:" in page
    assert page.count("<p>Over HTTP/2 (<code>--http2</code>):</p>") == 3


def test_a_document_without_http2_reads_and_renders_as_before() -> None:
    """A run without --http2 (or written before it) has no protocol column and no section."""
    doc = _http2_run()
    doc.http2 = None
    for cell in doc.cells:
        for run in cell.runs:
            run.pyload_h2 = run.h2_error = None
    report = render_report(doc)
    assert "protocol" not in report and "HTTP/2" not in report
    data = json.loads(doc.to_json())
    del data["http2"]
    for cell in data["cells"]:
        del cell["http2_summary"]
        for run in cell["runs"]:
            del run["pyload_h2"], run["h2_error"]
    assert render_report(MatrixResult.from_dict(data)) == report


# -- a real run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http2_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    """``--http2`` on hypercorn-uvloop and gunicorn-uvicorn, one gateway endpoint, two runs of
    0.5 s at 2 connections, scale 0.05 (a 50 ms wait inside the 100 ms timeout: some 20 requests
    a run, and the tests read no more than that there were some)."""
    out = tmp_path_factory.mktemp("http2")
    argv = [
        "--http2",
        "--servers",
        "hypercorn-uvloop,gunicorn-uvicorn",
        "--endpoints",
        "async/gateway_1s",
        "--scale",
        "0.05",
        "--duration",
        "0.5",
        "--connections",
        "2",
        "--workers",
        "1",
        "--server-workers",
        "1",
        "--warmup",
        "0.2",
        "--repeat",
        "2",
        "--out",
        str(out),
    ]
    with contextlib.redirect_stderr(io.StringIO()) as progress:
        assert cli.main(argv) == 0
    raw = json.loads((out / "results.json").read_text())
    return raw, (out / "report.md").read_text(), progress.getvalue()


def test_a_real_run_loads_hypercorn_over_both_protocols(
    http2_run: tuple[dict[str, Any], str, str],
) -> None:
    """hypercorn-uvloop's cell ran over HTTP/1.1 and HTTP/2 in each run (pyload's own JSON says
    which protocol), the order alternating; gunicorn-uvicorn's over HTTP/1.1 only; the report's
    side-by-side row is the JSON's numbers."""
    raw, report, progress = http2_run
    assert raw["http2"]["servers"] == ["hypercorn-uvloop"]
    hypercorn, gunicorn = raw["cells"]
    assert [r["order"] for r in hypercorn["runs"]] == [
        ["pyload", "pyload --http2"],
        ["pyload --http2", "pyload"],
    ]
    for run in hypercorn["runs"]:
        h1, h2 = run["pyload"], run["pyload_h2"]
        assert (h1["protocol"], h2["protocol"]) == (HTTP1, HTTP2)
        assert (h2["config"]["http2"], h2["config"]["streams"]) == (True, 1)
        assert h1["config"]["connections"] == h2["config"]["connections"] == 2
        assert h2["requests"] > 0 and not any(h2["errors"].values())
        assert run["h2_error"] is None
    for run in gunicorn["runs"]:
        assert run["pyload"]["protocol"] == HTTP1 and run["pyload_h2"] is None
        assert run["order"] is None
    rates = sorted(r["pyload_h2"]["requests_per_s"] for r in hypercorn["runs"])
    assert hypercorn["http2_summary"]["requests_per_s"]["median"] == pytest.approx(sum(rates) / 2)
    assert gunicorn["http2_summary"] is None
    (row,) = _rows(report, HTTP2_HEADER, "### hypercorn-uvloop")
    assert row["req/s HTTP/2"].startswith(f"{sum(rates) / 2:.2f} (")
    assert "| async/gateway_1s | gunicorn-uvicorn | HTTP/2 |" in report
    assert progress.count("    HTTP/2: ") == 2


def test_an_http2_failure_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    """A cell asked over HTTP/2 of a stack that does not serve it: pyload's setup probe refuses,
    the run records why, and its HTTP/1.1 result stands."""
    endpoint = endpoints_for("gunicorn-uvicorn")[0]
    profile = resolve_profile(
        "quick", scale=0.05, duration_s=0.5, connections=1, threads=1, server_workers=1
    )
    cells = [Cell("gunicorn-uvicorn", endpoint, http2=True)]
    with contextlib.redirect_stderr(io.StringIO()):
        doc = matrix.run_matrix(profile, cells, http2=True, progress=Progress(1, 1.0, 1, 1.0))
    (run,) = doc.cells[0].runs
    assert run.ok and run.pyload is not None and run.pyload.requests > 0
    assert run.pyload_h2 is None and run.h2_error is not None
    assert "not an HTTP/2 server" in run.h2_error
    assert run.order == ["pyload", "pyload --http2"]
    assert f"| {endpoint.kind}/{endpoint.scenario} | gunicorn-uvicorn | HTTP/2 |" in render_report(
        doc
    )


def test_the_committed_http2_run_renders_as_committed() -> None:
    """benchmarks/results/reference-http2-quick (``python -m benchmarks --http2``, quick
    profile): its report.md and report.html are its results.json and charts rendered again, and
    it ran the hypercorn stacks over both protocols, every run in both."""
    folder = REFERENCE_QUICK.parent / "reference-http2-quick"
    doc = MatrixResult.from_json((folder / "results.json").read_text())
    report = (folder / "report.md").read_text()
    charts = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert render_report(doc, charts) == report
    pages = [(name, (folder / name).read_bytes()) for name in charts]
    assert render_html(doc, pages) == (folder / "report.html").read_text()
    assert doc.http2 is not None and doc.http2.servers == HYPERCORN
    assert set(doc.http2.not_served) == set(GUNICORN)
    assert all(r.pyload and r.pyload_h2 for c in doc.cells for r in c.runs)
    assert {r.pyload_h2.document["protocol"] for c in doc.cells for r in c.runs if r.pyload_h2} == {
        HTTP2
    }


def test_the_committed_http2_page_opens_in_a_browser_with_both_protocols() -> None:
    """The committed run's report.html in headless Chromium, offline: no console message,
    every chart drawn, each cell run's section holding its HTTP/1.1 and HTTP/2 texts, and the
    side-by-side table's figures on the page as the reader sees them."""
    folder = REFERENCE_QUICK.parent / "reference-http2-quick"
    doc = MatrixResult.from_json((folder / "results.json").read_text())
    page_html = (folder / "report.html").read_text()
    assert network_references(page_html) == []
    page = open_page(folder / "report.html", evaluate={"sections": SECTIONS_JS})
    assert page.console == (), [str(m) for m in page.console]
    assert page.charts and all(c.drawn for c in page.charts), page.charts
    runs = [r for c in doc.cells for r in c.runs]
    sections = page.evaluated["sections"]
    assert len(sections) == len(runs)
    for (_, _, text), run in zip(sections, runs, strict=True):
        assert run.pyload is not None and run.pyload_h2 is not None
        assert run.pyload.wrk_text.strip() in text
        assert "Over HTTP/2 (--http2):" in text and run.pyload_h2.wrk_text.strip() in text
    assert "HTTP/1.1 and HTTP/2" in page.text
    for server in HYPERCORN:
        for row in http2_rows(doc, server):
            assert " ".join(row[:4]) in " ".join(page.text.split())
