"""The offline HTML report of a run (``--html``, ``pyload report``) and of two runs compared.

``render_report(run)`` and ``render_comparison(base, new, rows)`` return one self-contained
page as a string (the CLI writes the file): the vendored chart library (uPlot 1.6.32, MIT,
``pyload/vendor/uplot``) and the page's own script and style are inlined, and the page refers
to nothing outside itself. A run is given as its JSON document (what ``--json`` writes,
``RunResult.to_json()``), as text or parsed, or as a ``RunResult``: a saved run, a ``pyload
merge`` and a Dask run render alike. docs/html-report.md describes the page.

What the page holds:

- the run's document, verbatim, in ``<script type="application/json" id="run">`` (a
  comparison: ``id="base"`` and ``id="new"``), where ``<``, ``>`` and ``&`` are written as
  JSON's ``\\u003c``, ``\\u003e`` and ``\\u0026`` escapes, so that no text in it (a URL, a
  header) can end the element; ``JSON.parse`` of the element's text gives the document back;
- what the charts draw, computed in Python (``_html_charts``), in ``<script
  type="application/json" id="charts">``: the page's script only draws it;
- every number of the text report, formatted by the text report's own functions
  (``_html_sections``), so the page and stdout agree digit for digit.

Sans-IO: nothing here reads or writes a file but the package's own assets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from pyload._html_charts import curve_chart, second_charts
from pyload._html_sections import (
    badges,
    e,
    facts,
    header,
    load_run,
    numbers,
    tables,
    text_report,
    title,
)
from pyload.result import RunResult

__all__ = ["UPLOT_VERSION", "RunInput", "json_island", "render_comparison", "render_report"]

RunInput = RunResult | str | bytes | Mapping[str, Any]
"""A run as the renderers take it: its JSON document (text or parsed) or the result itself."""

UPLOT_VERSION = "1.6.32"  # pyload/vendor/uplot/README.md
VERDICT_CLASSES = {  # pyload.compare's verdicts: better, worse, neither
    "faster": "ok",
    "fewer": "ok",
    "slower": "bad",
    "more": "bad",
    "no detectable change": "neutral",
    "too few samples": "neutral",
}


def render_report(run: RunInput) -> str:
    """The HTML page of one run. Raises UsageError for a document that is not a run's."""
    loaded = load_run(run)
    charts = [curve_chart([("", loaded.result)]), *second_charts([("", loaded.doc)])]
    body = [
        header(loaded),
        numbers(loaded),
        _charts_section(charts, "Hover a per-second chart: the cursor moves on all of them."),
        tables(loaded),
        text_report(loaded),
    ]
    return _page(title(loaded), "\n".join(body), charts, {"run": loaded.text})


def render_comparison(
    base: RunInput,
    new: RunInput,
    rows: Sequence[Mapping[str, object]],
    *,
    names: tuple[str, str] = ("base", "new"),
    warnings: Sequence[str] = (),
) -> str:
    """The HTML page comparing two runs (``pyload compare -o FILE.html``): the table of
    differences, the two runs' percentile curves overlaid, their per-second series aligned
    by elapsed second, and each run's facts and numbers. Raises UsageError for a document
    that is not a run's.

    ``rows``: the comparison's table, one mapping per row; the columns are the first row's
    keys, in order, and each cell is shown as ``str(value)`` (``None``: an empty cell). A
    column named ``verdict`` is coloured by its value (``faster``, ``slower``, ``no
    detectable change``). ``names``: what the page calls the runs (their files, say); in the
    charts the first (the base) is dashed. ``warnings``: lines shown above the table (the
    settings in which the runs differ, say).
    """
    runs = [load_run(base), load_run(new)]
    labelled = list(zip(names, runs, strict=True))
    charts = [
        curve_chart([(name, loaded.result) for name, loaded in labelled]),
        *second_charts([(name, loaded.doc) for name, loaded in labelled]),
    ]
    heading = f"pyload: {names[0]} vs {names[1]}"
    body = [f"<header><h1>{e(heading)}</h1>"]
    body += [f'<p class="note warn">{e(line)}</p>' for line in warnings]
    body.append(f"{_rows_table(rows)}</header>")
    body.append(_charts_section(charts, f"Dashed: {names[0]}; solid: {names[1]}."))
    for name, loaded in labelled:
        body.append(f"<section><h2>{e(name)}: {e(title(loaded))}</h2>")
        body.append(f"{badges(loaded)}{facts(loaded)}{numbers(loaded, heading=False)}")
        body.append(f"{text_report(loaded)}</section>")
    islands = {"base": runs[0].text, "new": runs[1].text}
    return _page(heading, "\n".join(body), charts, islands)


def _rows_table(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{e(column)}</th>" for column in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = "" if value is None else str(value)
            if column == "verdict":
                cells.append(f'<td class="verdict {VERDICT_CLASSES.get(text, "")}">{e(text)}</td>')
            else:
                cells.append(f"<td>{e(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="comparison"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
        "</tbody></table>"
    )


def _charts_section(charts: Sequence[Mapping[str, Any]], intro: str) -> str:
    """The figures the page's script fills (each ``data-chart``), each with its caption."""
    figures = "".join(
        f'<figure class="chart" id="chart-{e(chart["id"])}"><h3>{e(chart["title"])}</h3>'
        f'<div class="plot" data-chart="{e(chart["id"])}"></div>'
        f"<figcaption>{e(chart['caption'])}</figcaption></figure>"
        for chart in charts
    )
    intro_html = f'<p class="muted screen">{e(intro)}</p>'
    return f'<section class="charts"><h2>Charts</h2>{intro_html}{figures}</section>'


def json_island(element_id: str, text: str) -> str:
    """``text`` (JSON) in a ``<script type="application/json">`` element that no text in it
    can end: ``<``, ``>`` and ``&``, which JSON has only inside strings, as ``\\u`` escapes."""
    safe = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{e(element_id)}">{safe}</script>'


def _asset(*parts: str) -> str:
    return resources.files("pyload").joinpath(*parts).read_text(encoding="utf-8")


def _page(
    heading: str, body: str, charts: Sequence[Mapping[str, Any]], islands: Mapping[str, str]
) -> str:
    chart_data = json.dumps({"charts": list(charts)}, separators=(",", ":"), allow_nan=False)
    documents = ", ".join(f"<code>script#{e(name)}</code>" for name in islands)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="pyload">
<title>{e(heading)}</title>
<style>{_asset("vendor", "uplot", "uPlot.min.css")}</style>
<style>{_asset("_html_assets", "report.css")}</style>
</head>
<body>
<main>
{body}
<footer><p>Written by pyload. Charts drawn with uPlot {UPLOT_VERSION} (MIT licence, Leon
Sorokin), inlined: the page needs no network. The run's JSON document, as <code>--json</code>
writes it: {documents} in this page (docs/html-report.md).</p></footer>
</main>
{"".join(json_island(name, text) for name, text in islands.items())}
{json_island("charts", chart_data)}
<script>{_asset("vendor", "uplot", "uPlot.iife.min.js")}</script>
<script>{_asset("_html_assets", "report.js")}</script>
</body>
</html>
"""
