"""The matrix's report.html (benchmarks/report_html.py): the committed reference runs' pages are
their results.json and charts rendered again; headless Chromium, offline, opens them without a
console message, every chart drawn and a collapsible section per cell run holding its text;
the Markdown the shared sentences use becomes HTML; ``--html-from`` writes a run's page again.
(A real tiny matrix run's report.html: tests/test_benchmarks.py.)"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.charts import chart_names
from benchmarks.report_html import REPORT_HTML, _inline, render_html
from benchmarks.results import MatrixResult
from tests.browser import network_references, open_page
from tests.procs import run

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
REFERENCE_RUNS = ("reference-quick", "reference-seed", "seed-with-wrk")

#: Read in the page: each cell run's section, as the reader sees it once opened.
SECTIONS_JS = """[...document.querySelectorAll("details[data-cell]")].map((d) => {
    d.open = true;
    return [d.dataset.cell, Number(d.dataset.run), d.innerText];
})"""


def _doc(folder: Path) -> MatrixResult:
    return MatrixResult.from_json((folder / "results.json").read_text())


def _charts(folder: Path, doc: MatrixResult) -> list[tuple[str, bytes]]:
    return [(name, (folder / name).read_bytes()) for name in chart_names(doc)]


@pytest.mark.parametrize("name", REFERENCE_RUNS)
def test_committed_report_html_is_its_run_rendered(name: str) -> None:
    """Regenerated with ``python -m benchmarks --html-from``: nothing was run again."""
    folder = RESULTS / name
    doc = _doc(folder)
    assert render_html(doc, _charts(folder, doc)) == (folder / REPORT_HTML).read_text()


@pytest.mark.parametrize("name", ["reference-quick", "seed-with-wrk"])
def test_reference_report_html_renders_offline_with_every_chart_and_cell(
    name: str, tmp_path: Path
) -> None:
    folder = RESULTS / name
    doc = _doc(folder)
    page_html = (folder / REPORT_HTML).read_text()
    assert network_references(page_html) == []
    page = open_page(folder / REPORT_HTML, evaluate={"sections": SECTIONS_JS})
    assert page.console == (), [str(m) for m in page.console]
    assert [c.name for c in page.charts] == [n.removesuffix(".png") for n in chart_names(doc)]
    assert all(c.drawn for c in page.charts), page.charts
    sections = page.evaluated["sections"]
    expected = [(f"{c.server} {c.label}", r.index) for c in doc.cells for r in c.runs]
    assert [(cell, index) for cell, index, _ in sections] == expected
    runs = [r for c in doc.cells for r in c.runs]
    for (_, _, text), cell_run in zip(sections, runs, strict=True):
        assert cell_run.pyload is not None
        assert cell_run.pyload.wrk_text.strip() in text  # the text report, as wrk lays it out
        if cell_run.wrk is not None and cell_run.wrk.text:
            assert cell_run.wrk.text.strip() in text
    # every requests/s figure of the summary table is on the page as the reader sees it
    for cell in doc.cells:
        assert cell.summary is not None
        assert f"{cell.summary.requests_per_s:.2f}" in page.text
    if doc.with_wrk:
        assert "pyload vs wrk" in page.text


def test_dark_and_print_render_without_a_message() -> None:
    path = RESULTS / "seed-with-wrk" / REPORT_HTML
    background = {"background": "getComputedStyle(document.body).backgroundColor"}
    dark = open_page(path, color_scheme="dark", evaluate=background)
    printed = open_page(
        path,
        media="print",
        evaluate={
            **background,
            # what the page does before printing: every section open
            "opened": "dispatchEvent(new Event('beforeprint')), "
            "[...document.querySelectorAll('details')].every((d) => d.open)",
        },
    )
    assert dark.console == printed.console == ()
    assert dark.evaluated["background"] == "rgb(13, 17, 23)"
    assert printed.evaluated == {"background": "rgb(255, 255, 255)", "opened": True}


def test_markdown_of_the_shared_sentences_becomes_html() -> None:
    assert _inline("**interrupted** after `-d1s` <3 & [docs/rate.md](../../../docs/rate.md)") == (
        "<strong>interrupted</strong> after <code>-d1s</code> &lt;3 &amp; docs/rate.md"
    )
    assert _inline("*rate held* says why; 2 * 3 * 4") == "<em>rate held</em> says why; 2 * 3 * 4"
    assert _inline("no: a \\| b") == "no: a | b"


def test_charts_are_embedded_as_data_uris() -> None:
    doc = _doc(RESULTS / "seed-with-wrk")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4"/></svg>'
    page = render_html(doc, [("requests_per_s.png", b"\x89PNG\r\n\x1a\n"), ("x.svg", svg)])
    assert '<img src="data:image/png;base64,iVBORw0KGgo=" alt="requests_per_s">' in page
    assert 'data-chart="x"><img src="data:image/svg+xml;base64,' in page
    assert network_references(page) == []
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        render_html(doc, [("chart.gif", b"GIF89a")])


def test_html_from_writes_a_runs_page_again(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    source = RESULTS / "seed-with-wrk"
    for name in ["results.json", *chart_names(_doc(source))]:
        shutil.copy(source / name, folder / name)
    done = run([sys.executable, "-m", "benchmarks", "--html-from", str(folder)], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"benchmarks: wrote {folder / REPORT_HTML}\n"
    assert (folder / REPORT_HTML).read_text() == (source / REPORT_HTML).read_text()

    (folder / "results.json").write_text('{"schema": "something else"}')
    done = run([sys.executable, "-m", "benchmarks", "--html-from", str(folder)], timeout=120)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"benchmarks: cannot write {folder}/"), lines
    missing = run([sys.executable, "-m", "benchmarks", "--html-from", str(tmp_path / "none")],
                  timeout=120)  # fmt: skip
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
    assert "Traceback" not in missing.stderr + done.stderr
