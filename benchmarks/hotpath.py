"""What one HTTP/1.1 response costs pyload in Python, without I/O, beside the floor client.

    python -m benchmarks.hotpath                       # 5 rounds of 200 000 responses each
    python -m benchmarks.hotpath --responses 20000 --rounds 3 --json

The same small keep-alive response (nginx's head, a 6-byte body) is handed, one chunk at a
time, to each of these, and the CPU time per response is taken (``time.process_time_ns``):

- ``pyload``: ``Connection.data_received`` of a thread set up as for ``-c1`` in a closed loop
  (wrk's common case: the response parsed, timed, counted, the next request written to a
  transport that drops it). Its deadline is far away, so no sample or stop gets in the way.
- ``floor``: ``benchmarks/floor.py``'s ``Connection.data_received``, the least a Python client
  on httptools does per response (issue 20).
- ``httptools``: the parser alone, calling a Python ``on_message_complete`` that does nothing.
- ``on_response``: pyload's ``Connection.on_response`` alone, called from Python.

So ``pyload - floor`` is what pyload adds per response in Python, and ``pyload - httptools -
on_response`` the layer between the parser and the counting. The four are run in turn, round
after round, and each figure is the median of its rounds: on a shared machine a burst of
other work then hits every one of them alike. It is a profile of the Python part only; what a
request costs the whole client (the kernel, uvloop's transport, 2000 connections' caches) is
what the selfbench measures (``python -m benchmarks.selfbench``).

Nothing leaves the machine: the thread is planned against a socket listening on 127.0.0.1 that
is connected to once (the probe) and never sent a request. Prints a table, or with ``--json``
one JSON object: ``ns_per_response`` (name -> median), ``rounds`` (name -> every round),
``responses``, ``counted`` (the responses pyload's thread counted: those fed to ``pyload``
and to ``on_response``, a check that the fast path was measured, not an error path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import floor
from pyload._engine import Connection, LoadThread
from pyload._local import prepare
from pyload.config import Config

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 22:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n"
)
FAR_NS = 10**15  # a deadline and a next sample that never come during a measurement


class DroppingTransport:
    """A transport that takes each request and drops it."""

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass


class NoOp:
    """httptools' protocol for the parser alone."""

    def on_message_complete(self) -> None:
        pass


def cost_ns(feed: Callable[[bytes], Any], responses: int) -> float:
    """CPU nanoseconds per call of ``feed(RESPONSE)``."""
    start = time.process_time_ns()
    for _ in range(responses):
        feed(RESPONSE)
    return (time.process_time_ns() - start) / responses


def subjects(port: int) -> tuple[dict[str, Callable[[bytes], Any]], LoadThread]:
    """name -> what a response is handed to (see the module's docstring); pyload's thread."""
    config = Config(f"http://127.0.0.1:{port}/", connections=1, threads=1, duration=1000)
    spec = prepare(config)[0]
    loop = asyncio.new_event_loop()
    thread = LoadThread(spec, loop, lambda message: None, lambda: False)
    now = time.perf_counter_ns()
    thread.start_ns = thread.measure_start_ns = now
    thread.deadline_ns = thread.due_ns = thread.next_tick_ns = now + FAR_NS
    thread.warming = False
    pyload = thread.connection_class(thread, None) if hasattr(thread, "connection_class") else None
    if pyload is None:  # a checkout from before the connection was its own parser
        pyload = Connection(thread, None)
    pyload.transport = DroppingTransport()  # type: ignore[assignment]
    bare = floor.Connection(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {})
    bare.transport = DroppingTransport()
    on_response = pyload.on_response
    return {
        "pyload": pyload.data_received,
        "floor": bare.data_received,
        "httptools": __import__("httptools").HttpResponseParser(NoOp()).feed_data,
        "on_response": lambda data: on_response(200, True),
    }, thread


def measure(responses: int, rounds: int) -> dict[str, Any]:
    """Every subject's CPU per response, ``rounds`` times in turn."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        feeds, thread = subjects(listener.getsockname()[1])
    try:
        per_round: dict[str, list[float]] = {name: [] for name in feeds}
        for _ in range(rounds):
            for name, feed in feeds.items():
                per_round[name].append(cost_ns(feed, responses))
    finally:
        thread.loop.close()
    return {
        "responses": responses,
        "counted": thread.stats.requests,  # by pyload's thread: both subjects that count
        "ns_per_response": {name: statistics.median(v) for name, v in per_round.items()},
        "rounds": per_round,
    }


def table(result: dict[str, Any]) -> str:
    """The medians, and what pyload adds to the floor and to its two parts."""
    ns = result["ns_per_response"]
    lines = [f"{name:>12} {value:7.0f} ns/response" for name, value in ns.items()]
    lines.append(f"{'pyload-floor':>12} {ns['pyload'] - ns['floor']:7.0f} ns")
    glue = ns["pyload"] - ns["httptools"] - ns["on_response"]
    lines.append(f"{'glue':>12} {glue:7.0f} ns (pyload - httptools - on_response)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__)
    parser.add_argument("--responses", type=int, default=200_000, help="per round and subject")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.responses < 1 or args.rounds < 1:
        parser.error("--responses and --rounds are at least 1")
    result = measure(args.responses, args.rounds)
    sys.stdout.write(json.dumps(result) + "\n" if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
