"""The result as a wire format: JSON out, JSON in, the same result; runs merged exactly."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import pyload
from pyload._counters import RunProgress
from pyload._engine import run_thread
from pyload._local import prepare
from pyload._process import new_event_loop
from pyload.config import Config
from pyload.errors import UsageError
from pyload.result import SCHEMA, RunResult
from tests.target_server import TargetServer


def round_trip(result: RunResult) -> RunResult:
    return RunResult.from_json(result.to_json())


def assert_same(a: RunResult, b: RunResult) -> None:
    assert a == b
    assert a.to_wrk_text() == b.to_wrk_text()
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/", {"print_latency": True}),  # clean
        ("/status/503", {}),  # non-2xx
        ("/reset", {}),  # read errors, no latency at all
        ("/slow/120", {"timeout": 0.05}),  # every response a timeout: "-nan%"
    ],
)
def test_from_json_rebuilds_the_same_result(
    server: TargetServer, path: str, options: dict[str, Any]
):
    result = pyload.run(server.url + path, connections=4, threads=2, duration=0.5, **options)
    again = round_trip(result)
    assert_same(result, again)
    if path == "/slow/120":
        assert result.timeouts == result.requests > 0 and "-nan%" in again.to_wrk_text()


def test_from_json_over_tls(tls_server: TargetServer):
    result = pyload.run(tls_server.url + "/", connections=2, threads=1, duration=0.3)
    assert result.requests > 0
    assert_same(result, round_trip(result))


def test_the_document_carries_the_exact_counts_and_says_what_it_is(server: TargetServer):
    result = pyload.run(server.url + "/", connections=2, threads=1, duration=0.3)
    data = json.loads(result.to_json())
    assert data["schema"] == SCHEMA == "pyload.result/2"
    assert data["config"] == result.config.to_json()
    counts = {value: n for value, n in data["latency_counts_us"]}
    assert counts == result.latency_uncorrected.to_counts()
    assert sum(counts.values()) == data["latency_hdr"]["count"] == result.requests
    assert sum(n for _, n in data["req_per_s_samples"]) == result.rate.count > 0
    summary = result.to_dict(raw=False)
    assert "latency_counts_us" not in summary and summary["requests"] == result.requests


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a pyload result"),
        ('{"schema": "pyload.result/1"}', "schema pyload.result/2"),
        (json.dumps({"schema": SCHEMA, "config": {"url": "http://h/"}}), "malformed"),
        ("[1, 2]", "not a pyload result"),
    ],
)
def test_from_json_refuses_what_is_not_a_result(text: str, message: str):
    with pytest.raises(UsageError, match=message):
        RunResult.from_json(text)


def worker_result(server: TargetServer, index: int, connections: int) -> Any:
    """One worker's raw result, run on this test's loop (the in-process mode)."""
    config = Config(server.url + "/", connections=connections, threads=1, duration=0.3)
    spec = dataclasses.replace(prepare(config)[0], index=index)
    loop = new_event_loop("asyncio")
    try:
        return config, loop.run_until_complete(run_thread(spec, lambda m: None, lambda: False))
    finally:
        loop.close()


def test_merging_two_runs_json_equals_merging_their_workers(server: TargetServer):
    config_a, worker_a = worker_result(server, 0, 3)
    config_b, worker_b = worker_result(server, 0, 2)
    run_a = RunResult.from_threads(config_a, 300_000, [worker_a])
    run_b = RunResult.from_threads(config_b, 310_000, [worker_b])
    merged = RunResult.combine([round_trip(run_a), round_trip(run_b)])
    # The same two workers' raw results, merged at once as one run of both.
    both = dataclasses.replace(config_a, connections=5, threads=2)
    worker_b.stats.index = worker_b.stats.process = 1  # the second thread, in its own process
    direct = RunResult.from_threads(both, 310_000, [worker_a, worker_b])
    assert_same(merged, direct)
    assert merged.requests == run_a.requests + run_b.requests
    assert "  2 threads and 5 connections\n" in merged.to_wrk_text()


def test_merging_real_runs_adds_everything_up(server: TargetServer):
    runs = [
        round_trip(pyload.run(server.url + "/", connections=2, threads=1, duration=0.3))
        for _ in range(2)
    ]
    merged = RunResult.combine(runs)
    assert merged.requests == sum(run.requests for run in runs)
    assert merged.latency_uncorrected.count == sum(r.latency_uncorrected.count for r in runs)
    assert merged.rate.count == sum(run.rate.count for run in runs)
    assert [w.index for w in merged.workers] == [0, 1]
    assert merged.latency_hdr.get_total_count() == merged.requests


def test_runs_with_other_settings_are_not_merged(server: TargetServer):
    a = pyload.run(server.url + "/", connections=2, threads=1, duration=0.3)
    b = pyload.run(server.url + "/", connections=2, threads=1, duration=0.4, timeout=1)
    with pytest.raises(UsageError, match="different settings: duration, timeout"):
        RunResult.combine([a, b])
    with pytest.raises(UsageError, match="no results"):
        RunResult.combine([])


def test_on_progress_is_called_every_second_with_the_counters_so_far(server: TargetServer):
    seen: list[RunProgress] = []
    result = pyload.run(
        server.url + "/slow/5", connections=4, threads=2, duration=2.3, on_progress=seen.append
    )
    assert len(seen) == 2
    assert [round(p.elapsed_s) for p in seen] == [1, 2]
    assert 0 < seen[0].counters.requests < seen[1].counters.requests <= result.requests
    assert all(p.workers == 2 and p.requests_per_s > 0 for p in seen)


def test_constant_rate_runs_merge_their_rates_and_intended_latencies(server: TargetServer):
    runs = [
        round_trip(pyload.run(server.url + "/", connections=2, threads=1, duration=0.5, rate=r))
        for r in (100.0, 50.0)
    ]
    assert all(run.latency_intended is not None for run in runs)
    merged = RunResult.combine(runs)
    assert merged.config.rate == 150.0
    assert merged.latency_intended is not None
    assert merged.latency.count == sum(run.latency.count for run in runs) == merged.requests
    closed = pyload.run(server.url + "/", connections=2, threads=1, duration=0.5)
    with pytest.raises(UsageError, match="rate \\(a closed loop and a constant rate\\)"):
        RunResult.combine([runs[0], closed])
