"""Constant-rate mode (-R) against real loopback servers: the rate held, latencies from the
intended send times, the stall arithmetic, the rate-not-held line, wrk2's blocks, the interval
log, the plot and the live progress line."""

from __future__ import annotations

import io
import itertools
import json
import os
import pty
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

import pyload
from pyload._hdr import hdr_from_counts
from pyload._plot import PLOT_SIZE_PX, percentile_curve
from pyload._spectrum import cells_of, hdr_percentile
from pyload.hdrlog import write_hdr_log
from pyload.result import RATE_HELD, RunResult
from tests.procs import run, spawn
from tests.target_server import TargetServer

PYLOAD = [sys.executable, "-m", "pyload"]


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run([*PYLOAD, *args], timeout=timeout)


@pytest.mark.parametrize(
    ("rate", "threads", "connections"),
    [(200, 1, 4), (1000, 2, 20), (3000, 4, 100), (2000, 20, 2000)],
)
def test_the_rate_is_held_within_2_percent(
    server: TargetServer, rate: int, threads: int, connections: int
):
    result = pyload.run(
        server.url + "/", rate=rate, threads=threads, connections=connections, duration=3.0
    )
    # The pacer's part: the requests went out on schedule (answered, or in flight at the end).
    # Requests/sec (the responses) trails that by the requests in flight at the end, about
    # rate x the server's latency: 3 % of a 3 s run at 2000/s when a loaded machine makes this
    # test server answer in 50 ms, so it is the server's latency, not the pacer, that it shows.
    achieved = result.requests_per_s
    sent = (result.requests + result.in_flight) / result.runtime_s
    data = json.loads(result.to_json())
    if rate > 200 and result.rate_shortfall() is not None:
        # Past 200/s (about 5 % of a core), holding the rate is a matter of CPU: these shapes
        # hold it on an idle 2-core machine, not always when other processes hold both cores
        # (a timing limit, which a test cannot assume: 1000/s came to 930/s and 2000/s to
        # 1938/s under scripts/stress-tests). Then the run must say that it fell short. The
        # 200/s shape is always held, and checks the pacer.
        assert sent < RATE_HELD * rate, (achieved, sent, rate)
        assert data["constant_rate"]["held"] is False
        assert any(f"Rate not held: asked {rate:.2f}/s" in note for note in result.notes)
        return
    assert abs(sent - rate) <= 0.02 * rate, (achieved, sent, rate, result.in_flight)
    assert result.rate_shortfall() is None
    assert not any("Rate not held" in note for note in result.notes), result.notes
    assert result.errors == dict.fromkeys(result.errors, 0)
    # Every response is recorded from its intended send time, which is never after the send.
    assert result.latency.count == result.requests
    assert result.latency.percentile(50) >= result.latency_uncorrected.percentile(50)
    assert data["constant_rate"]["held"] is True
    assert data["constant_rate"]["asked_per_s"] == rate


def stall_run(server: TargetServer, path: str, duration: float) -> RunResult:
    # 10 connections at 1000/s: each sends every 10 ms, so a stall holds one request per
    # connection (what the uncorrected latencies see) while the schedule holds a hundred
    # and more per 100 ms of stall (what the corrected ones see).
    return pyload.run(server.url + path, rate=1000, threads=1, connections=10, duration=duration)


def test_a_stall_each_second_shows_in_the_corrected_latencies(server: TargetServer):
    result = stall_run(server, "/stall/200", 3.0)
    corrected, measured = result.latency, result.latency_uncorrected
    # Requests due in the first 200 ms of a second wait until it ends: a request due t ms
    # into the stall takes 200 - t ms. With one request per ms, a latency above x ms is a
    # share (200 - x) / 1000 of them: p90 = 100 ms, p99 = 190 ms, max = 200 ms; margins
    # for the server's and the loop's own milliseconds on a busy machine.
    assert 80_000 <= corrected.percentile(90) <= 135_000
    assert 170_000 <= corrected.percentile(99) <= 225_000
    assert 185_000 <= corrected.max <= 260_000
    # As measured, only the one request in flight per connection sees the stall: 1 %.
    assert measured.percentile(90) < 20_000
    assert measured.max >= 150_000  # ... but it did see it


def test_a_single_long_stall_shows_in_the_corrected_latencies(server: TargetServer):
    result = stall_run(server, "/stall-once/1000/1000", 3.0)
    corrected, measured = result.latency, result.latency_uncorrected
    # A third of the requests were due during the 1 s stall; a request due t ms into it
    # takes 1000 - t ms: above x ms is a share (1000 - x) / 3000, so p90 = 700 ms,
    # p99 = 970 ms and the max 1 s.
    assert 600_000 <= corrected.percentile(90) <= 800_000
    assert 930_000 <= corrected.percentile(99) <= 1_060_000
    assert 950_000 <= corrected.max <= 1_120_000
    # As measured: 10 of about 3000 requests saw it.
    assert measured.percentile(99) < 50_000
    assert result.timeouts == 0  # no response took 2 s on the wire


def test_a_rate_the_connections_cannot_carry_is_reported(server: TargetServer):
    # 2 connections to a server that answers in 20 ms carry about 100 requests/s, not 1000.
    run = cli("-t1", "-c2", "-d1", "-R", "1000", server.url + "/slow/20")
    assert run.returncode == 0, run.stderr
    # pyload's notes follow wrk's lines: this one first ("Client saturated" may follow it).
    last = next(line for line in run.stdout.splitlines() if line.startswith("  Rate not held"))
    found = re.fullmatch(
        r"  Rate not held: asked 1000\.00/s, achieved ([\d.]+)/s \(([\d.]+)%\), (\d+) "
        r"requests due never sent: too few connections for the server's latency "
        r"\(2 connections at a mean ([\d.]+)ms carry at most ([\d.]+) requests/s\)",
        last,
    )
    assert found is not None, run.stdout
    assert 50 <= float(found.group(1)) <= 110 and int(found.group(3)) > 700
    assert 20 <= float(found.group(4)) <= 40


@pytest.mark.parametrize("rate", ["0", "-5", "abc", "1x"])
def test_a_bad_rate_is_one_line(rate: str):
    run = cli("-R", rate, "http://127.0.0.1:9/")
    assert run.returncode == 1 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "rate" in run.stderr, run.stderr


def test_wrk2_blocks_with_u_latency(server: TargetServer):
    run = cli("-t1", "-c4", "-d1", "-R", "200", "-U", server.url + "/")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    recorded = lines.index("  Latency Distribution (HdrHistogram - Recorded Latency)")
    uncorrected = lines.index(
        "  Latency Distribution (HdrHistogram - Uncorrected Latency (measured without taking "
        "delayed starts into account))"
    )
    for start in (recorded, uncorrected):
        labels = [line[:8] for line in lines[start + 1 : start + 9]]
        assert labels == [
            " 50.000%",
            " 75.000%",
            " 90.000%",
            " 99.000%",
            " 99.900%",
            " 99.990%",
            " 99.999%",
            "100.000%",
        ]
        assert lines[start + 9 : start + 13] == [
            "",
            "  Detailed Percentile spectrum:",
            "       Value   Percentile   TotalCount 1/(1-Percentile)",
            "",
        ]
        end = lines.index("-" * 58, start)
        assert re.fullmatch(r"#\[Buckets = +27, SubBuckets += +2048\]", lines[end - 1])
        assert lines[end - 4].endswith("inf")  # the 100 % line closes the spectrum
    assert lines[uncorrected - 1] == ""
    assert re.fullmatch(r"  \d+ requests in [\d.]+s, .*", lines[-3])  # then wrk's summary


def test_without_a_rate_u_latency_adds_the_measured_distribution(server: TargetServer):
    run = cli("-t1", "-c2", "-d1", "-U", "--percentiles", "50,99.9", server.url + "/")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert re.search(
        r"\n  Latency Distribution\n     50% +[\d.]+\w+\n   99\.9% +[\d.]+\w+\n"
        r"  Uncorrected Latency Distribution\n     50% +[\d.]+\w+\n   99\.9% +[\d.]+\w+\n",
        text,
    ), text


@pytest.mark.parametrize("rate", [None, 500.0])
def test_the_interval_log_adds_up_to_the_run(server: TargetServer, tmp_path: Path, rate):
    log, out = tmp_path / "run.hlog", tmp_path / "run.json"
    args = ["-t2", "-c4", "-d2", "--hdr-log", str(log), "--json", str(out)]
    if rate is not None:
        args += ["-R", str(int(rate))]
    run = cli(*args, server.url + "/")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    key = "latency_intended_counts_us" if rate else "latency_counts_us"
    expected = hdr_from_counts({value: n for value, n in data[key]})
    # An independent reader: HdrHistogram_py's log reader.
    reader = HistogramLogReader(str(log), HdrHistogram(1, 86_400_000_000, 3))
    total, intervals = HdrHistogram(1, 86_400_000_000, 3), 0
    try:
        while (interval := reader.get_next_interval_histogram()) is not None:
            total.add(interval)
            intervals += 1
    finally:
        reader.close()
    assert intervals in (2, 3)  # two whole seconds and the part-second before the end
    assert total.get_total_count() == expected.get_total_count() > 0
    assert total.encode() == expected.encode()


def test_the_plot_is_a_png_drawn_from_the_run(server: TargetServer, tmp_path: Path):
    image = tmp_path / "run.png"
    run = cli("-t1", "-c2", "-d2", "-R", "300", "--plot", str(image), server.url + "/")
    assert run.returncode == 0, run.stderr
    data = image.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == PLOT_SIZE_PX
    assert os.path.getsize(image) > 20_000  # axes, two curves, a line: not an empty canvas


def test_the_percentile_curve_is_the_runs(server: TargetServer):
    result = pyload.run(
        server.url + "/", rate=300, threads=1, connections=2, duration=1.0, latency_intervals=True
    )
    xs, ys = percentile_curve(result.latency)
    assert xs[0] == 1.0 and all(a <= b for a, b in itertools.pairwise(xs))
    cells = cells_of(result.latency.counts)
    median_index = next(i for i, x in enumerate(xs) if x >= 2.0)  # p50: 1/(1-0.5)
    assert ys[median_index] == hdr_percentile(cells, 50) / 1000
    text = io.StringIO()
    write_hdr_log(text, result.intervals)
    assert text.getvalue().count("HISTF") == len(result.intervals) >= 1


def run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal: (status, stdout, what the terminal got)."""
    controller, terminal = pty.openpty()
    try:
        with spawn([*PYLOAD, *args], stderr=terminal) as proc:
            os.close(terminal)
            terminal = -1
            seen = b""
            while True:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal's other side closed: the run is over
                    break
                if not chunk:
                    break
                seen += chunk
            stdout, _ = proc.communicate(timeout=90)
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    return proc.returncode, stdout, seen.decode()


def test_live_progress_on_a_terminal_only(server: TargetServer):
    # The run without a terminal (its checks last) goes on meanwhile: one run's time less.
    with spawn([*PYLOAD, "-t1", "-c2", "-d2", server.url + "/"]) as no_terminal:
        status, stdout, shown = run_on_terminal("-t1", "-c2", "-d3", server.url + "/")
        no_terminal_out, no_terminal_err = no_terminal.communicate(timeout=90)
    assert status == 0
    lines = re.findall(
        r"\r  +([\d.]+)s / 3s +([\d,]+) req/s +[\d,]+ requests  errors (\d+)  p99 [\d.]+\w+"
        r"\x1b\[K",
        shown,
    )
    assert len(lines) >= 2, shown
    assert [float(s) for s, _, _ in lines] == sorted(float(s) for s, _, _ in lines)
    assert all(int(rate.replace(",", "")) > 0 for _, rate, _ in lines)
    assert shown.endswith("\r\x1b[K")  # cleared before the report
    assert "\x1b" not in stdout and "req/s" not in stdout and "requests in" in stdout
    # --no-progress: nothing on the terminal; no terminal: nothing on stderr.
    status, stdout, shown = run_on_terminal("-t1", "-c2", "-d2", "--no-progress", server.url)
    assert status == 0 and shown == "" and "requests in" in stdout
    assert no_terminal.returncode == 0 and no_terminal_err == ""
    assert "requests in" in no_terminal_out


@pytest.mark.parametrize("rate", [None, 400.0])
def test_warmup_load_is_sent_not_recorded(server: TargetServer, rate: float | None):
    result = pyload.run(
        server.url + "/slow/5", threads=1, connections=2, duration=1.0, warmup=1.0, rate=rate
    )
    sent = server.received["/slow/5"]
    # About as many requests went out during the 1 s warm-up as during the measured second:
    # the server saw them, the result did not.
    assert 1.5 * result.requests <= sent <= 2.6 * result.requests + 10, (sent, result.requests)
    assert 0.95e6 <= result.runtime_us <= 1.2e6  # the measured second only
    # Every measured response, and none of the warm-up's, is in the latencies: as measured
    # (result.latency in the closed loop is after wrk's CO correction, which adds samples
    # whenever one response took over two intervals; under CPU load that happens).
    assert result.latency_uncorrected.count + result.timeouts == result.requests
    if rate is not None:  # from the intended send times: one per response, late ones too
        assert result.latency.count == result.requests
    assert sum(i.requests for i in result.intervals) == result.requests


def test_a_server_that_closes_every_connection_keeps_the_rate(server: TargetServer):
    # Connection: close on every answer: each slot reconnects and keeps its grid (wrk2 stalls).
    result = pyload.run(server.url + "/close", rate=300, threads=1, connections=10, duration=2.0)
    assert abs(result.requests_per_s - 300) <= 0.02 * 300, result.requests_per_s
    assert result.errors == dict.fromkeys(result.errors, 0)
    assert server.connections >= result.requests  # one connection per request


def test_the_shortfall_reason_when_responses_are_timeouts_or_none(server: TargetServer):
    late = pyload.run(
        server.url + "/slow/100", rate=200, threads=1, connections=2, duration=1.0, timeout=0.05
    )
    assert late.latency_uncorrected.count == 0 and late.timeouts > 0  # every answer was late
    reason = late.rate_shortfall()
    assert reason is not None and reason.startswith(
        "too few connections for the server's latency (2 connections at a mean at least "
    ), reason
    silent = pyload.run(server.url + "/hang", rate=200, threads=1, connections=2, duration=1.0)
    assert silent.rate_shortfall() == "the server answered none of the 2 requests sent"


def test_a_run_without_responses_still_plots(server: TargetServer):
    from pyload._plot import plot_run

    result = pyload.run(server.url + "/hang", threads=1, connections=2, duration=0.5)
    assert result.requests == 0
    image = io.BytesIO()
    plot_run(result, image)  # no warning (the suite turns warnings into errors), a PNG
    assert image.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
