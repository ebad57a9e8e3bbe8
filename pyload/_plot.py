"""The run's picture (``--plot FILE.png``): the latency percentile curve and requests/s over time.

Left: latency by percentile, the x axis 1/(1-p) log-scaled as HdrHistogram's plotter draws it
(so 90 %, 99 %, 99.9 % ... are equally spaced), from the same percentile iteration as wrk2's
spectrum (spectrum.py). At a constant rate both curves are drawn: from the intended send times
(what the report's Latency row shows) and as measured; in the closed loop the measured
latencies and wrk's post-run correction of them. Right: responses per second of each second of
the run (``result.seconds``) and, at a constant rate, the rate asked.
Drawn with matplotlib's Agg backend into a PNG of PLOT_SIZE_PX; no screen needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from pyload._spectrum import cells_of, spectrum_points

if TYPE_CHECKING:
    from pyload._stats import ExactHistogram
    from pyload.result import RunResult

__all__ = ["PLOT_DPI", "PLOT_SIZE_PX", "percentile_curve", "plot_run"]

PLOT_DPI = 100
PLOT_SIZE_PX = (1400, 600)
PERCENTILE_TICKS = (0.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999)


def percentile_curve(latency: ExactHistogram) -> tuple[list[float], list[float]]:
    """(1/(1-p) for each level below 100 %, the latency there in ms) of a histogram."""
    xs, ys = [], []
    for percentile, cell in spectrum_points(cells_of(latency.counts)):
        if percentile >= 100.0:
            break
        xs.append(1 / (1 - percentile / 100))
        ys.append(cell.highest / 1000)
    return xs, ys


def plot_run(result: RunResult, target: str | BinaryIO) -> None:
    """Draw ``result`` as a PNG into ``target``, a path or a binary file (raises OSError if
    it cannot be written)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    width, height = PLOT_SIZE_PX
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(width / PLOT_DPI, height / PLOT_DPI), dpi=PLOT_DPI
    )
    try:
        config = result.config
        if config.rate is not None:
            curves = [
                ("from intended send (corrected)", result.latency),
                ("as measured (uncorrected)", result.latency_uncorrected),
            ]
        else:
            curves = [
                ("as measured", result.latency_uncorrected),
                ("wrk's post-run correction", result.latency),
            ]
        drawn = 0
        for label, histogram in curves:
            xs, ys = percentile_curve(histogram)
            if xs:
                left.plot(xs, ys, label=label, drawstyle="steps-post")
                drawn += 1
        left.set_xscale("log")
        ticks = [1 / (1 - p / 100) for p in PERCENTILE_TICKS]
        left.set_xticks(ticks, [f"{p:g}%" for p in PERCENTILE_TICKS])
        left.set_xlim(1, max(ticks[2], left.get_xlim()[1]))
        left.set_xlabel("percentile")
        left.set_ylabel("latency (ms)")
        left.set_title("Latency by percentile")
        left.grid(True, which="major", alpha=0.4)
        if drawn:
            left.legend(loc="upper left")
        else:
            left.text(0.5, 0.5, "no latency recorded", ha="center", transform=left.transAxes)

        seconds = [i for i in result.seconds if i.end_s > i.start_s]
        right.plot(
            [i.end_s for i in seconds],
            [i.requests / (i.end_s - i.start_s) for i in seconds],
            marker="o",
            label="responses/s",
        )
        if config.rate is not None:
            right.axhline(config.rate, linestyle="--", color="grey", label="rate asked (-R)")
        right.set_xlabel("seconds into the run")
        right.set_ylabel("responses per second")
        right.set_title("Throughput")
        right.set_ylim(bottom=0)
        right.grid(True, alpha=0.4)
        right.legend(loc="lower right")
        figure.suptitle(f"pyload {config.url}: {result.requests} requests")
        figure.tight_layout()
        figure.savefig(target, format="png", dpi=PLOT_DPI)
    finally:
        plt.close(figure)
