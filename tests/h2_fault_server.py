"""A real HTTP/2 server (h2c, prior knowledge) that misbehaves on purpose, one fault per server.

Built on the ``h2`` library as a server (sans-IO ``H2Connection``) under an asyncio.Protocol, on
127.0.0.1 and an ephemeral port, in a thread of its own (``running(fault)``), as
tests/fault_server.py is for HTTP/1.1. Every connection it accepts gets the server's fault; the
first connection of a pyload run is its setup probe (preface and SETTINGS, no stream). What the
server did and saw is in ``counts`` (H2Counts), each counted just before the server acts, so
that a client's count never runs ahead of the server's.

Faults:

    ok           200 and BODY (13 bytes) to each request once it has ended (its body read, the
                 credit returned); ``/status/N`` answers N, ``/slow/N`` answers N ms later
    max-streams  ok, its first SETTINGS saying SETTINGS_MAX_CONCURRENT_STREAMS = MAX_STREAMS
    settings     ok, and a SETTINGS frame lowering MAX_CONCURRENT_STREAMS to 1 once
                 LOWER_AFTER responses are written on the connection (and its first SETTINGS
                 acknowledged); ``counts.max_after_lowering`` is checked once it is acknowledged
    rst          every second stream of a connection: HEADERS, half the body, then RST_STREAM
                 (INTERNAL_ERROR); the others ok
    goaway       ok for GOAWAY_AFTER responses; then, with streams in flight, GOAWAY (NO_ERROR):
                 with two or more in flight its last stream id is the lowest of them, which is
                 answered after the GOAWAY; the others are dropped; with one, it is dropped.
                 Streams opened after it are dropped too; the server waits for the client to close
    window       SETTINGS_INITIAL_WINDOW_SIZE = 0 in its SETTINGS, and no credit ever returned:
                 what a client sent before it read them, within the default windows (RFC 9113,
                 6.9.2: a stream's first 65,535 bytes, the connection's first 65,535), is read;
                 a body sent after never can be
    stingy       ok, but no flow-control credit is ever returned: the connection's first 65,535
                 bytes of request bodies are all it will ever read
    garbage      at the first request of a connection, bytes that are no frame (a frame head of
                 14 MB); then reads nothing more until the client closes
    bad-frame    the same with a well-formed frame that is invalid: DATA on stream 0
    close        closes the connection (FIN) at the first request, without a word
    silence      sends its SETTINGS (acks the client's, answers PINGs), never answers a stream
    http1        an HTTP/1.1 server: reads a head (the client's preface is one: ``PRI * HTTP/2.0``),
                 answers 400 and closes

A client that breaks the protocol (more streams than the SETTINGS allow, DATA beyond a window)
makes h2 raise: the connection ends with h2's GOAWAY, and h2's message is kept in
``counts.violations``, which a test of a well-behaved client expects empty.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RequestReceived,
    SettingsAcknowledged,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings
from hyperframe.frame import GoAwayFrame, SettingsFrame

from tests.fault_server import _accepting

__all__ = [
    "BAD_FRAME",
    "BODY",
    "BREAKING",
    "FAULTS",
    "GARBAGE",
    "GOAWAY_AFTER",
    "HTTP1_ANSWER",
    "LOWER_AFTER",
    "MAX_STREAMS",
    "H2Counts",
    "H2FaultServer",
    "running",
]

BODY = b"Hello, world!"
MAX_STREAMS = 4  # max-streams: the server's SETTINGS_MAX_CONCURRENT_STREAMS
LOWER_AFTER = 10  # settings: responses on a connection before MAX_CONCURRENT_STREAMS drops to 1
GOAWAY_AFTER = 5  # goaway: responses on a connection before its GOAWAY
GARBAGE = b"\xde\xad\xbe\xef" * 8  # read as a frame head: a frame of 0xdeadbe bytes, over any limit
BAD_FRAME = b"\x00\x00\x05\x00\x00\x00\x00\x00\x00hello"  # DATA on stream 0: PROTOCOL_ERROR
HTTP1_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BREAKING = ("bad-frame", "close", "garbage")  # faults that break a connection at its first request
FAULTS = (
    "bad-frame", "close", "garbage", "goaway", "http1", "max-streams", "ok", "rst", "settings",
    "silence", "stingy", "window",
)  # fmt: skip


@dataclass
class H2Counts:
    """What the server did and saw, over all its connections (the first one is pyload's probe).

    ``max_concurrent`` and ``bytes_sent`` have one entry per connection, in the order they were
    accepted: the most streams open at once (opened by the client, not yet ended by the
    server's answer or a reset), and the bytes written."""

    connections: int = 0
    closed: int = 0  # connections ended (either side)
    streams: int = 0  # streams the client opened (request HEADERS received)
    requests: int = 0  # requests received whole (END_STREAM), their bodies read
    body_bytes: int = 0  # bytes of request bodies read (DATA payloads)
    responses: int = 0  # responses written whole (END_STREAM)
    resets: int = 0  # RST_STREAM sent mid-response (rst)
    client_resets: int = 0  # RST_STREAM received (a client cancelling a stream)
    goaways: int = 0  # GOAWAY frames sent by the fault
    dropped: int = 0  # streams above a GOAWAY's last stream id: in flight then, or opened after
    broken: int = 0  # connections broken at their first request (garbage, bad-frame, close)
    in_flight_at_break: int = 0  # streams open then, summed
    lowered: int = 0  # SETTINGS lowering MAX_CONCURRENT_STREAMS acknowledged by the client
    max_after_lowering: int = 0  # the most streams open at once after such an acknowledgement
    max_concurrent: list[int] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def most_concurrent(self) -> int:
        return max(self.max_concurrent, default=0)


class H2FaultServer:
    """One fault, applied to every connection; what the server did is in ``counts``."""

    def __init__(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        self.fault = fault
        self.counts = H2Counts()
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.open: set[FaultConnection] = set()
        self.all_closed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_all_closed(self, timeout: float = 30) -> bool:
        """Block until every connection accepted so far has ended (after a client exited: the
        server has then read all it sent); False after ``timeout``, a deadline for a hang."""
        with self.all_closed:
            return self.all_closed.wait_for(lambda: self.counts.closed == self.counts.connections,
                                            timeout)  # fmt: skip

    def connection_ended(self, connection: FaultConnection) -> None:
        self.open.discard(connection)
        with self.all_closed:
            self.counts.closed += 1
            self.all_closed.notify_all()


class FaultConnection(asyncio.Protocol):
    """One accepted connection: an h2 server connection, with the server's fault in it."""

    def __init__(self, server: H2FaultServer) -> None:
        self.server = server
        self.counts = server.counts
        self.fault = server.fault
        self.index = -1  # this connection's entry in counts.max_concurrent and bytes_sent
        self.transport: asyncio.Transport | None = None
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.open: set[int] = set()  # streams the client opened that the server has not ended
        self.answered = 0
        self.ignoring = False  # garbage sent, or a violation: read nothing more
        self.head = b""  # http1: the request head so far
        self.lowering = False  # settings: the lowering SETTINGS sent, not yet acknowledged
        self.lowered = False
        self.acks = 0  # SETTINGS acknowledgements received
        self.goaway_last_id: int | None = None  # goaway: the GOAWAY's last stream id, once sent
        self.timers: list[asyncio.TimerHandle] = []
        self.recent: deque[str] = deque(maxlen=12)  # the last events, and reads ("|")
        self.ended: list[int] = []  # requests that ended in this read, in order
        self.statuses: dict[int, int] = {}  # a stream's status, when its path is /status/N
        self.delays: dict[int, int] = {}  # a stream's delay in ms, when its path is /slow/N

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.open.add(self)
        counts = self.counts
        self.index = counts.connections
        counts.max_concurrent.append(0)
        counts.bytes_sent.append(0)
        counts.connections += 1
        if self.fault == "http1":
            return
        limit = MAX_STREAMS if self.fault == "max-streams" else 100
        self.conn.local_settings = Settings(
            client=False, initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: limit}
        )
        self.conn.initiate_connection()
        settings = SettingsFrame(0)
        settings.settings = dict(self.conn.local_settings.items())
        if self.fault == "window":
            # Said in the first SETTINGS; applied by h2 (to what it reads) once acknowledged:
            # the bytes a client sends before it has read it are within the window it knew.
            settings.settings[SettingCodes.INITIAL_WINDOW_SIZE] = 0
            self.conn.local_settings[SettingCodes.INITIAL_WINDOW_SIZE] = 0
        self.conn.data_to_send()  # h2's own SETTINGS frame: the one above instead
        self.write(settings.serialize())

    def data_received(self, data: bytes) -> None:
        if self.ignoring:
            return
        if self.fault == "http1":
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.write(HTTP1_ANSWER)
                self.close()
            return
        try:
            events = self.conn.receive_data(data)
        except ProtocolError as exc:
            before = ", ".join(self.recent)  # what led to it, for the failing test's message
            self.counts.violations.append(f"connection {self.index}: {exc!r} after {before}")
            self.ignoring = True
            self.flush()  # h2's GOAWAY
            self.close()
            return
        for event in events:
            self.on_event(event)
            self.recent.append(type(event).__name__ + str(getattr(event, "stream_id", "")))
        self.after_events()
        self.flush()
        self.recent.append("|")

    def eof_received(self) -> bool:
        return False  # the client is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.server.connection_ended(self)

    # -- the events, one by one ---------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        counts = self.counts
        if isinstance(event, RequestReceived):
            stream_id = event.stream_id
            counts.streams += 1
            if self.goaway_last_id is not None and stream_id > self.goaway_last_id:
                counts.dropped += 1  # opened after the GOAWAY: never answered
                return
            self.open.add(stream_id)
            path = dict(event.headers).get(b":path", b"/")
            if path.startswith(b"/status/") and path[8:].isdigit():
                self.statuses[stream_id] = int(path[8:])
            elif path.startswith(b"/slow/") and path[6:].isdigit():
                self.delays[stream_id] = int(path[6:])
            opened = len(self.open)
            if opened > counts.max_concurrent[self.index]:
                counts.max_concurrent[self.index] = opened
            if self.lowered and opened > counts.max_after_lowering:
                counts.max_after_lowering = opened
        elif isinstance(event, DataReceived):
            counts.body_bytes += len(event.data)
            if event.stream_id in self.open and self.fault not in ("stingy", "window"):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            if event.stream_id in self.open:
                counts.requests += 1
                self.ended.append(event.stream_id)  # answered after the read's events
        elif isinstance(event, StreamReset):
            counts.client_resets += 1
            self.open.discard(event.stream_id)
        elif isinstance(event, SettingsAcknowledged):
            self.acks += 1
            if self.lowering and SettingCodes.MAX_CONCURRENT_STREAMS in event.changed_settings:
                self.lowering, self.lowered = False, True
                counts.lowered += 1
        elif isinstance(event, ConnectionTerminated):
            self.close()

    def request_ended(self, stream_id: int) -> None:
        """A whole request: the fault decides what it gets."""
        fault = self.fault
        if fault == "silence":
            return
        if fault in BREAKING:
            return  # after_events breaks the connection, with the streams of this read open
        if fault == "goaway" and (self.goaway_last_id is not None or self.answered >= GOAWAY_AFTER):
            return  # after_events sends the GOAWAY; the streams above it are never answered
        if fault == "rst" and stream_id % 4 == 3:  # 3, 7, 11...: every second stream
            self.reset_mid_response(stream_id)
            return
        delay_ms = self.delays.pop(stream_id, 0)
        if delay_ms:
            timer = self.transport_loop().call_later(delay_ms / 1000, self.answer_later, stream_id)
            self.timers.append(timer)
            return
        self.answer(stream_id)

    def after_events(self) -> None:
        """What a fault does once a read's events are handled: the requests that ended in it
        are answered only now, so that the streams a read opened count as open at once."""
        ended, self.ended = self.ended, []
        for stream_id in ended:
            self.request_ended(stream_id)
        fault = self.fault
        if fault in BREAKING and self.open:
            self.counts.broken += 1
            self.counts.in_flight_at_break += len(self.open)
            self.flush()  # what h2 has to say first (a SETTINGS acknowledgement)
            self.ignoring = True
            if fault == "close":
                self.close()
            else:
                self.write(GARBAGE if fault == "garbage" else BAD_FRAME)  # then waits for the close
        elif fault == "goaway" and self.goaway_last_id is None:
            if self.answered >= GOAWAY_AFTER and self.open:
                self.send_goaway()
        elif fault == "settings" and self.answered >= LOWER_AFTER and self.may_lower:
            self.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 1})
            self.lowering = True

    # -- what the server writes ---------------------------------------------------------------

    def answer(self, stream_id: int) -> None:
        status = self.statuses.pop(stream_id, 200)
        self.open.discard(stream_id)
        self.answered += 1
        self.counts.responses += 1
        self.conn.send_headers(stream_id, self.response_headers(status))
        self.conn.send_data(stream_id, BODY, end_stream=True)

    def answer_later(self, stream_id: int) -> None:
        if self.transport is None or self.transport.is_closing() or stream_id not in self.open:
            return
        self.answer(stream_id)
        self.flush()

    def reset_mid_response(self, stream_id: int) -> None:
        self.open.discard(stream_id)
        self.statuses.pop(stream_id, None)
        self.conn.send_headers(stream_id, self.response_headers(200))
        self.conn.send_data(stream_id, BODY[: len(BODY) // 2])
        self.counts.resets += 1
        self.conn.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)

    def send_goaway(self) -> None:
        """The GOAWAY frame, written past h2 (which would refuse to answer a stream after it);
        then the stream it keeps, answered."""
        in_flight = sorted(self.open)
        kept = in_flight[:1] if len(in_flight) > 1 else []
        last_id = kept[0] if kept else in_flight[0] - 2  # below every stream dropped
        self.goaway_last_id = last_id
        self.counts.goaways += 1
        self.counts.dropped += len(in_flight) - len(kept)
        self.open.difference_update(in_flight[len(kept) :])
        self.flush()
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_id
        frame.error_code = ErrorCodes.NO_ERROR
        self.write(frame.serialize())
        for stream_id in kept:
            self.answer(stream_id)

    def response_headers(self, status: int) -> list[tuple[bytes, bytes]]:
        return [
            (b":status", str(status).encode()),
            (b"content-length", str(len(BODY)).encode()),
            (b"content-type", b"text/plain"),
        ]

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.write(data)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.counts.bytes_sent[self.index] += len(data)
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def may_lower(self) -> bool:
        """Not yet lowered, and the first SETTINGS acknowledged: h2 takes any acknowledgement
        for one of the latest values it sent, so an update sent before the first is
        acknowledged would apply at that acknowledgement, early."""
        return not (self.lowering or self.lowered) and self.acks > 0

    def transport_loop(self) -> asyncio.AbstractEventLoop:
        assert self.server.loop is not None
        return self.server.loop


@contextmanager
def running(fault: str) -> Iterator[H2FaultServer]:
    """An H2FaultServer on 127.0.0.1, an ephemeral port, its own loop in a thread."""
    server = H2FaultServer(fault)
    started = threading.Event()
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        loop = server.loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            lambda: FaultConnection(server), "127.0.0.1", 0, backlog=1024
        )
        server.port = listener.sockets[0].getsockname()[1]
        stop.append(asyncio.Event())
        started.set()
        async with listener:
            await stop[0].wait()
            # Accepts in progress first (tests.fault_server.FaultServer.serve says why).
            for _ in range(1000):  # a bound: the clients are gone, nothing new comes
                if not any(_accepting(task) for task in asyncio.all_tasks()):
                    break
                await asyncio.sleep(0)
            listener.close()
            for connection in list(server.open):
                if connection.transport is not None:
                    connection.transport.abort()
            await asyncio.sleep(0)  # the aborted transports' connection_lost closes them

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("h2 fault server did not start")
    try:
        yield server
    finally:
        assert server.loop is not None
        server.loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
