"""The HTML report (``--html``, ``pyload report``; pyload.htmlreport, docs/html-report.md).

Real runs of the CLI against the test server, their pages opened in headless Chromium with the
network off (tests/browser.py): the file is written, refers to nothing outside itself, stays
small, renders with no console error and every chart drawn, carries the ``--json`` document of
the same run verbatim, and shows the text report's numbers as stdout printed them. Then the
renderer alone on documents: escaping, older documents without the newer keys, what is not a
result, the comparison page; and the ``pyload report`` command's errors.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pyload.errors import UsageError
from pyload.htmlreport import render_comparison, render_report
from tests.browser import Page, open_page
from tests.helpers import start_pyload_cli, worker_processes
from tests.procs import run
from tests.target_server import TargetServer, running

MAX_BYTES = 400_000  # the bound for a 3 s run
CHARTS = ["latency-curve", "requests", "latency-seconds", "errors", "connections"]
# Every [data-metric] cell of the page, after its scripts ran: name -> the text shown.
METRICS_JS = (
    "Object.fromEntries([...document.querySelectorAll('[data-metric]')]"
    ".map((el) => [el.dataset.metric, el.textContent]))"
)
RUN_ISLAND_JS = "JSON.parse(document.getElementById('run').textContent)"


def pyload(*args: str, timeout: float = 120) -> Any:
    return run([sys.executable, "-m", "pyload", *args], timeout=timeout)


def read_header(proc: Any) -> None:
    """Block until the CLI has printed wrk's two header lines: the load has started."""
    assert proc.stdout.readline().startswith("Running ")
    assert proc.stdout.readline().endswith(" connections\n")


class _Links(HTMLParser):
    """Every src and href attribute value of a page (a script's text is not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values += [value or "" for name, value in attrs if name in ("src", "href")]


def links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.values


def island(page: str, element_id: str) -> str:
    """The text of ``<script type="application/json" id=...>``, its \\u escapes undone."""
    found = re.findall(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.DOTALL
    )
    assert len(found) == 1, f"{len(found)} islands {element_id!r}"
    text: str = found[0]
    return text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")


def wrk_cells(stdout: str) -> dict[str, str]:
    """The text report's numbers by the page's data-metric names."""
    cells = {}
    for name, key in (("Latency", "latency"), ("Req/Sec", "req_sec")):
        row = re.search(rf"^    {re.escape(name)} +(\S+) +(\S+) +(\S+) +(\S+)$", stdout, re.M)
        assert row is not None, stdout
        columns = [f"{key}-{c}" for c in ("avg", "stdev", "max", "within")]
        cells.update(zip(columns, row.groups(), strict=True))
    summary = re.search(r"^  (\d+) requests in (\S+), (\S+) read$", stdout, re.M)
    assert summary is not None, stdout
    cells.update(zip(["requests", "runtime", "bytes_read"], summary.groups(), strict=True))
    for name, key in (("Requests/sec", "requests_per_s"), ("Transfer/sec", "transfer_per_s")):
        rate = re.search(rf"^{name}: +(\S+)$", stdout, re.M)
        assert rate is not None, stdout
        cells[key] = rate.group(1)
    return cells


# Hover the middle of the requests/s chart: the x value each chart's legend shows then.
HOVER_JS = """
(async () => {
  const over = document.querySelector('.plot[data-chart="requests"] .u-over');
  const box = over.getBoundingClientRect();
  const at = {clientX: box.left + box.width / 2, clientY: box.top + box.height / 2, bubbles: true};
  over.dispatchEvent(new MouseEvent('mouseenter', at));
  over.dispatchEvent(new MouseEvent('mousemove', at));
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return [...document.querySelectorAll('.plot[data-chart]')].map(
    (plot) => plot.querySelector('.u-legend .u-series .u-value').textContent);
})()
"""


def check_page(
    html_path: Path, json_path: Path, stdout: str, evaluate: dict[str, str] | None = None
) -> Page:
    """What every page of a run must be (the issue's "How it is checked")."""
    page_text = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size < MAX_BYTES
    assert not [v for v in links(page_text) if re.match(r"\s*https?:", v, re.I)]
    assert island(page_text, "run") == json_path.read_text(encoding="utf-8")
    page = open_page(
        html_path,
        screenshot=html_path.with_suffix(".png"),
        evaluate={"metrics": METRICS_JS, "run": RUN_ISLAND_JS, **(evaluate or {})},
    )
    assert not page.errors, page.errors
    assert [chart.name for chart in page.charts] == CHARTS
    assert all(chart.drawn for chart in page.charts), page.charts
    assert page.evaluated["run"] == json.loads(json_path.read_text(encoding="utf-8"))
    shown = page.evaluated["metrics"]
    assert {name: shown[name] for name in wrk_cells(stdout)} == wrk_cells(stdout)
    return page


def test_a_3s_run(server: TargetServer, tmp_path: Path):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    done = pyload("-t2", "-c20", "-d3s", "--json", str(doc), "--html", str(html), server.url)
    assert done.returncode == 0, done.stderr
    page = check_page(html, doc, done.stdout, evaluate={"hovered": HOVER_JS})
    assert "interrupted" not in page.text and "partial" not in page.text
    # one cursor for the per-second charts: hovering the second second of one shows it in all
    # four legends; the percentile curve has an x of its own
    assert page.evaluated["hovered"] == ["-", *["second 2"] * 4]
    assert "no errors in any second" in page.text  # the errors chart's note over its axes
    # the same document saved and rendered later is the same page
    again = pyload("report", str(doc), "-o", str(tmp_path / "again.html"))
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert (tmp_path / "again.html").read_bytes() == html.read_bytes()


def test_a_1s_run_shows_the_distribution_as_printed(server: TargetServer, tmp_path: Path):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    done = pyload("-t1", "-c2", "-d1s", "-L", "--json", str(doc), "--html", str(html), server.url)
    assert done.returncode == 0, done.stderr
    page = check_page(html, doc, done.stdout)
    block = dict(re.findall(r"^ +(\d+)% +(\S+)$", done.stdout, re.M))
    assert set(block) == {"50", "75", "90", "99"}
    assert {p: page.evaluated["metrics"][f"p{p}-0"] for p in block} == block


def test_a_constant_rate_run_shows_corrected_beside_uncorrected(
    server: TargetServer, tmp_path: Path
):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    args = ["-t1", "-c4", "-d2s", "-R", "400", "-U", "--json", str(doc), "--html", str(html)]
    done = pyload(*args, server.url + "/slow/2")
    assert done.returncode == 0, done.stderr
    page = check_page(html, doc, done.stdout)
    # wrk2's two blocks: from the intended send times (printed), then as measured (-U)
    blocks = done.stdout.split("Uncorrected Latency")
    metrics = page.evaluated["metrics"]
    for column, block in enumerate(blocks):
        printed = dict(re.findall(r"^ +(50|90|99)\.000% +(\S+)$", block, re.M))
        assert len(printed) == 3, block
        assert {p: metrics[f"p{p}-{column}"] for p in printed} == printed
    assert "from intended send times" in page.text


def test_a_server_that_never_answers(server: TargetServer, tmp_path: Path):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    done = pyload(
        "-t1", "-c2", "-d1s", "--json", str(doc), "--html", str(html), server.url + "/hang"
    )
    assert done.returncode == 0, done.stderr
    assert " 0 requests in " in done.stdout
    page = check_page(html, doc, done.stdout)
    assert "no responses" in page.text
    assert "no latency recorded" in page.text  # the curve's axes, with a note over them


def test_an_interrupted_run(server: TargetServer, tmp_path: Path):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    args = ["-t2", "-c4", "-d30", "--json", str(doc), "--html", str(html), server.url]
    with start_pyload_cli(*args) as proc:
        read_header(proc)
        assert server.wait_received("/", 100)  # the load is flowing
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)  # a deadline for a hang only
    assert proc.returncode == 0, stderr
    page = check_page(html, doc, stdout)
    assert json.loads(doc.read_text())["interrupted"] is True
    assert "interrupted" in page.text


def test_a_run_with_a_lost_worker_is_marked_partial(server: TargetServer, tmp_path: Path):
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    args = ["-t2", "-c4", "-d3", "--processes", "2", "--json", str(doc), "--html", str(html)]
    with start_pyload_cli(*args, server.url) as proc:
        read_header(proc)
        workers = worker_processes(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 3, stderr
    page = check_page(html, doc, stdout)
    assert "partial: 1 part(s) lost" in page.text
    assert "Partial result: worker process" in page.text


# -- the renderer alone, on documents ----------------------------------------------------------


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real run's --json document (1 s, with a threshold), read by the tests below."""
    path = tmp_path_factory.mktemp("html") / "run.json"
    with running() as server:
        args = ["-t1", "-c2", "-d1s", "--threshold", "p99<10s", "--json", str(path)]
        done = pyload(*args, server.url)
    assert done.returncode == 0, done.stderr
    yield json.loads(path.read_text())


def test_no_text_in_the_document_ends_its_island(document: dict[str, Any], tmp_path: Path):
    doc = json.loads(json.dumps(document))
    hostile = "</script><script>window.pwned = 1</script><!--<script>"
    doc["config"]["headers"] = [["X-Test", hostile]]
    page_text = render_report(json.dumps(doc))
    # the page's own four script elements (two islands, uPlot, its script), and no text of the
    # document opens or ends one
    assert page_text.count("</script>") == 4 and page_text.count("<script") == 4
    assert json.loads(island(page_text, "run")) == doc
    path = tmp_path / "hostile.html"
    path.write_text(page_text, encoding="utf-8")
    page = open_page(path, evaluate={"run": RUN_ISLAND_JS, "pwned": "window.pwned || 0"})
    assert not page.errors, page.errors
    assert page.evaluated["pwned"] == 0
    assert page.evaluated["run"]["config"]["headers"] == [["X-Test", hostile]]
    assert f"X-Test: {hostile}" in page.text  # shown as text among the facts


@pytest.mark.parametrize(
    "newer", [{}, {"meta": None, "status_codes": None, "seconds": []}], ids=["absent", "empty"]
)
def test_an_older_document_without_the_newer_keys_renders(
    document: dict[str, Any], newer: dict[str, Any], tmp_path: Path
):
    """A document from before meta, status_codes, client and seconds (or one that has them
    null or empty: a merge with such a document) renders, saying what it lacks."""
    doc = {k: v for k, v in document.items() if k not in ("meta", "status_codes", "client")}
    doc = {**{k: v for k, v in doc.items() if k != "seconds"}, **newer}
    path = tmp_path / "old.html"
    path.write_text(render_report(doc), encoding="utf-8")
    page = open_page(path)
    assert not page.errors, page.errors
    assert all(chart.drawn for chart in page.charts) and len(page.charts) == len(CHARTS)
    assert "no per-second data in this document" in page.text
    assert "Status codes: not recorded" in page.text
    assert "command line not recorded" in page.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a pyload result: Expecting value"),
        ("[1, 2]", "not a pyload result (a JSON list)"),
        ('{"schema": "other/1"}', "not a pyload result of schema pyload.result/2"),
    ],
)
def test_what_is_not_a_result_is_a_usage_error(text: str, message: str):
    with pytest.raises(UsageError, match=re.escape(message)):
        render_report(text)


def test_the_comparison_page(document: dict[str, Any], tmp_path: Path):
    rows = [
        {"metric": "p99", "base": "1.00ms", "new": "1.50ms", "verdict": "slower"},
        {"metric": "req/s", "base": "100", "new": "100", "verdict": "no detectable change"},
    ]
    page_text = render_comparison(
        document, document, rows, names=("a.json", "b.json"), warnings=["different duration"]
    )
    assert json.loads(island(page_text, "base")) == json.loads(island(page_text, "new")) == document
    path = tmp_path / "compare.html"
    path.write_text(page_text, encoding="utf-8")
    page = open_page(
        path, evaluate={"slower": "document.querySelector('td.verdict.bad').textContent"}
    )
    assert not page.errors, page.errors
    assert [chart.name for chart in page.charts] == CHARTS
    assert all(chart.drawn for chart in page.charts), page.charts
    assert page.evaluated["slower"] == "slower"
    assert "a.json vs b.json" in page.text and "different duration" in page.text


# -- the command line --------------------------------------------------------------------------


def test_pyload_report_writes_run_html_beside_the_document(
    document: dict[str, Any], tmp_path: Path
):
    source = tmp_path / "run.json"
    source.write_text(json.dumps(document))
    done = pyload("report", str(source))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert island((tmp_path / "run.html").read_text(), "run") == source.read_text()


def test_pyload_report_errors_are_one_line(tmp_path: Path):
    missing = pyload("report", str(tmp_path / "missing.json"))
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == f"cannot read {tmp_path / 'missing.json'}: No such file or directory\n"
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other/1"}')
    wrong = pyload("report", str(bad))
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr.startswith(f"{bad}: not a pyload result") and wrong.stderr.count("\n") == 1
    assert not (tmp_path / "bad.html").exists()
    usage = pyload("report")
    assert usage.returncode == 1 and usage.stderr.count("\n") == 1
    assert "RUN.json" in usage.stderr


def test_an_html_path_that_cannot_be_written_fails_before_the_load(server: TargetServer):
    done = pyload("-d1s", "--html", "/no/such/dir/r.html", server.url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "cannot write /no/such/dir/r.html: No such file or directory\n"
    assert server.connections == 0


def test_the_vendored_chart_library_is_the_published_one():
    """uPlot's files are npm's uplot@1.6.32, unmodified (pyload/vendor/uplot/README.md), and
    no inlined asset can end the element it is inlined in."""
    import hashlib

    from pyload.htmlreport import UPLOT_VERSION

    vendor = Path(__file__).resolve().parent.parent / "pyload" / "vendor" / "uplot"
    readme = (vendor / "README.md").read_text()
    assert f"uPlot {UPLOT_VERSION}" in readme and "MIT" in (vendor / "LICENSE").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert f"`{digest}` {name}" in readme
    assets = [*vendor.glob("uPlot.*"), *(vendor.parent.parent / "_html_assets").glob("*")]
    assert len(assets) == 4
    for asset in assets:
        text = asset.read_text().lower()
        assert "</script" not in text and "</style" not in text and "<!--" not in text


def test_a_merged_run_renders_with_its_parts(document: dict[str, Any], tmp_path: Path):
    part = tmp_path / "part.json"
    part.write_text(json.dumps(document))
    merged = tmp_path / "merged.json"
    done = pyload("merge", str(part), str(part), "--json", str(merged))
    assert done.returncode == 0, done.stderr
    report = pyload("report", str(merged))
    assert report.returncode == 0, report.stderr
    page = check_page(tmp_path / "merged.html", merged, done.stdout)
    assert "Parts of this run" in page.text
    parts = re.search(r'<table class="agents">.*?</table>', page.dom, re.DOTALL)
    assert parts is not None and parts.group().count(f"<th>{part}</th>") == 2  # a row a file


@pytest.mark.parametrize(
    ("change", "badge", "note"),
    [
        (
            {"client": {"cpu_s": 1.9, "wall_s": 2.0, "busiest_process_utilisation": 0.97,
                        "saturated": True}},
            "client saturated",
            "Client saturated: pyload's own CPU was the limit (97% of a core in its busiest "
            "process); Requests/sec measured pyload, not the server",
        ),
        ({"interrupted": True}, "interrupted", None),
    ],
    ids=["saturated", "interrupted"],
)  # fmt: skip
def test_the_badges_say_what_the_document_says(
    document: dict[str, Any], change: dict[str, Any], badge: str, note: str | None
):
    page_text = render_report({**document, **change})
    assert f">{badge}</span>" in page_text
    assert f">{badge}</span>" not in render_report(document)
    if note is not None:
        assert f'<p class="note">{note}</p>' in page_text.replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("scheme", "media", "background"),
    [("light", None, "rgb(255, 255, 255)"), ("dark", None, "rgb(21, 24, 28)"),
     ("dark", "print", "rgb(255, 255, 255)")],
    ids=["light", "dark", "dark-printed"],
)  # fmt: skip
def test_light_dark_and_print(
    document: dict[str, Any], tmp_path: Path, scheme: Any, media: Any, background: str
):
    """The reader's colour scheme picks the page's colours and the charts' axes; printed, the
    page is black on white whatever the scheme."""
    path = tmp_path / "r.html"
    path.write_text(render_report(document), encoding="utf-8")
    page = open_page(
        path,
        color_scheme=scheme,
        media=media,
        evaluate={"background": "getComputedStyle(document.documentElement).backgroundColor"},
    )
    assert not page.errors, page.errors
    assert all(chart.drawn for chart in page.charts) and len(page.charts) == len(CHARTS)
    assert page.evaluated["background"] == background


def test_every_verdict_of_compare_has_its_colour() -> None:
    """Better in green, worse in red, neither muted: every verdict pyload.compare can give."""
    from pyload import compare
    from pyload.htmlreport import VERDICT_CLASSES

    verdicts = {compare.FASTER, compare.SLOWER, compare.MORE, compare.FEWER}
    verdicts |= {compare.NO_CHANGE, compare.TOO_FEW}
    assert set(VERDICT_CLASSES) == verdicts
