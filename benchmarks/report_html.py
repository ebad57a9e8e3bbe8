"""report.html, the matrix's report as one self-contained page: a pure function of the results
document and the chart images.

``render_html(doc, charts)`` returns the page: the parameters, the requests/s table and the
per-cell summary (with ``--http2`` HTTP/1.1 beside HTTP/2, with ``--rate`` the open-loop tables,
with ``--with-wrk`` pyload beside wrk),
the interpretation, the charts, then per stack and cell pyload's wrk-style text (and wrk's) in
a collapsible ``<details>``, and the machine and the command. It says what report.md says, from
the same row functions (benchmarks.report), so the two cannot drift.

Self-contained and offline: the charts are ``data:`` URIs (``charts`` are ``(file name, bytes)``
pairs, PNG or SVG, read by the caller), the style and the one small script (open every section
before printing) are inline, and no ``src`` or ``href`` names a network address. Light and dark
themes follow ``prefers-color-scheme``; print gets black on white with every section open.
Each chart's ``<figure>`` carries ``data-chart`` (tests/browser.py's check that it drew), each
cell's run ``data-cell`` and ``data-run``.
"""

from __future__ import annotations

import base64
import html
import re
import shlex
from collections.abc import Iterable, Sequence

from benchmarks.charts import REQUESTS_CHART, WRK_CHART
from benchmarks.compare import tolerance_text
from benchmarks.formatting import DASH, fmt_latency, fmt_number, fmt_rate
from benchmarks.interpret import interpret
from benchmarks.machine import machine_markdown
from benchmarks.report import (
    OPEN_LOOP_HEADER,
    WRK_HEADER,
    header_note,
    open_loop_intro,
    open_loop_rows,
    parameter_lines,
    rate_matrix_header,
    rate_matrix_rows,
    summary_header,
    summary_rows,
    wrk_rows,
)
from benchmarks.report_http2 import (
    HTTP2_HEADER,
    http2_findings,
    http2_intro,
    http2_rows,
    not_served_lines,
)
from benchmarks.results import CellResult, CellRun, MatrixResult

__all__ = ["REPORT_HTML", "chart_caption", "render_html"]

REPORT_HTML = "report.html"

_MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}

_STYLE = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a;
  --line: #d0d7de; --code: #f6f8fa; --accent: #0b5cad; --warn: #9a3b00; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #30363d; --code: #161b22;
    --accent: #6cb6ff; --warn: #f0883e; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 76rem; padding: 1.5rem; color: var(--fg);
  background: var(--bg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.6rem; margin-top: 0; }
h2 { font-size: 1.3rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem;
  margin-top: 2rem; }
h3 { font-size: 1.1rem; }
p.note, figcaption, .caption { color: var(--muted); }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: .85rem; }
code { background: var(--code); padding: 0 .2rem; border-radius: 3px; }
pre { background: var(--code); padding: .7rem; overflow-x: auto; border-radius: 4px;
  border: 1px solid var(--line); }
pre.command { white-space: pre-wrap; overflow-wrap: anywhere; }
.table { overflow-x: auto; margin: .5rem 0 1rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; vertical-align: top; }
th { background: var(--code); text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
strong { color: var(--warn); }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; background: #fff; border: 1px solid var(--line);
  border-radius: 4px; }
details { border: 1px solid var(--line); border-radius: 4px; margin: .4rem 0;
  padding: .2rem .6rem; }
details > summary { cursor: pointer; }
details[open] > summary { margin-bottom: .3rem; }
summary .figures { color: var(--muted); font-variant-numeric: tabular-nums; }
@media print {
  :root { --fg: #000; --bg: #fff; --muted: #333; --line: #999; --code: #f4f4f4;
    --accent: #000; --warn: #000; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  figure, tr, details { break-inside: avoid; }
  .table { overflow: visible; }
  pre { white-space: pre-wrap; }
}
"""

# Printing a closed <details> would hide its text: open them all first.
_SCRIPT = (
    "addEventListener('beforeprint', () => "
    "document.querySelectorAll('details').forEach((d) => { d.open = true; }));"
)


def chart_caption(name: str) -> str:
    """What a chart of write_charts plots, one sentence."""
    if name == REQUESTS_CHART:
        return (
            "Requests/s per endpoint, grouped by stack (symlog axis, so the cells near zero "
            "stay visible; with --repeat, the median with the lowest and highest run as error "
            "bars; an interrupted cell is hatched)."
        )
    if name == WRK_CHART:
        return "pyload's requests/s against wrk's in each cell, with the tolerance band."
    scenario = name.removeprefix("latency_").rsplit(".", 1)[0]
    return (
        f"Latency percentiles p50 to p100 of the {scenario} cells, per stack and kind (log "
        "axis; the dotted line is the timeout; cells without a recorded latency are listed in "
        "the corner)."
    )


def _inline(text: str) -> str:
    """The Markdown the shared sentences use, as HTML: ``**bold**``, ``*em*``, backquoted
    code, ``[text](link)`` (the text only: a relative link of report.md does not hold here),
    ``\\|`` (a table's escaped bar)."""
    out = html.escape(text.replace("\\|", "|"), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\[([^\]]+)\]\([^)\s]+\)", r"\1", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?![*\w])", r"<em>\1</em>", out)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_inline(c)}</td>' if i in numeric else f"<td>{_inline(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _summary(doc: MatrixResult) -> list[str]:
    median = (
        f" With --repeat {doc.repeat}: the median of the runs and (lowest{DASH}highest); requests, "
        "timeouts and errors are the lower median."
        if doc.repeat > 1
        else ""
    )
    header = rate_matrix_header(doc)
    first = 3 if doc.http2 is not None else 2  # the first number of the every-cell table
    return [
        "<h2 id='summary'>Summary</h2>",
        "<p class='caption'>Requests/s per endpoint and stack (⏱: every response was a "
        "timeout; n/a: not served by this stack, WSGI has no async views).</p>",
        _table(header, rate_matrix_rows(doc), set(range(1, len(header)))),
        "<p class='caption'>Every cell: p50 and p99 are pyload's wrk-style latency, corrected "
        "for coordinated omission as wrk does (- means no latency was recorded); errors = "
        f"connect + read + write + non-2xx.{html.escape(median)}</p>",
        _table(summary_header(doc), summary_rows(doc), set(range(first, first + 6))),
    ]


def _http2(doc: MatrixResult) -> list[str]:
    assert doc.http2 is not None
    parts = [
        "<h2 id='http2'>HTTP/1.1 and HTTP/2</h2>",
        f"<p>{_inline(http2_intro(doc))}</p>",
        "<ul>",
        *(f"<li>{_inline(line)}</li>" for line in http2_findings(doc) + not_served_lines(doc)),
        "</ul>",
    ]
    for server in doc.http2.servers:
        parts.append(f"<h3>{html.escape(server)}</h3>")
        parts.append(_table(HTTP2_HEADER, http2_rows(doc, server), set(range(1, 12))))
    return parts


def _open_loop(doc: MatrixResult) -> list[str]:
    assert doc.rate_per_s is not None
    parts = [
        f"<h2 id='open-loop'>Open loop: {fmt_number(doc.rate_per_s)} requests/s</h2>",
        f"<p>{_inline(open_loop_intro(doc))}</p>",
    ]
    for server in doc.servers():
        parts.append(f"<h3>{html.escape(server)}</h3>")
        rows = open_loop_rows(doc, server)
        parts.append(_table(OPEN_LOOP_HEADER, rows, {1, 2, 3, 4, 6, 7, 8, 9}))
    return parts


def _charts(charts: Sequence[tuple[str, bytes]]) -> list[str]:
    parts = ["<h2 id='charts'>Charts</h2>"]
    for name, data in charts:
        suffix = name[name.rfind(".") :].lower()
        media = _MEDIA_TYPES.get(suffix)
        if media is None:
            raise ValueError(f"a chart must be .png or .svg: {name}")
        uri = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
        stem = html.escape(name.rsplit(".", 1)[0], quote=True)
        caption = html.escape(chart_caption(name))
        parts.append(
            f'<figure data-chart="{stem}"><img src="{uri}" alt="{stem}">'
            f"<figcaption>{html.escape(name)}: {caption}</figcaption></figure>"
        )
    return parts


def _wrk(doc: MatrixResult) -> list[str]:
    rows, disagree = wrk_rows(doc)
    parts = [
        "<h2 id='wrk'>pyload vs wrk</h2>",
        f"<p>Tolerance: {_inline(tolerance_text())}.</p>",
    ]
    if doc.wrk_timeout_s != doc.profile.timeout_s:
        parts.append(
            f"<p>wrk's <code>--timeout</code> takes whole seconds, so wrk ran with "
            f"{doc.wrk_timeout_s} s while pyload used {doc.profile.timeout_s:g} s: the "
            "timeouts and latency percentiles of cells where pyload counted timeouts are not "
            "comparable (n/c).</p>"
        )
    parts.append(_table(WRK_HEADER, rows, set(range(2, 12))))
    outside = f" ({'; '.join(disagree)})." if disagree else "."
    parts.append(f"<p>Cells outside the tolerance: {len(disagree)}{html.escape(outside)}</p>")
    return parts


def _run_figures(run: CellRun) -> str:
    result = run.pyload
    if result is None:
        return f"{run.status}: {run.error or 'no result'}"
    figures = (
        f"{fmt_rate(result.requests_per_s)} req/s, p50 {fmt_latency(result.p50_us)}, "
        f"p99 {fmt_latency(result.p99_us)}, timeouts {result.timeouts}, "
        f"errors {result.other_errors}"
    )
    return figures + (", interrupted" if run.partial else "")


def _run_details(cell: CellResult, run: CellRun, doc: MatrixResult) -> str:
    title = f"{cell.kind.capitalize()} {cell.scenario}"
    if doc.repeat > 1 or len(cell.runs) > 1:
        title += f", run {run.index} of {doc.repeat}"
    body: list[str] = [f"<p><code>GET {html.escape(cell.path)}</code></p>"]
    if run.pyload is None:
        body.append(f"<p><strong>{html.escape(run.status)}</strong>: "
                    f"{html.escape(run.error or 'no result')}</p>")  # fmt: skip
    else:
        if run.partial:
            body.append(
                "<p><strong>Interrupted</strong> (Ctrl-C or SIGTERM) after "
                f"{run.pyload.runtime_s:.2f} s of the {doc.profile.duration_s:g} s cell: the "
                "text covers only that part.</p>"
            )
        body.append(f"<pre>{html.escape(run.pyload.wrk_text.rstrip())}</pre>")
        if run.error:
            body.append(f"<p>Note: {html.escape(run.error)}</p>")
    if run.pyload_h2 is not None:
        body.append("<p>Over HTTP/2 (<code>--http2</code>):</p>")
        body.append(f"<pre>{html.escape(run.pyload_h2.wrk_text.rstrip())}</pre>")
    if run.h2_error:
        body.append(f"<p>HTTP/2: {html.escape(run.h2_error)}</p>")
    if run.pyload_rate is not None:
        body.append(f"<p>Open loop at {fmt_number(doc.rate_per_s or 0)} requests/s:</p>")
        body.append(f"<pre>{html.escape(run.pyload_rate.wrk_text.rstrip())}</pre>")
    elif run.rate_error:
        body.append(f"<p>Open loop: {html.escape(run.rate_error)}</p>")
    if run.wrk is not None and run.wrk.text:
        body.append("<p>wrk on the same cell:</p>")
        body.append(f"<pre>{html.escape(run.wrk.text.rstrip())}</pre>")
    elif run.wrk is not None:
        body.append(f"<p>wrk failed: {html.escape(run.wrk.error or 'no output')}</p>")
    attributes = (
        f'data-cell="{html.escape(f"{cell.server} {cell.label}", quote=True)}" '
        f'data-run="{run.index}"'
    )
    return (
        f"<details {attributes}><summary>{html.escape(title)} "
        f"<span class='figures'>{html.escape(_run_figures(run))}</span></summary>"
        f"{''.join(body)}</details>"
    )


def _stacks(doc: MatrixResult) -> list[str]:
    parts = ["<h2 id='stacks'>Results by server stack</h2>"]
    note = header_note(doc)
    parts.append(
        "<p class='caption'>Each section holds pyload's report in wrk's format (click to open)."
        + (f" {_inline(note)}" if note else "")
        + "</p>"
    )
    starts = {s.server: s.starts for s in doc.stacks}
    for server in doc.servers():
        parts.append(f"<h3>{html.escape(server)}</h3>")
        if starts.get(server):
            started = ", ".join(
                f"in {s.seconds:g} s" if s.ok else f"FAILED ({s.error})" for s in starts[server]
            )
            parts.append(f"<p class='caption'>Started {html.escape(started)}.</p>")
        for cell in (c for c in doc.cells if c.server == server):
            parts.extend(_run_details(cell, run, doc) for run in cell.runs)
    return parts


def render_html(doc: MatrixResult, charts: Sequence[tuple[str, bytes]] = ()) -> str:
    """The whole report.html text; ``charts``: (file name, PNG or SVG bytes), in report order."""
    p = doc.profile
    title = f"Django server stacks under pyload: profile {p.name}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_SCRIPT}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<ul>",
        *(f"<li>{_inline(line)}</li>" for line in parameter_lines(doc)),
        "</ul>",
        *_summary(doc),
    ]
    if doc.http2 is not None:
        parts += _http2(doc)
    if doc.rate_per_s is not None:
        parts += _open_loop(doc)
    parts += ["<h2 id='interpretation'>Interpretation</h2>", "<ul>"]
    parts += [f"<li>{_inline(sentence)}</li>" for sentence in interpret(doc)]
    parts.append("</ul>")
    if charts:
        parts += _charts(charts)
    if doc.with_wrk:
        parts += _wrk(doc)
    parts += _stacks(doc)
    machine = machine_markdown(doc.machine).splitlines()
    command = doc.command or "python -m benchmarks " + shlex.join(doc.argv)
    parts += [
        "<h2 id='machine'>Machine</h2>",
        "<ul>",
        *(f"<li>{_inline(line.removeprefix('- '))}</li>" for line in machine if line),
        "</ul>",
        "<h2 id='reproduce'>Reproduce</h2>",
        f"<pre class='command'>{html.escape(command)}</pre>",
        "</body></html>",
        "",
    ]
    return "\n".join(parts)
