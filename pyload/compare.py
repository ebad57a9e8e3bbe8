"""``pyload compare``: two runs side by side, a row per number, each with a verdict from a test.

Sans-IO: ``compare(base, new)`` takes two results (``RunResult``, as ``--json`` writes and
``RunResult.from_json`` reads them) and returns a ``Comparison``: one ``Row`` per metric (the
whole-run value of each run, the change, the verdict and its p-value) and the warnings (settings
that differ, a partial or interrupted run, a run without per-second data). The CLI
(``pyload._cli``) reads the files, prints ``Comparison.to_text()`` and maps ``--fail-on`` to the
exit status. docs/compare.md is the whole story; in short:

- The samples are the runs' seconds (the JSON's ``seconds``): per second, its requests/s, its
  latency percentiles (p50, p90, p99, p99.9, max) and its error and timeout counts. The last
  second is left out: the stop cuts it (its requests still in flight are never counted) and it
  is shorter. A ``--warmup`` is outside the seconds already.
- The test is the two-sided Mann-Whitney U test (``pyload._mann_whitney``) of the new run's
  samples against the base run's, at ``ALPHA`` = 0.01.
- A row says "slower"/"faster" (errors and timeouts: "more"/"fewer") when the test rejects one
  distribution at ``ALPHA`` AND the whole-run value moved by at least ``MIN_CHANGE`` (5 %) in
  the direction the samples moved; otherwise "no detectable change". A run with fewer than
  ``MIN_SECONDS`` samples for a row gives "too few samples" there.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from pyload._mann_whitney import mann_whitney
from pyload.errors import UsageError

if TYPE_CHECKING:
    from pyload.result import RunResult, Second

__all__ = [
    "ALPHA",
    "FAIL_ON",
    "FASTER",
    "FEWER",
    "IGNORED_SETTINGS",
    "METRICS",
    "MIN_CHANGE",
    "MIN_SECONDS",
    "MORE",
    "NO_CHANGE",
    "SLOWER",
    "TOO_FEW",
    "Comparison",
    "Metric",
    "Row",
    "RunSamples",
    "build_parser",
    "compare",
    "compare_samples",
    "fails",
    "per_second_samples",
    "samples_of",
    "verdict",
]

ALPHA = 0.01  # a row's samples differ when the test's p-value is below this
MIN_CHANGE = 0.05  # ... and its whole-run value moved by at least this share of the base's
MIN_SECONDS = 5  # samples each run needs for a verdict: 5 against 5 can reach p < 0.01
# Options that change how a run is reported or checked, not what it measures.
IGNORED_SETTINGS = ("print_latency", "u_latency", "percentiles", "thresholds")

FASTER, SLOWER = "faster", "slower"
MORE, FEWER = "more", "fewer"  # errors and timeouts
NO_CHANGE = "no detectable change"
TOO_FEW = "too few samples"
FAIL_ON = ("slower", "more-errors")  # --fail-on: a row says slower; errors or timeouts say more


@dataclass(frozen=True)
class Metric:
    """A row of the comparison: what it measures and what its verdicts say."""

    name: str  # "req/s", "p50", ..., "max", "errors", "timeouts"
    unit: str  # "/s": requests per second, "us": a latency, "": a count
    words: tuple[str, str]  # the verdicts when the value went (up, down)


METRICS = (
    Metric("req/s", "/s", (FASTER, SLOWER)),
    *(Metric(name, "us", (SLOWER, FASTER)) for name in ("p50", "p90", "p99", "p99.9", "max")),
    Metric("errors", "", (MORE, FEWER)),
    Metric("timeouts", "", (MORE, FEWER)),
)
_LATENCY_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}


@dataclass(frozen=True)
class RunSamples:
    """What a comparison needs of a run: its whole-run values and its per-second samples."""

    name: str  # how the text names it: the file's name, or "base" / "new"
    totals: Mapping[str, float]  # metric name -> the whole run's value
    samples: Mapping[str, Sequence[float]]  # metric name -> one value per full second
    settings: Mapping[str, Any] = field(default_factory=dict)  # the config block
    notes: tuple[str, ...] = ()  # warnings about this run alone (partial, interrupted...)


@dataclass(frozen=True)
class Row:
    """One metric of the two runs."""

    metric: str
    unit: str
    base: float
    new: float
    verdict: str  # FASTER, SLOWER, MORE, FEWER, NO_CHANGE or TOO_FEW
    p: float | None  # the test's two-sided p-value (None: too few samples)
    samples: tuple[int, int]  # the seconds each run gave this row

    @property
    def change(self) -> float:
        return self.new - self.base

    @property
    def relative_change(self) -> float | None:
        """The change as a share of the base value (0.1: +10 %); None when the base is 0 and
        the new value is not."""
        if self.base == 0:
            return 0.0 if self.new == 0 else None
        return self.change / self.base

    def summary(self) -> str:
        """The row in one line: ``p50 slower: 20.31ms -> 40.35ms, +20.04ms (+98.7%), p=0.008``."""
        return (
            f"{self.metric} {self.verdict}: {_value(self, self.base)} -> "
            f"{_value(self, self.new)}, {_change(self)}, {_p(self)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "unit": self.unit,
            "base": self.base,
            "new": self.new,
            "change": self.change,
            "relative_change": self.relative_change,
            "verdict": self.verdict,
            "p": self.p,
            "samples": list(self.samples),
        }


@dataclass(frozen=True)
class Comparison:
    """The rows of two runs and the warnings that go with them."""

    base: str
    new: str
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]

    def row(self, metric: str) -> Row:
        return next(row for row in self.rows if row.metric == metric)

    def verdicts(self) -> dict[str, str]:
        return {row.metric: row.verdict for row in self.rows}

    def table(self) -> list[dict[str, str]]:
        """The rows as the table shows them, one mapping of formatted cells per row: metric,
        base, new, change, verdict, p (the HTML page's table: ``pyload.htmlreport``)."""
        return [
            {
                "metric": row.metric,
                "base": _value(row, row.base),
                "new": _value(row, row.new),
                "change": _change(row),
                "verdict": row.verdict,
                "p": _p(row),
            }
            for row in self.rows
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "new": self.new,
            "alpha": ALPHA,
            "min_change": MIN_CHANGE,
            "min_seconds": MIN_SECONDS,
            "rows": [row.to_json() for row in self.rows],
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        """The table ``pyload compare`` prints (docs/compare.md shows one)."""
        return _text(self)


def compare(
    base: RunResult, new: RunResult, names: tuple[str, str] = ("base", "new")
) -> Comparison:
    """The comparison of two results (``new`` against ``base``), named as ``names`` say."""
    return compare_samples(samples_of(base, names[0]), samples_of(new, names[1]))


def compare_samples(base: RunSamples, new: RunSamples) -> Comparison:
    """The comparison of two runs' values and samples: a row per metric, the warnings."""
    rows = tuple(_row(metric, base, new) for metric in METRICS)
    warnings = [*base.notes, *new.notes]
    for run in (base, new):
        seconds = len(run.samples.get("req/s", ()))
        if 0 < seconds < MIN_SECONDS:
            warnings.append(
                f"{run.name} has {seconds} full second{'s' if seconds > 1 else ''}: a verdict "
                f"needs {MIN_SECONDS} in each run (the last is left out: runs of "
                f"{MIN_SECONDS + 1} s or longer)"
            )
    warnings += _setting_warnings(base, new)
    return Comparison(base.name, new.name, rows, tuple(warnings))


def verdict(
    metric: Metric, base_value: float, new_value: float,
    base_samples: Sequence[float], new_samples: Sequence[float],
) -> tuple[str, float | None]:  # fmt: skip
    """A row's verdict and the test's p-value (None: too few samples to test)."""
    if min(len(base_samples), len(new_samples)) < MIN_SECONDS:
        return TOO_FEW, None
    test = mann_whitney(new_samples, base_samples)
    if test.p >= ALPHA:
        return NO_CHANGE, test.p
    samples_went_up = test.u > len(new_samples) * len(base_samples) / 2
    change = new_value - base_value
    if change == 0 or (change > 0) != samples_went_up:
        return NO_CHANGE, test.p  # the whole run's value did not move the samples' way
    if base_value != 0 and abs(change) / abs(base_value) < MIN_CHANGE:
        return NO_CHANGE, test.p  # too small to matter, however sure the test is
    return metric.words[0 if change > 0 else 1], test.p


def _row(metric: Metric, base: RunSamples, new: RunSamples) -> Row:
    base_samples, new_samples = base.samples.get(metric.name, ()), new.samples.get(metric.name, ())
    base_value, new_value = base.totals[metric.name], new.totals[metric.name]
    word, p = verdict(metric, base_value, new_value, base_samples, new_samples)
    return Row(
        metric.name, metric.unit, base_value, new_value, word, p,
        (len(base_samples), len(new_samples)),
    )  # fmt: skip


def _setting_warnings(base: RunSamples, new: RunSamples) -> list[str]:
    """One line per setting that differs (a comparison of unlike runs is made, but said)."""
    lines = []
    for name in sorted(set(base.settings) | set(new.settings)):
        if name in IGNORED_SETTINGS:
            continue
        before, after = base.settings.get(name), new.settings.get(name)
        if before != after:
            lines.append(
                f"the runs differ in {name}: {_shown(before)} in {base.name}, "
                f"{_shown(after)} in {new.name}"
            )
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "none"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return "none" if value is None else str(value)


def fails(comparison: Comparison, fail_on: Iterable[str]) -> list[tuple[str, Row]]:
    """The rows that fail ``--fail-on`` (``FAIL_ON``), each with the option it fails:
    ``slower``, a row says slower; ``more-errors``, the errors or the timeouts row says more."""
    wanted = set(fail_on)
    failing = {SLOWER: "slower", MORE: "more-errors"}
    return [
        (failing[row.verdict], row) for row in comparison.rows if failing.get(row.verdict) in wanted
    ]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"pyload compare: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pyload compare",
        usage="pyload compare <base.json> <new.json> [-o FILE.html] [--fail-on slower]",
        description=(
            "Compare two runs' JSON results (--json): a row per number (req/s, p50, p90, p99,"
            " p99.9, max, errors, timeouts), each with a verdict from a statistical test of the"
            " runs' per-second samples (docs/compare.md)."
        ),
    )
    parser.add_argument("base", metavar="BASE.json", help="the run to compare with")
    parser.add_argument("new", metavar="NEW.json", help="the run compared")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        help="also write the HTML page of both runs: the table, their percentile curves"
        " overlaid and their seconds side by side",
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        choices=FAIL_ON,
        default=[],
        help="exit 4 when a row says slower (slower), or the errors or timeouts row says more"
        " (more-errors); repeatable",
    )
    return parser


# -- a RunResult's values and samples ---------------------------------------------------------


def samples_of(result: RunResult, name: str) -> RunSamples:
    """A result's whole-run values and per-second samples (its last second left out)."""
    from pyload._pacing import pacing_for

    # The latencies of the per-second data: from the intended send times at a constant rate
    # (what the report prints), as measured in the closed loop (wrk's correction is post-run,
    # of the whole run: it cannot be split into seconds).
    latency = (
        result.latency_uncorrected
        if pacing_for(result.config).post_run_correction
        else result.latency
    )
    totals: dict[str, float] = {
        "req/s": result.requests_per_s,
        **{key: float(latency.percentile(p)) for key, p in _LATENCY_PERCENTILES.items()},
        "max": float(latency.max),
        "errors": float(sum(result.errors.values())),
        "timeouts": float(result.timeouts),
    }
    return RunSamples(
        name=name,
        totals=totals,
        samples=per_second_samples(result.seconds),
        settings=result.config.to_json(),
        notes=_notes(result, name),
    )


def per_second_samples(seconds: Sequence[Second]) -> dict[str, list[float]]:
    """Each metric's samples from a run's seconds (``RunResult.seconds``), the last one left
    out; a second with no latency recorded gives no latency samples."""
    samples: dict[str, list[float]] = {metric.name: [] for metric in METRICS}
    for second in seconds[:-1]:
        length = second.end_s - second.start_s
        if length <= 0:
            continue
        samples["req/s"].append(second.requests / length)
        samples["errors"].append(float(second.error_count))
        samples["timeouts"].append(float(second.errors.get("timeout", 0)))
        latency = second.latency
        if latency is not None:
            for key, number in (
                ("p50", latency.p50), ("p90", latency.p90), ("p99", latency.p99),
                ("p99.9", latency.p99_9), ("max", latency.max),
            ):  # fmt: skip
                samples[key].append(float(number))
    return samples


def _notes(result: RunResult, name: str) -> tuple[str, ...]:
    """Warnings about one run: no per-second data, a lost part, an interruption."""
    notes = []
    if not result.seconds:
        notes.append(
            f"{name} has no per-second data (written before pyload kept it, or a merged run "
            "without it): no verdicts"
        )
    if result.lost_workers:
        notes.append(f"{name} is a partial result (a part was lost): its numbers are incomplete")
    if result.interrupted:
        notes.append(f"{name} was interrupted after {result.runtime_s:.1f}s")
    return tuple(notes)


# -- the text table ---------------------------------------------------------------------------


def _value(row: Row, number: float) -> str:
    """A value as the table shows it: a latency in wrk's units, req/s with 2 decimals, a count."""
    from pyload.units import format_time_us

    if row.unit == "us":
        return format_time_us(number)
    return f"{number:.2f}" if row.unit == "/s" else f"{number:,.0f}"


def _change(row: Row) -> str:
    """``+20.04ms (+98.7%)``; no percentage from a base of 0."""
    text = ("+" if row.change >= 0 else "-") + _value(row, abs(row.change))
    relative = row.relative_change
    return text if relative is None else f"{text} ({relative:+.1%})"


def _p(row: Row) -> str:
    if row.p is None:
        return f"{row.samples[0]} and {row.samples[1]} s; {MIN_SECONDS} needed"
    return "p<0.001" if row.p < 0.001 else f"p={row.p:.3f}"


def _text(comparison: Comparison) -> str:
    """The aligned table: a row per metric, base, new, change, verdict; then what decided."""
    table = [("", "base", "new", "change", "verdict")]
    table += [
        (cells["metric"], cells["base"], cells["new"], cells["change"],
         f"{cells['verdict']} ({cells['p']})")
        for cells in comparison.table()
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = [f"base: {comparison.base}", f"new:  {comparison.new}", ""]
    for name, base, new, moved, word in table:
        lines.append(
            f"  {name:<{widths[0]}}  {base:>{widths[1]}}  {new:>{widths[2]}}  "
            f"{moved:>{widths[3]}}  {word}".rstrip()
        )
    seconds = comparison.row("req/s").samples
    lines += [
        "",
        f"Per-second samples: {seconds[0]} and {seconds[1]} (the last second of each run left"
        " out).",
        f"A verdict needs p < {ALPHA:g} (two-sided Mann-Whitney U test of the seconds) and a "
        f"change of at least {MIN_CHANGE:.0%}: docs/compare.md.",
    ]
    return "\n".join(lines) + "\n"
