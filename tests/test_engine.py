"""The engine against a real asyncio server on loopback: counts, faults, timeouts, stopping."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import pyload
from pyload._cli import EXIT_PARTIAL
from pyload.result import RunResult
from tests.helpers import assert_accounted, start_pyload_cli, worker_processes
from tests.target_server import BODY, TargetServer

LOOPS = ["asyncio", "uvloop"]
SHORT = 0.5


def load(server: TargetServer, path: str, **options: Any) -> RunResult:
    options = {"connections": 4, "threads": 2, "duration": SHORT, **options}
    return pyload.run(server.url + path, **options)


def assert_no_errors(result: RunResult) -> None:
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    assert result.worker_failures == ()


@pytest.mark.parametrize("loop", LOOPS)
def test_counts_agree_with_what_the_server_saw(server: TargetServer, loop: str):
    result = load(server, "/", loop=loop)
    assert_no_errors(result)
    assert result.requests > 100
    # Every request the server answered was counted, except those still in flight at the end.
    assert server.answered["/"] == server.received["/"]
    assert_accounted(result.requests, result.in_flight, server.received["/"])
    assert result.in_flight <= 4
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + BODY
    # Every completed response was read whole; a response in flight may be partly read.
    complete = result.requests * len(response)
    assert complete <= result.bytes_read < complete + max(result.in_flight, 1) * len(response)
    assert result.latency_uncorrected.count == result.requests
    assert result.latency_hdr.get_total_count() == result.requests
    assert 0 < result.percentile(50) <= result.percentile(99) <= result.latency.max
    # The header line, then wrk's rows, in order.
    text = result.to_wrk_text()
    assert text.startswith(f"Running 0s test @ {server.url}/\n  2 threads and 4 connections\n")
    assert f"  {result.requests} requests in " in text


def test_connections_split_across_workers_and_all_open(server: TargetServer):
    result = load(server, "/", connections=7, threads=3)
    assert [w.connections for w in result.workers] == [3, 2, 2]
    assert server.connections == 7 + 1  # + wrk's probe connection before the run
    assert all(w.requests > 0 for w in result.workers)


def test_status_errors_are_responses_above_399(server: TargetServer):
    errors = load(server, "/status/404")
    assert errors.status_errors == errors.requests > 0
    redirects = load(server, "/status/302")
    assert redirects.status_errors == 0 and redirects.requests > 0
    assert "Non-2xx or 3xx responses: " in errors.to_wrk_text()
    assert "Non-2xx" not in redirects.to_wrk_text()


@pytest.mark.parametrize("loop", LOOPS)
def test_late_responses_are_requests_and_timeouts_not_latencies(server: TargetServer, loop: str):
    result = load(server, "/slow/150", timeout=0.05, duration=0.8, loop=loop)
    assert result.requests > 0
    assert result.timeouts == result.requests
    assert result.latency.count == 0
    text = result.to_wrk_text()
    assert "    Latency     0.00us    0.00us   0.00us    -nan%\n" in text
    assert f"timeout {result.requests}\n" in text


def test_latencies_within_the_timeout_are_recorded(server: TargetServer):
    result = load(server, "/slow/100", timeout=1.0, duration=0.8)
    assert result.timeouts == 0 and result.requests >= 4
    assert 100_000 <= result.percentile(50, corrected=False) < 200_000


def test_a_server_that_never_answers(server: TargetServer):
    result = load(server, "/hang", duration=0.3)
    assert result.requests == 0 and result.timeouts == 0  # as wrk: no answer, no timeout
    assert result.in_flight == 4  # ... but pyload says what was left hanging
    assert "Socket errors" not in result.to_wrk_text()


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("path", ["/close", "/http10"])
def test_connection_close_reconnects_without_errors(server: TargetServer, path: str, loop: str):
    result = load(server, path, loop=loop)
    assert_no_errors(result)
    assert result.requests > 10
    assert server.connections > result.requests  # a new connection for every request


def test_chunked_bodies(server: TargetServer):
    result = load(server, "/chunked")
    assert_no_errors(result)
    assert_accounted(result.requests, result.in_flight, server.received["/chunked"])


def test_body_delimited_by_eof_is_a_request_and_not_an_error(server: TargetServer):
    # Deliberate difference: wrk counts each of these as a request AND a read error.
    result = load(server, "/eof")
    assert_no_errors(result)
    assert result.requests > 10
    assert_accounted(result.requests, result.in_flight, server.answered["/eof"])


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("path", ["/drop", "/reset", "/half", "/garbage"])
def test_faults_are_read_errors_and_reconnects(server: TargetServer, path: str, loop: str):
    result = load(server, path, loop=loop)
    assert result.requests == 0
    assert result.read_errors > 4  # more errors than connections: every fault reconnected
    assert result.connect_errors == result.write_errors == result.timeouts == 0
    assert server.received[path] >= result.read_errors
    assert f"Socket errors: connect 0, read {result.read_errors}, write 0" in result.to_wrk_text()


def test_half_responses_count_their_bytes(server: TargetServer):
    result = load(server, "/half")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    assert result.bytes_read >= result.read_errors * len(head) * 0.9


def test_large_bodies(server: TargetServer):
    result = load(server, "/big/200000", duration=0.4)
    assert_no_errors(result)
    assert result.bytes_read >= result.requests * 200_000


def test_run_returns_and_never_prints(server: TargetServer, capfd: pytest.CaptureFixture[str]):
    result = load(server, "/", duration=0.2)
    assert isinstance(result, pyload.RunResult)
    assert capfd.readouterr() == ("", "")


def test_json_result_is_complete_and_consistent(server: TargetServer, tmp_path):
    result = load(server, "/status/503", print_latency=True)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema"] == "pyload.result/2"
    assert data["requests"] == result.requests == data["errors"]["status"]
    assert data["config"]["connections"] == 4
    assert data["latency_us"]["count"] == result.latency.count
    assert data["latency_us"]["percentiles"]["99"] == result.percentile(99)
    assert data["latency_hdr"]["count"] == result.requests
    assert sum(w["requests"] for w in data["workers"]) == result.requests
    assert data["wrk_text"] == result.to_wrk_text()
    assert "  Latency Distribution\n" in data["wrk_text"]


def test_cli_prints_wrks_report_and_writes_json(server: TargetServer, tmp_path):
    out = tmp_path / "result.json"
    with start_pyload_cli("-t2", "-c4", "-d1", "--latency", "--json", str(out), server.url) as proc:
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    assert stderr == ""
    lines = stdout.splitlines()
    assert lines[:3] == [
        f"Running 1s test @ {server.url}",
        "  2 threads and 4 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
    ]
    assert lines[5] == "  Latency Distribution"
    assert re.fullmatch(r"Requests/sec: +[\d.]+", lines[-2])
    assert json.loads(out.read_text())["wrk_text"] == stdout


def test_cli_json_to_stdout_sends_the_text_to_stderr(server: TargetServer):
    with start_pyload_cli("-t1", "-c2", "-d1", "--json", "-", server.url) as proc:
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0
    assert json.loads(stdout)["requests"] > 0
    assert stderr.startswith("Running 1s test @")


def read_header(proc: Any) -> list[str]:
    """Block until the CLI has printed wrk's two header lines: the load has started."""
    return [proc.stdout.readline(), proc.stdout.readline()]


def test_ctrl_c_still_prints_the_report(server: TargetServer):
    with start_pyload_cli("-t2", "-c4", "-d30", server.url) as proc:
        assert read_header(proc)[1] == "  2 threads and 4 connections\n"
        assert server.wait_received("/", 100)  # the load is flowing
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)  # a deadline for a hang only
    assert proc.returncode == 0, stderr
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ", stdout)
    assert found is not None, stdout
    assert int(found.group(1)) >= 100
    assert found.group(3) in ("ms", "s") and (found.group(3) == "ms" or float(found.group(2)) < 20)
    assert "Traceback" not in stderr and stderr == ""


def test_a_worker_that_dies_is_reported(server: TargetServer):
    with start_pyload_cli("-t2", "-c4", "-d3", "--processes", "2", server.url) as proc:
        read_header(proc)
        workers = worker_processes(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == EXIT_PARTIAL == 3  # the result is partial
    assert "requests in" in stdout  # the surviving worker's report is still printed
    # The lost process is named in the report's last line, by number, with its threads.
    assert re.search(
        r"\n  Partial result: worker process (\d) \(thread (\d)\) died before sending its "
        r"result \((it sent no progress|by [\d.]+ s: \d+ requests, \d+ errors)\); its "
        r"counters are missing\n$",
        stdout,
    )
    assert stderr == "pyload: partial result: 1 worker process lost (see the report's last lines)\n"


def test_ctrl_c_during_setup_exits_130_and_leaves_no_worker(server: TargetServer, tmp_path):
    # Setup that waits: the body comes from a FIFO, which pyload reads before it starts any
    # worker. Once this test's open() for writing returns, pyload is blocked reading it.
    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    with (
        start_pyload_cli("-t4", "-c4", "-d30", "--body-file", str(fifo), server.url + "/") as proc,
        open(fifo, "wb"),
    ):
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)  # a deadline for a hang only
    assert (proc.returncode, stdout) == (130, "")
    assert stderr == "interrupted before the load started\n"
    assert worker_processes(proc.pid) == [] and server.connections == 0


def test_latency_obeys_littles_law(server: TargetServer):
    # Every connection always has one request in flight (the next one is written the moment
    # a response completes), so mean latency x throughput = connections. wrk starts its clock
    # at the next writable event instead, which makes its product smaller under a saturated
    # client (see the self-benchmark's p50 figures in the README).
    result = load(server, "/slow/20", connections=20, threads=2, duration=1.0)
    in_flight = float(result.latency_uncorrected.mean()) / 1e6 * result.requests_per_s
    assert 0.8 * 20 < in_flight <= 20 * 1.05


def test_hundreds_of_connections_over_many_workers(server: TargetServer):
    result = load(server, "/", connections=400, threads=8, duration=1.0)
    assert len(result.workers) == 8 and result.worker_failures == ()
    assert sum(w.connections for w in result.workers) == 400
    assert result.all_connected_ms is not None  # every slot connected at least once
    assert server.connections == 400 + 1  # + the probe; no reconnects were needed
    assert result.requests > 400 and result.read_errors == result.connect_errors == 0


def test_a_server_that_dies_mid_run_gives_errors_not_a_crash():
    from tests.target_server import running

    with ExitStack() as owned:
        with running() as doomed:
            proc = owned.enter_context(start_pyload_cli("-t2", "-c4", "-d2", doomed.url + "/"))
            read_header(proc)
            assert doomed.wait_received("/", 200)
        # The server is gone: in-flight requests fail (read), reconnects are refused (connect).
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0 and stderr == ""
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", stdout)
    assert found is not None, stdout
    connect, read, _ = (int(n) for n in found.groups())
    assert connect > 4 and read >= 1, stdout
    assert re.search(r"^ +(\d+) requests in", stdout, re.M)


def test_threads_are_hosted_by_fewer_processes(server: TargetServer):
    result = load(server, "/", connections=8, threads=4, processes=2, duration=0.5)
    assert [(w.index, w.process, w.connections) for w in result.workers] == [
        (0, 0, 2), (1, 0, 2), (2, 1, 2), (3, 1, 2)
    ]  # fmt: skip
    assert all(w.requests > 0 for w in result.workers) and result.processes == 2
    # Each thread keeps its own 100 ms sampler, as wrk's threads: about 4 x 5 samples.
    assert 12 <= result.rate.count <= 20
    assert "  4 threads and 8 connections\n" in result.to_wrk_text()
    data = result.to_dict()
    assert (data["threads"], data["processes"], data["config"]["processes"]) == (4, 2, 2)


def test_default_processes_one_per_cpu_at_most_the_threads():
    from pyload._plan import processes_for, threads_per_process

    cpus = len(os.sched_getaffinity(0))
    assert processes_for(pyload.Config("http://h/", threads=20, connections=20)) == min(20, cpus)
    assert processes_for(pyload.Config("http://h/", threads=1, connections=1)) == 1
    assert processes_for(pyload.Config("http://h/", threads=4, processes=3)) == 3
    assert threads_per_process(5, 2) == [[0, 1, 2], [3, 4]]
    assert threads_per_process(20, 20) == [[t] for t in range(20)]
    with pytest.raises(pyload.UsageError, match="processes must be <= threads"):
        pyload.Config("http://h/", threads=2, processes=3)


def test_workers_exit_when_their_parent_is_killed(server: TargetServer):
    with start_pyload_cli("-t2", "-c4", "-d60", "--processes", "2", server.url + "/") as proc:
        read_header(proc)
        workers = worker_processes(proc.pid)
        assert len(workers) == 2
        proc.kill()  # SIGKILL: no chance to stop them
        proc.communicate(timeout=60)
        # They look at their parent every 100 ms; 10 s is a deadline for a hang.
        deadline = time.monotonic() + 10
        while [pid for pid in workers if _alive(pid)]:
            assert time.monotonic() < deadline, "workers outlived their parent by 10 s"
            time.sleep(0.05)  # polling /proc: nothing to wait on


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
