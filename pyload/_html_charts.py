"""What the HTML report's charts draw, as plain data for its script (pyload.htmlreport). No I/O.

Each chart is a mapping the page's script (``_html_assets/report.js``) draws with uPlot, with
nothing left to compute there: ``id``, ``title``, ``caption``, ``kind`` (``nines``: the
latency percentile curve on a log axis of 1/(1-p); ``seconds``: a per-second series, the
cursors of all of them synced), ``x`` (one value per point), ``x_range``, ``y_label``,
``unit`` (how the legend shows a value: ``ms``, ``/s`` or ``""``), ``series`` (each a
``label``, its ``values`` aligned with ``x`` (null: no value there), a ``color``, ``dash``
(the base run of a comparison), ``fill`` and, for a stacked series, ``raw``: the values before
stacking, which the legend shows), and ``empty``: a note shown over the axes when there is
nothing to draw, else null.

The percentile curve is the one ``--plot`` draws (``_plot.percentile_curve``: wrk2's spectrum
iteration); the corrected one is pyload's own statistics (``RunResult.latency``: wrk's post-run
correction in the closed loop, the intended send times at a constant rate). The per-second
series come from the document's ``seconds`` (docs/json.md): rates are each second's counts
over its length, so a shorter last second is not drawn low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyload._plot import percentile_curve

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["curve_chart", "second_charts"]

# Okabe and Ito's palette: told apart with the common colour-vision deficiencies, and
# readable on a light and a dark background.
BLUE, ORANGE, GREEN, VERMILLION = "#0072b2", "#e69f00", "#009e73", "#d55e00"
SKY, PURPLE, YELLOW, GREY = "#56b4e9", "#cc79a7", "#c9b800", "#8a8a8a"
NO_SECONDS = (
    "no per-second data in this document (an older pyload wrote it, or it merges one that has none)"
)

Chart = dict[str, Any]
Named = Sequence[tuple[str, Any]]  # (the run's name in a comparison, or "", the run)


def _series(
    label: str,
    values: list[float | None],
    color: str,
    dash: bool = False,
    fill: bool = False,
    raw: list[float | None] | None = None,
) -> dict[str, Any]:
    return {
        "label": label,
        "values": values,
        "color": color,
        "dash": dash,
        "fill": fill,
        "raw": raw,
    }


def _prefix(name: str, label: str) -> str:
    return f"{name}: {label}" if name else label


def curve_chart(runs: Sequence[tuple[str, RunResult]]) -> Chart:
    """The latency percentile curves of ``runs`` (one, or a comparison's two), corrected and
    uncorrected, on one x axis (the union of their points)."""
    curves = []
    constant = any(result.config.rate is not None for _, result in runs)
    for number, (name, result) in enumerate(runs):
        dash = len(runs) > 1 and number == 0
        if result.config.rate is not None:
            printed = "from intended send times (printed)"
        else:
            printed = "wrk's post-run correction (printed)"
        for label, histogram, color in (
            (printed, result.latency, BLUE),
            ("as measured (uncorrected)", result.latency_uncorrected, ORANGE),
        ):
            xs, ys = percentile_curve(histogram)
            curves.append((_prefix(name, label), dict(zip(xs, ys, strict=True)), color, dash))
    x = sorted({value for _, points, _, _ in curves for value in points})
    top = max(x, default=1.0)
    x_high = max(100.0, 10 ** math.ceil(math.log10(top) - 1e-9))
    series = [
        _series(label, [points.get(v) for v in x], color, dash)
        for label, points, color, dash in curves
    ]
    correction = (
        "from each request's intended send time (the constant rate's schedule)"
        if constant
        else "with wrk's post-run correction (the requests a closed loop did not send, added back)"
    )
    return {
        "id": "latency-curve",
        "title": "Latency by percentile",
        "caption": (
            "The latency (ms, y) at each percentile (x) of every response: the x axis is "
            "1/(1-p) on a log scale, so 90%, 99%, 99.9% ... are equally spaced and the tail "
            f"gets the room. Blue: the printed latency, {correction}; orange: as measured."
        ),
        "kind": "nines",
        "x": x,
        "x_range": [1.0, x_high],
        "y_label": "latency (ms)",
        "unit": "ms",
        "series": series,
        "span_gaps": True,  # the curves of a comparison have their points at other x
        "empty": None if x else "no latency recorded: no response came within the timeout",
    }


def _seconds(doc: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    seconds = doc.get("seconds")
    if not isinstance(seconds, list):
        return None
    return [s for s in seconds if isinstance(s, Mapping)]


def _second_number(second: Mapping[str, Any]) -> int:
    """Which second of the run a record is, from 1: the x of every per-second chart, so the
    seconds of two runs line up (their boundaries differ by milliseconds)."""
    return round(float(second.get("start_s", 0))) + 1


def _length(second: Mapping[str, Any]) -> float:
    return float(second.get("end_s", 0)) - float(second.get("start_s", 0))


def _rate(second: Mapping[str, Any], count: float) -> float:
    length = _length(second)
    return count / length if length > 0 else 0.0


def _classes(second: Mapping[str, Any]) -> Mapping[str, Any]:
    classes = second.get("status_classes")
    return classes if isinstance(classes, Mapping) else {}


def _errors(second: Mapping[str, Any]) -> Mapping[str, Any]:
    errors = second.get("errors")
    return errors if isinstance(errors, Mapping) else {}


def _latency(second: Mapping[str, Any], key: str) -> float | None:
    latency = second.get("latency_us")
    if not isinstance(latency, Mapping) or latency.get(key) is None:
        return None
    return float(latency[key]) / 1000


def second_charts(runs: Named) -> list[Chart]:
    """The per-second charts of ``runs`` (each ``(name, document)``), aligned by elapsed
    second: requests/s, latency, errors by kind, open connections."""
    per_run = [(name, _seconds(doc), doc) for name, doc in runs]
    x = sorted({_second_number(s) for _, secs, _ in per_run for s in secs or ()})
    missing = not x  # no run has a second: an older document (docs/json.md, seconds)
    x_high = max(x, default=1)
    compared = len(runs) > 1

    def column(secs: list[Mapping[str, Any]] | None, value: Any) -> list[float | None]:
        by_x = {_second_number(s): value(s) for s in secs or ()}
        return [by_x.get(v) for v in x]

    def chart(
        chart_id: str,
        title: str,
        caption: str,
        y_label: str,
        unit: str,
        series: list[dict[str, Any]],
        empty: str | None,
    ) -> Chart:
        return {
            "id": chart_id,
            "title": title,
            "caption": caption,
            "kind": "seconds",
            "x": x,
            "x_range": [0.5, x_high + 0.5],
            "y_label": y_label,
            "unit": unit,
            "series": series,
            "span_gaps": compared,
            "empty": NO_SECONDS if missing else empty,
        }

    requests: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    for number, (name, secs, doc) in enumerate(per_run):
        dash = compared and number == 0
        if compared:  # two stacks cannot share an axis: the answered and the failed, as lines
            requests.append(
                _series(
                    _prefix(name, "2xx and 3xx/s"),
                    column(
                        secs,
                        lambda s: _rate(s, _classes(s).get("2xx", 0) + _classes(s).get("3xx", 0)),
                    ),
                    GREEN,
                    dash,
                )
            )
            requests.append(
                _series(
                    _prefix(name, "errors/s"),
                    column(secs, lambda s: _rate(s, sum(_errors(s).values()))),
                    VERMILLION,
                    dash,
                )
            )
        else:
            requests += _stacked(name, secs, column)
        rate = doc.get("config", {}).get("rate")
        if rate is not None:
            requests.append(
                _series(_prefix(name, "rate asked (-R)"), [float(rate)] * len(x), GREY, True)
            )
        for key, color in (("p50", BLUE), ("p90", GREEN), ("p99", ORANGE), ("max", VERMILLION)):
            latency.append(
                _series(
                    _prefix(name, key),
                    column(secs, lambda s, key=key: _latency(s, key)),
                    color,
                    dash,
                )
            )
        for kind, color, count in (
            ("connect", PURPLE, lambda s: _errors(s).get("connect", 0)),
            ("read", VERMILLION, lambda s: _errors(s).get("read", 0)),
            ("write", YELLOW, lambda s: _errors(s).get("write", 0)),
            ("timeout", GREY, lambda s: _errors(s).get("timeout", 0)),
            ("4xx", ORANGE, lambda s: _classes(s).get("4xx", 0)),
            ("5xx", BLUE, lambda s: _classes(s).get("5xx", 0)),
            ("other status", SKY, lambda s: _classes(s).get("other", 0)),
        ):
            errors.append(
                _series(
                    _prefix(name, kind),
                    column(secs, lambda s, count=count: _rate(s, count(s))),
                    color,
                    dash,
                )
            )
        connections.append(
            _series(
                _prefix(name, "open connections"),
                column(secs, lambda s: s.get("open_connections")),
                BLUE,
                dash,
            )
        )
    any_latency = any(v is not None for series in latency for v in series["values"])
    any_errors = any(v for series in errors for v in series["values"])
    return [
        chart(
            "requests",
            "Requests per second",
            "Responses per second of the run, stacked: 2xx, 3xx, the responses with a status "
            "above 399 (wrk's Non-2xx or 3xx), and the connect, read and write errors. Each "
            "second's counts over its length (the last one may be shorter)."
            if not compared
            else "Responses with status 2xx or 3xx per second, and errors "
            "per second (all five kinds), of each run, by elapsed second.",
            "per second",
            "/s",
            requests,
            None,
        ),
        chart(
            "latency-seconds",
            "Latency per second",
            "The p50, p90, p99 and max latency (ms) of the responses of each second, as "
            "measured (at a constant rate: from the intended send times); wrk's post-run "
            "correction is a whole-run correction and is not applied per second.",
            "latency (ms)",
            "ms",
            latency,
            None if any_latency else "no responses: no latency to draw",
        ),
        chart(
            "errors",
            "Errors per second, by kind",
            "Each of wrk's error kinds per second: connect, read and write errors, timeouts, "
            "and the responses with a status above 399 by class (4xx, 5xx, other).",
            "per second",
            "/s",
            errors,
            None if any_errors else "no errors in any second",
        ),
        chart(
            "connections",
            "Open connections",
            "The connections open at the end of each second (-c asks for "
            + ", ".join(str(doc.get("config", {}).get("connections")) for _, doc in runs)
            + ").",
            "connections",
            "",
            connections,
            None,
        ),
    ]


def _stacked(name: str, secs: list[Mapping[str, Any]] | None, column: Any) -> list[dict[str, Any]]:
    """The stacked requests/s series, top of the stack first: each a bar from zero to the
    stack's height so far, drawn over the one above it (stacking without uPlot's bands);
    ``raw`` holds each layer's own value for the legend."""
    layers = [
        ("2xx", GREEN, lambda s: _classes(s).get("2xx", 0)),
        ("3xx", SKY, lambda s: _classes(s).get("3xx", 0)),
        (
            "status > 399",
            ORANGE,
            lambda s: sum(_classes(s).get(k, 0) for k in ("4xx", "5xx", "other")),
        ),
        (
            "connect, read, write errors",
            VERMILLION,
            lambda s: sum(_errors(s).get(k, 0) for k in ("connect", "read", "write")),
        ),
    ]
    if secs and not any("status_classes" in s for s in secs):  # counts without classes
        layers = [("responses", GREEN, lambda s: s.get("requests", 0))]
    raws = [column(secs, lambda s, count=count: _rate(s, count(s))) for _, _, count in layers]
    totals: list[float | None] = [None if v is None else 0.0 for v in raws[0]]
    stacked = []
    for (label, color, _), raw in zip(layers, raws, strict=True):
        totals = [
            None if t is None or v is None else t + v for t, v in zip(totals, raw, strict=True)
        ]
        stacked.append(_series(_prefix(name, label), totals, color, fill=True, raw=raw))
    return stacked[::-1]
