"""The floor: the least Python client that loads an HTTP/1.1 server, the selfbench's third tool.

    python -P benchmarks/floor.py http://127.0.0.1:8080/ 100 3    # URL, connections, seconds

uvloop, one ``asyncio.Protocol`` per connection, httptools' response parser, the request's bytes
built once, each latency into a dict of integer microseconds, nothing else (issue 20): no
timeouts, no reconnects, no status check, no threads or processes, every connection on one
loop. It is what this design costs on this machine, the figure pyload is measured against.
Beyond the issue's list it adds one thing, the bytes read (one addition per read), so that a
run can be checked to have fetched the body it names.

Loopback only, and bounded: the clock starts before the first connect, and after ``seconds``
the counts are taken and every connection is aborted in the same step, so a response can't be
counted after them. Then one JSON line on stdout: ``requests`` (responses completed),
``seconds``, ``requests_per_s``, ``cpu_s`` (this process's CPU from before the first connect
to its connections closed: the load phase, the span pyload's ``cpu_s`` covers, whose workers
close every connection before they report), ``in_flight_at_end`` (open connections, each
with one request written and unanswered), ``bytes_read``, ``errors`` (``connect``:
connections refused; ``read``: connections closed by the server), ``p50_us`` and ``p99_us``.
A server that saw every request written counts ``requests + in_flight_at_end`` of them. Bad
arguments, or no connection at all: one line on stderr, exit 1.

It imports nothing of the repository, so that its start-up is Python's, uvloop's and
httptools': the selfbench runs it by path with ``python -P`` (the script's folder not put on
``sys.path``), not with ``-m``, which would import the ``benchmarks`` package first.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httptools
import uvloop

LOOPBACK = ("127.0.0.1", "localhost", "::1")
USAGE = "usage: floor.py http://127.0.0.1:PORT/PATH CONNECTIONS SECONDS (loopback only)"

now_ns = time.perf_counter_ns


class Connection(asyncio.Protocol):
    """One keep-alive connection: a request written, its response parsed, the next written."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        self.request = request
        self.latencies = latencies
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None  # uvloop's TCPTransport, not an asyncio.Transport subclass
        self.sent_ns = 0
        self.bytes_read = 0
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.open = transport, True
        self.sent_ns = now_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        sent, self.sent_ns = self.sent_ns, now_ns()
        us = (self.sent_ns - sent) // 1000
        self.latencies[us] = self.latencies.get(us, 0) + 1
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False


def percentile(latencies: dict[int, int], p: float) -> int | None:
    """The smallest latency with at least p % of the responses at or below it."""
    total, seen = sum(latencies.values()), 0
    for us in sorted(latencies):
        seen += latencies[us]
        if seen * 100 >= p * total:
            return us
    return None


async def load(host: str, port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    """``connections`` connections to host:port asking for ``path`` for ``seconds``."""
    loop = asyncio.get_running_loop()
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
    latencies: dict[int, int] = {}
    start, cpu_start = now_ns(), time.process_time()
    made = await asyncio.gather(
        *(
            loop.create_connection(lambda: Connection(request, latencies), host, port)
            for _ in range(connections)
        ),
        return_exceptions=True,
    )
    protocols = [m[1] for m in made if isinstance(m, tuple)]
    if protocols:  # else: nothing to wait for
        await asyncio.sleep(max(0.0, start / 1e9 + seconds - now_ns() / 1e9))
    end = now_ns()
    requests, in_flight = sum(latencies.values()), sum(p.open for p in protocols)
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.abort()
    await asyncio.sleep(0)  # a loop turn: the closes run (their connection_lost callbacks)
    cpu_s = time.process_time() - cpu_start  # connecting, loading and closing: pyload's span
    elapsed = (end - start) / 1e9
    return {
        "tool": "floor",
        "connections": connections,
        "requests": requests,
        "seconds": elapsed,
        "requests_per_s": requests / elapsed,
        "cpu_s": cpu_s,
        "in_flight_at_end": in_flight,
        "bytes_read": sum(p.bytes_read for p in protocols),
        "errors": {"connect": connections - len(protocols), "read": len(protocols) - in_flight},
        "p50_us": percentile(latencies, 50),
        "p99_us": percentile(latencies, 99),
    }


def parse_args(argv: list[str]) -> tuple[str, int, str, int, float]:
    """(host, port, path, connections, seconds); ValueError with the reason."""
    if len(argv) != 3:
        raise ValueError(USAGE)
    url = argv[0]
    try:
        connections, seconds = int(argv[1]), float(argv[2])
    except ValueError:
        raise ValueError(f"connections and seconds are numbers: {argv[1:]}") from None
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    host, _, port = authority.rpartition(":")
    host = host.strip("[]")
    if scheme != "http" or host not in LOOPBACK or not port.isdigit():
        raise ValueError(f"{url!r} is not http://LOOPBACK:PORT/PATH (127.0.0.1, localhost, ::1)")
    if connections < 1 or seconds <= 0:
        raise ValueError("connections >= 1 and seconds > 0")
    return host, int(port), slash + path or "/", connections, seconds


def main(argv: list[str]) -> int:
    try:
        host, port, path, connections, seconds = parse_args(argv)
    except ValueError as exc:
        print(f"floor: {exc}", file=sys.stderr)
        return 1
    result = uvloop.run(load(host, port, path, connections, seconds))
    if not result["connections"] - result["errors"]["connect"]:
        print(f"floor: unable to connect to {host}:{port}", file=sys.stderr)
        return 1
    import json  # after the load: not part of the start-up

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
