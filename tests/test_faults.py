"""The fault matrix: pyload's counts against what a misbehaving server did, and wrk's beside them.

Each case starts a fault server (tests/fault_server.py) on loopback, runs pyload on it (one worker
in this process, ``run_thread``: the engine without the process around it), then runs wrk on a
fresh server with the same fault, and checks both tools' reports against the server's own counts.
Where the two tools differ on purpose, both sides are asserted. The faults that
tests/target_server.py already serves are checked in tests/test_engine.py and
tests/test_wrk_compare.py (a server that never answers, a malformed status line, a body shorter
than its Content-Length, ``Connection: close``, a body ended by close); this file adds the
counts against the server's where they were missing. The table of what each tool reports is in
docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyload._engine import run_thread
from pyload._local import prepare
from pyload._process import new_event_loop
from pyload.config import Config
from tests.fault_server import BIG_BODY, OK, FaultCounts, running
from tests.helpers import ROOT, start_pyload_cli
from tests.target_server import TargetServer
from tests.test_wrk_compare import errors_of, requests_of

CONNECTIONS = 2
PYLOAD_S = 0.5  # pyload's runs; wrk's are -d1s, its shortest


@dataclass(frozen=True)
class Report:
    """What a tool reported: the counters both print (``in_flight``: pyload's JSON only)."""

    requests: int
    errors: dict[str, int]
    bytes_read: int = 0
    # wrk does not say. One per connection, and one more: wrk counts a body ended by the close
    # as a request and a read error, and reopens the connection twice (checked on /eof).
    in_flight: int = 2 * CONNECTIONS

    @property
    def socket_errors(self) -> int:
        return sum(self.errors[k] for k in ("connect", "read", "write", "timeout"))


def pyload_in_process(url: str, **options: object) -> Report:
    """One pyload worker with CONNECTIONS connections for PYLOAD_S seconds, on this process's
    own event loop."""
    options = {"connections": CONNECTIONS, "threads": 1, "duration": PYLOAD_S, **options}
    spec = prepare(Config(url, **options))[0]  # type: ignore[arg-type]
    loop = new_event_loop("auto")
    try:
        result = loop.run_until_complete(run_thread(spec, lambda message: None, lambda: False))
    finally:
        loop.close()
    stats = result.stats
    return Report(stats.requests, dict(stats.errors), stats.bytes_read, stats.in_flight)


def wrk(wrk_path: str, url: str, *options: str) -> Report:
    done = subprocess.run(
        [wrk_path, "-t1", f"-c{CONNECTIONS}", "-d1s", *options, url],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Report(requests_of(done.stdout), errors_of(done.stdout))


def assert_answered(report: Report, answered: int) -> None:
    """Every response the tool counted was one the server finished; the server finished at
    most the requests in flight at the stop beyond those. (pyload: and one per connection whose
    connect completed after the stop: test_no_request_is_written_after_the_stop.)"""
    late = CONNECTIONS if report.in_flight <= CONNECTIONS else 0
    assert report.requests <= answered <= report.requests + report.in_flight + late, (
        report, answered,
    )  # fmt: skip


def assert_one_each(errors: int, faults: int, report: Report) -> None:
    """One error per fault the server committed, but for those still unread at the stop."""
    assert faults - report.in_flight <= errors <= faults, (report, faults)
    assert errors > 10 * CONNECTIONS  # every fault reconnected, many times


# -- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset-on-accept", "reset-mid-response"])
def test_resets_are_socket_errors_one_per_reset(wrk_path: str, fault: str):
    for tool in ("pyload", "wrk"):
        with running(fault) as server:
            report = (
                pyload_in_process(server.url) if tool == "pyload" else wrk(wrk_path, server.url)
            )
            counts = server.counts.as_dict()
        assert report.requests == 0
        assert report.bytes_read <= counts["bytes_sent"]
        if tool == "pyload" and fault == "reset-mid-response":
            assert report.errors["read"] == report.socket_errors  # a reset while reading
        assert_one_each(report.socket_errors, counts["resets"], report)


@pytest.mark.parametrize("fault", ["bad-header", "bad-chunk-size", "huge-chunk-size"])
def test_malformed_responses_are_read_errors_one_per_response(wrk_path: str, fault: str):
    for tool in ("pyload", "wrk"):
        with running(fault) as server:
            report = (
                pyload_in_process(server.url) if tool == "pyload" else wrk(wrk_path, server.url)
            )
            counts = server.counts.as_dict()
        assert report.requests == 0
        assert report.errors["read"] == report.socket_errors
        assert_one_each(report.errors["read"], counts["responses"], report)


def test_a_response_trickling_one_byte_at_a_time(wrk_path: str):
    for tool in ("pyload", "wrk"):
        with running("trickle") as server:
            report = (
                pyload_in_process(server.url) if tool == "pyload" else wrk(wrk_path, server.url)
            )
            counts = server.counts.as_dict()
        assert report.socket_errors == 0
        assert report.requests >= CONNECTIONS  # about 80 ms a response: several each
        assert_answered(report, counts["responses"])
        if tool == "pyload":  # every byte is counted, the responses' and any part of one
            assert report.requests * len(OK) <= report.bytes_read <= counts["bytes_sent"]


def test_interim_responses_are_not_requests_unlike_wrk(wrk_path: str):
    """``100 Continue`` before every 200: pyload counts the 200s only, one request each; wrk
    counts the 100s as requests too (its parser completes a message for each)."""
    with running("continue") as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 100
    assert_answered(ours, counts["responses"])
    assert counts["interim"] == counts["requests"] <= ours.requests + ours.in_flight
    with running("continue") as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert theirs.socket_errors == 0
    # Two "requests" per request the server received, less the ones cut off at the stop.
    assert 1.8 * counts["responses"] <= theirs.requests <= 2 * counts["requests"]


def test_switching_protocols_ends_the_connection_unlike_wrk(wrk_path: str):
    """``101 Switching Protocols`` (the server then closes at the first byte that is not its
    new protocol): pyload counts it and opens a new connection; wrk counts it, sends its next
    request on the same connection, and counts the close that follows as a read error."""
    with running("switch") as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 10
    assert_answered(ours, counts["responses"])
    assert counts["connections"] <= 1 + ours.requests + CONNECTIONS  # + the setup probe
    with running("switch") as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert_answered(theirs, counts["responses"])
    assert theirs.requests - CONNECTIONS <= theirs.errors["read"] <= theirs.requests


def test_an_answer_before_the_request_is_written_unlike_wrk(wrk_path: str, tmp_path: Path):
    """The server answers once it has read the head of an 8 MiB POST, before reading its body:
    more than the two kernels' socket buffers hold, so the client is still writing the request.
    pyload counts the answer and queues its next request behind the rest of the body; wrk never
    sends another request on that connection (its next write waits for the one in progress)."""
    body = 8 * 2**20
    with running("early-answer") as server:
        ours = pyload_in_process(server.url, method="POST", body="x" * body, duration=1.0)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 2 * CONNECTIONS
    assert_answered(ours, counts["responses"])
    script = tmp_path / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {body})\n')
    with running("early-answer") as server:
        theirs = wrk(wrk_path, server.url, "-s", str(script))
        counts = server.counts.as_dict()
    assert theirs.socket_errors == 0
    assert theirs.requests == counts["responses"] == CONNECTIONS  # one each, then silence


def test_a_100_mb_body_keeps_the_workers_memory_flat(wrk_path: str):
    """A worker process reading 100 MB bodies on two connections: its peak RSS grows by a few
    MB over what it held before the load, not by the bodies (wrk's is measured beside it)."""
    code = (
        "import re, sys\n"
        "from pyload.config import Config\n"
        "from pyload._local import prepare\n"
        "from pyload._engine import run_thread\n"
        "from pyload._process import new_event_loop\n"
        "def kib(field):  # this process's own memory (ru_maxrss would count the parent's too)\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(field + r':\\s+(\\d+) kB', status).group(1))\n"
        "spec = prepare(Config(sys.argv[1], connections=2, threads=1, duration=1.5))[0]\n"
        "loop = new_event_loop('auto')\n"
        "before = kib('VmRSS')\n"
        "result = loop.run_until_complete(run_thread(spec, lambda m: None, lambda: False))\n"
        "stats = result.stats\n"
        "print(stats.requests, stats.bytes_read, before * 1024, kib('VmHWM') * 1024)\n"
    )
    with running("big-body") as server:
        done = subprocess.run(
            [sys.executable, "-c", code, server.url], capture_output=True, text=True,
            timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        counts = server.counts.as_dict()
    assert done.returncode == 0, done.stderr
    requests, bytes_read, before, peak = map(int, done.stdout.split())
    assert requests >= CONNECTIONS and bytes_read >= requests * BIG_BODY
    assert requests <= counts["responses"] <= requests + CONNECTIONS
    assert peak - before < 16 * 2**20, (before, peak, requests, bytes_read)  # 200 MB of bodies
    with running("big-body") as server:
        proc = subprocess.Popen(
            [wrk_path, "-t1", f"-c{CONNECTIONS}", "-d1s", server.url], stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        peak = 0
        while True:  # wrk's peak RSS, read from /proc while it runs
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = max(peak, int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)))  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass  # exited (a zombie has no VmHWM)
            try:
                stdout, _ = proc.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                continue
        counts = server.counts.as_dict()
    assert proc.returncode == 0
    theirs = requests_of(stdout)
    assert theirs <= counts["responses"] <= theirs + CONNECTIONS
    assert 0 < peak * 1024 < 16 * 2**20  # wrk does not keep the bodies either


@pytest.mark.parametrize("fault", ["close", "http10", "eof"])
def test_one_request_per_connection_counted_as_the_server_answered(wrk_path: str, fault: str):
    """``Connection: close`` on every response, HTTP/1.0 without keep-alive, and a body ended
    by the close: a new connection per request. pyload counts every answer as a request; so
    does wrk, which also counts each body ended by the close as a read error (README)."""
    with running(fault) as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 10
    assert_answered(ours, counts["responses"])
    assert counts["connections"] - 1 - CONNECTIONS <= ours.requests  # + the probe, the last
    with running(fault) as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert_answered(theirs, counts["responses"])
    read_errors = theirs.requests if fault == "eof" else 0
    assert read_errors <= theirs.errors["read"] <= read_errors + CONNECTIONS


def test_a_server_that_never_answers_ends_on_time(wrk_path: str, server: TargetServer):
    """pyload stops at its deadline and says how many requests were left unanswered (the JSON's
    ``in_flight``); wrk stops at its next 100 ms tick and says nothing of them."""
    started = time.monotonic()
    proc = start_pyload_cli("-t1", f"-c{CONNECTIONS}", "-d1", "--json", "-", server.url + "/hang")
    stdout, stderr = proc.communicate(timeout=30)
    wall = time.monotonic() - started
    assert proc.returncode == 0, stderr
    result = json.loads(stdout)
    assert (result["requests"], result["in_flight_at_end"]) == (0, CONNECTIONS)
    assert server.received["/hang"] == CONNECTIONS
    assert 1_000_000 <= result["runtime_us"] < 1_050_000
    assert wall < 1 + 3  # the deadline, and the interpreter's start and exit: no grace period
    theirs = wrk(wrk_path, server.url + "/hang")
    assert theirs.requests == 0 and theirs.socket_errors == 0


def test_refused_at_start_is_the_same_line_as_wrks(wrk_path: str):
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        theirs = subprocess.run([wrk_path, "-d1s", url], capture_output=True, text=True,
                                timeout=30)  # fmt: skip
        ours = start_pyload_cli("-d1", url)
        stdout, stderr = ours.communicate(timeout=30)
    line = f"unable to connect to 127.0.0.1:{url.rsplit(':', 1)[1].rstrip('/')} Connection refused"
    assert theirs.returncode == ours.returncode == 1
    assert (theirs.stdout, theirs.stderr) == ("", line + "\n")
    assert (stdout, stderr) == ("", line + "\n")


def test_wrk_dies_on_sigterm_without_a_report(wrk_path: str):
    """The other side of pyload's SIGTERM (tests/test_lifeline.py: the report, exit 0): wrk
    installs a handler for SIGINT only, so a service manager's stop loses its run."""
    with running("ok") as server:
        proc = subprocess.Popen(
            [wrk_path, "-t1", f"-c{CONNECTIONS}", "-d30s", server.url],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(lambda: server.counts["responses"] >= 100)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert "requests in" not in stdout


# -- a server killed mid-run, and started again on the same port ----------------------------


@contextmanager
def fault_process(counts: Path, port: int = 0) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python -m tests.fault_server ok`` as a process of its own, which a test may kill."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fault_server", "ok", "--port", str(port),
         "--counts", str(counts)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening "), line
        yield proc, int(line.split()[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()


def wait_for(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)  # polling a file the server process writes: nothing to wait on


@pytest.mark.parametrize("tool", ["pyload", "wrk"])
def test_a_server_killed_and_restarted_on_the_same_port(wrk_path: str, tmp_path: Path, tool: str):
    """SIGKILL the server once it has answered 200 requests, start it again on the same port
    (refused connections in between), let it answer 200 more: the client's requests are the
    two servers' answers, and its errors are the requests cut off plus the refused connects."""
    first, second = tmp_path / "first", tmp_path / "second"
    with fault_process(first) as (server, port):
        url = f"http://127.0.0.1:{port}/"
        args = ["-t1", "-c4", "-d2s", url]
        if tool == "pyload":
            client = start_pyload_cli(*args[:-1], "--json", "-", url)
        else:
            client = subprocess.Popen(
                [wrk_path, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        wait_for(lambda: FaultCounts.read(first)["responses"] >= 200)
        server.kill()
        server.wait(timeout=10)
    with fault_process(second, port) as (server, _):
        wait_for(lambda: FaultCounts.read(second)["responses"] >= 200)
        stdout, stderr = client.communicate(timeout=30)
    assert client.returncode == 0, stderr
    before, after = FaultCounts.read(first), FaultCounts.read(second)
    if tool == "pyload":
        result = json.loads(stdout)
        report = Report(result["requests"], result["errors"], in_flight=result["in_flight_at_end"])
    else:
        report = Report(requests_of(stdout), errors_of(stdout), in_flight=2 * 4)
    answered = before["responses"] + after["responses"]
    # Answers cut off by the kill (at most one per connection) were never read.
    assert answered - 4 - report.in_flight <= report.requests <= answered
    assert report.requests > before["responses"]  # requests after the restart were counted
    # Every request a server read was answered and counted, or failed with the first server,
    # or was still in flight at the end.
    cut_off = report.errors["read"] + report.errors["write"]
    assert before["requests"] + after["requests"] <= report.requests + cut_off + report.in_flight
    assert cut_off >= 1
    if tool == "pyload":
        assert report.errors["connect"] >= 1  # refused while the server was down
    else:  # wrk counts a refused connect as a read or write error (wrk.c socket_connected)
        assert report.errors["connect"] == 0


# -- found by the matrix, fixed: a connect that completes after the stop sends nothing -------


def test_no_request_is_written_after_the_stop():
    import asyncio

    from pyload._engine import Connection, LoadThread

    with running("ok") as server:
        spec = prepare(Config(server.url, connections=1, threads=1, duration=1))[0]
    loop = asyncio.new_event_loop()
    ours, theirs = socket.socketpair()
    try:
        worker = LoadThread(spec, loop, lambda message: None, lambda: True)
        worker.stopping = True  # the deadline has passed; this connect completes now
        connection = Connection(worker, None)
        loop.run_until_complete(loop.connect_accepted_socket(connection.itself, ours))
        loop.run_until_complete(asyncio.sleep(0))  # let an abort reach the socket
        theirs.setblocking(False)
        try:
            received = theirs.recv(4096)  # b"": closed at once, nothing sent
        except BlockingIOError:
            received = b""  # still open, nothing sent
        assert received == b""
    finally:
        if connection.transport is not None:
            connection.transport.abort()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        theirs.close()
