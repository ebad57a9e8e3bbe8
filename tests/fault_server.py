"""A real asyncio server that misbehaves on purpose: one fault for every connection, counted.

Each server is started with one fault (a name in FAULTS) and applies it to every connection it
accepts, so pyload and wrk can be pointed at the same URL and their reports checked against what
the server did. It counts, per server: ``connections`` accepted, ``requests`` whose head it read,
``responses`` it wrote (final responses, valid or not), ``interim`` 1xx responses, ``resets`` it
sent (RST, by closing with SO_LINGER 0), ``bytes_sent``, and ``bodies``: request bodies read
whole after their answer (early-answer only). Each is counted just before the
server acts, so that a client's count never runs ahead of the server's.

Faults (the paths of tests/target_server.py cover a server that never answers, a short body and
a malformed status line):

    ok                   200, 13-byte body, keep-alive (the reference, and the restarted server)
    close                200 with ``Connection: close``, then closes
    http10               an HTTP/1.0 response with its Content-Length, then closes
    eof                  200 whose body ends when the server closes (no length, not chunked)
    reset-on-accept      RST as soon as the connection is accepted, before any request is read;
                         but the first connection, both tools' setup probe, is closed normally
    reset-mid-response   reads the request, writes the head and half the body, then RST
    bad-header           a head with a header line that is not a token and a colon
    bad-chunk-size       chunked, the first chunk's size is not hexadecimal (``zz``)
    huge-chunk-size      chunked, the first chunk's size does not fit in 64 bits
    trickle              each response written one byte at a time, TRICKLE_GAP_S apart
    big-body             200 with a BIG_BODY-byte body (100 MB), written from one shared buffer
    early-answer         answers as soon as the request's head is read, then reads its body
    continue             ``100 Continue`` before every 200
    switch               ``101 Switching Protocols``; then closes at the first byte it receives

Run in a thread by ``running(fault)`` (the tests), or as a process (``python -m
tests.fault_server FAULT --port P --counts FILE``) that a test can SIGKILL and start again on the
same port: the counts then live in FILE, mapped into memory, so they survive the kill. The
process prints ``listening PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import mmap
import signal
import socket
import struct
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "BIG_BODY",
    "BODY",
    "FAULTS",
    "OK",
    "FaultCounts",
    "FaultServer",
    "running",
]

BODY = b"Hello, world!"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + BODY
BIG_BODY = 100 * 2**20  # the "100 MB body" of the fault matrix
BIG_CHUNK = 2**20  # written from one shared buffer: the server holds 1 MiB, not 100
TRICKLE_GAP_S = 0.001
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n"
FIELDS = ("connections", "requests", "responses", "interim", "resets", "bytes_sent", "bodies")
_ZEROS = memoryview(bytes(BIG_CHUNK))


class FaultCounts:
    """The server's counters, in a buffer of 64-bit cells: a bytearray, or a shared mapping
    of a file when the server runs as a process that may be killed."""

    def __init__(self, buffer: bytearray | mmap.mmap | None = None) -> None:
        self._buffer = buffer if buffer is not None else bytearray(8 * len(FIELDS))
        self._cells = memoryview(self._buffer).cast("q")

    def add(self, name: str, n: int = 1) -> None:
        self._cells[FIELDS.index(name)] += n

    def __getitem__(self, name: str) -> int:
        return int(self._cells[FIELDS.index(name)])

    def as_dict(self) -> dict[str, int]:
        return {name: self[name] for name in FIELDS}

    @classmethod
    def read(cls, path: Path) -> dict[str, int]:
        """The counts a server process left in ``path`` (alive or killed)."""
        values = struct.unpack(f"{len(FIELDS)}q", path.read_bytes()[: 8 * len(FIELDS)])
        return dict(zip(FIELDS, values, strict=True))


Fault = Callable[["FaultServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader, with_body: bool = True) -> bytes | None:
    """One request's head (and its Content-Length body), or None at the end of the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if with_body:
            await reader.readexactly(content_length(head))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    return head


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN (SO_LINGER on, 0 seconds)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def wait_for_close(reader: asyncio.StreamReader) -> None:
    """Leave it to the client to give up: read until it closes."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def fault_ok(server: FaultServer, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:  # fmt: skip
    while await server.request(reader):
        server.counts.add("responses")
        await server.send(writer, OK)


def one_then_close(response: bytes) -> Fault:
    """A fault that answers one request with ``response`` and closes the connection."""

    async def fault(server: FaultServer, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:  # fmt: skip
        if await server.request(reader):
            server.counts.add("responses")
            await server.send(writer, response)
            writer.close()

    return fault


async def fault_reset_on_accept(server: FaultServer, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:  # fmt: skip
    if server.counts["connections"] == 1:
        return  # the setup probe: a reset there may fail pyload's setup (docs/reliability.md)
    server.counts.add("resets")
    reset(writer)


async def fault_reset_mid_response(server: FaultServer, reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> None:  # fmt: skip
    if await server.request(reader):
        await server.send(writer, OK[: len(OK) - len(BODY) // 2])
        server.counts.add("resets")
        reset(writer)


def malformed(response: bytes) -> Fault:
    """A fault that answers each request with ``response`` and waits for the client to leave."""

    async def fault(server: FaultServer, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:  # fmt: skip
        if await server.request(reader):
            server.counts.add("responses")
            await server.send(writer, response)
            await wait_for_close(reader)

    return fault


async def fault_trickle(server: FaultServer, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:  # fmt: skip
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while await server.request(reader):
        for i in range(len(OK)):
            if i == len(OK) - 1:
                server.counts.add("responses")
            await server.send(writer, OK[i : i + 1])
            await asyncio.sleep(TRICKLE_GAP_S)  # the fault itself: a slow sender


async def fault_big_body(server: FaultServer, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:  # fmt: skip
    while await server.request(reader):
        await server.send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG_BODY)
        for i in range(BIG_BODY // BIG_CHUNK):
            if i == BIG_BODY // BIG_CHUNK - 1:
                server.counts.add("responses")
            await server.send(writer, _ZEROS)


async def fault_early_answer(server: FaultServer, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:  # fmt: skip
    while (head := await server.request(reader, with_body=False)) is not None:
        server.counts.add("responses")
        await server.send(writer, OK)  # before the body has been read
        try:
            await reader.readexactly(content_length(head))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        server.counts.add("bodies")


async def fault_continue(server: FaultServer, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:  # fmt: skip
    while await server.request(reader):
        server.counts.add("interim")
        await server.send(writer, CONTINUE)
        server.counts.add("responses")
        await server.send(writer, OK)


async def fault_switch(server: FaultServer, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:  # fmt: skip
    if await server.request(reader):
        server.counts.add("responses")
        await server.send(writer, SWITCH)
        with contextlib.suppress(ConnectionError):
            await reader.read(1)  # anything but the new protocol: close, as a server would


FAULTS: dict[str, Fault] = {
    "ok": fault_ok,
    "close": one_then_close(
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + BODY
    ),
    "http10": one_then_close(b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n" + BODY),
    "eof": one_then_close(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY),
    "reset-on-accept": fault_reset_on_accept,
    "reset-mid-response": fault_reset_mid_response,
    "bad-header": malformed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nBad Header: x\r\n\r\n" + BODY
    ),
    "bad-chunk-size": malformed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    ),
    "huge-chunk-size": malformed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"
    ),
    "trickle": fault_trickle,
    "big-body": fault_big_body,
    "early-answer": fault_early_answer,
    "continue": fault_continue,
    "switch": fault_switch,
}


class FaultServer:
    """One fault, applied to every connection; what the server did is in ``counts``."""

    def __init__(self, fault: str, counts: FaultCounts | None = None) -> None:
        self.fault = fault
        self.handler = FAULTS[fault]
        self.counts = counts if counts is not None else FaultCounts()
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def request(self, reader: asyncio.StreamReader, with_body: bool = True) -> bytes | None:
        head = await read_request(reader, with_body)
        if head is not None:
            self.counts.add("requests")
        return head

    async def send(self, writer: asyncio.StreamWriter, data: bytes | memoryview) -> None:
        self.counts.add("bytes_sent", len(data))
        writer.write(data)
        await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.add("connections")
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping
        finally:
            writer.transport.abort()

    async def serve(self, port: int, until: asyncio.Event, ready: Callable[[int], None]) -> None:
        """Listen on 127.0.0.1:``port`` (0: any) until ``until`` is set; then close every
        connection, those accepted in the last moments included (asyncio makes their
        transports in tasks of its own, which must run before the server closes)."""
        loop = asyncio.get_running_loop()
        transports: set[asyncio.BaseTransport] = set()

        class Protocol(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transports.add(transport)
                super().connection_made(transport)

        def protocol() -> Protocol:
            return Protocol(asyncio.StreamReader(loop=loop), self.handle, loop=loop)

        server = await loop.create_server(protocol, "127.0.0.1", port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        ready(self.port)
        async with server:
            await until.wait()
            # Accepts in progress first: one that starts after close() finds the server gone,
            # fails in asyncio and leaves its socket open (Server._attach asserts it is open).
            for _ in range(1000):  # a bound: the client is gone, nothing new comes
                if not any(_accepting(task) for task in asyncio.all_tasks()):
                    break
                await asyncio.sleep(0)
            server.close()
            for transport in transports:
                transport.abort()  # type: ignore[attr-defined]
            current = asyncio.current_task()
            others = [task for task in asyncio.all_tasks() if task is not current]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await asyncio.sleep(0)  # the aborted transports' connection_lost closes them


def _accepting(task: asyncio.Task[object]) -> bool:
    """A task in which asyncio is still making an accepted connection's transport."""
    return getattr(task.get_coro(), "__name__", "") == "_accept_connection2"


@contextmanager
def running(fault: str) -> Iterator[FaultServer]:
    """A FaultServer on 127.0.0.1, an ephemeral port, its own loop in a thread."""
    state = FaultServer(fault)
    started = threading.Event()
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        await state.serve(0, stop, lambda port: started.set())

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fault server did not start")
    try:
        yield state
    finally:
        loop, stop = loop_and_stop[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def main(argv: list[str] | None = None) -> None:
    """The server as a process: counts in a shared file mapping, stopped by SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fault_server")
    parser.add_argument("fault", choices=sorted(FAULTS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--counts", type=Path, required=True)
    args = parser.parse_args(argv)
    with open(args.counts, "w+b") as file:
        file.truncate(8 * len(FIELDS))
        cells = mmap.mmap(file.fileno(), 8 * len(FIELDS))
    state = FaultServer(args.fault, FaultCounts(cells))

    async def serve() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await state.serve(args.port, stop, lambda port: print(f"listening {port}", flush=True))

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
