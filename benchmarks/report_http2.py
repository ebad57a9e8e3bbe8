"""``--http2`` in the matrix's reports: HTTP/1.1 and HTTP/2 side by side, as pure functions of
the results document (Markdown inline text and table rows; benchmarks.report and
benchmarks.report_html lay them out).

    http2_intro(doc)                  what was run over which protocol, and how
    not_served_lines(doc)             each stack that does not serve HTTP/2, and why
    http2_rows(doc, server)           one stack's cells: HTTP/1.1 beside HTTP/2 (HTTP2_HEADER)
    http2_findings(doc)               per stack, HTTP/2's requests/s as a ratio to HTTP/1.1's,
                                      pyload's own CPU, the cells that fared worse
    h2_summary_row(cell, doc)         a cell's HTTP/2 row of the every-cell summary table
    http2_markdown(doc)               report.md's section: all of the above but the last
"""

from __future__ import annotations

import statistics

from benchmarks.formatting import DASH, fmt_latency, fmt_rate, fmt_spread
from benchmarks.results import HTTP1, HTTP2, CellResult, CellSummary, MatrixResult, PyloadResult
from benchmarks.stacks import NOT_HTTP2

__all__ = [
    "HTTP2_HEADER",
    "h2_summary_row",
    "http2_findings",
    "http2_intro",
    "http2_markdown",
    "http2_rows",
    "not_served_lines",
    "ratio",
]

HTTP2_HEADER = (
    "endpoint",
    f"req/s {HTTP1}",
    f"req/s {HTTP2}",
    f"{HTTP2} ÷ {HTTP1}",
    f"p50 {HTTP1}",
    f"p50 {HTTP2}",
    f"p99 {HTTP1}",
    f"p99 {HTTP2}",
    f"timeouts {HTTP1}",
    f"timeouts {HTTP2}",
    f"errors {HTTP1}",
    f"errors {HTTP2}",
    "notes",
)
INTERRUPTED = "**interrupted**"
#: A cell is named as worse over HTTP/2 when its timeouts and errors per response are this much
#: above HTTP/1.1's (counts alone would name every all-timeout cell that got more responses).
WORSE_SHARE = 0.05


def ratio(cell: CellResult) -> float | None:
    """HTTP/2's requests/s over HTTP/1.1's (medians), None without both or with HTTP/1.1 at 0."""
    h1, h2 = cell.summary, cell.h2_summary
    if h1 is None or h2 is None or not h1.requests_per_s:
        return None
    return h2.requests_per_s / h1.requests_per_s


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def http2_intro(doc: MatrixResult) -> str:
    """The paragraph before the side-by-side tables (Markdown inline)."""
    assert doc.http2 is not None
    both = ", ".join(f"`{s}`" for s in doc.http2.servers) or "no stack"
    return (
        f"With `--http2`, each run of a cell on {both} loaded the cell twice, back to back: "
        "pyload over HTTP/1.1 and `pyload --http2` over HTTP/2 with prior knowledge on the "
        "stack's plain port (h2c), with the same connections, threads, duration and timeout, "
        "and one stream per connection (`--streams 1`), so the two protocols carry the same "
        "concurrency and each gateway endpoint is offered the same load. Which protocol went "
        "first alternates from run to run (the run's `order` in results.json), and the stack "
        "settled between the two. The ratio is HTTP/2's requests/s over HTTP/1.1's. On the "
        "gateway endpoints the wait sets the rate whatever the protocol; the client endpoints, "
        "where the stack's own work sets it, show what HTTP/2's framing costs or saves the "
        "server. wrk (`--with-wrk`) and the open loop (`--rate`) run over HTTP/1.1 only."
    )


def not_served_lines(doc: MatrixResult) -> list[str]:
    """``--http2``: a sentence per stack that does not serve HTTP/2 (Markdown inline)."""
    assert doc.http2 is not None
    ran = set(doc.servers())
    return [
        f"`{server}` {NOT_HTTP2}: {why} "
        + ("(run over HTTP/1.1 only)." if server in ran else "(not run).")
        for server, why in doc.http2.not_served.items()
    ]


def _saturated(cell: CellResult, h2: bool) -> str:
    """``client saturated over HTTP/2`` (in how many runs, with several) or ``""``: pyload's
    own CPU was the limit, so the requests/s is the client's, not the stack's."""
    runs = cell.h2_counted if h2 else cell.counted
    results = [r.pyload_h2 if h2 else r.pyload for r in runs]
    hit = sum(1 for r in results if r is not None and r.client_saturated)
    if not hit:
        return ""
    of = f" in {hit} of {len(results)} runs" if len(results) > 1 else ""
    return f"client saturated over {HTTP2 if h2 else HTTP1}{of}"


def _notes(cell: CellResult, doc: MatrixResult, both: bool = False) -> str:
    """The HTTP/2 runs' notes: error counters, failures, runs cut short, a saturated client
    (``both``: over HTTP/1.1 too)."""
    summary = cell.h2_summary
    notes = [n for n in (_saturated(cell, False) if both else "", _saturated(cell, True)) if n]
    if summary is not None:
        notes += [
            f"{k} {v}" if k != "status" else f"non-2xx {v}"
            for k, v in summary.breakdown.items()
            if v
        ]
        if summary.all_timeouts:
            notes.append("all timeouts")
        if summary.requests == 0:
            notes.append("no response")
        if summary.partial:
            notes.append(
                f"{INTERRUPTED} after {summary.runtime_s:.2f} s of the "
                f"{doc.profile.duration_s:g} s cell"
            )
    several = doc.repeat > 1
    for run in cell.runs:
        prefix = f"run {run.index}: " if several else ""
        if run.h2_error:
            notes.append(prefix + run.h2_error)
        elif run.pyload_h2 is None and run.ok:
            notes.append(f"{prefix}not run over {HTTP2}")
    if summary is None and not notes:
        notes.append(f"{cell.status}: {cell.error or 'no result'}")
    return ", ".join(notes).replace("|", "\\|")


def _figures(summary: CellSummary | None) -> list[str]:
    """req/s, p50, p99, timeouts, errors of one protocol; ``-`` without a result."""
    if summary is None:
        return ["-"] * 5
    return [
        fmt_spread(summary.rate, fmt_rate),
        fmt_spread(summary.p50, fmt_latency),
        fmt_spread(summary.p99, fmt_latency),
        str(summary.timeouts),
        str(summary.errors),
    ]


def http2_rows(doc: MatrixResult, server: str) -> list[list[str]]:
    """One stack's side-by-side rows, in HTTP2_HEADER order (endpoint by endpoint)."""
    rows = []
    for label in doc.labels():
        cell = doc.cell(server, label)
        if cell is None:
            continue
        h1, h2 = _figures(cell.summary), _figures(cell.h2_summary)
        row = [label, h1[0], h2[0], _ratio_text(ratio(cell))]
        for a, b in zip(h1[1:], h2[1:], strict=True):
            row += [a, b]
        rows.append([*row, _notes(cell, doc, both=True)])
    return rows


def _results(cells: list[CellResult], h2: bool) -> list[PyloadResult]:
    """The cells' counted results over one protocol."""
    runs = [r for c in cells for r in (c.h2_counted if h2 else c.counted)]
    return [x for r in runs if (x := r.pyload_h2 if h2 else r.pyload) is not None]


def _client(cells: list[CellResult]) -> str:
    """pyload's CPU per response over each protocol (medians) and how busy its busiest process
    was at the most: whether the client, rather than the stack, could have set the rate."""
    cpu = []
    for h2 in (False, True):
        values = [x.cpu_us_per_request for x in _results(cells, h2)]
        present = [v for v in values if v is not None]
        cpu.append(statistics.median(present) if present else None)
    if cpu[0] is None or cpu[1] is None:
        return ""
    measured = [x.client_busy for h2 in (False, True) for x in _results(cells, h2)]
    busy = [v for v in measured if v is not None]
    return (
        f"pyload's CPU per response {cpu[0]:.0f} µs over HTTP/1.1 and {cpu[1]:.0f} µs over "
        "HTTP/2 (medians)" + (f", its busiest process at most {max(busy):.0%} busy" if busy else "")
    )


def _failed_share(summary: CellSummary) -> float:
    """Timeouts and errors per response."""
    return (summary.timeouts + summary.errors) / max(1, summary.requests)


def http2_findings(doc: MatrixResult) -> list[str]:
    """Per stack run over both protocols: the median ratio of requests/s on the client
    endpoints and on the gateway ones, with their range (Markdown inline)."""
    assert doc.http2 is not None
    lines = []
    for server in doc.http2.servers:
        cells = [c for c in doc.cells if c.server == server]
        parts = []
        for name, gateway in (("client", False), ("gateway", True)):
            ratios = [
                r
                for c in cells
                if (c.gateway_wait_s is not None) is gateway and (r := ratio(c)) is not None
            ]
            if ratios:
                spread = f"{min(ratios):.2f}{DASH}{max(ratios):.2f}, " if len(ratios) > 1 else ""
                parts.append(
                    f"{statistics.median(ratios):.2f}x HTTP/1.1's requests/s on the {name} "
                    f"endpoints ({spread}{len(ratios)} cell{'s' if len(ratios) > 1 else ''})"
                )
        if client := _client(cells):
            parts.append(client)
        worse = [
            c.label
            for c in cells
            if c.summary is not None
            and c.h2_summary is not None
            and _failed_share(c.h2_summary) >= _failed_share(c.summary) + WORSE_SHARE
        ]
        text = f"`{server}` over HTTP/2: " + ("; ".join(parts) or "no cell with both results")
        if worse:
            text += (
                f"; a larger share of timeouts or errors than over HTTP/1.1 (by {WORSE_SHARE:.0%}"
                f" of the responses or more) on {', '.join(worse)}"
            )
        lines.append(text + ".")
    return lines


def h2_summary_row(cell: CellResult, doc: MatrixResult) -> list[str]:
    """The every-cell table's HTTP/2 row of ``cell`` (SUMMARY_HEADER with the protocol after
    the server): its figures, or ``does not serve HTTP/2`` for a stack that does not."""
    assert doc.http2 is not None
    head = [cell.label, cell.server, HTTP2]
    if cell.server not in doc.http2.servers:
        return [*head, *["-"] * 6, NOT_HTTP2]
    s = cell.h2_summary
    if s is None:
        return [*head, *["-"] * 6, _notes(cell, doc)]
    return [
        *head,
        str(s.requests),
        fmt_spread(s.rate, fmt_rate),
        fmt_spread(s.p50, fmt_latency),
        fmt_spread(s.p99, fmt_latency),
        str(s.timeouts),
        str(s.errors),
        _notes(cell, doc),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def http2_markdown(doc: MatrixResult) -> list[str]:
    """report.md's section: what was run, per stack a sentence, the stacks that do not serve
    HTTP/2, then per stack run over both protocols each cell over HTTP/1.1 beside HTTP/2."""
    assert doc.http2 is not None
    lines = [f"## {HTTP1} and {HTTP2}", "", http2_intro(doc), ""]
    lines += [f"- {line}" for line in http2_findings(doc) + not_served_lines(doc)]
    for server in doc.http2.servers:
        lines += [
            "",
            f"### {server}",
            "",
            _row(list(HTTP2_HEADER)),
            _row(["---"] + ["---:"] * 11 + ["---"]),
        ]
        lines += [_row(r) for r in http2_rows(doc, server)]
    return lines
