"""Variants of the floor (benchmarks/floor.py) that try to make it cheaper (issue 20, item 4).

    python -P benchmarks/floor_trials/launch.py benchmarks/floor_trials trials VARIANT URL C S

Each variant keeps the floor's contract (one loop, a request built once, each latency into a
dict of integer microseconds, bounded, loopback only, one JSON line with the floor's keys) and
changes one thing; ``VARIANTS`` says what. The same file is compiled with mypyc for the compiled
trials (benchmarks/floor_trials/build.sh), so it is written in mypyc's subset: no class derives
from asyncio's (uvloop takes any object with the protocol's methods; only ``buffered`` derives
from ``asyncio.BufferedProtocol``, which uvloop checks with isinstance).

``rules`` goes the other way: the floor plus what wrk's rules ask of every response (the
time checked, a timeout counted, the status and keep-alive read, where a response begins
noted), the least an interpreted client that keeps them can cost. Between the floor, ``rules``
and pyload, pyload's excess over the floor splits into what the rules cost and what pyload's
own structure does (docs/benchmarks.md, "What wrk's rules cost").

Every variant's ``cpu_s`` runs from before the first connect to its connections closed, the
span of ``benchmarks/floor.py`` and of pyload's ``cpu_s`` (until 2026-12-06 it stopped before
the closes; the results in benchmarks/results/selfbench/floor-trials.md were measured so).

The Content-Length scanner (``scan``, ``buffered-scan``, ``epoll-scan``) is a correct client
for what it accepts: a response framed by Content-Length (or a 204/304 without one), split
across reads in any way; anything else (chunked, a close-delimited body) aborts the
connection, counted as a read error. ``fixed`` is not an HTTP client at all: it learns the
first response's length and then counts bytes, which is right only while every response has
exactly that length (nginx's fixed-width Date header makes it so here).
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import sys
import time
from typing import Any

import httptools
import uvloop

now_ns = time.perf_counter_ns

VARIANTS = {
    "floor": "the floor's protocol, unchanged (httptools, on_message_complete only)",
    "bound": "data_received is httptools' feed_data itself: no Python frame per read",
    "scan": "no httptools: the head found with bytes.find, the body by its Content-Length",
    "fixed": "no parser: the first response's length, then bytes counted (not HTTP)",
    "buffered": "asyncio.BufferedProtocol into one shared buffer, httptools on a memoryview",
    "buffered-scan": "asyncio.BufferedProtocol into one shared buffer, the Content-Length scanner",
    "epoll": "no event loop: select.epoll, non-blocking sockets, recv_into, send; httptools",
    "epoll-scan": "no event loop: select.epoll, recv_into, send; the Content-Length scanner",
    "rules": "the floor plus what wrk's rules ask of each response, in three Python calls",
}

HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = b"\r\nContent-Length:"
BUFFER_SIZE = 256 * 1024
#: One receive buffer for every connection: a read is consumed before the next one starts.
BUFFER = bytearray(BUFFER_SIZE)
VIEW = memoryview(BUFFER)


class ResponseFramingError(Exception):
    """A response the Content-Length scanner does not frame (chunked, close-delimited)."""


def body_length(buf: bytes | bytearray, start: int, head_end: int) -> int:
    """The body length of the response whose head is buf[start:head_end]."""
    at = buf.find(CONTENT_LENGTH, start, head_end)
    if at < 0:  # a header name in another case, or no Content-Length at all
        head = bytes(buf[start:head_end]).lower()
        at = head.find(CONTENT_LENGTH.lower())
        if at < 0:
            if head[9:12] in (b"204", b"304"):
                return 0
            raise ResponseFramingError("no Content-Length")
        at += start
    if buf.find(b"\r\nTransfer-Encoding:", start, head_end) >= 0:
        raise ResponseFramingError("Transfer-Encoding")
    line_end = buf.find(b"\r\n", at + 2, head_end + 2)
    return int(buf[at + len(CONTENT_LENGTH) : line_end])


class Scanner:
    """Frames responses by Content-Length; ``feed`` returns how many completed."""

    def __init__(self) -> None:
        self.pending = b""  # the start of a response not yet complete
        self.need = 0  # that response's whole length, once its head is in

    def feed(self, buf: bytes | bytearray, end: int) -> int:
        """Consume buf[:end]; the number of responses completed."""
        if self.pending:  # rare: a response split across reads
            buf = self.pending + bytes(buf[:end])
            end, self.pending = len(buf), b""
        pos = done = 0
        while pos < end:
            need = self.need
            if not need:
                head = buf.find(HEAD_END, pos, end)
                if head < 0:
                    break
                need = self.need = head + 4 - pos + body_length(buf, pos, head)
            if end - pos < need:
                break
            pos += need
            self.need = 0
            done += 1
        if pos < end:
            self.pending = bytes(buf[pos:end])
        return done


class Connection:
    """The floor's protocol: httptools, on_message_complete the only callback."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        self.request = request
        self.latencies = latencies
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.sent_ns = 0
        self.bytes_read = 0
        self.open = False

    def connection_made(self, transport: Any) -> None:
        self.transport, self.open = transport, True
        self.sent_ns = now_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self.parser.feed_data(data)

    def eof_received(self) -> bool:
        return False

    def on_message_complete(self) -> None:
        sent, self.sent_ns = self.sent_ns, now_ns()
        us = (self.sent_ns - sent) // 1000
        self.latencies[us] = self.latencies.get(us, 0) + 1
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def bound_connection(request: bytes, latencies: dict[int, int]) -> Any:
    """A plain (interpreted) object whose data_received attribute is the parser's feed_data:
    a mypyc native class can't take an instance attribute over a method."""
    connection = Connection(request, latencies)
    shim = _Shim()
    shim.connection = connection
    shim.data_received = connection.parser.feed_data
    shim.connection_made = connection.connection_made
    shim.connection_lost = connection.connection_lost
    shim.eof_received = connection.eof_received
    shim.pause_writing = connection.pause_writing
    shim.resume_writing = connection.resume_writing
    return shim


_Shim = type("_Shim", (), {})  # a plain class, outside mypyc's native classes


TICK_NS = 100_000_000  # wrk's Req/Sec sampling interval (pyload/_engine.py's TICK_NS)
TIMEOUT_US = 2_000_000  # wrk's default --timeout


class Clock:
    """What the ``rules`` variant's connections share, as a pyload thread's do: the next
    moment something is due (a Req/Sec sample; pyload's deadline too) and the counters."""

    def __init__(self) -> None:
        self.due_ns = now_ns() + TICK_NS
        self.requests = 0
        self.timeouts = 0
        self.status_errors = 0
        self.statuses: dict[int, int] = {}

    def tick(self, now: int) -> None:
        self.due_ns = now + TICK_NS


class RulesConnection(Connection):
    """The floor plus what wrk's rules ask of every response, which pyload must keep (its
    ``_engine.Connection.on_response`` and ``_http11.ResponseParser``), in the fewest Python
    calls httptools allows: ``data_received``, ``on_message_begin`` and
    ``on_message_complete`` (pyload makes two more, ``feed`` and ``on_response``).

    The rules: the time checked against the next due moment, the request counted, a
    response later than the timeout counted as a timeout and not as a latency, the status
    read (1xx skipped, a status but 200 counted by code, 4xx and 5xx as errors), keep-alive
    read (closed otherwise), where a response begins noted (its chunk kept while it is
    not done, which pyload's rule for a body that ends with the connection reads at EOF; that
    rule runs only at EOF, so it is not here), a parse error a read error. Nothing else: no
    hooks, no -n, no rate, no reconnect; the JSON's ``requests`` is the latencies recorded,
    as for every variant (a timeout, none on loopback, would be left out there)."""

    def __init__(self, request: bytes, latencies: dict[int, int], clock: Clock) -> None:
        super().__init__(request, latencies)
        self.clock = clock
        self.head: list[bytes] = []
        self.chunk = b""
        self.read_errors = 0

    def data_received(self, data: bytes) -> None:
        self.chunk = data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.read_errors += 1
            self.transport.abort()
            return
        self.chunk = b""
        self.bytes_read += len(data)

    def on_message_begin(self) -> None:
        self.head.append(self.chunk)

    def on_message_complete(self) -> None:
        self.head.clear()
        now = now_ns()
        clock = self.clock
        if now >= clock.due_ns:
            clock.tick(now)
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:
            return
        clock.requests += 1
        us = (now - self.sent_ns) // 1000
        if us > TIMEOUT_US:
            clock.timeouts += 1
        else:
            latencies = self.latencies
            latencies[us] = latencies.get(us, 0) + 1
        if status != 200:
            statuses = clock.statuses
            statuses[status] = statuses.get(status, 0) + 1
            if status > 399:
                clock.status_errors += 1
        if parser.should_keep_alive():
            self.sent_ns = now
            self.transport.write(self.request)
        else:
            self.transport.close()


class ScanConnection(Connection):
    """The Content-Length scanner instead of httptools."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        super().__init__(request, latencies)
        self.scanner = Scanner()

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        try:
            done = self.scanner.feed(data, len(data))
        except (ResponseFramingError, ValueError):
            self.transport.abort()
            return
        if done:
            self.on_message_complete()


class FixedConnection(ScanConnection):
    """The first response through the scanner, then only its length (not an HTTP client)."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        super().__init__(request, latencies)
        self.size = 0
        self.got = 0

    def data_received(self, data: bytes) -> None:
        n = len(data)
        self.bytes_read += n
        if not self.size:  # the first response: framed by the scanner, its length kept
            if self.scanner.feed(data, n):
                self.size = self.bytes_read
                self.on_message_complete()
            return
        self.got += n
        if self.got >= self.size:
            self.got -= self.size
            self.on_message_complete()


class BufferedConnection(asyncio.BufferedProtocol):
    """uvloop reads into the shared buffer; httptools parses a memoryview of it."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        self.inner = Connection(request, latencies)
        self.feed = self.inner.parser.feed_data
        self.open = False

    def connection_made(self, transport: Any) -> None:
        self.open = True
        self.inner.connection_made(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return VIEW

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.bytes_read += nbytes
        self.feed(VIEW[:nbytes])

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False


class BufferedScanConnection(BufferedConnection):
    """uvloop reads into the shared buffer; the scanner frames it in place."""

    def __init__(self, request: bytes, latencies: dict[int, int]) -> None:
        super().__init__(request, latencies)
        self.scanner = Scanner()

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.bytes_read += nbytes
        try:
            done = self.scanner.feed(BUFFER, nbytes)
        except (ResponseFramingError, ValueError):
            self.inner.transport.abort()
            return
        if done:
            self.inner.on_message_complete()


def protocol_factory(variant: str, request: bytes, latencies: dict[int, int]) -> Any:
    """A callable making one protocol of the variant."""
    kinds: dict[str, Any] = {
        "floor": Connection,
        "bound": bound_connection,
        "scan": ScanConnection,
        "fixed": FixedConnection,
        "buffered": BufferedConnection,
        "buffered-scan": BufferedScanConnection,
    }
    if variant == "rules":
        clock = Clock()
        return lambda: RulesConnection(request, latencies, clock)
    kind = kinds[variant]
    return lambda: kind(request, latencies)


def percentile(latencies: dict[int, int], p: float) -> int | None:
    """The smallest latency with at least p % of the responses at or below it."""
    total, seen = sum(latencies.values()), 0
    for us in sorted(latencies):
        seen += latencies[us]
        if seen * 100 >= p * total:
            return us
    return None


def summary(
    variant: str,
    connections: int,
    latencies: dict[int, int],
    elapsed: float,
    cpu_s: float,
    made: int,
    in_flight: int,
    bytes_read: int,
) -> dict[str, Any]:
    """The floor's JSON keys."""
    requests = sum(latencies.values())
    return {
        "tool": f"floor-{variant}",
        "connections": connections,
        "requests": requests,
        "seconds": elapsed,
        "requests_per_s": requests / elapsed,
        "cpu_s": cpu_s,
        "in_flight_at_end": in_flight,
        "bytes_read": bytes_read,
        "errors": {"connect": connections - made, "read": made - in_flight},
        "p50_us": percentile(latencies, 50),
        "p99_us": percentile(latencies, 99),
    }


async def load_uvloop(
    variant: str, host: str, port: int, request: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    """The floor's load(), the protocol chosen by ``variant``."""
    loop = asyncio.get_running_loop()
    latencies: dict[int, int] = {}
    factory = protocol_factory(variant, request, latencies)
    start, cpu_start = now_ns(), time.process_time()
    made = await asyncio.gather(
        *(loop.create_connection(factory, host, port) for _ in range(connections)),
        return_exceptions=True,
    )
    protocols = [m[1] for m in made if isinstance(m, tuple)]
    if protocols:
        await asyncio.sleep(max(0.0, start / 1e9 + seconds - now_ns() / 1e9))
    end = now_ns()
    snapshot = dict(latencies)
    inners = [getattr(p, "inner", getattr(p, "connection", p)) for p in protocols]
    in_flight = sum(1 for p in protocols if getattr(p, "open", False) or _open(p))
    for inner in inners:
        if inner.transport is not None:
            inner.transport.abort()
    await asyncio.sleep(0)  # a loop turn: the closes run
    cpu_s = time.process_time() - cpu_start  # to the connections closed: floor.py's span
    bytes_read = sum(inner.bytes_read for inner in inners)
    return summary(
        variant,
        connections,
        snapshot,
        (end - start) / 1e9,
        cpu_s,
        len(protocols),
        in_flight,
        bytes_read,
    )


def _open(protocol: Any) -> bool:
    inner = getattr(protocol, "connection", None)
    return bool(inner is not None and inner.open)


def load_epoll(
    variant: str, host: str, port: int, request: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    """No event loop: one epoll, non-blocking sockets, recv_into the shared buffer."""
    latencies: dict[int, int] = {}
    poller = select.epoll()
    start, cpu_start = now_ns(), time.process_time()
    deadline = start + int(seconds * 1e9)
    socks: dict[int, socket.socket] = {}
    sent: dict[int, int] = {}
    parsers: dict[int, Any] = {}
    scanners: dict[int, Scanner] = {}
    connecting: set[int] = set()
    refused = 0
    bytes_read = 0
    use_scan = variant == "epoll-scan"
    completed: list[int] = []  # httptools' callback appends the fd here

    for _ in range(connections):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            refused += 1
            continue
        fd = sock.fileno()
        socks[fd] = sock
        connecting.add(fd)
        poller.register(fd, select.EPOLLOUT)
        if use_scan:
            scanners[fd] = Scanner()
        else:
            parsers[fd] = httptools.HttpResponseParser(_Completed(fd, completed))

    recv_into, epollin, view = socket.socket.recv_into, select.EPOLLIN, VIEW
    poll = poller.poll
    while True:
        now = now_ns()
        if now >= deadline:
            break
        for fd, _event in poll((deadline - now) / 1e9):
            sock = socks[fd]
            if fd in connecting:
                connecting.discard(fd)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    poller.unregister(fd)
                    del socks[fd]
                    sock.close()
                    refused += 1
                    continue
                poller.modify(fd, epollin)
                sent[fd] = now_ns()
                sock.send(request)
                continue
            try:
                n = recv_into(sock, view)
            except BlockingIOError:
                continue
            if not n:  # closed by the server
                poller.unregister(fd)
                del socks[fd]
                sock.close()
                continue
            bytes_read += n
            if use_scan:
                try:
                    done = scanners[fd].feed(BUFFER, n)
                except (ResponseFramingError, ValueError):
                    poller.unregister(fd)
                    del socks[fd]
                    sock.close()
                    continue
            else:
                parsers[fd].feed_data(view[:n])
                done = len(completed)
                completed.clear()
            if done:
                t = now_ns()
                us = (t - sent[fd]) // 1000
                latencies[us] = latencies.get(us, 0) + 1
                sent[fd] = t
                sock.send(request)
    end = now_ns()
    snapshot = dict(latencies)
    in_flight = len(socks) - len(connecting)
    made = connections - refused
    for sock in socks.values():
        sock.close()
    poller.close()
    cpu_s = time.process_time() - cpu_start  # to the connections closed: floor.py's span
    return summary(
        variant, connections, snapshot, (end - start) / 1e9, cpu_s, made, in_flight, bytes_read
    )


class _Completed:
    """httptools' callbacks for the epoll loop: each complete response notes its fd."""

    def __init__(self, fd: int, completed: list[int]) -> None:
        self.fd = fd
        self.completed = completed

    def on_message_complete(self) -> None:
        self.completed.append(self.fd)


def main(argv: list[str]) -> int:
    """VARIANT URL CONNECTIONS SECONDS: one run, one JSON line."""
    if len(argv) != 4 or argv[0] not in VARIANTS:
        print(
            f"trials: usage: VARIANT URL CONNECTIONS SECONDS; VARIANT in {list(VARIANTS)}",
            file=sys.stderr,
        )
        return 1
    variant, url = argv[0], argv[1]
    connections, seconds = int(argv[2]), float(argv[3])
    authority, _, path = url.partition("://")[2].partition("/")
    host, _, port_text = authority.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port_text.isdigit():
        print(f"trials: {url!r} is not http://127.0.0.1:PORT/PATH", file=sys.stderr)
        return 1
    port = int(port_text)
    request = f"GET /{path} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
    if variant.startswith("epoll"):
        result = load_epoll(variant, host, port, request, connections, seconds)
    else:
        result = uvloop.run(load_uvloop(variant, host, port, request, connections, seconds))
    import json

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
