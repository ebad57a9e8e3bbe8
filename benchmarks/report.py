"""report.md from the results document: summary tables, interpretation, charts, pyload vs wrk,
then a section per server stack and a subsection per scenario with Sync / Async and pyload's
wrk-style text in a code block, as the reference experiment laid it out. Pure text building."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from benchmarks.compare import tolerance_text
from benchmarks.interpret import interpret
from benchmarks.machine import machine_markdown
from benchmarks.numbers import cell_numbers, fmt_latency, fmt_rate, labels, servers

__all__ = ["SUMMARY_HEADER", "render_report", "summary_rows"]

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
NOT_SERVED = "n/a"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _notes(record: dict[str, Any]) -> str:
    numbers = cell_numbers(record)
    if record["status"] != "ok" or numbers is None:
        return f"**{record['status']}**: {record.get('error') or 'no result'}"
    notes = [
        f"{k} {v}" if k != "status" else f"non-2xx {v}" for k, v in numbers.breakdown.items() if v
    ]
    if numbers.requests and numbers.timeouts == numbers.requests:
        notes.append("all timeouts")
    if numbers.requests == 0:
        notes.append("no response")
    if numbers.requests == 0 and numbers.in_flight:
        notes.append(f"{numbers.in_flight} requests unanswered at the end")
    if record.get("error"):
        notes.append(record["error"])
    if record.get("restarted"):
        notes.append("stack restarted before this cell")
    return ", ".join(notes)


def summary_rows(doc: dict[str, Any]) -> list[list[str]]:
    """The detailed summary table's rows, in SUMMARY_HEADER order (endpoint by endpoint)."""
    rows = []
    for label in labels(doc["cells"]):
        for record in (c for c in doc["cells"] if c["label"] == label):
            numbers = cell_numbers(record)
            if record["status"] == "ok" and numbers is not None:
                rows.append(
                    [
                        label,
                        record["server"],
                        str(numbers.requests),
                        fmt_rate(numbers.requests_per_s),
                        fmt_latency(numbers.p50_us),
                        fmt_latency(numbers.p99_us),
                        str(numbers.timeouts),
                        str(numbers.errors),
                        _notes(record),
                    ]
                )
            else:
                rows.append([label, record["server"], "-", "-", "-", "-", "-", "-", _notes(record)])
    return rows


def _rate_matrix(doc: dict[str, Any]) -> list[str]:
    stacks = servers(doc["cells"])
    by = {(c["server"], c["label"]): c for c in doc["cells"]}
    lines = [_row(["req/s", *stacks]), _row(["---", *["---:"] * len(stacks)])]
    for label in labels(doc["cells"]):
        row = [label]
        for server in stacks:
            record = by.get((server, label))
            numbers = cell_numbers(record) if record else None
            if record is None:
                row.append(NOT_SERVED)
            elif record["status"] != "ok" or numbers is None:
                row.append(record["status"])
            else:
                row.append(
                    fmt_rate(numbers.requests_per_s)
                    + (" ⏱" if numbers.requests and numbers.timeouts == numbers.requests else "")
                )
        lines.append(_row(row))
    return lines


def _parameters(doc: dict[str, Any]) -> list[str]:
    p = doc["profile"]
    waits = {c["scenario"]: c["gateway_wait_s"] for c in doc["cells"] if c["gateway_wait_s"]}
    wait_text = ", ".join(f"{k} waits {v:g} s" for k, v in waits.items())
    lines = [
        f"- profile **{p['name']}**: {p['connections']} connections, {p['threads']} pyload "
        f"worker process(es), {p['server_workers']} server worker process(es) per stack, "
        f"{p['duration_s']:g} s per cell, timeout {p['timeout_s']:g} s, time scale "
        f"{p['scale']:g}"
        + (f" ({wait_text}; the upstream's delay is scaled too)" if wait_text else ""),
        f"- {len(doc['cells'])} cells, run {doc['started_at']} → {doc['finished_at']}, "
        f"wall time {doc['wall_s']:g} s; a {p['warmup_s']:g} s warm-up per stack",
    ]
    if doc.get("with_wrk"):
        lines.append(
            f"- wrk ran on every cell too (`--timeout {doc['wrk_timeout_s']}s`, "
            f"`-d{p['duration_s']:g}s`)"
        )
    if doc.get("interrupted"):
        lines.append("- **interrupted** (Ctrl-C): the remaining cells were not run")
    return lines


def _wrk_section(doc: dict[str, Any]) -> list[str]:
    p = doc["profile"]
    lines = ["## pyload vs wrk", "", f"Tolerance: {tolerance_text()}."]
    if doc["wrk_timeout_s"] != p["timeout_s"]:
        lines += [
            "",
            f"wrk's `--timeout` takes whole seconds, so wrk ran with "
            f"{doc['wrk_timeout_s']} s while pyload used {p['timeout_s']:g} s: in "
            "cells where pyload counted timeouts, the timeouts and the latency "
            "percentiles cannot be compared (marked n/c); requests/s and the other "
            "errors are compared everywhere. For a faithful comparison use a "
            "whole-second timeout, e.g. `--scale 0.5` (timeout 1 s).",
        ]
    lines += [
        "",
        _row(
            [
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
            ]
        ),
        _row(["---", "---"] + ["---:"] * 10 + ["---"]),
    ]
    disagree = []
    for c in doc["cells"]:
        wrk = c.get("wrk")
        if c["status"] != "ok" or not wrk:
            continue
        if not wrk.get("comparison"):
            lines.append(
                _row([c["label"], c["server"]] + ["-"] * 10 + [f"wrk failed: {wrk.get('error')}"])
            )
            continue
        m = wrk["comparison"]["metrics"]

        def pair(name: str, fmt: Any, metrics: Any = m) -> list[str]:
            entry = metrics[name]
            w = "n/c" if entry["agree"] is None and entry["wrk"] is not None else fmt(entry["wrk"])
            return [fmt(entry["pyload"]), w]

        verdict = (
            "agree"
            if wrk["comparison"]["agree"]
            else "**differ**: " + ", ".join(wrk["comparison"]["disagreements"])
        )
        if not wrk["comparison"]["agree"]:
            disagree.append(f"{c['server']} {c['label']}")
        lines.append(
            _row(
                [
                    c["label"],
                    c["server"],
                    *pair("requests_per_s", fmt_rate),
                    *pair("p50_us", fmt_latency),
                    *pair("p99_us", fmt_latency),
                    *pair("timeouts", str),
                    *pair("errors", str),
                    verdict,
                ]
            )
        )
    lines += [
        "",
        f"Cells outside the tolerance: {len(disagree)}"
        + (f" ({'; '.join(disagree)})." if disagree else "."),
    ]
    return lines


def _cell_block(record: dict[str, Any]) -> list[str]:
    if record["status"] != "ok" or not record.get("pyload"):
        return [f"**{record['status']}**: {record.get('error') or 'no result'}", ""]
    lines = ["```", record["pyload"]["wrk_text"].rstrip("\n"), "```", ""]
    if record.get("error"):
        lines += [f"Note: {record['error']}", ""]
    wrk = record.get("wrk")
    if wrk and wrk.get("text"):
        lines += ["wrk on the same cell:", "", "```", wrk["text"].rstrip("\n"), "```", ""]
    elif wrk:
        lines += [f"wrk failed: {wrk.get('error')}", ""]
    return lines


def _stack_sections(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    stacks = {s["server"]: s for s in doc.get("stacks", [])}
    for server in servers(doc["cells"]):
        lines += [f"## {server}", ""]
        starts = stacks.get(server, {}).get("starts", [])
        if starts:
            lines += [
                "Started "
                + ", ".join(
                    f"in {s['seconds']:g} s" if s["ok"] else f"FAILED ({s['error']})"
                    for s in starts
                )
                + ".",
                "",
            ]
        cells = [c for c in doc["cells"] if c["server"] == server]
        for scenario in dict.fromkeys(c["scenario"] for c in cells):
            lines += [f"### {scenario}", ""]
            for record in (c for c in cells if c["scenario"] == scenario):
                lines += [f"#### {record['kind'].capitalize()}", "", f"`GET {record['path']}`", ""]
                lines += _cell_block(record)
    return lines


def render_report(doc: dict[str, Any], charts: Sequence[str] = ()) -> str:
    """The whole report.md text."""
    p = doc["profile"]
    lines = [f"# Django server stacks under pyload: profile {p['name']}", ""]
    lines += _parameters(doc)
    lines += [
        "",
        "## Summary",
        "",
        "Requests/s (⏱: every response was a timeout; n/a: not "
        "served by this stack, WSGI has no async views):",
        "",
    ]
    lines += _rate_matrix(doc)
    lines += [
        "",
        "Every cell (p50/p99 are pyload's wrk-style latency, corrected for "
        "coordinated omission as wrk does; - means no latency was recorded; errors = "
        "connect + read + write + non-2xx):",
        "",
    ]
    lines += [
        _row(list(SUMMARY_HEADER)),
        _row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---"]),
    ]
    lines += [_row(r) for r in summary_rows(doc)]
    lines += ["", "## Interpretation", ""]
    lines += [f"- {b}" for b in interpret(doc)]
    if charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{name}]({name})" for name in charts]
    if doc.get("with_wrk"):
        lines += ["", *_wrk_section(doc)]
    lines += ["", "# Results by server stack", ""]
    lines += _stack_sections(doc)
    lines += [
        "## Machine",
        "",
        machine_markdown(doc["machine"]).rstrip(),
        "",
        "## Reproduce",
        "",
        "```",
        doc.get("command") or "python -m benchmarks " + shlex.join(doc["argv"]),
        "```",
        "",
    ]
    return "\n".join(lines)
