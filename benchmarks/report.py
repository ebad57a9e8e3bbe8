"""The Markdown reports, as pure functions of their documents.

``render_report(MatrixResult)`` is report.md: the summary tables (with ``--http2``, HTTP/2's
columns and rows beside HTTP/1.1's, then a side-by-side table per stack, benchmarks.report_http2;
with ``--rate``, the open loop beside the closed loop, a table per stack), the interpretation,
the charts, pyload vs wrk, then a section per server stack and a subsection per scenario with
Sync / Async and pyload's wrk-style text in a code block (and over HTTP/2, its own), as the
reference experiment laid it out. (The selfbench's report is benchmarks.selfbench_report.)
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.compare import tolerance_text
from benchmarks.formatting import DASH, fmt_latency, fmt_number, fmt_rate, fmt_spread
from benchmarks.interpret import interpret
from benchmarks.machine import machine_markdown
from benchmarks.report_http2 import h2_summary_row, http2_markdown, not_served_lines
from benchmarks.results import HTTP1, HTTP2, CellResult, CellRun, CellSummary, MatrixResult
from benchmarks.wrkparse import WrkParseError, parse_time_us, parse_wrk
from pyload.result import RATE_HELD

__all__ = [
    "OPEN_LOOP_HEADER",
    "SUMMARY_HEADER",
    "WRK_HEADER",
    "header_note",
    "open_loop_intro",
    "open_loop_rows",
    "parameter_lines",
    "rate_matrix_header",
    "rate_matrix_rows",
    "render_report",
    "summary_header",
    "summary_rows",
    "wrk_rows",
]

SUMMARY_HEADER = (
    "endpoint",
    "server",
    "requests",
    "req/s",
    "p50",
    "p99",
    "timeouts",
    "errors",
    "notes",
)
OPEN_LOOP_HEADER = (
    "endpoint",
    "closed req/s",
    "closed p50",
    "closed p99",
    "open req/s",
    "rate held",
    "corrected p50",
    "corrected p99",
    "corrected p99.9",
    "uncorrected p99",
    "notes",
)
WRK_HEADER = (
    "endpoint",
    "server",
    "req/s pyload",
    "req/s wrk",
    "p50 pyload",
    "p50 wrk",
    "p99 pyload",
    "p99 wrk",
    "timeouts pyload",
    "timeouts wrk",
    "errors pyload",
    "errors wrk",
    "verdict",
)
NOT_SERVED = "n/a"
ALL_TIMEOUTS = "⏱"
INTERRUPTED = "**interrupted**"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cut_short(run_s: float, doc: MatrixResult) -> str:
    return f"after {run_s:.2f} s of the {doc.profile.duration_s:g} s cell"


def _notes(cell: CellResult, doc: MatrixResult) -> str:
    summary = cell.summary
    if summary is None:
        return f"**{cell.status}**: {cell.error or 'no result'}"
    notes = [
        f"{k} {v}" if k != "status" else f"non-2xx {v}" for k, v in summary.breakdown.items() if v
    ]
    if summary.all_timeouts:
        notes.append("all timeouts")
    if summary.requests == 0:
        notes.append("no response")
    if summary.requests == 0 and summary.in_flight:
        notes.append(f"{summary.in_flight} requests unanswered at the end")
    if summary.partial:
        notes.append(f"{INTERRUPTED} {_cut_short(summary.runtime_s, doc)}")
    several = doc.repeat > 1
    for run in cell.runs:
        prefix = f"run {run.index}: " if several else ""
        if run.ok and run.error:
            notes.append(prefix + run.error)
        if run.partial and not summary.partial and run.pyload is not None:
            notes.append(
                f"{prefix}interrupted {_cut_short(run.pyload.runtime_s, doc)}, not counted"
            )
        if not run.ok:
            notes.append(f"{prefix}{run.status}: {run.error or 'no result'}")
        if run.restarted:
            notes.append(
                f"stack restarted before run {run.index}"
                if several
                else "stack restarted before this cell"
            )
    return ", ".join(notes)


def summary_header(doc: MatrixResult) -> tuple[str, ...]:
    """SUMMARY_HEADER; with ``--http2``, a ``protocol`` column after the server."""
    if doc.http2 is None:
        return SUMMARY_HEADER
    return (*SUMMARY_HEADER[:2], "protocol", *SUMMARY_HEADER[2:])


def summary_rows(doc: MatrixResult) -> list[list[str]]:
    """The detailed summary table's rows, in ``summary_header(doc)`` order (endpoint by
    endpoint; with ``--http2`` each cell's HTTP/2 row under its HTTP/1.1 one)."""
    rows = []
    protocol = [HTTP1] if doc.http2 is not None else []
    for label in doc.labels():
        for cell in (c for c in doc.cells if c.label == label):
            s = cell.summary
            if s is None:
                rows.append([label, cell.server, *protocol, *["-"] * 6, _notes(cell, doc)])
            else:
                rows.append(_summary_row(cell, s, protocol, doc))
            if doc.http2 is not None:
                rows.append(h2_summary_row(cell, doc))
    return rows


def _summary_row(
    cell: CellResult, s: CellSummary, protocol: list[str], doc: MatrixResult
) -> list[str]:
    return [
        cell.label,
        cell.server,
        *protocol,
        str(s.requests),
        fmt_spread(s.rate, fmt_rate),
        fmt_spread(s.p50, fmt_latency),
        fmt_spread(s.p99, fmt_latency),
        str(s.timeouts),
        str(s.errors),
        _notes(cell, doc),
    ]


def _held(cell: CellResult) -> str:
    """Whether the open loop held its rate: ``yes``, ``no: <why>``; over several runs how many
    did, and the reasons of those that did not."""
    s = cell.open_loop_summary
    assert s is not None
    why = "; ".join(s.shortfalls) or "cause not identified"
    if s.runs == 1:
        return "yes" if s.held else f"no: {why}"
    if s.held == s.runs:
        return f"yes, {s.runs} of {s.runs} runs"
    return f"{'no, ' if not s.held else ''}{s.held} of {s.runs} runs: {why}"


def _open_loop_notes(cell: CellResult, doc: MatrixResult) -> str:
    s = cell.open_loop_summary
    notes = []
    if s is not None and s.timeouts:
        notes.append(f"timeouts {s.timeouts}")
    if s is not None and s.partial:
        notes.append(f"{INTERRUPTED} {_cut_short(s.runtime_s, doc)}")
    several = doc.repeat > 1
    for run in cell.runs:
        prefix = f"run {run.index}: " if several else ""
        if run.pyload_rate is None and run.rate_error:
            notes.append(f"{prefix}open loop: {run.rate_error}")
        elif run.rate_error:  # beside a result: its worker failures
            notes.append(prefix + run.rate_error)
        elif run.pyload_rate is None and run.ok:
            notes.append(f"{prefix}open loop not run")
        if run.pyload_rate is not None and run.pyload_rate.interrupted and s and not s.partial:
            cut = _cut_short(run.pyload_rate.runtime_s, doc)
            notes.append(f"{prefix}interrupted {cut}, not counted")
    return ", ".join(notes).replace("|", "\\|")


def open_loop_rows(doc: MatrixResult, server: str) -> list[list[str]]:
    """The open-loop table's rows for one stack, in OPEN_LOOP_HEADER order."""
    rows = []
    for label in doc.labels():
        cell = doc.cell(server, label)
        if cell is None:
            continue
        closed, open_ = cell.summary, cell.open_loop_summary
        row = [label]
        if closed is None:
            row += [cell.status, "-", "-"]
        else:
            row += [
                fmt_spread(closed.rate, fmt_rate),
                fmt_spread(closed.p50, fmt_latency),
                fmt_spread(closed.p99, fmt_latency),
            ]
        if open_ is None:
            row += ["-"] * 6
        else:
            row += [
                fmt_spread(open_.achieved, fmt_rate),
                _held(cell).replace("|", "\\|"),
                fmt_spread(open_.p50, fmt_latency),
                fmt_spread(open_.p99, fmt_latency),
                fmt_spread(open_.p999, fmt_latency),
                fmt_spread(open_.p99_uncorrected, fmt_latency),
            ]
        rows.append([*row, _open_loop_notes(cell, doc)])
    return rows


def _open_loop_section(doc: MatrixResult) -> list[str]:
    """``--rate``: per stack, each cell's closed-loop figures beside its open-loop ones."""
    assert doc.rate_per_s is not None
    lines = [f"## Open loop: {fmt_number(doc.rate_per_s)} requests/s", "", open_loop_intro(doc)]
    for server in doc.servers():
        lines += [
            "",
            f"### {server}",
            "",
            _row(list(OPEN_LOOP_HEADER)),
            _row(["---"] + ["---:"] * 4 + ["---"] + ["---:"] * 4 + ["---"]),
        ]
        lines += [_row(r) for r in open_loop_rows(doc, server)]
    return lines


def open_loop_intro(doc: MatrixResult) -> str:
    """``--rate``: the paragraph before the open-loop tables, what the two loops measure
    (Markdown inline)."""
    assert doc.rate_per_s is not None
    rate = fmt_number(doc.rate_per_s)
    median = (
        f" With `--repeat {doc.repeat}` every figure is the median of the cell's runs and "
        f"(lowest{DASH}highest); *rate held* says in how many runs."
        if doc.repeat > 1
        else ""
    )
    return (
        "Each cell was loaded twice: first in a closed loop, as wrk does and as the tables "
        "above show (each connection sends its next request when the previous answer is "
        "complete), then, after the stack settled, open-loop: pyload "
        f"`-R {rate}` sends {rate} requests/s in total on a fixed schedule whatever the server "
        "does, with the same connections, threads, duration and timeout. A closed loop stops "
        "sending while the server stalls, so the wait of the requests it did not send "
        "vanishes from its percentiles (*coordinated omission*; its p50 and p99 carry only "
        "wrk's partial post-run correction). The open loop measures each latency from when "
        "its request was due: the **corrected** p50, p99 and p99.9 include the queueing a "
        "client arriving at that rate would meet, timeouts included; the **uncorrected** p99 "
        "is measured from the actual send, timeouts excluded as wrk does (`-`: every response "
        "was a timeout). A stack that keeps up shows the two close together; one that falls "
        "behind shows its queue in the corrected column. *open req/s* counts the responses; "
        "the rate is *held* when the requests sent (answered, or still in flight at the end) "
        f"came to at least {RATE_HELD:.0%} of {rate}/s, and when not, *rate held* says why "
        "(too few connections for the stack's latency, the client's CPU, socket errors) and "
        "the corrected latencies cover only the requests that were sent. The whole model: "
        f"[docs/rate.md](../../../docs/rate.md).{median}"
    )


def _rate_matrix(doc: MatrixResult) -> list[str]:
    header = rate_matrix_header(doc)
    lines = [_row(header), _row(["---", *["---:"] * (len(header) - 1)])]
    return lines + [_row(r) for r in rate_matrix_rows(doc)]


def _rate_columns(doc: MatrixResult) -> list[tuple[str, bool]]:
    """(stack, over HTTP/2) per column: a stack run over both protocols has two."""
    both = doc.http2.servers if doc.http2 is not None else ()
    return [(s, h2) for s in doc.servers() for h2 in ((False, True) if s in both else (False,))]


def rate_matrix_header(doc: MatrixResult) -> list[str]:
    """The requests/s table's header: ``req/s``, then the stacks (``doc.servers()``), a stack
    run over both protocols as ``<stack> HTTP/1.1`` and ``<stack> HTTP/2``."""
    both = doc.http2.servers if doc.http2 is not None else ()
    return ["req/s"] + [
        f"{s} {HTTP2 if h2 else HTTP1}" if s in both else s for s, h2 in _rate_columns(doc)
    ]


def rate_matrix_rows(doc: MatrixResult) -> list[list[str]]:
    """The requests/s table's rows: an endpoint, then a cell per column
    (``rate_matrix_header``)."""
    rows = []
    for label in doc.labels():
        row = [label]
        for server, h2 in _rate_columns(doc):
            cell = doc.cell(server, label)
            summary = (cell.h2_summary if h2 else cell.summary) if cell is not None else None
            if cell is None:
                row.append(NOT_SERVED)
            elif summary is None and h2 and cell.h2_error:
                row.append("failed")
            elif summary is None:
                row.append(cell.status)
            else:
                row.append(
                    fmt_spread(summary.rate, fmt_rate)
                    + (f" {ALL_TIMEOUTS}" if summary.all_timeouts else "")
                    + (f" {INTERRUPTED}" if summary.partial else "")
                )
        rows.append(row)
    return rows


def parameter_lines(doc: MatrixResult) -> list[str]:
    """The run's parameters, a sentence each (Markdown inline: ``**bold**``, backquotes)."""
    return [line.removeprefix("- ") for line in _parameters(doc)]


def _parameters(doc: MatrixResult) -> list[str]:
    p = doc.profile
    waits = {c.scenario: c.gateway_wait_s for c in doc.cells if c.gateway_wait_s}
    wait_text = ", ".join(f"{k} waits {v:g} s" for k, v in waits.items())
    lines = [
        f"- profile **{p.name}**: {p.connections} connections, {p.threads} pyload "
        f"worker process(es), {p.server_workers} server worker process(es) per stack, "
        f"{p.duration_s:g} s per cell, timeout {p.timeout_s:g} s, time scale "
        f"{p.scale:g}"
        + (f" ({wait_text}; the upstream's delay is scaled too)" if wait_text else ""),
        f"- {len(doc.cells)} cells, run {doc.started_at} → {doc.finished_at}, "
        f"wall time {doc.wall_s:g} s; a {p.warmup_s:g} s warm-up per stack",
    ]
    if doc.repeat > 1:
        lines.append(
            f"- each cell run {doc.repeat} times (`--repeat {doc.repeat}`), in {doc.repeat} "
            "rounds over each stack's cells: the tables give the median and, in brackets, the "
            "lowest and highest run (requests, timeouts and errors: the lower median, one run's "
            "own count); the charts draw that range as error bars"
        )
    if doc.http2 is not None:
        both = ", ".join(doc.http2.servers) or "no stack"
        lines.append(
            f"- `--http2`: the cells of {both} were loaded over HTTP/1.1 and over HTTP/2 (h2c, "
            "one stream per connection), back to back"
        )
        lines += [f"- {line}" for line in not_served_lines(doc)]
    if doc.with_wrk:
        lines.append(
            f"- wrk ran on every cell too (`--timeout {doc.wrk_timeout_s}s`, `-d{p.duration_s:g}s`)"
        )
    if doc.interrupted:
        lines.append(
            "- **interrupted** (Ctrl-C or SIGTERM): the cell under way is marked interrupted, "
            "the remaining cells were not run"
        )
    return lines


def _wrk_section(doc: MatrixResult) -> list[str]:
    p = doc.profile
    lines = ["## pyload vs wrk", "", f"Tolerance: {tolerance_text()}."]
    if doc.wrk_timeout_s != p.timeout_s:
        lines += [
            "",
            f"wrk's `--timeout` takes whole seconds, so wrk ran with "
            f"{doc.wrk_timeout_s} s while pyload used {p.timeout_s:g} s: in "
            "cells where pyload counted timeouts, the timeouts and the latency "
            "percentiles cannot be compared (marked n/c); requests/s and the other "
            "errors are compared everywhere. For a faithful comparison use a "
            "whole-second timeout, e.g. `--scale 0.5` (timeout 1 s).",
        ]
    rows, disagree = wrk_rows(doc)
    lines += [
        "",
        _row(list(WRK_HEADER)),
        _row(["---", "---"] + ["---:"] * 10 + ["---"]),
        *(_row(r) for r in rows),
        "",
        f"Cells outside the tolerance: {len(disagree)}"
        + (f" ({'; '.join(disagree)})." if disagree else "."),
    ]
    return lines


def wrk_rows(doc: MatrixResult) -> tuple[list[list[str]], list[str]]:
    """``--with-wrk``: the side-by-side table's rows (WRK_HEADER order), and the cells outside
    the tolerance (``server label``)."""
    rows: list[list[str]] = []
    disagree = []
    for c in doc.cells:
        for run in c.runs:
            wrk = run.wrk
            if not run.ok or wrk is None:
                continue
            label = c.label + (f" (run {run.index})" if doc.repeat > 1 else "")
            comparison = wrk.comparison
            if comparison is None:
                rows.append([label, c.server] + ["-"] * 10 + [f"wrk failed: {wrk.error}"])
                continue
            m = comparison.metrics

            def pair(name: str, fmt: Callable[[Any], str], m: Any = m) -> list[str]:
                entry = m[name]
                w = "n/c" if entry.agree is None and entry.wrk is not None else fmt(entry.wrk)
                return [fmt(entry.pyload), w]

            verdict = (
                "agree"
                if comparison.agree
                else "**differ**: " + ", ".join(comparison.disagreements)
            )
            if not comparison.agree:
                disagree.append(f"{c.server} {label}")
            rows.append(
                [
                    label,
                    c.server,
                    *pair("requests_per_s", fmt_rate),
                    *pair("p50_us", fmt_latency),
                    *pair("p99_us", fmt_latency),
                    *pair("timeouts", str),
                    *pair("errors", str),
                    verdict,
                ]
            )
    return rows, disagree


def _run_block(run: CellRun, doc: MatrixResult) -> list[str]:
    if not run.ok or run.pyload is None:
        return [f"**{run.status}**: {run.error or 'no result'}", ""]
    lines = []
    if run.partial:
        lines += [
            f"**Interrupted** (Ctrl-C or SIGTERM) {_cut_short(run.pyload.runtime_s, doc)}: "
            "the text below covers only that part.",
            "",
        ]
    lines += ["```", run.pyload.wrk_text.rstrip("\n"), "```", ""]
    if run.error:
        lines += [f"Note: {run.error}", ""]
    if run.pyload_h2 is not None:
        lines += [
            "Over HTTP/2 (`--http2`):",
            "",
            "```",
            run.pyload_h2.wrk_text.rstrip("\n"),
            "```",
            "",
        ]
    if run.h2_error:
        lines += [f"HTTP/2: {run.h2_error}", ""]
    wrk = run.wrk
    if wrk and wrk.text:
        lines += ["wrk on the same cell:", "", "```", wrk.text.rstrip("\n"), "```", ""]
    elif wrk:
        lines += [f"wrk failed: {wrk.error}", ""]
    return lines


def _cell_block(cell: CellResult, doc: MatrixResult) -> list[str]:
    if doc.repeat == 1 and len(cell.runs) == 1:
        return _run_block(cell.runs[0], doc)
    lines = []
    for run in cell.runs:
        lines += [f"Run {run.index} of {doc.repeat}:", ""]
        lines += _run_block(run, doc)
    return lines


def header_note(doc: MatrixResult) -> str:
    """The sentence on wrk's whole-second header before the text blocks, or ``""``."""
    return "".join(_header_note(doc)[:1])


def _header_note(doc: MatrixResult) -> list[str]:
    """wrk's header line prints the test's length in whole seconds: say so when that is not
    the cell's length (6.6 s cells read ``Running 7s test``)."""
    cell_s = doc.profile.duration_s
    for cell in doc.cells:
        for run in cell.runs:
            if run.pyload is None:
                continue
            try:
                printed = parse_wrk(run.pyload.wrk_text).duration
                if printed is None or abs(parse_time_us(printed) / 1e6 - cell_s) < 1e-6:
                    continue
            except WrkParseError:
                continue
            return [
                f"Each block is pyload's report in wrk's format. Its first line, "
                f"`Running {printed} test @ URL`, is wrk's header, which prints the test's "
                f"length rounded to whole seconds: `{printed}` stands for the {cell_s:g} s "
                f"cell. The measured length, which the rates divide by, is on the "
                f"`requests in` line.",
                "",
            ]
    return []


def _stack_sections(doc: MatrixResult) -> list[str]:
    lines: list[str] = _header_note(doc)
    stacks = {s.server: s for s in doc.stacks}
    for server in doc.servers():
        lines += [f"## {server}", ""]
        record = stacks.get(server)
        starts = record.starts if record is not None else []
        if starts:
            lines += [
                "Started "
                + ", ".join(
                    f"in {s.seconds:g} s" if s.ok else f"FAILED ({s.error})" for s in starts
                )
                + ".",
                "",
            ]
        cells = [c for c in doc.cells if c.server == server]
        for scenario in dict.fromkeys(c.scenario for c in cells):
            lines += [f"### {scenario}", ""]
            for cell in (c for c in cells if c.scenario == scenario):
                lines += [f"#### {cell.kind.capitalize()}", "", f"`GET {cell.path}`", ""]
                lines += _cell_block(cell, doc)
    return lines


def render_report(doc: MatrixResult, charts: Sequence[str] = ()) -> str:
    """The whole report.md text."""
    p = doc.profile
    partial = any(c.summary is not None and c.summary.partial for c in doc.cells)
    median = (
        f", the median of {doc.repeat} runs and (lowest{DASH}highest)" if doc.repeat > 1 else ""
    )
    lines = [f"# Django server stacks under pyload: profile {p.name}", ""]
    lines += _parameters(doc)
    lines += [
        "",
        "## Summary",
        "",
        f"Requests/s{median} (⏱: every response was a timeout; n/a: not "
        "served by this stack, WSGI has no async views"
        + (
            "; **interrupted**: cut short by Ctrl-C or SIGTERM, the number covers only part "
            "of the cell"
            if partial
            else ""
        )
        + "):",
        "",
    ]
    lines += _rate_matrix(doc)
    lines += [
        "",
        f"Every cell{median}"
        + ("; requests, timeouts and errors: the lower median" if doc.repeat > 1 else "")
        + " (p50/p99 are pyload's wrk-style latency, corrected for "
        "coordinated omission as wrk does; - means no latency was recorded; errors = "
        "connect + read + write + non-2xx):",
        "",
    ]
    lines += [
        _row(list(summary_header(doc))),
        _row(
            ["---", "---"]
            + ["---"] * (doc.http2 is not None)
            + ["---:", "---:", "---:", "---:", "---:", "---:", "---"]
        ),
    ]
    lines += [_row(r) for r in summary_rows(doc)]
    if doc.http2 is not None:
        lines += ["", *http2_markdown(doc)]
    if doc.rate_per_s is not None:
        lines += ["", *_open_loop_section(doc)]
    lines += ["", "## Interpretation", ""]
    lines += [f"- {b}" for b in interpret(doc)]
    if charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{name}]({name})" for name in charts]
    if doc.with_wrk:
        lines += ["", *_wrk_section(doc)]
    lines += ["", "# Results by server stack", ""]
    lines += _stack_sections(doc)
    lines += [
        "## Machine",
        "",
        machine_markdown(doc.machine).rstrip(),
        "",
        "## Reproduce",
        "",
        "```",
        doc.command or "python -m benchmarks " + shlex.join(doc.argv),
        "```",
        "",
    ]
    return "\n".join(lines)
