"""The HTML of one run's parts of a report page (pyload.htmlreport): the header with its facts
and badges, wrk's numbers, the tables of responses and errors, the text report. No I/O.

Every number the text report prints is formatted here by the text report's own functions
(``pyload.units``, ``_stats.stats_row``, wrk2's percentile cells of ``_spectrum``), so the page
and stdout agree digit for digit; the cells carry ``data-metric`` names for tests and tools.
The document's optional keys (``meta``, ``status_codes``, ``client``: docs/json.md) may be
missing: the page says so instead of showing them.
"""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

import numpy as np

from pyload._report import wrk_report
from pyload._spectrum import WRK2_PERCENTILES, cells_of, hdr_percentile
from pyload._stats import ExactHistogram, stats_row
from pyload.errors import UsageError
from pyload.result import RunResult
from pyload.thresholds import parse as parse_threshold
from pyload.units import (
    format_binary,
    format_fixed,
    format_metric,
    format_percent,
    format_time_s,
    format_time_us,
    print_units,
    to_longdouble,
)

__all__ = [
    "LoadedRun",
    "badges",
    "e",
    "facts",
    "header",
    "load_run",
    "numbers",
    "tables",
    "text_report",
    "title",
]

# The percentile table's rows in the closed loop (wrk's rank rule; p100 is the max row).
TABLE_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 99.999)
ERROR_MEANINGS = {
    "connect": "a connection could not be opened",
    "read": "reading a response failed: reset, closed early, or malformed",
    "write": "sending a request failed",
    "timeout": "a response came later than the timeout (-T), or never",
    "status": "a response with a status above 399 (wrk's Non-2xx or 3xx)",
}


def e(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class LoadedRun:
    """One run to show: its document as given (the page's island), parsed, and rebuilt."""

    text: str
    doc: Mapping[str, Any]
    result: RunResult

    @property
    def meta(self) -> Mapping[str, Any]:
        meta = self.doc.get("meta")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def client(self) -> Mapping[str, Any]:
        client = self.doc.get("client")
        return client if isinstance(client, Mapping) else {}


def load_run(run: RunResult | str | bytes | Mapping[str, Any]) -> LoadedRun:
    """The run's document and result; UsageError for what is not a pyload result."""
    if isinstance(run, RunResult):
        text = run.to_json()
        return LoadedRun(text, json.loads(text), run)
    if isinstance(run, bytes):
        try:
            run = run.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"not a pyload result: {exc}") from None
    if isinstance(run, str):
        text = run
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not a pyload result: {exc}") from None
    else:
        doc, text = run, json.dumps(run, separators=(",", ":")) + "\n"
    if not isinstance(doc, Mapping):
        raise UsageError(f"not a pyload result (a JSON {type(doc).__name__})")
    return LoadedRun(text, doc, RunResult.from_json(doc))


# -- the header -------------------------------------------------------------------------------


def title(run: LoadedRun) -> str:
    config = run.result.config
    return f"pyload: {config.method} {config.url}"


def header(run: LoadedRun) -> str:
    """The page's header: the title, the command line, the badges and the facts."""
    command = run.meta.get("command")
    if command:
        shown = f'<p class="command"><code>{e(shlex.join(str(a) for a in command))}</code></p>'
    else:
        shown = '<p class="command muted">command line not recorded (a library run)</p>'
    return f"<header><h1>{e(title(run))}</h1>{shown}{badges(run)}{facts(run)}</header>"


def facts(run: LoadedRun) -> str:
    """What was run, where and when, as a definition list."""
    result, meta = run.result, run.meta
    config = result.config
    rate = "closed loop" if config.rate is None else f"{config.rate:g}/s (constant, -R)"
    duration = f"{format_time_us(result.runtime_us)} ({format_time_s(config.duration)} asked)"
    shown = [
        ("target", f"{config.method} {config.url}"),
        ("started (UTC)", meta.get("started_at") or "not recorded"),
        ("duration", duration),
        ("threads", _threads(result)),
        ("processes", result.processes),
        ("connections", config.connections),
        ("rate", rate),
        ("timeout", format_time_s(config.timeout)),
        ("pyload", run.doc.get("pyload_version", "?")),
        ("host", meta.get("host") or "not recorded"),
        ("Python", meta.get("python") or "not recorded"),
    ]
    if config.warmup:
        shown.insert(3, ("warm-up", format_time_s(config.warmup)))
    if config.headers:
        shown.append(("headers (-H)", "; ".join(f"{k}: {v}" for k, v in config.headers)))
    items = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in shown)
    return f'<dl class="facts">{items}</dl>'


def _threads(result: RunResult) -> str:
    """The threads that reported, of those asked (a lost process's are missing)."""
    reported, asked = len(result.workers), result.config.threads
    return str(asked) if reported == asked else f"{reported} of {asked} (the rest lost)"


class Badge(NamedTuple):
    level: str  # ok, warn, bad, neutral: its colour
    text: str
    title: str = ""  # the tooltip: what it means


def badges(run: LoadedRun) -> str:
    """The run's state at a glance (error share, rate, correction, saturation, partial,
    interrupted, thresholds), then pyload's notes of the text report, in full."""
    result, doc, client = run.result, run.doc, run.client
    errors = parse_threshold("errors<0%").observed(result)  # as --threshold counts them
    level = "ok" if errors == 0 else "warn" if errors < 1 else "bad"
    shown = [
        Badge(
            level,
            f"errors {errors:.2f}%",
            "all five error counters over the "
            "attempts (responses plus connect, read and write errors)",
        )
    ]
    if result.config.rate is None:
        added = result.latency.count - result.latency_uncorrected.count
        correction = f"added {added} latencies" if added else "changed nothing"
        shown.append(Badge("neutral", f"{result.requests_per_s:.2f} req/s, closed loop"))
        shown.append(
            Badge(
                "neutral",
                f"CO correction: wrk's post-run ({correction})",
                "wrk's stats_correct(): the requests a closed loop did not send",
            )
        )
    else:
        asked, achieved = result.config.rate, result.requests_per_s
        constant = doc.get("constant_rate")
        held = not isinstance(constant, Mapping) or bool(constant.get("held", True))
        text = f"{achieved:.2f} of {asked:g} req/s asked ({achieved / asked:.1%})"
        shown.append(Badge("ok", text) if held else Badge("bad", text + ": rate not held"))
        shown.append(Badge("neutral", "CO correction: on (latency from intended send times)"))
    if client.get("saturated"):
        shown.append(
            Badge(
                "bad",
                "client saturated",
                "pyload's own CPU was the limit: Requests/sec measured pyload, not the server",
            )
        )
    if not result.requests:
        shown.append(Badge("bad", "no responses", "the server answered no request in time"))
    if result.lost_workers:
        shown.append(
            Badge(
                "bad",
                f"partial: {len(result.lost_workers)} part(s) lost",
                "; ".join(result.worker_failures),
            )
        )
    if result.interrupted:
        shown.append(Badge("warn", "interrupted", "stopped before its duration (a signal)"))
    outcomes = doc.get("thresholds") or []
    if outcomes:
        broken = sum(1 for outcome in outcomes if not outcome.get("passed"))
        text = f"thresholds: {broken} of {len(outcomes)} broken"
        shown.append(Badge("bad", text) if broken else Badge("ok", "thresholds: all held"))
    spans = "".join(
        f'<span class="badge {b.level}"'
        + (f' title="{e(b.title)}"' if b.title else "")
        + f">{e(b.text)}</span>"
        for b in shown
    )
    notes = [note.strip() for note in result.notes]
    if client.get("saturated") and not any("saturated" in note for note in notes):
        busy = client.get("busiest_process_utilisation")
        share = f" ({busy:.0%} of a core in its busiest process)" if busy is not None else ""
        notes.append(
            f"Client saturated: pyload's own CPU was the limit{share}; Requests/sec "
            "measured pyload, not the server"
        )
    lines = "".join(f'<p class="note">{e(note)}</p>' for note in notes)
    return f'<div class="badges">{spans}</div>{lines}'


# -- wrk's numbers ----------------------------------------------------------------------------


def numbers(run: LoadedRun, heading: bool = True) -> str:
    """The text report's numbers: the summary figures, Thread Stats, the percentiles."""
    result = run.result
    counters = result.counters
    stats = []
    for name, histogram, formatter in (
        ("Latency", result.latency, format_time_us),
        ("Req/Sec", result.rate, format_metric),
    ):
        row = stats_row(histogram)  # the columns of wrk's print_stats()
        cells = {
            "avg": print_units(row.mean, formatter, 8),
            "stdev": print_units(row.stdev, formatter, 10),
            "max": print_units(row.max, formatter, 9),
            "within": format_percent(row.within_stdev),
        }
        key = name.lower().replace("/", "_")
        tds = "".join(
            f'<td data-metric="{key}-{column}">{e(cell.strip())}</td>'
            for column, cell in cells.items()
        )
        stats.append(f"<tr><th>{name}</th>{tds}</tr>")
    runtime_s = result.runtime_us / 1_000_000.0
    summary = [
        ("Requests/sec", "requests_per_s", _wrk_rate(counters.requests, runtime_s, fixed=True)),
        ("Transfer/sec", "transfer_per_s", _wrk_rate(counters.bytes_read, runtime_s) + "B"),
        ("requests", "requests", str(counters.requests)),
        ("in", "runtime", format_time_us(result.runtime_us)),
        ("read", "bytes_read", format_binary(counters.bytes_read) + "B"),
    ]
    figures = "".join(
        f'<div class="figure"><span class="value" data-metric="{key}">{e(value)}</span>'
        f'<span class="label">{e(label)}</span></div>'
        for label, key, value in summary
    )
    heading_html = "<h2>wrk's numbers</h2>" if heading else ""
    return (
        f'<section class="numbers">{heading_html}<div class="figures">{figures}</div>'
        '<table class="stats"><thead><tr><th>Thread Stats</th><th>Avg</th><th>Stdev</th>'
        f"<th>Max</th><th>+/- Stdev</th></tr></thead><tbody>{''.join(stats)}</tbody></table>"
        f"{_percentile_table(result)}</section>"
    )


def _wrk_rate(count: int, runtime_s: float, fixed: bool = False) -> str:
    """Requests/sec or Transfer/sec as wrk prints them (a long-double division, _report)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = to_longdouble(count) / np.longdouble(runtime_s)
    return format_fixed(value, 2) if fixed else format_binary(value)


def _percentile_table(result: RunResult) -> str:
    """p50 .. p99.999 and the max, corrected beside uncorrected, as the text report's
    distribution block computes them: wrk's rank rule in the closed loop, wrk2's
    HdrHistogram cells at a constant rate; with the run's own --percentiles too."""
    constant = result.config.rate is not None
    printed = "from intended send times (printed)" if constant else "corrected (printed)"
    columns = [(printed, result.latency), ("as measured (uncorrected)", result.latency_uncorrected)]
    if constant:
        levels = sorted({*WRK2_PERCENTILES, *result.config.percentiles} - {100.0})
    else:
        levels = sorted({*TABLE_PERCENTILES, *result.config.percentiles})

    def at(histogram: ExactHistogram, p: float) -> str:
        if not histogram.count:
            return "-"  # wrk prints 0.00us: nothing was measured
        if constant:
            value = hdr_percentile(cells_of(histogram.counts), p)
        else:
            value = histogram.percentile(p)
        return print_units(value, format_time_us, 10).strip()

    rows = []
    for p in levels:
        tds = "".join(
            f'<td data-metric="p{p:g}-{i}">{at(h, p)}</td>' for i, (_, h) in enumerate(columns)
        )
        rows.append(f"<tr><th>{p:g}%</th>{tds}</tr>")
    tds = "".join(f'<td data-metric="max-{i}">{_max(h)}</td>' for i, (_, h) in enumerate(columns))
    rows.append(f"<tr><th>max</th>{tds}</tr>")
    head = "".join(f"<th>{e(label)}</th>" for label, _ in columns)
    rule = (
        "wrk2's HdrHistogram percentiles: above 2.048 ms a value is its cell's highest, 3 "
        "significant figures; the max is exact"
        if constant
        else "wrk's rank rule"
    )
    return (
        f'<table class="percentiles"><caption>Latency percentiles ({rule}, as in the text '
        f"report's distribution block)</caption><thead><tr><th>percentile</th>{head}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _max(histogram: ExactHistogram) -> str:
    return print_units(histogram.max, format_time_us, 10).strip() if histogram.count else "-"


# -- the tables -------------------------------------------------------------------------------


def tables(run: LoadedRun) -> str:
    """Responses by status code, errors by kind, thresholds, the parts of the run."""
    return (
        '<section class="tables"><h2>Responses and errors</h2>'
        f"{_status_table(run)}{_errors_table(run.result)}{_threshold_table(run)}"
        f"{_parts_table(run)}</section>"
    )


def _status_table(run: LoadedRun) -> str:
    codes = run.doc.get("status_codes")
    if not isinstance(codes, Mapping):
        return '<p class="muted">Status codes: not recorded in this document.</p>'
    total = sum(int(n) for n in codes.values())
    rows = []
    for code, n in sorted(codes.items(), key=lambda item: int(item[0])):
        try:
            phrase = HTTPStatus(int(code)).phrase
        except ValueError:
            phrase = ""
        share = f"{100 * int(n) / total:.2f}%" if total else "-"
        rows.append(
            f"<tr><th>{e(code)}</th><td>{e(phrase)}</td>"
            f'<td data-metric="status-{e(code)}">{int(n)}</td><td>{share}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="4">no responses</td></tr>')
    return (
        '<table class="status"><caption>Responses by status code</caption><thead><tr>'
        "<th>status</th><th></th><th>responses</th><th>share</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _errors_table(result: RunResult) -> str:
    errors = result.errors
    attempts = result.requests + result.connect_errors + result.read_errors
    attempts += result.write_errors
    rows = []
    for kind, meaning in ERROR_MEANINGS.items():
        n = errors.get(kind, 0)
        share = f"{100 * n / attempts:.2f}%" if attempts else "-"
        rows.append(
            f'<tr><th>{kind}</th><td data-metric="errors-{kind}">{n}</td><td>{share}</td>'
            f"<td>{e(meaning)}</td></tr>"
        )
    rows.append(
        f'<tr><th>in flight at the end</th><td data-metric="in_flight">{result.in_flight}</td>'
        "<td></td><td>sent and not answered when the run stopped (wrk drops them silently)"
        "</td></tr>"
    )
    return (
        '<table class="errors"><caption>Errors by kind (share of the attempts: responses plus '
        "connect, read and write errors)</caption><thead><tr><th>kind</th><th>count</th>"
        f"<th>share</th><th>what it counts</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _threshold_table(run: LoadedRun) -> str:
    outcomes = run.doc.get("thresholds") or []
    if not outcomes:
        return ""
    rows = []
    for outcome in outcomes:
        passed = bool(outcome.get("passed"))
        observed, unit = outcome.get("observed"), outcome.get("unit") or ""
        if observed is None:
            shown = "undefined"
        else:
            shown = format_time_us(observed) if unit == "us" else f"{observed:g}{unit}"
        rows.append(
            f'<tr class="{"ok" if passed else "bad"}"><th>{e(outcome.get("expression"))}</th>'
            f"<td>{e(shown)}</td><td>{'held' if passed else 'broken'}</td></tr>"
        )
    return (
        '<table class="thresholds"><caption>Thresholds (--threshold)</caption><thead><tr>'
        "<th>threshold</th><th>observed</th><th>outcome</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _parts_table(run: LoadedRun) -> str:
    """The parts of a merged or distributed run (``agents``), and the parts lost."""
    out = []
    agents = run.doc.get("agents") or []
    if agents:
        rows = []
        for agent in agents:
            rps = agent.get("requests_per_s")
            rows.append(
                f"<tr><th>{e(agent.get('name'))}</th><td>{e(agent.get('status'))}</td>"
                f"<td>{e(agent.get('connections'))}</td><td>{e(agent.get('requests', '-'))}</td>"
                f"<td>{'-' if rps is None else f'{rps:.2f}'}</td></tr>"
            )
        out.append(
            '<table class="agents"><caption>Parts of this run (Dask agents or merged files)'
            "</caption><thead><tr><th>part</th><th>status</th><th>connections</th>"
            f"<th>requests</th><th>requests/s</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>"
        )
    return "".join(out)


LONG_TEXT_LINES = 40  # a longer text report (wrk2's spectra) starts folded


def text_report(run: LoadedRun) -> str:
    """The text report, as pyload prints it (wrk's lines and pyload's notes); folded when
    long (the page's script unfolds it for printing)."""
    text = wrk_report(run.result)
    lines = text.count("\n")
    opened = " open" if lines <= LONG_TEXT_LINES else ""
    return (
        '<section class="text"><h2>The text report</h2>'
        f"<details{opened}><summary>as printed on stdout ({lines} lines)"
        f"</summary><pre>{e(text)}</pre></details></section>"
    )
