"""The selfbench's HTTP/2 comparison (benchmarks.selfbench_h2): h2load's report read into
numbers, and a smoke run of ``python -m benchmarks.selfbench --http2`` with both tools on nginx's
h2c port, every row filled and every ratio to h2load computed from the medians."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks import RESULTS_DIR, selfbench, selfbench_h2
from benchmarks.h2loadparse import H2loadParseError, parse_h2load, parse_h2load_time_us
from tests.conftest import require_tool

#: What h2load 1.52 (Debian 12's nghttp2-client) printed for ``h2load -t1 -c100 -m10 -D 2 URL``
#: against benchmarks.nginx's h2c port, progress lines shortened.
H2LOAD_TEXT = """\
starting benchmark...
spawning thread #0: 100 total client(s). Timing-based test with 0s of warm-up time and 2s of \
main duration for measurements.
Warm-up started for thread #0.
progress: 10% of clients started
progress: 100% of clients started
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Application protocol: h2c
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.01s, 88267.50 req/s, 6.06MB/s
requests: 176535 total, 177535 started, 176535 done, 176535 succeeded, 0 failed, 0 errored, \
0 timeout
status codes: 176535 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 12.13MB (12715420) total, 8.08MB (8473680) headers (space savings 51.02%), 1.01MB \
(1059210) data
                     min         max         mean         sd        +/- sd
time for request:       80us     36.75ms      9.95ms      4.85ms    69.48%
time for connect:      353us      2.19ms      1.14ms       613us    46.00%
time to 1st byte:     2.28ms     23.51ms      7.80ms      7.21ms    75.00%
req/s           :     838.23      933.19      881.50       21.48    62.00%
"""

COMMITTED = RESULTS_DIR / "selfbench"


def test_h2load_report_read_into_numbers():
    parsed = parse_h2load(H2LOAD_TEXT)
    assert (parsed.requests, parsed.succeeded, parsed.failed, parsed.errored, parsed.timeout) == (
        176535, 176535, 0, 0, 0
    )  # fmt: skip
    assert parsed.runtime_s == pytest.approx(2.01)
    assert parsed.requests_per_s == 88267.50
    assert (parsed.status_2xx, parsed.status_4xx, parsed.bytes_total) == (176535, 0, 12715420)
    assert parsed.mean_request_us == pytest.approx(9950.0)
    assert parsed.protocol == "h2c"
    assert parsed.errors == {"failed": 0, "errored": 0, "timeout": 0, "non_2xx": 0}


def test_h2load_failures_and_units():
    text = H2LOAD_TEXT.replace(
        "176535 done, 176535 succeeded, 0 failed, 0 errored, 0 timeout",
        "176535 done, 176000 succeeded, 535 failed, 35 errored, 7 timeout",
    ).replace("176535 2xx, 0 3xx, 0 4xx, 0 5xx", "176000 2xx, 1 3xx, 500 4xx, 34 5xx")
    assert parse_h2load(text).errors == {"failed": 535, "errored": 35, "timeout": 7, "non_2xx": 535}
    assert [parse_h2load_time_us(t) for t in ("80us", "9.95ms", "2.01s", "1.5m")] == [
        80.0, 9950.0, pytest.approx(2.01e6), 90e6
    ]  # fmt: skip
    with pytest.raises(H2loadParseError):
        parse_h2load_time_us("12 parsecs")
    with pytest.raises(H2loadParseError, match="not an h2load report"):
        parse_h2load("Running 1s test @ http://127.0.0.1:8080/\n  1000 requests in 1.00s\n")


def test_http2_comparison_smoke(tmp_path: Path) -> None:
    """``selfbench --http2`` at its smallest: no warm-up, one round of 1 s, ``-c2 -m1`` and
    ``-c2 -m2``, h2load and pyload each speaking HTTP/2 to nginx's h2c port."""
    require_tool("nginx")
    require_tool("h2load")
    cpus = os.sched_getaffinity(0)
    argv = ["--http2", "--duration", "1", "--rounds", "1", "--warmup", "0",
            "--shapes", "2x1,2x2", "--out", str(tmp_path)]  # fmt: skip
    assert selfbench.main(argv) == 0
    assert os.sched_getaffinity(0) == cpus
    (json_path,) = tmp_path.glob("h2load-*.json")
    (md_path,) = tmp_path.glob("h2load-*.md")
    result = json.loads(json_path.read_text())
    assert result["schema"] == selfbench_h2.SCHEMA and not result["skipped"]
    assert [row["shape"] for row in result["shapes"]] == ["-c2 -m1", "-c2 -m2"]
    for row in result["shapes"]:
        h2load, pyload = row["medians"]["h2load"], row["medians"]["pyload"]
        for m in (h2load, pyload):
            assert m["runs"] == 1 and m["requests"] > 0 and m["errors"] == 0
            assert m["requests_per_s"] > 0 and m["cpu_us_per_request"] > 0
        assert h2load["protocols"] == ["h2c"] and pyload["protocols"] == ["HTTP/2"]
        assert h2load["load_cpu_us_per_request"] == h2load["cpu_us_per_request"]
        assert 0 < pyload["load_cpu_us_per_request"] < pyload["cpu_us_per_request"]
        ratio = row["ratios"]["pyload"]
        assert ratio["requests_per_s"] == pytest.approx(
            pyload["requests_per_s"] / h2load["requests_per_s"]
        )
        assert ratio["cpu_us_per_request"] == pytest.approx(
            pyload["cpu_us_per_request"] / h2load["cpu_us_per_request"]
        )
        (h2load_run,) = row["runs"]["h2load"]
        (pyload_run,) = row["runs"]["pyload"]
        assert h2load_run["argv"][1:5] == ["-t1", "-c2", f"-m{row['streams']}", "-D"]
        assert ["--http2", "--streams", str(row["streams"])] == pyload_run["argv"][-4:-1]
    target = result["target"]
    assert target["shape"] is None  # no -m10 shape in this run
    assert len(result["settings"]["load_average"]) == 2  # the noise other work made
    md = md_path.read_text()
    assert md == selfbench_h2.h2_markdown(result)
    assert "| -c2 -m2 | pyload |" in md and "| -c2 -m2 | h2load |" in md
    assert f"{result['shapes'][1]['ratios']['pyload']['cpu_us_per_request']:.2f}x" in md
    assert "not HTTP/2" not in md
    command = md.rsplit("Reproduce: `", 1)[1].split("`", 1)[0].split()
    assert command[:4] == ["python", "-m", "benchmarks.selfbench", "--http2"]
    again = selfbench_h2.build_parser().parse_args(command[4:])
    assert (again.duration, again.rounds, again.warmup, again.shapes) == (1, 1, 0, [(2, 1), (2, 2)])


def test_bad_arguments_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert selfbench.main(["--http2", "--tools", "wrk"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("json_path", sorted(COMMITTED.glob("h2load-*.json")), ids=str)
def test_committed_runs_render_as_committed(json_path: Path) -> None:
    doc = json.loads(json_path.read_text())
    assert selfbench_h2.h2_markdown(doc) == json_path.with_suffix(".md").read_text()
