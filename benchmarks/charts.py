"""The report's PNG charts (matplotlib, Agg backend): requests/s as grouped bars, latency
percentile curves per scenario, and pyload against wrk when wrk ran. Pure functions of the
results document; each returns the file names it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from benchmarks.compare import RPS_ABS_TOL, RPS_REL_TOL
from benchmarks.numbers import cell_numbers
from benchmarks.numbers import labels as ordered_labels
from benchmarks.numbers import servers as stack_order

__all__ = ["PERCENTILES", "REQUESTS_CHART", "WRK_CHART", "latency_chart_name", "write_charts"]

REQUESTS_CHART = "requests_per_s.png"
WRK_CHART = "pyload_vs_wrk.png"
PERCENTILES = ("50", "75", "90", "95", "99", "99.9", "99.99", "100")
DPI = 110


def latency_chart_name(scenario: str) -> str:
    return f"latency_{scenario}.png"


def _ok(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["cells"] if c["status"] == "ok" and c.get("pyload")]


def _percentile(latency: dict[str, Any], p: str) -> float:
    """A percentile of pyload's latency summary; p100 is the maximum."""
    value = latency["percentiles"].get(p)
    if value is None and p == "100":
        value = latency["max"]
    return float(value if value is not None else "nan")


def _requests_chart(doc: dict[str, Any], path: Path) -> None:
    cells = _ok(doc)
    labels = ordered_labels(doc["cells"])
    servers = stack_order(doc["cells"])
    rates = {(c["server"], c["label"]): c["pyload"]["requests_per_s"] for c in cells}
    width = 0.8 / max(1, len(servers))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(labels) + 2), 4.8))
    for i, server in enumerate(servers):
        xs = [j + (i - (len(servers) - 1) / 2) * width for j in range(len(labels))]
        ys = [rates.get((server, label), 0.0) for label in labels]
        ax.bar(xs, ys, width, label=server)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, max([1.0, *rates.values()]) * 8)  # headroom for the legend
    ax.set_ylabel("requests/s (symlog)")
    p = doc["profile"]
    ax.set_title(
        f"requests/s per endpoint and stack ({p['name']}: {p['connections']} "
        f"connections, scale {p['scale']:g}, timeout {p['timeout_s']:g} s)"
    )
    ax.legend(fontsize="small", ncol=min(4, len(servers)), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _latency_chart(doc: dict[str, Any], scenario: str, path: Path) -> None:
    cells = [c for c in _ok(doc) if c["scenario"] == scenario]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    empty = []
    top: list[float] = []
    xs = range(len(PERCENTILES))
    for c in cells:
        lat = c["pyload"]["latency_us"]
        if not lat["count"]:
            empty.append(f"{c['server']} {c['kind']}")
            continue
        ys = [_percentile(lat, p) / 1000 for p in PERCENTILES]
        top.append(max(ys))
        style = "-" if c["kind"] == "sync" else "--"
        ax.plot(xs, ys, style, marker="o", markersize=3, label=f"{c['server']} {c['kind']}")
    timeout_ms = doc["profile"]["timeout_s"] * 1000
    ax.set_ylim(0, max([timeout_ms, *top]) * 1.1)
    ax.axhline(timeout_ms, color="grey", linestyle=":", label=f"timeout {timeout_ms:g} ms")
    ax.set_xticks(list(xs), [f"p{p}" for p in PERCENTILES])
    ax.set_ylabel("latency (ms, as wrk prints it)")
    ax.set_title(f"{scenario}: latency percentiles")
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


def _wrk_chart(doc: dict[str, Any], path: Path) -> None:
    pairs = []
    for c in _ok(doc):
        wrk = c.get("wrk") or {}
        if wrk.get("parsed"):
            numbers = cell_numbers(c)
            assert numbers is not None
            pairs.append(
                (
                    wrk["parsed"]["requests_per_s"],
                    numbers.requests_per_s,
                    bool(wrk["comparison"]["agree"]),
                )
            )
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
    ax.set_title("pyload vs wrk, every cell")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def write_charts(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """Write every chart into out_dir; return their file names, in report order."""
    names = [REQUESTS_CHART]
    _requests_chart(doc, out_dir / REQUESTS_CHART)
    for scenario in dict.fromkeys(c["scenario"] for c in _ok(doc)):
        name = latency_chart_name(scenario)
        _latency_chart(doc, scenario, out_dir / name)
        names.append(name)
    if any((c.get("wrk") or {}).get("parsed") for c in _ok(doc)):
        _wrk_chart(doc, out_dir / WRK_CHART)
        names.append(WRK_CHART)
    return names
