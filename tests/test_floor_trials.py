"""The floor trials (benchmarks/floor_trials, issue 20 item 4): the Content-Length scanner frames
responses however they are split, and every variant that is an HTTP client counts exactly what a
real server saw."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.floor_trials.trials import ResponseFramingError, Scanner
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
    "variant", ["floor", "bound", "scan", "buffered", "buffered-scan", "epoll", "epoll-scan"]
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
