"""The selfbench's report: its Markdown, a pure function of the document that
``benchmarks.selfbench.run_selfbench()`` returns (written beside it as ``selfbench-<date>.md``
and printed), and the command line that repeats the run."""

from __future__ import annotations

from typing import Any

from benchmarks.clients import REFERENCE_TOOL
from benchmarks.formatting import fmt_or
from benchmarks.machine import machine_markdown

__all__ = ["selfbench_command", "selfbench_markdown"]


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f} ms"


def selfbench_markdown(result: dict[str, Any]) -> str:
    """The selfbench report (also printed), from ``benchmarks.selfbench.run_selfbench()``."""
    s = result["settings"]
    lines = [
        f"# pyload selfbench, {result['date']}",
        "",
        f"Server: {s['server']} on CPU {s['server_cpu']}; each client with one worker on CPU "
        f"{s['client_cpu']}; {s['connections']} connections; {s['duration_s']} s per run, "
        f"median of {s['rounds']} rounds (order rotating), after a {s['warmup_s']} s warm-up "
        f"per tool. Total wall time {result['wall_s']} s.",
        "",
        *(f"Note: {note}\n" for note in result.get("notes", [])),
        "Client CPU is user+sys of the client's whole process tree (start-up included); "
        "load-phase CPU is pyload's worker processes while loading (`--json` `cpu_s`).",
        "",
        *(_FLOOR_NOTE if "floor" in result["medians"] else []),
        "| tool | requests/s | CPU µs/request (tree) | CPU µs/request (load phase) | p50 | p99 "
        "| runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, m in result["medians"].items():
        load = m["load_cpu_us_per_request"]
        if tool == REFERENCE_TOOL:
            load = m["cpu_us_per_request"]
        lines.append(
            f"| {tool} | {fmt_or(m['requests_per_s'], '{:.0f}')} "
            f"| {fmt_or(m['cpu_us_per_request'])} "
            f"| {fmt_or(load)} | {_ms(m['p50_us'])} | {_ms(m['p99_us'])} | {m['runs']} |"
        )
    lines += [
        "",
        "Ratios to wrk (median / wrk's median):",
        "",
        "| tool | requests/s | CPU/request (tree) | CPU/request (load phase) |",
        "|---|---:|---:|---:|",
    ]
    for tool, r in result["ratios_to_wrk"].items():
        lines.append(
            f"| {tool} | {fmt_or(r['requests_per_s'], '{:.2f}x')} "
            f"| {fmt_or(r['cpu_us_per_request'], '{:.2f}x')} "
            f"| {fmt_or(r['load_cpu_us_per_request'], '{:.2f}x')} |"
        )
    if result.get("ratios_to_floor"):
        lines += [
            "",
            "Ratios to the floor (median / the floor's median):",
            "",
            "| tool | requests/s | CPU/request (tree) | CPU/request (load phase) |",
            "|---|---:|---:|---:|",
        ]
        for tool, r in result["ratios_to_floor"].items():
            lines.append(
                f"| {tool} | {fmt_or(r['requests_per_s'], '{:.2f}x')} "
                f"| {fmt_or(r['cpu_us_per_request'], '{:.2f}x')} "
                f"| {fmt_or(r['load_cpu_us_per_request'], '{:.2f}x')} |"
            )
    target = result["target"]
    if target["cpu_ratio"] is not None:

        def verdict(x: float | None) -> str:
            if x is None:
                return "not measured"
            return f"{x:.2f}x, {'met' if x <= target['limit'] else 'NOT met'}"

        lines += [
            "",
            f"Target: pyload's client CPU per request at most {target['limit']}x "
            f"wrk's. Whole process tree: {verdict(target['cpu_ratio'])}; "
            f"load phase: {verdict(target['load_cpu_ratio'])}.",
        ]
    for tool, why in result["skipped"].items():
        lines += ["", f"{tool}: {why}"]
    if result["scaling"]:
        lines += [
            "",
            f"## Scaling (pyload vs wrk, median of {s['scaling_rounds']} run(s) each)",
            "",
            "| workers | connections | client CPUs | pyload req/s | wrk req/s | ratio "
            "| pyload CPU µs/req (tree / load) | wrk CPU µs/req | ratio (tree / load) |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in result["scaling"]:
            p = row["medians"].get("pyload", {})
            w = row["medians"].get(REFERENCE_TOOL, {})
            r = row["ratios"].get("pyload", {})
            lines.append(
                f"| {row['workers']} | {row['connections']} | {row['cpus']} "
                f"| {fmt_or(p.get('requests_per_s'), '{:.0f}')} "
                f"| {fmt_or(w.get('requests_per_s'), '{:.0f}')} "
                f"| {fmt_or(r.get('requests_per_s'), '{:.2f}x')} "
                f"| {fmt_or(p.get('cpu_us_per_request'))} / "
                f"{fmt_or(p.get('load_cpu_us_per_request'))} "
                f"| {fmt_or(w.get('cpu_us_per_request'))} "
                f"| {fmt_or(r.get('cpu_us_per_request'), '{:.2f}x')} / "
                f"{fmt_or(r.get('load_cpu_us_per_request'), '{:.2f}x')} |"
            )
    lines += _shapes_markdown(result)
    lines += [
        "",
        "## Machine",
        "",
        machine_markdown(result["machine"]).rstrip(),
        "",
        f"Reproduce: `{selfbench_command(s)}`",
        "",
    ]
    return "\n".join(lines)


def _shapes_markdown(result: dict[str, Any]) -> list[str]:
    """The shapes table (wrk and pyload per shape), its ratios to wrk, and issue 8's targets."""
    shapes = result.get("shapes") or []
    if not shapes:
        return []
    s = result["settings"]
    lines = [
        "",
        f"## Shapes (median of {s['shape_rounds']} round(s) of {s['shape_duration_s']} s, "
        "tools alternating)",
        "",
        f"Every client pinned to CPU {s['client_cpu']} (pyload with its default processes), "
        f'nginx on CPU {s["server_cpu"]}. "small" is nginx\'s `return 200` '
        '(6-byte body), "25 KB" a static file of 25,000 bytes (sendfile). Start-up: from '
        "launching the client to the first request nginx counted (its `stub_status`, polled "
        f"every {s['startup_poll_s'] * 1000:g} ms). Peak PSS: the sum of `Pss` in "
        "`/proc/<pid>/smaps_rollup` over the client and all its descendants, sampled every "
        f"{s['pss_interval_s']:g} s, the highest sample (MB = 10^6 bytes). Load-phase CPU: "
        "pyload's `--json` `cpu_s`; wrk's is its whole-tree CPU (its start-up is negligible). "
        "Beyond run: wall time less the run the tool itself reports (start-up, stopping, "
        "reporting).",
        "",
        "| shape | tool | req/s | CPU µs/req (tree) | CPU µs/req (load phase) | start-up "
        "| peak PSS MB | beyond run | processes | errors | runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in shapes:
        for tool, m in row["medians"].items():
            load = (
                m["cpu_us_per_request"] if tool == REFERENCE_TOOL else m["load_cpu_us_per_request"]
            )
            lines.append(
                f"| {row['shape']} | {tool} | {fmt_or(m['requests_per_s'], '{:.0f}')} "
                f"| {fmt_or(m['cpu_us_per_request'])} | {fmt_or(load)} "
                f"| {_ms(_scale(m.get('startup_s'), 1e6))} "
                f"| {fmt_or(m.get('peak_pss_mb'), '{:.1f}')} "
                f"| {fmt_or(m.get('wall_beyond_run_s'), '{:.2f} s')} "
                f"| {fmt_or(m.get('processes'), '{:g}')} | {fmt_or(m.get('errors'), '{:g}')} "
                f"| {m['runs']} |"
            )
    lines += [
        "",
        "Ratios to wrk per shape (pyload's median / wrk's median; wall: pyload's median wall "
        "time less wrk's):",
        "",
        "| shape | req/s | CPU/req (tree) | CPU/req (load phase) | start-up | peak PSS "
        "| wall, pyload - wrk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in shapes:
        for tool, r in row["ratios"].items():
            name = row["shape"] if tool == "pyload" else f"{row['shape']} ({tool})"
            lines.append(
                f"| {name} | {fmt_or(r['requests_per_s'], '{:.2f}x')} "
                f"| {fmt_or(r['cpu_us_per_request'], '{:.2f}x')} "
                f"| {fmt_or(r['load_cpu_us_per_request'], '{:.2f}x')} "
                f"| {fmt_or(r.get('startup_s'), '{:.1f}x')} "
                f"| {fmt_or(r.get('peak_pss_mb'), '{:.1f}x')} "
                f"| {fmt_or(r.get('wall_s_minus_wrk'), '{:+.2f} s')} |"
            )
    if any(row.get("ratios_to_floor") for row in shapes):
        lines += _floor_shapes_markdown(shapes)
    lines += _targets_markdown("Issue 8's", result.get("shape_targets") or [])
    lines += _targets_markdown("Issue 20's", result.get("floor_targets") or [])
    return lines


#: Said under the head-to-head's heading once the floor ran (schema 3).
_FLOOR_NOTE = [
    "The floor is benchmarks/floor.py, the least Python client (uvloop, an asyncio.Protocol, "
    "httptools, prebuilt request bytes, latencies into a dict: issue 20), all its connections "
    "on one loop in one process whatever the shape's threads; its load-phase CPU is its own "
    "over the load.",
    "",
]


def _floor_shapes_markdown(shapes: list[dict[str, Any]]) -> list[str]:
    """The shapes' ratios to the floor: every tool's median / the floor's median."""
    lines = [
        "",
        "Ratios to the floor per shape (the tool's median / the floor's median; wall: the "
        "tool's median wall time less the floor's):",
        "",
        "| shape | tool | req/s | CPU/req (tree) | CPU/req (load phase) | start-up | peak PSS "
        "| wall, tool - floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in shapes:
        for tool, r in row.get("ratios_to_floor", {}).items():
            lines.append(
                f"| {row['shape']} | {tool} | {fmt_or(r['requests_per_s'], '{:.2f}x')} "
                f"| {fmt_or(r['cpu_us_per_request'], '{:.2f}x')} "
                f"| {fmt_or(r['load_cpu_us_per_request'], '{:.2f}x')} "
                f"| {fmt_or(r.get('startup_s'), '{:.2f}x')} "
                f"| {fmt_or(r.get('peak_pss_mb'), '{:.2f}x')} "
                f"| {fmt_or(r.get('wall_s_minus_floor'), '{:+.2f} s')} |"
            )
    return lines


def _targets_markdown(whose: str, targets: list[dict[str, Any]]) -> list[str]:
    """A list of targets with pyload's values and verdicts; nothing if there is none."""
    if not targets:
        return []
    lines = ["", f"{whose} targets on these shapes (pyload):", ""]
    for t in targets:
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT met")
        lines.append(
            f"- {t['shape']}, {t['what']}: {fmt_or(t['value'])} (target {t['op']} "
            f"{t['limit']:g}): {verdict}"
        )
    return lines


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def selfbench_command(s: dict[str, Any]) -> str:
    """The command line that repeats a selfbench run with the same settings."""

    def listed(values: list[Any]) -> str:
        return ",".join(str(v) for v in values) or "''"

    shapes = ""
    if "shapes" in s:  # schema 2
        shapes = (
            f"--shapes {listed([f'{t}x{c}' for t, c in s['shapes']])} "
            f"--shape-bodies {listed(s['bodies'])} "
            f"--shape-duration {s['shape_duration_s']} --shape-rounds {s['shape_rounds']} "
        )
    return (
        f"python -m benchmarks.selfbench --duration {s['duration_s']} --rounds {s['rounds']} "
        f"--connections {s['connections']} --tools {','.join(s['tools'])} "
        f"--scaling-workers {listed(s['scaling_workers'])} "
        f"--scaling-connections {listed(s['scaling_connections'])} "
        f"--scaling-rounds {s['scaling_rounds']} {shapes}"
        f"--warmup {s['warmup_s']} --loop {s['loop']}"
    )
