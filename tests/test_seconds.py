"""The run's seconds, status codes, client load and facts (issue 21's data): per-second sums equal
the run's totals, against real servers; the JSON round trip; merged seconds; the saturation rule."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import signal
from collections import Counter
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

import pyload
from pyload import RunResult
from pyload._counters import ThreadStats
from pyload._hdr import HDR_HIGHEST, encode_hdr, hdr_from_counts, merge_encoded_hdr, new_hdr
from pyload._process import run_queue_wait_s
from pyload._saturation import SATURATED, client_load
from pyload._seconds import (
    SECOND_PERCENTILES,
    STATUS_CLASSES,
    Second,
    SecondLatency,
    hdr_of_arrays,
    latency_arrays,
    merge_seconds,
    status_class,
)
from pyload._stats import ExactHistogram
from pyload.merge import merge_files
from tests.helpers import CLI_HANG_S, ROOT, pyload_cli, start_pyload_cli
from tests.target_server import TargetServer

PATHS = str(ROOT / "examples" / "paths.py")  # round-robin over the arguments after the URL


def assert_seconds_add_up(result: RunResult) -> None:
    """Every per-second sum equals the run's total of the same."""
    seconds = result.seconds
    assert seconds, "a run without seconds"
    assert seconds[0].start_s == 0.0
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(seconds))
    assert sum(s.requests for s in seconds) == result.requests
    for kind in result.errors:
        assert sum(s.errors[kind] for s in seconds) == result.errors[kind], kind
    assert result.status_codes is not None
    assert sum(result.status_codes.values()) == result.requests
    by_class = Counter({name: 0 for name in STATUS_CLASSES})
    for code, n in result.status_codes.items():
        by_class[status_class(code)] += n
    assert dict(sum((Counter(s.status_classes) for s in seconds), Counter())) == {
        name: n for name, n in by_class.items() if n
    }
    for s in seconds:
        assert sum(s.status_classes.values()) == s.requests
    # The latencies of the seconds are the run's printed kind, every one of them.
    printed = result.latency_intended or result.latency_uncorrected
    assert sum(s.latency_count for s in seconds) == printed.count
    merged = merge_encoded_hdr(s.latency_encoded for s in seconds)
    assert merged.get_total_count() == printed.count


def test_the_seconds_add_up_to_the_run_and_count_every_status(server: TargetServer):
    paths = ["/", "/status/404", "/status/503", "/status/302", "/status/201"]
    result = pyload.run(
        server.url, connections=4, threads=2, duration=2.0, script=PATHS, script_args=paths
    )
    assert_seconds_add_up(result)
    codes = result.status_codes
    assert codes is not None and set(codes) == {200, 201, 302, 404, 503}
    # Round-robin on each connection: the codes come in about equal numbers.
    assert max(codes.values()) - min(codes.values()) <= 4 * 5
    assert result.status_errors == codes[404] + codes[503]  # wrk's status > 399
    classes = Counter[str]()
    for second in result.seconds:
        classes.update(second.status_classes)
    assert classes["2xx"] == codes[200] + codes[201] and classes["3xx"] == codes[302]
    assert classes["4xx"] == codes[404] and classes["5xx"] == codes[503]
    assert classes["other"] == 0
    assert json.loads(result.to_json())["status_codes"] == {str(c): n for c, n in codes.items()}


def test_open_connections_are_the_connections_while_the_server_keeps_them(server: TargetServer):
    result = pyload.run(server.url, connections=6, threads=2, duration=2.0)
    assert result.status_codes == {200: result.requests}
    assert [s.open_connections for s in result.seconds] == [6] * len(result.seconds)
    assert_seconds_add_up(result)
    assert len(result.seconds) in (2, 3)  # two whole seconds, and the part-second if any
    for second in result.seconds:
        assert second.latency is not None and second.latency.count > 0
        lat = second.latency
        assert 0 < lat.p50 <= lat.p90 <= lat.p99 <= lat.p99_9 <= lat.max


def test_a_run_without_responses_has_seconds_without_latencies(server: TargetServer):
    result = pyload.run(server.url + "/hang", connections=3, threads=1, duration=1.5)
    assert result.requests == 0 and result.status_codes == {}
    assert len(result.seconds) >= 2
    for second in result.seconds:
        assert second.latency is None and second.requests == 0
        assert second.open_connections == 3
        assert second.status_classes == dict.fromkeys(STATUS_CLASSES, 0)
        assert HdrHistogram.decode(second.latency_encoded).get_total_count() == 0
    entry = json.loads(result.to_json())["seconds"][0]
    assert entry["latency_us"] is None and entry["requests"] == 0


def test_a_one_second_run_has_its_second(server: TargetServer):
    result = pyload.run(server.url, connections=2, threads=1, duration=1.0)
    assert 1 <= len(result.seconds) <= 2
    assert result.seconds[-1].end_s == pytest.approx(result.runtime_s, abs=0.05)
    assert_seconds_add_up(result)


def test_a_constant_rate_keeps_the_intended_latencies_per_second(server: TargetServer):
    # A stall of 300 ms 400 ms in: 10 connections at 1000/s, so the schedule holds some 300
    # requests behind it (their intended latencies) while each connection waits for one
    # (the latencies as measured).
    result = pyload.run(server.url + "/stall-once/400/300", rate=1000, threads=1,
                        connections=10, duration=1.5)  # fmt: skip
    assert result.latency_intended is not None
    assert_seconds_add_up(result)
    merged = merge_encoded_hdr(s.latency_encoded for s in result.seconds)
    intended = hdr_from_counts(result.latency_intended.counts)
    for p in (50.0, 90.0, 99.0, 99.9):
        assert merged.get_value_at_percentile(p) == intended.get_value_at_percentile(p)
    worst = max(s.latency.p90 for s in result.seconds if s.latency is not None)
    assert worst >= 100_000 > result.latency_uncorrected.percentile(90)
    assert max(s.latency.max for s in result.seconds if s.latency) == result.latency.max


def test_json_round_trip_is_identical(server: TargetServer):
    result = pyload.run(server.url + "/status/500", connections=2, threads=2, duration=1.0)
    text = result.to_json()
    again = RunResult.from_json(text)
    assert again.to_json() == text
    assert again.seconds == result.seconds and again.status_codes == {500: result.requests}
    assert again.meta == result.meta and again.meta is not None and again.meta.command is None
    data = json.loads(text)
    assert set(data["client"]) == {"cpu_s", "cpu_wait_s", "wall_s", "busiest_process_utilisation",
                                   "busiest_process_runnable", "saturated"}  # fmt: skip
    assert all("cpu_wait_s" in worker for worker in data["workers"])
    assert data["meta"]["started_at"].endswith("Z") and data["meta"]["python"]
    # An older document (no seconds, codes or meta) still reads, with none of them.
    for key in ("seconds", "status_codes", "meta"):
        del data[key]
    old = RunResult.from_json(data)
    assert old.seconds == () and old.status_codes is None and old.meta is None
    assert json.loads(old.to_json())["status_codes"] is None


def test_pyload_merge_adds_the_seconds_exactly(server: TargetServer, tmp_path: Path):
    files = [str(tmp_path / f"{name}.json") for name in ("a", "b")]
    with contextlib.ExitStack() as stack:  # the two runs at the same time: one run's 2 s
        started = [
            stack.enter_context(start_pyload_cli(
                "-t1", "-c2", "-d2", "--json", out, "-s", PATHS, server.url, "/", "/status/404"
            ))  # the same settings (merge refuses others): 200s and 404s
            for out in files
        ]  # fmt: skip
        for proc in started:
            _, stderr = proc.communicate(timeout=CLI_HANG_S)
            assert proc.returncode == 0, stderr
    a, b = (RunResult.from_json(Path(f).read_text()) for f in files)
    merged_out = tmp_path / "merged.json"
    run = pyload_cli("merge", *files, "--json", str(merged_out))
    assert run.returncode == 0, run.stderr
    merged = RunResult.from_json(merged_out.read_text())
    assert merged.meta is not None and a.meta is not None and b.meta is not None
    assert merged.meta.command == ("pyload", "merge", *files, "--json", str(merged_out))
    assert a.meta.command is not None and a.meta.command[0] == "pyload"
    assert merged.meta.started_at == min(a.meta.started_at, b.meta.started_at)
    assert a.status_codes is not None and b.status_codes is not None
    assert merged.status_codes == dict(Counter(a.status_codes) + Counter(b.status_codes))
    assert set(merged.status_codes) == {200, 404}
    assert len(merged.seconds) == max(len(a.seconds), len(b.seconds))
    for n, second in enumerate(merged.seconds):
        parts = [run.seconds[n] for run in (a, b) if n < len(run.seconds)]
        assert second.requests == sum(p.requests for p in parts)
        assert second.errors == {k: sum(p.errors[k] for p in parts) for k in second.errors}
        assert second.status_classes == {
            k: sum(p.status_classes[k] for p in parts) for k in second.status_classes
        }
        assert second.open_connections == sum(p.open_connections for p in parts)
        histogram = HdrHistogram.decode(second.latency_encoded)
        expected = merge_encoded_hdr(p.latency_encoded for p in parts)
        assert histogram.get_total_count() == expected.get_total_count() == second.latency_count
        assert histogram.get_value_at_percentile(99) == expected.get_value_at_percentile(99)
        assert second.latency is not None
        assert second.latency.max == max(p.latency.max for p in parts if p.latency)
        # The merged p50 lies between the parts', to the histogram's 3 significant figures.
        p50s = [p.latency.p50 for p in parts if p.latency]
        assert min(p50s) * 0.999 <= second.latency.p50 <= max(p50s) * 1.001 + 1
    assert_seconds_add_up(merged)
    assert merge_files(files).seconds == merged.seconds


def test_a_merge_with_a_part_without_seconds_has_none():
    second = Second(0.0, 1.0, 1, dict.fromkeys(STATUS_CLASSES, 0) | {"2xx": 1},
                    dict.fromkeys(pyload.ERROR_NAMES, 0), 1, None, "")  # fmt: skip
    assert merge_seconds([[second], []]) == ()
    assert merge_seconds([[second]]) == (second,)


def test_an_interrupted_run_has_its_seconds(server: TargetServer, tmp_path: Path):
    out = tmp_path / "run.json"
    with start_pyload_cli("-t2", "-c4", "-d30", "--json", str(out), server.url) as proc:
        assert proc.stdout is not None
        proc.stdout.readline(), proc.stdout.readline()  # wrk's header: the load has started
        assert server.wait_received("/", 200)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)  # a deadline for a hang only
    assert proc.returncode == 0
    result = RunResult.from_json(out.read_text())
    assert result.interrupted and result.seconds
    assert_seconds_add_up(result)
    assert result.meta is not None and result.meta.command is not None
    assert result.meta.command[1:] == ("-t2", "-c4", "-d30", "--json", str(out), server.url)


# -- the arithmetic: pure -----------------------------------------------------------------


def test_the_fast_histograms_are_hdrhs_own():
    # Values across the whole range (below 2048 µs one cell each, then 3 significant figures,
    # clamped at 24 h), with repeats and zero counts: the cells record_value would fill.
    rng = random.Random(7)
    for _ in range(20):
        counts: dict[int, int] = {}
        for _ in range(rng.randint(0, 3000)):
            value = int(rng.lognormvariate(rng.uniform(0, 22), rng.uniform(0.1, 3)))
            counts[value] = counts.get(value, 0) + rng.randint(0, 3)
        reference = new_hdr()
        for value, n in counts.items():
            if n:
                reference.record_value(min(value, HDR_HIGHEST), n)
        fast = hdr_from_counts(counts)
        arrays = hdr_of_arrays(*latency_arrays([counts]))
        for histogram in (fast, arrays):
            assert encode_hdr(histogram) == encode_hdr(reference)
            assert histogram.get_total_count() == reference.get_total_count()
            assert histogram.get_min_value() == reference.get_min_value()
            assert histogram.get_max_value() == reference.get_max_value()


def test_a_seconds_percentiles_are_wrks_rank_over_the_threads_counts_added():
    parts = [{100: 3, 250: 1}, {100: 1, 900: 5, 0: 0}, {}]
    values, counts = latency_arrays(parts)
    assert values.tolist() == [100, 250, 900] and counts.tolist() == [4, 1, 5]
    latency = SecondLatency.of_arrays(values, counts)
    exact = ExactHistogram.from_counts({100: 4, 250: 1, 900: 5})
    assert latency == SecondLatency(10, *(exact.percentile(p) for p in SECOND_PERCENTILES), 900)
    assert SecondLatency.of_arrays(*latency_arrays([{}])) is None


# -- the client's load: pure ---------------------------------------------------------------


def stats(
    process: int, cpu_s: float, runtime_s: float, index: int = 0, wait_s: float = 0.0
) -> ThreadStats:
    return ThreadStats(index=index, connections=1, process=process, cpu_s=cpu_s,
                       cpu_wait_s=wait_s, runtime_us=round(runtime_s * 1e6))  # fmt: skip


def test_the_busiest_process_decides_saturation():
    # Process 0 hosts two threads (its CPU time on the first), process 1 one: 1.9 s of 2 s.
    workers = [stats(0, 0.8, 2.0, 0), stats(0, 0.0, 1.9, 1), stats(1, 1.9, 2.0, 2)]
    load = client_load(workers)
    assert load.cpu_s == pytest.approx(2.7) and load.wall_s == 2.0
    assert load.busiest_process_utilisation == pytest.approx(0.95) and load.saturated
    assert load.note() == (
        "  Client saturated: pyload's own CPU was the limit (95% of a core in its busiest "
        "process); Requests/sec measured pyload, not the server"
    )
    # The warm-up's CPU time is in cpu_s: its wall time counts too.
    assert not client_load(workers, warmup_s=1.0).saturated


def test_waiting_for_a_cpu_counts_as_the_client_being_the_limit():
    # A loaded machine: the loop ran 40% of the time and waited for a core another 55%.
    starved = client_load([stats(0, 0.8, 2.0, wait_s=1.1), stats(1, 1.0, 2.0, 1)])
    assert starved.saturated and starved.cpu_wait_s == pytest.approx(1.1)
    assert starved.busiest_process_utilisation == pytest.approx(0.4)
    assert starved.busiest_process_runnable == pytest.approx(0.95)
    assert starved.note() == (
        "  Client saturated: pyload's own CPU was the limit (40% of a core in its busiest "
        "process, 55% of the time waiting for one); Requests/sec measured pyload, not the server"
    )
    assert not client_load([stats(0, 0.8, 2.0, wait_s=0.9)]).saturated  # 85%: it waited too


def test_a_client_below_the_line_is_not_saturated():
    load = client_load([stats(0, 0.2, 2.0), stats(1, 2.0 * SATURATED - 0.01, 2.0, 1)])
    assert not load.saturated and load.note() is None
    assert client_load([]).busiest_process_utilisation is None
    assert not client_load([stats(0, 0.0, 0.0)]).saturated  # nothing ran


def test_the_run_queue_wait_is_linuxs_second_schedstat_field(tmp_path: Path):
    schedstat = tmp_path / "schedstat"
    schedstat.write_text("384343122 1488846716 1386\n")
    assert run_queue_wait_s(str(schedstat)) == pytest.approx(1.488846716)
    assert run_queue_wait_s(str(tmp_path / "missing")) == 0.0
    assert run_queue_wait_s() >= 0.0  # this process's (0.0 off Linux)


def test_the_saturated_line_follows_wrks_lines(server: TargetServer):
    result = pyload.run(server.url, connections=2, threads=1, duration=1.0)
    client = result.client  # measured: the loop's CPU and its waits for one, per process
    assert client.busiest_process_utilisation is not None
    assert client.busiest_process_runnable is not None
    assert 0 < client.busiest_process_utilisation <= client.busiest_process_runnable
    assert client.cpu_wait_s == sum(w.cpu_wait_s for w in result.workers) >= 0
    busy = [type(w)(**{**_fields(w), "cpu_s": result.runtime_s, "cpu_wait_s": 0.0})
            for w in result.workers]  # fmt: skip
    saturated = RunResult(result.config, result.runtime_us, tuple(busy),
                          result.latency_uncorrected, result.rate)  # fmt: skip
    assert saturated.client_saturated
    lines = saturated.to_wrk_text().splitlines()
    assert lines[-2].startswith("Transfer/sec:")
    assert lines[-1] == (
        "  Client saturated: pyload's own CPU was the limit (100% of a core in its busiest "
        "process); Requests/sec measured pyload, not the server"
    )
    assert json.loads(saturated.to_json())["client"]["saturated"] is True


def _fields(w: ThreadStats) -> dict[str, object]:
    return {name: getattr(w, name) for name in w.__dataclass_fields__}
