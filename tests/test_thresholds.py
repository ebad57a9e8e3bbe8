"""Thresholds (``--threshold``, ``run(thresholds=...)``, ``RunResult.check``): the grammar fed
valid and invalid expressions, the check against real runs, the command line's exit statuses and
lines, and the JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyload
from pyload import Config, RunResult, UsageError
from pyload._cli import EXIT_PARTIAL, EXIT_THRESHOLD, exit_status
from pyload._counters import LostPart
from pyload.thresholds import COUNTERS, OPERATORS, Outcome, Threshold, check, parse
from tests.helpers import pyload_cli
from tests.target_server import TargetServer

PURE = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit", "percent"),
    [
        ("p99<250ms", "p99", "<", 250_000, False),
        ("p99.9<1s", "p99.9", "<", 1_000_000, False),
        ("p99.999 <= 2.5ms", "p99.999", "<=", 2_500, False),
        ("p50>10us", "p50", ">", 10, False),
        ("max<1m", "max", "<", 60_000_000, False),
        ("mean<=0.5s", "mean", "<=", 500_000, False),
        ("P90 < 1 ms", "p90", "<", 1_000, False),
        ("errors<1%", "errors", "<", 1, True),
        ("errors<0.5%", "errors", "<", 0.5, True),
        ("timeouts=0", "timeouts", "=", 0, False),
        ("timeouts==0", "timeouts", "==", 0, False),
        ("rps>=1000", "rps", ">=", 1000, False),
        ("rps>=1k", "rps", ">=", 1000, False),
        ("rps>1.5K", "rps", ">", 1500, False),
        ("non2xx<0.1%", "non2xx", "<", 0.1, True),
        ("status!=0", "status", "!=", 0, False),
        ("connect<10", "connect", "<", 10, False),
        ("requests>=2M", "requests", ">=", 2_000_000, False),
    ],
)
def test_valid_expressions(text: str, metric: str, op: str, limit: float, percent: bool):
    threshold = parse(text)
    assert (threshold.metric, threshold.op, threshold.percent) == (metric, op, percent)
    assert threshold.limit == pytest.approx(limit)
    assert parse(threshold.expression) == threshold  # the normal spelling parses the same


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p99<<1", "is not a number"),
        ("p99<1", "needs a time with its unit"),
        ("p99<1xs", "needs a time with its unit"),
        ("p100<1s", "below p100"),
        ("p0<1s", "above p0"),
        ("p<1s", "unknown metric 'p'"),
        ("latency<1s", "unknown metric"),
        ("rps>1ms", "optional unit"),
        ("requests>1%", "optional unit"),
        ("errors<1s", "a percentage of the attempts"),
        ("errors<-1", "is not a number"),
        ("errors<", "is not a number"),
        ("errors", "METRIC OP VALUE"),
        ("<1%", "METRIC OP VALUE"),
        ("", "METRIC OP VALUE"),
        ("p99=>1s", "is not a number"),
    ],
)
def test_invalid_expressions_are_one_line_naming_them(text: str, why: str):
    with pytest.raises(ValueError, match="invalid threshold") as info:
        parse(text)
    message = str(info.value)
    assert why in message and repr(text) in message and "\n" not in message
    with pytest.raises(UsageError, match="invalid threshold"):
        Config("http://h/", thresholds=[text])


@PURE
@given(st.text(max_size=20))
def test_any_text_parses_or_is_a_value_error(text: str):
    try:
        threshold = parse(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert threshold.op in OPERATORS
        assert parse(threshold.expression) == threshold


@PURE
@given(
    metric=st.sampled_from([*COUNTERS, "rps", "requests"]),
    op=st.sampled_from(list(OPERATORS)),
    amount=st.integers(0, 10**6),
    unit=st.sampled_from(["", "k", "M"]),
)
def test_counts_and_rates_with_si_units(metric: str, op: str, amount: int, unit: str):
    threshold = parse(f"{metric}{op}{amount}{unit}")
    assert threshold.limit == amount * {"": 1, "k": 1000, "M": 10**6}[unit]


def test_config_keeps_the_normal_spelling_and_the_json_round_trips():
    config = Config("http://h/", thresholds=[" P99 < 250 ms ", "errors<1%"])
    assert config.thresholds == ("p99<250ms", "errors<1%")
    assert config.to_json()["thresholds"] == ["p99<250ms", "errors<1%"]
    assert Config.from_json(config.to_json()) == config
    with pytest.raises(UsageError, match="list of expressions"):
        Config("http://h/", thresholds="p99<1s")


def test_check_against_a_real_run(server: TargetServer):
    result = pyload.run(
        server.url + "/", connections=2, threads=1, processes=1, duration=0.3,
        thresholds=["p99<10s", "p99<1us"],
    )  # fmt: skip
    assert result.requests > 0
    passed, broken = result.check()
    assert passed == Outcome("p99<10s", "p99", result.percentile(99), 10_000_000, True, "us")
    assert not broken.passed and broken.observed == result.percentile(99) > 1
    assert str(broken).startswith("p99<1us (p99 was ") and str(broken).endswith("s)")
    more = result.check(["rps>0", "requests>=1", "errors=0", "errors<1%", "max>=1us", "mean<10s"])
    assert all(outcome.passed for outcome in more), more
    assert more[0].observed == result.requests_per_s
    assert result.check(["rps>1G", "requests=0", "timeouts>0"]) == tuple(
        Threshold(e, m, o, v).check(result)
        for e, m, o, v in [("rps>1G", "rps", ">", 1e9), ("requests=0", "requests", "=", 0),
                           ("timeouts>0", "timeouts", ">", 0)]
    )  # fmt: skip
    assert not any(outcome.passed for outcome in result.check(["rps>1G", "requests=0"]))
    with pytest.raises(UsageError, match="invalid threshold"):
        result.check(["p99<<1"])


def test_percentages_divide_by_the_attempts(server: TargetServer):
    """Every response a 500: non2xx and errors are 100 % of the attempts."""
    result = pyload.run(
        server.url + "/status/500", connections=2, threads=1, processes=1, duration=0.3
    )
    assert result.requests > 0 and result.status_errors == result.requests
    non2xx, errors, few = result.check(["non2xx>=100%", "errors<0.1%", "non2xx<1k"])
    assert non2xx.passed and non2xx.observed == 100.0 and non2xx.unit == "%"
    assert not errors.passed and errors.observed == 100.0
    assert few.observed == result.status_errors


def test_the_json_records_each_threshold_and_round_trips(server: TargetServer):
    result = pyload.run(
        server.url + "/", connections=2, threads=1, processes=1, duration=0.3,
        thresholds=["p99<10s", "rps>1G"],
    )  # fmt: skip
    data = json.loads(result.to_json())
    assert data["config"]["thresholds"] == ["p99<10s", "rps>1G"]
    assert [(t["expression"], t["passed"]) for t in data["thresholds"]] == [
        ("p99<10s", True),
        ("rps>1G", False),
    ]
    assert data["thresholds"][0]["observed"] == result.percentile(99)
    assert data["thresholds"][1] == {"expression": "rps>1G", "metric": "rps", "unit": "/s",
                                     "limit": 1e9, "observed": result.requests_per_s,
                                     "passed": False}  # fmt: skip
    again = RunResult.from_json(result.to_json())
    assert again == result and again.check() == result.check()
    assert json.loads(again.to_json())["thresholds"] == data["thresholds"]


def test_thresholds_do_not_make_runs_unmergeable(server: TargetServer):
    a = pyload.run(server.url + "/", connections=2, threads=1, duration=0.3,
                   thresholds=["p99<10s"])  # fmt: skip
    b = pyload.run(server.url + "/", connections=2, threads=1, duration=0.3)
    merged = RunResult.combine([a, b])
    assert merged.requests == a.requests + b.requests
    assert [outcome.expression for outcome in merged.check()] == ["p99<10s"]


def test_check_is_a_function_of_the_result_too(server: TargetServer):
    result = pyload.run(server.url + "/", connections=2, threads=1, duration=0.3)
    assert result.check() == ()
    assert check(result, ["requests>0"]) == result.check(["requests>0"])


# -- the command line: the three checks -------------------------------------------


def test_a_broken_threshold_exits_4_with_one_line_naming_it(server: TargetServer):
    done = pyload_cli("-t1", "-c2", "-d1", "--threshold", "p99<1us", server.url)
    assert done.returncode == 4, done.stderr
    assert "Requests/sec:" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("threshold")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("threshold broken: p99<1us (p99 was ")


def test_a_threshold_met_exits_0(server: TargetServer, tmp_path):
    out = tmp_path / "run.json"
    done = pyload_cli("-t1", "-c2", "-d1", "--threshold", "p99<10s", "--json", str(out), server.url)
    assert done.returncode == 0, done.stderr
    assert "threshold" not in done.stderr
    (outcome,) = json.loads(out.read_text())["thresholds"]
    assert (outcome["expression"], outcome["passed"]) == ("p99<10s", True)


def test_a_bad_threshold_exits_1_before_sending_anything(server: TargetServer):
    done = pyload_cli("-t1", "-c2", "-d1", "--threshold", "p99<<1", server.url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "invalid threshold: 'p99<<1'" in done.stderr
    assert server.connections == 0


def test_each_broken_threshold_is_a_line_and_a_met_one_is_none(server: TargetServer):
    done = pyload_cli(
        "-t1", "-c2", "-d1", "--threshold", "requests=0", "--threshold", "p99<10s",
        "--threshold", "errors>=1%", server.url,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("threshold")]
    assert [line.split(" (")[0] for line in lines] == [
        "threshold broken: requests=0",
        "threshold broken: errors>=1%",
    ]
    assert lines[1].endswith("(errors was 0.00%)")


def test_a_partial_result_exits_3_over_4_and_an_interrupted_one_is_checked(
    server: TargetServer, capsys: pytest.CaptureFixture[str]
):
    """The CLI's status after the report: 4 for a broken threshold, 3 (and still the line) when
    a worker was lost as well; an interrupted run is checked as any other."""
    result = pyload.run(
        server.url + "/", connections=2, threads=1, processes=1, duration=0.3,
        thresholds=["requests=0", "p99<10s"],
    )  # fmt: skip
    lost = dataclasses.replace(result, lost_workers=(LostPart(1, (1,), "died"),))
    interrupted = dataclasses.replace(result, interrupted=True)
    held = dataclasses.replace(result, config=dataclasses.replace(result.config, thresholds=()))
    statuses = [exit_status(r) for r in (result, lost, interrupted, held)]
    assert statuses == [EXIT_THRESHOLD, EXIT_PARTIAL, EXIT_THRESHOLD, 0] == [4, 3, 4, 0]
    lines = capsys.readouterr().err.splitlines()
    broken = f"threshold broken: requests=0 (requests was {result.requests})"
    assert lines[0] == lines[1] == lines[3] == broken
    assert lines[2].startswith("pyload: partial result: 1 worker process lost")
    assert len(lines) == 4
