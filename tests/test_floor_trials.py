"""The floor trials (benchmarks/floor_trials, issue 20 item 4): the Content-Length scanner frames
responses however they are split, and every variant that is an HTTP client counts exactly what a
real server saw."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.floor_trials.trials import (
    Clock,
    ResponseFramingError,
    RulesConnection,
    Scanner,
    now_ns,
)
from tests import procs, target_server
from tests.target_server import TargetServer

TRIALS = Path(__file__).resolve().parent.parent / "benchmarks" / "floor_trials"
HEAD = b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 6\r\n\r\n"
RESPONSE = HEAD + b"hello\n"


def test_the_scanner_frames_responses_split_at_every_byte() -> None:
    """Two responses back to back, cut at every pair of places: two complete, nothing left."""
    wire = RESPONSE * 2
    for first in range(len(wire) + 1):
        for second in range(first, len(wire) + 1, 7):
            scanner = Scanner()
            done = sum(
                scanner.feed(part, len(part))
                for part in (wire[:first], wire[first:second], wire[second:])
            )
            assert done == 2, (first, second)
            assert scanner.pending == b"" and scanner.need == 0


def test_the_scanner_reads_in_place_and_refuses_what_it_cannot_frame() -> None:
    """A bytearray buffer read up to ``end``; another case of the header name; a 204 with no
    length; chunked and close-delimited bodies refused."""
    buffer = bytearray(RESPONSE + b"garbage past the read")
    assert Scanner().feed(buffer, len(RESPONSE)) == 1
    lower = RESPONSE.replace(b"Content-Length", b"content-length")
    assert Scanner().feed(lower, len(lower)) == 1
    empty = b"HTTP/1.1 204 No Content\r\nServer: t\r\n\r\n"
    assert Scanner().feed(empty, len(empty)) == 1
    chunked = HEAD.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    unframed = b"HTTP/1.1 200 OK\r\nServer: t\r\n\r\nhello"
    for refused in (chunked, unframed):
        with pytest.raises(ResponseFramingError):
            Scanner().feed(refused, len(refused))


@pytest.mark.parametrize(
    "variant",
    ["floor", "bound", "scan", "buffered", "buffered-scan", "epoll", "epoll-scan", "rules"],
)
def test_each_http_variant_counts_exactly_what_the_server_saw(
    server: TargetServer, variant: str
) -> None:
    """4 connections for 1 s: every request the server received is a response counted or one in
    flight at the end, and the bytes read (where counted) are those responses'."""
    launch: list[str | Path] = [sys.executable, "-P", TRIALS / "launch.py", TRIALS, "trials"]
    done = procs.run([*launch, variant, server.url + "/", "4", "1"], timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    requests, in_flight = result["requests"], result["in_flight_at_end"]
    assert requests > 50 and in_flight == 4 and result["errors"] == {"connect": 0, "read": 0}
    assert server.wait_received("/", requests + in_flight, timeout=10)
    assert server.received["/"] == requests + in_flight
    response = len(target_server.OK)
    if variant != "bound":  # bound gives up counting bytes: that is its saving
        assert requests * response <= result["bytes_read"] < (requests + in_flight) * response
    assert 0.99 < result["seconds"] < 3 and 0 < result["p50_us"] <= result["p99_us"]


class Written:
    """A transport that keeps what it is given: the ``rules`` variant's connection fed bytes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def test_the_rules_variant_keeps_wrks_rules() -> None:
    """An interim response is skipped, a status but 200 is counted by code (a 4xx as an error),
    every final response sends the next request, a response that closes is not followed by
    one, and a response the server begins before the end of a read is noted as begun."""
    latencies: dict[int, int] = {}
    clock = Clock()
    connection = RulesConnection(b"GET / HTTP/1.1\r\n\r\n", latencies, clock)
    transport = Written()
    connection.transport = transport
    connection.sent_ns = now_ns()
    connection.data_received(b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE)
    second = RESPONSE.replace(b"200 OK", b"404 Not Found") + HEAD[:10]
    connection.data_received(second)
    assert connection.head == [second]  # the chunk in which the next response began
    connection.data_received(HEAD[10:] + b"hello\n")
    closing = HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + b"hello\n"
    connection.data_received(closing)
    assert clock.requests == 4 and sum(latencies.values()) == 4
    assert clock.statuses == {404: 1} and clock.status_errors == 1
    assert len(transport.written) == 3 and transport.closed
    assert connection.head == [] and connection.bytes_read > 4 * len(RESPONSE)
