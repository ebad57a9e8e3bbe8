"""A real asyncio HTTP/1.1 server for the tests: normal answers and injected faults, by path.

It runs on its own event loop in a background thread, bound to 127.0.0.1 on an ephemeral port,
and counts what it saw (requests received and responses completed per path) so tests can check
pyload's counters against the server's.

Paths:
    /                 200, 13-byte body, Content-Length, keep-alive
    /status/<code>    that status, keep-alive
    /slow/<ms>        200 after <ms> milliseconds
    /stall/<ms>       200, but every answer is held during the first <ms> of each second
                      (seconds counted from the first request to this path)
    /stall-once/<at>/<ms>
                      200, but answers are held from <at> ms after the first request to
                      this path until <ms> later
    /hang             reads the request, never answers
    /close            200 with ``Connection: close``, then closes
    /http10           HTTP/1.0 response with Content-Length, then closes
    /chunked          200 with a chunked body (3 chunks)
    /eof              200 whose body ends when the server closes (no length, not chunked)
    /drop             closes without answering (EOF while a request is in flight)
    /reset            resets the connection (RST) without answering
    /half             half a response (headers promise 100 bytes, 10 are sent), then closes
    /garbage          a malformed status line
    /big/<n>          200 with an n-byte body
    /record           200, and the whole request (head and Content-Length body) is kept in
                      ``recorded`` (the first RECORD_LIMIT requests); /record/<anything> too
    /token            200 with an ``X-Token: <token>`` header (``token``: this server's own)

``requests_per_connection`` holds how many requests each connection carried, in order.

A HEAD request to / or /record gets the head of the GET answer (its Content-Length included)
and no body, as HTTP says.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.fault_server import _accepting

BODY = b"Hello, world!"
RECORD_LIMIT = 1000


def _response(status: int, body: bytes, extra: bytes = b"", reason: bytes = b"OK") -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n%s\r\n"
        % (status, reason, len(body), extra)
    ) + body


OK = _response(200, BODY)


class TargetServer:
    """The server's state: its port and what it saw. Start it with ``running()``."""

    def __init__(self) -> None:
        self.received: collections.Counter[str] = collections.Counter()
        self.answered: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task[None]] = set()

        self.scheme = "http"
        self.host = "127.0.0.1"
        self.greeting: bytes | None = None  # sent on connect, then the server hangs up
        self.recorded: list[bytes] = []  # requests to /record, head and body
        self._watch: tuple[str, int, threading.Event] | None = None
        self.origins: dict[str, float] = {}  # /stall paths: the loop time of their first request
        self.token = secrets.token_hex(8)  # what /token hands out
        self.requests_per_connection: list[int] = []  # per connection, in order of arrival
        self._request_seen = threading.Condition()  # notified on every request (wait_until)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = len(self.requests_per_connection)
        self.requests_per_connection.append(0)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if self.greeting is not None:
            writer.write(self.greeting)
            writer.close()
            return
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target = head.split(b" ", 2)[:2]
                path = target.decode()
                body = b""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        try:
                            body = await reader.readexactly(int(value))
                        except (asyncio.IncompleteReadError, ConnectionError):
                            return
                recorded = path == "/record" or path.startswith("/record/")
                if recorded and len(self.recorded) < RECORD_LIMIT:
                    self.recorded.append(head + body)
                self.received[path] = self.received[path] + 1
                self.requests_per_connection[connection] += 1
                with self._request_seen:
                    self._request_seen.notify_all()
                if self._watch and self._watch[0] == path and self.received[path] >= self._watch[1]:
                    self._watch[2].set()
                if method == b"HEAD" and (path == "/" or recorded):
                    writer.write(OK[: OK.index(b"\r\n\r\n") + 4])
                elif not await self.answer(path, writer):
                    return
                self.answered[path] += 1
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            writer.close()

    def wait_received(self, path: str, count: int, timeout: float = 30) -> bool:
        """Block until the server has received ``count`` requests for ``path``."""
        reached = threading.Event()
        self._watch = (path, count, reached)
        if self.received[path] >= count:
            reached.set()
        return reached.wait(timeout)

    def wait_until(self, condition: Callable[[TargetServer], bool], timeout: float = 30) -> bool:
        """Block until ``condition(self)`` holds, checked on every request received (False if
        it does not within ``timeout``, a deadline for a hang). E.g. every connection of a
        client has had a second request: the client has counted a response on each."""
        with self._request_seen:
            return self._request_seen.wait_for(lambda: condition(self), timeout)

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; return False when the connection is done."""
        if path in ("/", "/record") or path.startswith("/record/"):
            writer.write(OK)
        elif path == "/token":
            writer.write(_response(200, BODY, b"X-Token: %s\r\n" % self.token.encode()))
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            writer.write(_response(code, BODY, reason=b"Status"))
        elif path.startswith("/slow/"):
            await asyncio.sleep(int(path.rsplit("/", 1)[1]) / 1000)
            writer.write(OK)
        elif path.startswith(("/stall/", "/stall-once/")):
            now = asyncio.get_running_loop().time()
            elapsed = now - self.origins.setdefault(path, now)
            numbers = [int(part) / 1000 for part in path.split("/")[2:]]
            if len(numbers) == 1:  # /stall/<ms>: the first <ms> of each second
                start, held = float(int(elapsed)), numbers[0]
            else:  # /stall-once/<at>/<ms>
                start, held = numbers
            if start <= elapsed < start + held:
                await asyncio.sleep(start + held - elapsed)
            writer.write(OK)
        elif path.startswith("/big/"):
            writer.write(_response(200, b"x" * int(path.rsplit("/", 1)[1])))
        elif path == "/hang":
            await asyncio.Event().wait()
        elif path == "/close":
            writer.write(_response(200, BODY, b"Connection: close\r\n"))
            await writer.drain()
            self.answered[path] += 1
            return False
        elif path == "/http10":
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
            await writer.drain()
            self.answered[path] += 1
            return False
        elif path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nHello\r\n2\r\n, \r\n6\r\nworld!\r\n0\r\n\r\n"
            )
        elif path == "/eof":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
            await writer.drain()
            self.answered[path] += 1
            return False
        elif path == "/drop":
            return False
        elif path == "/reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif path == "/half":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            return False
        elif path == "/garbage":
            writer.write(b"HTTP/1.1 2x0 NOPE\r\n\r\n")
            await writer.drain()
            await asyncio.Event().wait()  # pyload must be the one to give up
        else:
            writer.write(_response(404, b"not found", reason=b"Not Found"))
        await writer.drain()
        return True


@contextmanager
def running(
    host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, greeting: bytes | None = None
) -> Iterator[TargetServer]:
    """Start a TargetServer on ``host``, port 0, in a background thread; stop it on exit.

    With ``greeting``, the server only sends those bytes to each new connection and closes it.
    """
    state = TargetServer()
    state.host = host
    state.greeting = greeting
    state.scheme = "https" if tls else "http"
    started = threading.Event()
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        server = await asyncio.start_server(state.handle, host, 0, backlog=4096, ssl=tls)
        state.port = server.sockets[0].getsockname()[1]
        state.loop = asyncio.get_running_loop()
        stop.append(asyncio.Event())
        started.set()
        async with server:
            await stop[0].wait()
            # Accepts in progress first: one that starts after close() finds the server gone
            # and leaves its socket open (tests.fault_server.FaultServer.serve does the same).
            for _ in range(1000):  # a bound: the clients are gone, nothing new comes
                if not any(_accepting(task) for task in asyncio.all_tasks()):
                    break
                await asyncio.sleep(0)
            server.close()
            for task in list(state.tasks):
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("target server did not start")
    try:
        yield state
    finally:
        assert state.loop is not None
        state.loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
