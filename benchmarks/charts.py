"""The report's PNG charts (matplotlib, Agg backend): requests/s as grouped bars, latency
percentile curves per scenario, and pyload against wrk when wrk ran. Pure functions of the
results document; each returns the file names it wrote.

With ``--repeat N`` a bar or a point is the median of the cell's runs and its error bar spans
the slowest to the fastest run. A cell cut short by Ctrl-C or SIGTERM is hatched (requests/s)
or marked "interrupted" in the legend (latency).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from benchmarks.compare import RPS_ABS_TOL, RPS_REL_TOL
from benchmarks.results import CellResult, MatrixResult, Spread

__all__ = [
    "PERCENTILES",
    "REQUESTS_CHART",
    "WRK_CHART",
    "chart_names",
    "latency_chart_name",
    "write_charts",
]

REQUESTS_CHART = "requests_per_s.png"
WRK_CHART = "pyload_vs_wrk.png"
PERCENTILES = ("50", "75", "90", "95", "99", "99.9", "99.99", "100")
DPI = 110
ERROR_BAR = {"ecolor": "black", "elinewidth": 0.8, "capsize": 2}


def latency_chart_name(scenario: str) -> str:
    return f"latency_{scenario}.png"


def _errors(spreads: list[Spread | None]) -> list[list[float]] | None:
    """matplotlib's asymmetric error bars (below, above the median); None with single runs."""
    if not any(s is not None and s.runs > 1 for s in spreads):
        return None
    return [
        [s.median - s.low if s else 0.0 for s in spreads],
        [s.high - s.median if s else 0.0 for s in spreads],
    ]


def _requests_chart(doc: MatrixResult, path: Path) -> None:
    labels = doc.labels()
    servers = doc.servers()
    width = 0.8 / max(1, len(servers))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(labels) + 2), 4.8))
    top = 1.0
    partial = False
    for i, server in enumerate(servers):
        xs = [j + (i - (len(servers) - 1) / 2) * width for j in range(len(labels))]
        summaries = [
            (cell.summary if cell is not None else None)
            for cell in (doc.cell(server, label) for label in labels)
        ]
        spreads = [s.rate if s is not None else None for s in summaries]
        ys = [s.median if s is not None else 0.0 for s in spreads]
        top = max([top, *(s.high for s in spreads if s is not None)])
        bars = ax.bar(xs, ys, width, label=server, yerr=_errors(spreads), error_kw=ERROR_BAR)
        for bar, summary in zip(bars, summaries, strict=True):
            if summary is not None and summary.partial:
                bar.set_hatch("//")
                partial = True
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, top * 8)  # headroom for the legend
    ax.set_ylabel("requests/s (symlog)")
    p = doc.profile
    runs = f"; median of {doc.repeat} runs, bars: lowest to highest" if doc.repeat > 1 else ""
    ax.set_title(
        f"requests/s per endpoint and stack\n{p.name}: {p.connections} connections, "
        f"scale {p.scale:g}, timeout {p.timeout_s:g} s{runs}",
        fontsize="medium",
    )
    handles, names = ax.get_legend_handles_labels()
    if partial:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//"))
        names.append("interrupted (partial)")
    ax.legend(handles, names, fontsize="small", ncol=min(4, len(handles)), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _latency_chart(doc: MatrixResult, cells: list[CellResult], scenario: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.8))
    empty = []
    top: list[float] = []
    xs = list(range(len(PERCENTILES)))
    step = 0.08 if doc.repeat > 1 else 0.0  # side by side, so the error bars do not overlap
    for i, c in enumerate(cells):
        summary = c.summary
        name = f"{c.server} {c.kind}"
        if summary is not None and summary.partial:
            name += " (interrupted)"
        spreads = [c.latency_spread(p) for p in PERCENTILES]
        if summary is None or summary.p50 is None:
            empty.append(name)
            continue
        ys = [s.median / 1000 if s is not None else float("nan") for s in spreads]
        errors = _errors(spreads)
        top += [s.high / 1000 for s in spreads if s is not None]
        style = "-" if c.kind == "sync" else "--"
        ax.errorbar(
            [x + (i - (len(cells) - 1) / 2) * step for x in xs],
            ys,
            yerr=[[e / 1000 for e in side] for side in errors] if errors else None,
            fmt=style,
            marker="o",
            markersize=3,
            capsize=2,
            label=name,
        )
    timeout_ms = doc.profile.timeout_s * 1000
    ax.set_ylim(0, max([timeout_ms, *top]) * 1.1)
    ax.axhline(timeout_ms, color="grey", linestyle=":", label=f"timeout {timeout_ms:g} ms")
    ax.set_xticks(xs, [f"p{p}" for p in PERCENTILES])
    ax.set_ylabel("latency (ms, as wrk prints it)")
    runs = f" (median of {doc.repeat} runs, bars min-max)" if doc.repeat > 1 else ""
    ax.set_title(f"{scenario}: latency percentiles{runs}")
    if empty:
        ax.text(
            0.01,
            0.98,
            "no latency recorded (all timeouts or no response):\n" + "\n".join(empty),
            transform=ax.transAxes,
            va="top",
            fontsize="small",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
        )
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _wrk_pairs(doc: MatrixResult) -> list[tuple[float, float, bool]]:
    """(wrk's req/s, pyload's req/s, agree) for every run that has both tools' numbers."""
    pairs = []
    for c in doc.ok_cells():
        for run in c.runs:
            wrk = run.wrk
            if run.pyload is not None and wrk is not None and wrk.parsed and wrk.comparison:
                pairs.append(
                    (wrk.parsed.requests_per_s, run.pyload.requests_per_s, wrk.comparison.agree)
                )
    return pairs


def _wrk_chart(pairs: list[tuple[float, float, bool]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    top = max([max(w, p) for w, p, _ in pairs] + [1.0]) * 1.1
    line = [0.0, top]
    ax.plot(line, line, color="grey", linewidth=1, label="pyload = wrk")
    xs = [top * i / 100 for i in range(101)]
    ax.fill_between(
        xs,
        [min(x * (1 - RPS_REL_TOL), x - RPS_ABS_TOL) for x in xs],
        [max(x / (1 - RPS_REL_TOL), x + RPS_ABS_TOL) for x in xs],
        color="grey",
        alpha=0.15,
        label="tolerance",
    )
    for agree, colour, name in ((True, "tab:green", "agree"), (False, "tab:red", "disagree")):
        pts = [(w, p) for w, p, a in pairs if a is agree]
        if pts:
            ax.scatter([w for w, _ in pts], [p for _, p in pts], color=colour, s=18, label=name)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("wrk requests/s")
    ax.set_ylabel("pyload requests/s")
    ax.set_title("pyload vs wrk, every run of every cell")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def chart_names(doc: MatrixResult) -> list[str]:
    """The file names ``write_charts`` writes for ``doc``, in report order, drawing nothing."""
    names = [REQUESTS_CHART]
    names += [latency_chart_name(s) for s in dict.fromkeys(c.scenario for c in doc.ok_cells())]
    return names + ([WRK_CHART] if _wrk_pairs(doc) else [])


def write_charts(doc: MatrixResult, out_dir: Path) -> list[str]:
    """Write every chart into out_dir; return their file names, in report order."""
    names = [REQUESTS_CHART]
    _requests_chart(doc, out_dir / REQUESTS_CHART)
    ok = doc.ok_cells()
    for scenario in dict.fromkeys(c.scenario for c in ok):
        name = latency_chart_name(scenario)
        _latency_chart(doc, [c for c in ok if c.scenario == scenario], scenario, out_dir / name)
        names.append(name)
    pairs = _wrk_pairs(doc)
    if pairs:
        _wrk_chart(pairs, out_dir / WRK_CHART)
        names.append(WRK_CHART)
    return names
