"""Tests for pyload._report: wrk's text report, byte for byte (wrk.c main(), print_stats())."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pyload._counters import Counters
from pyload._report import wrk_body, wrk_header, wrk_report
from pyload._stats import RATE_LIMIT, ExactHistogram
from pyload.config import Config

LATENCY_LIMIT = 2_000_001


def histogram(counts: dict[int, int], limit: int) -> ExactHistogram:
    return ExactHistogram.from_counts(counts, limit)


@dataclasses.dataclass(frozen=True)
class Reported:
    """What the report reads of a run (pyload._report.Reportable), built by hand."""

    config: Config
    latency: ExactHistogram
    rate: ExactHistogram
    counters: Counters
    runtime_us: int
    latency_uncorrected: ExactHistogram = dataclasses.field(
        default_factory=lambda: ExactHistogram(LATENCY_LIMIT)
    )
    notes: tuple[str, ...] = ()


def report_data(**overrides: object) -> Reported:
    settings: dict[str, object] = {
        "url": "http://127.0.0.1:18080/",
        "duration": 10,
        "threads": 1,
        "connections": 1,
        "print_latency": False,
    }
    counters = {f.name: 0 for f in dataclasses.fields(Counters)}
    parts: dict[str, object] = {
        "latency": ExactHistogram(LATENCY_LIMIT),
        "rate": ExactHistogram(RATE_LIMIT),
        "runtime_us": 10_000_000,
    }
    for name, value in overrides.items():
        for group in (settings, counters, parts):
            if name in group:
                group[name] = value  # type: ignore[assignment]
                break
        else:
            raise KeyError(name)
    return Reported(
        config=Config(**settings),  # type: ignore[arg-type]
        counters=Counters(**counters),
        **parts,  # type: ignore[arg-type]
    )


# --- golden outputs -------------------------------------------------------------------------------


def test_example_e_synthetic_exact_arithmetic() -> None:
    latency = histogram({100: 1, 200: 1, 300: 1, 400: 1, 10_000: 1}, LATENCY_LIMIT)
    data = report_data(
        latency=latency.corrected(10_050_000, complete=5, connections=1),
        rate=histogram({0: 2, 10: 1}, RATE_LIMIT),
        requests=5,
        bytes_read=1030,
        runtime_us=10_050_000,
        print_latency=True,
    )
    assert wrk_body(data) == (
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
        "    Latency     2.20ms    4.36ms  10.00ms   80.00%\n"
        "    Req/Sec     3.33      5.77    10.00     66.67%\n"
        "  Latency Distribution\n"
        "     50%  300.00us\n"
        "     75%  400.00us\n"
        "     90%   10.00ms\n"
        "     99%   10.00ms\n"
        "  5 requests in 10.05s, 1.01KB read\n"
        "Requests/sec:      0.50\n"
        "Transfer/sec:     102.49B\n"
    )


def test_example_b_synthetic_variant() -> None:
    data = report_data(
        rate=histogram({1850: 4, 2000: 3, 2100: 1}, RATE_LIMIT),
        requests=25_000,
        bytes_read=2_450_000,
        runtime_us=10_000_000,
        timeouts=25_000,
        print_latency=True,
    )
    assert wrk_body(data) == (
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
        "    Latency     0.00us    0.00us   0.00us    -nan%\n"
        "    Req/Sec     1.94k    99.10     2.10k    87.50%\n"
        "  Latency Distribution\n"
        "     50%    0.00us\n"
        "     75%    0.00us\n"
        "     90%    0.00us\n"
        "     99%    0.00us\n"
        "  25000 requests in 10.00s, 2.34MB read\n"
        "  Socket errors: connect 0, read 0, write 0, timeout 25000\n"
        "Requests/sec:   2500.00\n"
        "Transfer/sec:    239.26KB\n"
    )


def test_example_b_observed_all_responses_late() -> None:
    data = report_data(
        url="http://127.0.0.1:18080/slow/2500",
        duration=6,
        connections=2,
        rate=histogram({0: 2}, RATE_LIMIT),  # 2 responses over 2500 ms truncate to 0 req/s
        requests=4,
        bytes_read=312,
        runtime_us=6_016_000,
        timeouts=4,
        print_latency=True,
    )
    assert wrk_report(data) == (
        "Running 6s test @ http://127.0.0.1:18080/slow/2500\n"
        "  1 threads and 2 connections\n"
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
        "    Latency     0.00us    0.00us   0.00us    -nan%\n"
        "    Req/Sec     0.00      0.00     0.00    100.00%\n"
        "  Latency Distribution\n"
        "     50%    0.00us\n"
        "     75%    0.00us\n"
        "     90%    0.00us\n"
        "     99%    0.00us\n"
        "  4 requests in 6.02s, 312.00B read\n"
        "  Socket errors: connect 0, read 0, write 0, timeout 4\n"
        "Requests/sec:      0.66\n"
        "Transfer/sec:      51.86B\n"
    )


def test_example_c_server_never_responds() -> None:
    data = report_data(
        url="http://127.0.0.1:18080/hang",
        duration=2,
        threads=2,
        connections=4,
        runtime_us=2_003_000,
        print_latency=True,
    )
    assert wrk_report(data) == (
        "Running 2s test @ http://127.0.0.1:18080/hang\n"
        "  2 threads and 4 connections\n"
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
        "    Latency     0.00us    0.00us   0.00us    -nan%\n"
        "    Req/Sec     0.00      0.00     0.00      -nan%\n"
        "  Latency Distribution\n"
        "     50%    0.00us\n"
        "     75%    0.00us\n"
        "     90%    0.00us\n"
        "     99%    0.00us\n"
        "  0 requests in 2.00s, 0.00B read\n"
        "Requests/sec:      0.00\n"
        "Transfer/sec:       0.00B\n"
    )


def test_example_d_status_errors_structure() -> None:
    latency = histogram({120: 9000, 150: 8000, 400: 1400, 3890: 21}, LATENCY_LIMIT)
    data = report_data(
        url="http://127.0.0.1:18080/status/404",
        duration=1,
        connections=2,
        latency=latency.corrected(1_001_651, complete=18_421, connections=2),
        rate=histogram({18_500: 5, 19_960: 2, 16_000: 3}, RATE_LIMIT),
        requests=18_421,
        bytes_read=1_415_578,
        runtime_us=1_001_651,
        status_errors=18_421,
    )
    lines = wrk_report(data).split("\n")
    assert lines[0] == "Running 1s test @ http://127.0.0.1:18080/status/404"
    assert lines[1] == "  1 threads and 2 connections"
    assert lines[2] == "  Thread Stats   Avg      Stdev     Max   +/- Stdev"
    row = r"    {}   ( *\d+\.\d\d(?:us|ms|k|) *){{3}} +\d+\.\d\d%"
    assert re.fullmatch(row.format("Latency"), lines[3]), lines[3]
    assert re.fullmatch(row.format("Req/Sec"), lines[4]), lines[4]
    assert lines[5:] == [
        "  18421 requests in 1.00s, 1.35MB read",
        "  Non-2xx or 3xx responses: 18421",
        "Requests/sec:  18390.64",
        "Transfer/sec:      1.35MB",
        "",
    ]
    assert len(lines[2]) == 51
    assert len(lines[3]) == len(lines[4]) == 50


def test_example_a_summary_lines() -> None:
    data = report_data(
        duration=3,
        threads=2,
        connections=10,
        requests=177_661,
        bytes_read=13_858_929,
        runtime_us=3_099_443,
    )
    assert wrk_header(data.config) == (
        "Running 3s test @ http://127.0.0.1:18080/\n  2 threads and 10 connections\n"
    )
    assert wrk_body(data).endswith(
        "  177661 requests in 3.10s, 13.22MB read\n"
        "Requests/sec:  57320.30\n"
        "Transfer/sec:      4.26MB\n"
    )


# --- line rules -----------------------------------------------------------------------------------


def test_zero_sample_rows_and_only_zero_rate_samples() -> None:
    body = wrk_body(report_data(rate=histogram({0: 7}, RATE_LIMIT)))
    assert "    Latency     0.00us    0.00us   0.00us    -nan%\n" in body
    assert "    Req/Sec     0.00      0.00     0.00    100.00%\n" in body
    assert "Latency Distribution" not in body


def test_percentile_lines_keep_trailing_spaces() -> None:
    latency = histogram({1_200_000: 1, 1_730: 1, 56: 4}, LATENCY_LIMIT)
    body = wrk_body(report_data(latency=latency, print_latency=True, requests=6))
    lines = body.split("\n")
    start = lines.index("  Latency Distribution")
    assert lines[start + 1 : start + 5] == [
        "     50%   56.00us",
        "     75%    1.73ms",  # two letters: no pad
        "     90%    1.20s ",  # one letter -> one pad space, at end of line
        "     99%    1.20s ",
    ]


def test_socket_errors_line_only_when_a_socket_counter_is_set() -> None:
    assert "Socket errors" not in wrk_body(report_data(status_errors=3))
    for name in ("connect_errors", "read_errors", "write_errors", "timeouts"):
        body = wrk_body(report_data(**{name: 2}))
        assert "  Socket errors: connect " in body
    body = wrk_body(report_data(connect_errors=1, read_errors=2, write_errors=3, timeouts=4))
    assert "  Socket errors: connect 1, read 2, write 3, timeout 4\n" in body
    assert "Non-2xx" not in body


def test_error_counters_print_like_c_int() -> None:
    body = wrk_body(report_data(read_errors=2**32 + 5, status_errors=2**31))
    assert "read 5," in body
    assert "  Non-2xx or 3xx responses: -2147483648\n" in body


def test_rate_lines_width() -> None:
    body = wrk_body(report_data(requests=7_488_685, bytes_read=6_357_860_000, runtime_us=10**7))
    assert "Requests/sec: 748868.50\n" in body
    assert "Transfer/sec:    606.33MB\n" in body
    wide = wrk_body(report_data(requests=10**12, runtime_us=10**6))
    assert "Requests/sec: 1000000000000.00\n" in wide


def test_zero_runtime_does_not_warn() -> None:
    body = wrk_body(report_data(requests=0, runtime_us=0))
    assert "Requests/sec:      -nan\n" in body
    body = wrk_body(report_data(requests=3, bytes_read=10, runtime_us=0))
    assert "Requests/sec:       inf\n" in body
    assert "Transfer/sec:       infTB\n" in body  # inf divided down to the last unit


@pytest.mark.parametrize(
    ("duration", "text"), [(3, "3s"), (10, "10s"), (51, "1m"), (90, "2m"), (7200, "120m")]
)
def test_header_duration(duration: int, text: str) -> None:
    config = Config("http://127.0.0.1:18080/", duration=duration, threads=4, connections=1000)
    header = wrk_header(config)
    assert (
        header
        == f"Running {text} test @ http://127.0.0.1:18080/\n  4 threads and 1000 connections\n"
    )


def test_report_is_header_plus_body() -> None:
    data = report_data(requests=9, latency=histogram({300: 9}, LATENCY_LIMIT))
    header = wrk_header(data.config)
    assert wrk_report(data) == header + wrk_body(data)
    assert wrk_body(data).startswith("  Thread Stats")
    assert wrk_body(data).endswith("B\n")


# --- what benchmark harnesses scrape --------------------------------------------------------------

HARNESS_PATTERNS = {
    "requests_per_s": r"Requests/sec:\s+([\d.]+)",
    "requests": r"(\d+) requests in",
    "socket": r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    "non2xx": r"Non-2xx or 3xx responses: (\d+)",
    "latency_row": r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)",
    "transfer": r"Transfer/sec:\s+([\d.]+)([KMGT]?)B",
}


def test_harness_regexes_read_the_output() -> None:
    latency = histogram({1_000: 5, 2_000: 5}, LATENCY_LIMIT)
    data = report_data(
        latency=latency,
        rate=histogram({5000: 3}, RATE_LIMIT),
        requests=12_345,
        bytes_read=1_000_000,
        runtime_us=2_000_000,
        connect_errors=1,
        read_errors=2,
        write_errors=3,
        timeouts=4,
        status_errors=5,
        print_latency=True,
    )
    text = wrk_report(data)
    found = {name: re.search(pattern, text) for name, pattern in HARNESS_PATTERNS.items()}
    assert all(found.values()), found
    assert found["requests_per_s"] is not None and found["requests_per_s"].group(1) == "6172.50"
    assert found["requests"] is not None and found["requests"].group(1) == "12345"
    assert found["socket"] is not None and found["socket"].groups() == ("1", "2", "3", "4")
    assert found["non2xx"] is not None and found["non2xx"].group(1) == "5"
    assert found["latency_row"] is not None
    assert found["latency_row"].groups() == ("1.50", "ms", "527.05", "us", "2.00", "ms")
    assert found["transfer"] is not None and found["transfer"].groups() == ("488.28", "K")
