"""The fault matrix: pyload's counts against what a misbehaving server did, and wrk's beside them.

Each case starts a fault server (tests/fault_server.py) on loopback, runs pyload on it (one worker
in this process, ``run_thread``: the engine without the process around it), and checks its
report against the server's own counts; its wrk side runs wrk on a fresh server with the same
fault and checks wrk's report the same way. The two sides are separate tests (a ``tool``
parameter, or a ``test_wrk_...`` beside the pyload test), and only wrk's asks for the
``wrk_path`` fixture: pyload's side runs where wrk is not installed. Where the two tools differ
on purpose, both sides are asserted. The faults that
tests/target_server.py already serves are checked in tests/test_engine.py and
tests/test_wrk_compare.py (a server that never answers, a malformed status line, a body shorter
than its Content-Length, ``Connection: close``, a body ended by close); this file adds the
counts against the server's where they were missing. The table of what each tool reports is in
docs/reliability.md.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyload._engine import run_thread
from pyload._local import prepare
from pyload._process import new_event_loop
from pyload.config import Config
from tests.fault_server import BIG_BODY, OK, FaultCounts, running
from tests.helpers import start_pyload_cli
from tests.procs import Spawned, run, spawn
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
    done = run([wrk_path, "-t1", f"-c{CONNECTIONS}", "-d1s", *options, url], timeout=60)
    assert done.returncode == 0, done.stderr
    return Report(requests_of(done.stdout), errors_of(done.stdout))


TOOLS = ["pyload", "wrk"]


def report_of(request: pytest.FixtureRequest, tool: str, url: str) -> Report:
    """pyload's report (one worker in this process) or wrk's; only wrk's side asks for the
    ``wrk_path`` fixture."""
    if tool == "pyload":
        return pyload_in_process(url)
    return wrk(request.getfixturevalue("wrk_path"), url)


def assert_answered(report: Report, answered: int) -> None:
    """Every response the tool counted was one the server finished; the server finished at
    most the requests in flight at the stop beyond those. (pyload: and one per connection whose
    connect completed after the stop: test_no_request_is_written_after_the_stop.)"""
    late = CONNECTIONS if report.in_flight <= CONNECTIONS else 0
    assert report.requests <= answered <= report.requests + report.in_flight + late, (
        report, answered,
    )  # fmt: skip


def assert_one_each(errors: int, faults: int, report: Report) -> None:
    """One error per fault the server committed, but for those still unread at the stop: the
    requests in flight, and a connect per connection (a server that resets on accept may have
    reset a connection whose connect the client had not seen complete when the run ended; on a
    busy machine, 2 runs of pyload in 10 missed 2 of about 1,800 so)."""
    unread = report.in_flight + CONNECTIONS
    assert faults - unread <= errors <= faults, (report, faults)
    assert errors > 10 * CONNECTIONS  # every fault reconnected, many times


# -- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("fault", ["reset-on-accept", "reset-mid-response"])
def test_resets_are_socket_errors_one_per_reset(
    request: pytest.FixtureRequest, fault: str, tool: str
):
    with running(fault) as server:
        report = report_of(request, tool, server.url)
        counts = server.counts.as_dict()
    assert report.requests == 0
    assert report.bytes_read <= counts["bytes_sent"]
    if tool == "pyload" and fault == "reset-mid-response":
        assert report.errors["read"] == report.socket_errors  # a reset while reading
    assert_one_each(report.socket_errors, counts["resets"], report)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("fault", ["bad-header", "bad-chunk-size", "huge-chunk-size"])
def test_malformed_responses_are_read_errors_one_per_response(
    request: pytest.FixtureRequest, fault: str, tool: str
):
    with running(fault) as server:
        report = report_of(request, tool, server.url)
        counts = server.counts.as_dict()
    assert report.requests == 0
    assert report.errors["read"] == report.socket_errors
    assert_one_each(report.errors["read"], counts["responses"], report)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_response_trickling_one_byte_at_a_time(request: pytest.FixtureRequest, tool: str):
    with running("trickle") as server:
        report = report_of(request, tool, server.url)
        counts = server.counts.as_dict()
    assert report.socket_errors == 0
    assert report.requests >= CONNECTIONS  # about 80 ms a response: several each
    assert_answered(report, counts["responses"])
    if tool == "pyload":  # every byte is counted, the responses' and any part of one
        assert report.requests * len(OK) <= report.bytes_read <= counts["bytes_sent"]


def test_interim_responses_are_not_requests_unlike_wrk():
    """``100 Continue`` before every 200: pyload counts the 200s only, one request each; wrk
    counts the 100s as requests too (its parser completes a message for each: the next test)."""
    with running("continue") as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 100
    assert_answered(ours, counts["responses"])
    assert counts["interim"] == counts["requests"] <= ours.requests + ours.in_flight


def test_wrk_counts_interim_responses_as_requests(wrk_path: str):
    with running("continue") as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert theirs.socket_errors == 0
    # Two "requests" per request the server received, less the ones cut off at the stop.
    assert 1.8 * counts["responses"] <= theirs.requests <= 2 * counts["requests"]


def test_switching_protocols_ends_the_connection_unlike_wrk():
    """``101 Switching Protocols`` (the server then closes at the first byte that is not its
    new protocol): pyload counts it and opens a new connection; wrk counts it, sends its next
    request on the same connection, and counts the close that follows as a read error (the
    next test)."""
    with running("switch") as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 10
    assert_answered(ours, counts["responses"])
    assert counts["connections"] <= 1 + ours.requests + CONNECTIONS  # + the setup probe


def test_wrk_writes_on_after_switching_protocols(wrk_path: str):
    with running("switch") as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert_answered(theirs, counts["responses"])
    assert theirs.requests - CONNECTIONS <= theirs.errors["read"] <= theirs.requests


EARLY_BODY = 8 * 2**20


def test_an_answer_before_the_request_is_written_unlike_wrk():
    """The server answers once it has read the head of an 8 MiB POST, before reading its body:
    more than the two kernels' socket buffers hold, so the client is still writing the request.
    pyload counts the answer and queues its next request behind the rest of the body; wrk
    stops sending on that connection (the next test)."""
    with running("early-answer") as server:
        ours = pyload_in_process(server.url, method="POST", body="x" * EARLY_BODY, duration=1.0)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 2 * CONNECTIONS
    assert_answered(ours, counts["responses"])


def test_wrk_stops_sending_after_an_answer_that_comes_before_its_request_is_written(
    wrk_path: str, tmp_path: Path
):
    """wrk never sends a request while its write of the previous one is in progress, and then
    sends none at all: ``response_complete`` re-arms the writable event, but the write in
    progress finishes the current request and removes it, with no request left to send. So a
    connection whose answer is read while its 8 MiB are still being written goes silent for
    the rest of the run.

    Not necessarily after one request: when the whole body goes out in the same event-loop
    round in which the answer arrives (the server reading as fast as wrk writes, on a loaded
    machine), wrk's write completes before it reads the answer, and that answer then starts
    another request. So what is asserted is the silence: every request written whole and
    answered, every answer counted, and nothing in progress at the end of the second."""
    script = tmp_path / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {EARLY_BODY})\n')
    with running("early-answer") as server:
        theirs = wrk(wrk_path, server.url, "-s", str(script))
        counts = server.counts.as_dict()
    assert theirs.socket_errors == 0
    assert CONNECTIONS <= theirs.requests == counts["responses"] == counts["requests"]
    assert counts["bodies"] == counts["requests"]  # each written whole, then no other began


def test_a_100_mb_body_keeps_the_workers_memory_flat():
    """A worker process reading 100 MB bodies on two connections: its peak RSS grows by a few
    MB over what it held before the load, not by the bodies (wrk's: the next test)."""
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
        done = run([sys.executable, "-c", code, server.url], timeout=90)
        counts = server.counts.as_dict()
    assert done.returncode == 0, done.stderr
    requests, bytes_read, before, peak = map(int, done.stdout.split())
    assert requests >= CONNECTIONS and bytes_read >= requests * BIG_BODY
    assert requests <= counts["responses"] <= requests + CONNECTIONS
    assert peak - before < 16 * 2**20, (before, peak, requests, bytes_read)  # 200 MB of bodies


def test_wrk_does_not_keep_100_mb_bodies_either(wrk_path: str):
    with running("big-body") as server, spawn(
        [wrk_path, "-t1", f"-c{CONNECTIONS}", "-d1s", server.url]
    ) as proc:  # fmt: skip
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
                continue  # polling /proc while wrk runs: nothing to wait on
        counts = server.counts.as_dict()
    assert proc.returncode == 0
    theirs = requests_of(stdout)
    assert theirs <= counts["responses"] <= theirs + CONNECTIONS
    assert 0 < peak * 1024 < 16 * 2**20  # wrk does not keep the bodies either


@pytest.mark.parametrize("fault", ["close", "http10", "eof"])
def test_one_request_per_connection_counted_as_the_server_answered(fault: str):
    """``Connection: close`` on every response, HTTP/1.0 without keep-alive, and a body ended
    by the close: a new connection per request. pyload counts every answer as a request; so
    does wrk, which also counts each body ended by the close as a read error (README; the
    next test)."""
    with running(fault) as server:
        ours = pyload_in_process(server.url)
        counts = server.counts.as_dict()
    assert ours.socket_errors == 0 and ours.requests > 10
    assert_answered(ours, counts["responses"])
    assert counts["connections"] - 1 - CONNECTIONS <= ours.requests  # + the probe, the last


@pytest.mark.parametrize("fault", ["close", "http10", "eof"])
def test_wrk_one_request_per_connection_and_a_read_error_per_body_ended_by_the_close(
    wrk_path: str, fault: str
):
    with running(fault) as server:
        theirs = wrk(wrk_path, server.url)
        counts = server.counts.as_dict()
    assert_answered(theirs, counts["responses"])
    read_errors = theirs.requests if fault == "eof" else 0
    assert read_errors <= theirs.errors["read"] <= read_errors + CONNECTIONS


def test_a_server_that_never_answers_ends_on_time(server: TargetServer):
    """pyload stops at its deadline and says how many requests were left unanswered (the JSON's
    ``in_flight``); wrk stops at its next 100 ms tick and says nothing of them (the next test)."""
    started = time.monotonic()
    args = ["-t1", f"-c{CONNECTIONS}", "-d1", "--json", "-", server.url + "/hang"]
    with start_pyload_cli(*args) as proc:
        stdout, stderr = proc.communicate(timeout=90)
    wall = time.monotonic() - started
    assert proc.returncode == 0, stderr
    result = json.loads(stdout)
    assert (result["requests"], result["in_flight_at_end"]) == (0, CONNECTIONS)
    assert server.received["/hang"] == CONNECTIONS
    assert 1_000_000 <= result["runtime_us"] < 1_050_000
    assert wall < 1 + 3  # the deadline, and the interpreter's start and exit: no grace period


def test_wrk_says_nothing_of_a_server_that_never_answers(wrk_path: str, server: TargetServer):
    theirs = wrk(wrk_path, server.url + "/hang")
    assert theirs.requests == 0 and theirs.socket_errors == 0


def refused(tool: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """``tool URL`` run to completion against a port that refuses connections; what it did,
    and wrk's line for that port."""
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        done = run([*tool, f"http://127.0.0.1:{port}/"], timeout=90)
    return done, f"unable to connect to 127.0.0.1:{port} Connection refused"


def test_refused_at_start_is_the_same_line_as_wrks():
    ours, line = refused([sys.executable, "-m", "pyload", "-d1"])
    assert ours.returncode == 1
    assert (ours.stdout, ours.stderr) == ("", line + "\n")


def test_wrk_refused_at_start(wrk_path: str):
    theirs, line = refused([wrk_path, "-d1s"])
    assert theirs.returncode == 1
    assert (theirs.stdout, theirs.stderr) == ("", line + "\n")


def test_wrk_dies_on_sigterm_without_a_report(wrk_path: str):
    """The other side of pyload's SIGTERM (tests/test_lifeline.py: the report, exit 0): wrk
    installs a handler for SIGINT only, so a service manager's stop loses its run."""
    with (
        running("ok") as server,
        spawn([wrk_path, "-t1", f"-c{CONNECTIONS}", "-d30s", server.url]) as proc,
    ):
        wait_for(lambda: server.counts["responses"] >= 100)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=90)
    assert proc.returncode == -signal.SIGTERM
    assert "requests in" not in stdout


# -- a server killed mid-run, and started again on the same port ----------------------------


@contextmanager
def fault_process(counts: Path, port: int = 0) -> Iterator[tuple[Spawned, int]]:
    """``python -m tests.fault_server ok`` as a process of its own, which a test may kill."""
    with spawn(
        [sys.executable, "-m", "tests.fault_server", "ok", "--port", str(port),
         "--counts", str(counts)],
        stderr=None,  # not read: pytest's capture has it
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening "), line
        try:
            yield proc, int(line.split()[1])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def wait_for(predicate: object, timeout: float = 60) -> None:
    """Poll ``predicate`` until true; ``timeout``: a deadline for a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)  # polling a file the server process writes: nothing to wait on


@pytest.mark.parametrize("tool", TOOLS)
def test_a_server_killed_and_restarted_on_the_same_port(
    request: pytest.FixtureRequest, tmp_path: Path, tool: str
):
    """SIGKILL the server once it has answered 200 requests, start it again on the same port
    (refused connections in between), let it answer 200 more: the client's requests are the
    two servers' answers, and its errors are the requests cut off plus the refused connects."""
    first, second = tmp_path / "first", tmp_path / "second"
    wrk_path = request.getfixturevalue("wrk_path") if tool == "wrk" else ""
    with ExitStack() as owned:
        with fault_process(first) as (server, port):
            url = f"http://127.0.0.1:{port}/"
            args = ["-t1", "-c4", "-d2s", url]
            if tool == "pyload":
                client = owned.enter_context(start_pyload_cli(*args[:-1], "--json", "-", url))
            else:
                client = owned.enter_context(spawn([wrk_path, *args]))
            wait_for(lambda: FaultCounts.read(first)["responses"] >= 200)
            server.kill()
            server.wait(timeout=60)
        with fault_process(second, port) as (server, _):
            wait_for(lambda: FaultCounts.read(second)["responses"] >= 200)
            stdout, stderr = client.communicate(timeout=90)
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
