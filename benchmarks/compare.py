"""pyload vs wrk on one cell: the tolerance, and which numbers can be compared at all.

Two runs of the same closed-loop load never give identical numbers, so agreement means "within
the tolerance" below. wrk's ``--timeout`` has whole seconds only: when the matrix's timeout is
a fraction, wrk runs with the next whole second, and then the timeout counts and the latency
percentiles are compared only in cells where pyload recorded no timeout (every latency was
below both limits, so both histograms hold the same kind of samples); requests/s and the other
errors are always compared (a timeout never changes what a closed-loop client sends).
"""

from __future__ import annotations

from benchmarks.results import NON_TIMEOUT_ERRORS, Comparison, Metric, PyloadResult
from benchmarks.wrkparse import WrkText

__all__ = [
    "ERRORS_ABS_TOL",
    "ERRORS_REL_TOL",
    "LATENCY_ABS_TOL_US",
    "LATENCY_REL_TOL",
    "RPS_ABS_TOL",
    "RPS_REL_TOL",
    "TIMEOUT_FRACTION_TOL",
    "compare_cell",
    "tolerance_text",
    "within",
]

RPS_REL_TOL = 0.25  # requests/s within 25 % of the larger of the two ...
RPS_ABS_TOL = 5.0  # ... or within 5 requests/s (low rates: a few responses more or less)
LATENCY_REL_TOL = 0.25  # p50 and p99 within 25 % ...
LATENCY_ABS_TOL_US = 5_000  # ... or within 5 ms
TIMEOUT_FRACTION_TOL = 0.10  # share of responses that were timeouts within 10 points
ERRORS_REL_TOL = 0.05  # connect+read+write+status errors per response within 5 points ...
ERRORS_ABS_TOL = 5  # ... or within 5 errors


def within(a: float, b: float, rel: float, abs_: float) -> bool:
    """True if |a - b| <= max(rel x max(|a|, |b|), abs_)."""
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def tolerance_text() -> str:
    return (
        f"requests/s within {RPS_REL_TOL:.0%} or ±{RPS_ABS_TOL:g}/s; p50 and p99 within "
        f"{LATENCY_REL_TOL:.0%} or ±{LATENCY_ABS_TOL_US / 1000:g} ms; timeouts as a share of "
        f"responses within {TIMEOUT_FRACTION_TOL * 100:.0f} points; other errors within "
        f"{ERRORS_REL_TOL * 100:.0f} points of the responses or ±{ERRORS_ABS_TOL}"
    )


def compare_cell(
    pyload: PyloadResult, wrk: WrkText, *, timeout_s: float, wrk_timeout_s: int
) -> Comparison:
    """Compare pyload's result with wrk's parsed text.

    Each metric is a ``Metric`` whose ``agree`` is True, False or None (not comparable, with
    the reason in ``note``); the comparison agrees when no compared metric disagrees.
    """
    metrics: dict[str, Metric] = {}
    same_timeout = abs(timeout_s - wrk_timeout_s) < 1e-9
    comparable_latency = same_timeout or pyload.timeouts == 0
    why_not = (
        f"pyload timed out responses at {timeout_s:g} s, wrk's limit was "
        f"{wrk_timeout_s} s (whole seconds only)"
    )

    p_rps, w_rps = pyload.requests_per_s, wrk.requests_per_s
    metrics["requests_per_s"] = Metric(p_rps, w_rps, within(p_rps, w_rps, RPS_REL_TOL, RPS_ABS_TOL))
    for p in ("50", "99"):
        pv, wv = pyload.latency.percentiles.get(p), wrk.percentiles_us.get(p)
        if not comparable_latency:
            metrics[f"p{p}_us"] = Metric(pv, wv, None, why_not)
        elif wv is None:
            metrics[f"p{p}_us"] = Metric(pv, wv, None, "wrk printed no distribution")
        elif pyload.latency.count == 0 and wrk.latency_avg_us == 0:
            metrics[f"p{p}_us"] = Metric(pv, wv, True)  # neither recorded a latency
        else:
            agree = pv is not None and within(pv, wv, LATENCY_REL_TOL, LATENCY_ABS_TOL_US)
            metrics[f"p{p}_us"] = Metric(pv, wv, agree)

    p_req, w_req = max(pyload.requests, 1), max(wrk.requests, 1)
    p_to, w_to = pyload.timeouts, wrk.timeouts
    if same_timeout or (p_to == 0 and w_to == 0):
        metrics["timeouts"] = Metric(
            p_to, w_to, abs(p_to / p_req - w_to / w_req) <= TIMEOUT_FRACTION_TOL
        )
    else:
        metrics["timeouts"] = Metric(p_to, w_to, None, why_not)
    p_err = pyload.other_errors
    w_err = sum(wrk.errors[name] for name in NON_TIMEOUT_ERRORS)
    metrics["errors"] = Metric(
        p_err,
        w_err,
        abs(p_err - w_err) <= ERRORS_ABS_TOL
        or abs(p_err / p_req - w_err / w_req) <= ERRORS_REL_TOL,
    )
    disagreements = [name for name, m in metrics.items() if m.agree is False]
    return Comparison(
        metrics=metrics,
        agree=not disagreements,
        disagreements=disagreements,
        same_timeout=same_timeout,
        wrk_timeout_s=wrk_timeout_s,
    )
