"""HTTP/2's connections in the core loop (--http2): each a set of stream slots on one socket.

Where ``_engine.Connection`` is one request in flight, ``Http2Connection`` is up to ``--streams``
of them, each slot a closed loop of its own (or a slot of the pacer's grid), driving the codec
(``_http2.ClientConnection``, sans-IO) on the worker's loop. ``_engine.LoadThread`` creates
them, keeps their counters and their time; the call chain is the HTTP/1.1 one's
(``_engine``'s docstring), with ``Http2Connection.response`` in ``on_response``'s place.
"""

from __future__ import annotations

import asyncio
from time import perf_counter_ns
from typing import TYPE_CHECKING

from pyload._hpack import requests_from_http11
from pyload._http2 import ClientConnection, ProtocolError
from pyload._pacing import Schedule
from pyload._sources import RequestSource
from pyload.config import Target
from pyload.errors import HookError, UsageError

if TYPE_CHECKING:
    from pyload._engine import LoadThread

__all__ = ["Http2Connection", "Http2Requests", "StreamSlot"]

MAX_STREAM_ID = 2**31 - 1
CONVERTED_KEPT = 1024  # a script's distinct requests kept converted


class Http2Requests:
    """A thread's requests as HTTP/2 (header block, body) pairs, from its source's HTTP/1.1
    bytes (``_hpack.requests_from_http11``): the static request's once, before the load; a
    script's as it builds them, each distinct one converted once (up to CONVERTED_KEPT kept)."""

    __slots__ = ("converted", "static", "target")

    def __init__(self, source: RequestSource, target: Target) -> None:
        self.target = target
        self.converted: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.static: tuple[bytes, bytes] | None = None  # one request, the same every time
        if source.static is not None:
            batch = self.convert(source.static)
            self.static = batch[0] if len(batch) == 1 else None

    def convert(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """The requests in ``data``; UsageError if it does not hold whole requests."""
        batch = self.converted.get(data)
        if batch is None:
            if len(self.converted) >= CONVERTED_KEPT:  # a script whose every request is new
                self.converted.clear()
            batch = self.converted[data] = requests_from_http11(data, self.target)
        return batch


class StreamSlot:
    """One of an HTTP/2 connection's ``--streams`` slots: a closed loop of its own (each
    response sends the slot's next request on a new stream), or at a constant rate one slot of
    the pacer's grid. It outlives its streams; the connection's ``in_flight`` maps each open
    stream to its slot."""

    __slots__ = ("intended_ns", "schedule", "sent_ns", "streams", "timer")

    def __init__(self, schedule: Schedule | None) -> None:
        self.schedule = schedule
        self.sent_ns = 0
        self.intended_ns = 0  # constant rate: when the request in flight was due
        self.streams = 0  # streams of this slot's request batch still open (a script's few)
        self.timer: asyncio.TimerHandle | None = None  # set while the pacer or delay() waits


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection (docs/http2.md): drives ``_http2.ClientConnection`` on the loop,
    times and counts each stream's response, and keeps each slot sending.

    The hot path (``response``) is the HTTP/1.1 one's: time, count, record, then the same
    prebuilt HEADERS frame on the next stream id, written once per read with every other
    frame the read produced (``data_received``). Failures map onto wrk's counters: a stream
    reset or dropped by a GOAWAY is a read error; so is each stream in flight when the
    connection fails. After a GOAWAY no stream opens; the connection closes when its last
    stream ends, and its slot in ``LoadThread.keep_connected`` reconnects.
    """

    __slots__ = (
        "at_once",
        "closed",
        "codec",
        "error_counted",
        "idle",
        "in_flight",
        "latency_counts",
        "lost_unwritten",
        "pending",
        "request",
        "requests",
        "result",
        "slots",
        "source",
        "timeout_us",
        "transport",
        "worker",
        "written_through",
    )

    def __init__(self, worker: LoadThread, schedules: list[Schedule | None]) -> None:
        self.worker = worker
        self.result = worker.stats
        self.latency_counts = worker.result.latency_counts
        self.source = worker.spec.requests
        assert worker.http2 is not None
        self.requests = worker.http2
        self.request = self.requests.static  # (block, body), or None: the source's each time
        self.slots = [StreamSlot(schedule) for schedule in schedules]
        self.at_once = (
            self.request is not None and not self.request[1] and schedules[0] is None
            and not self.source.wants_responses and not self.source.delays
            and worker.quota is None
        )  # fmt: skip
        self.timeout_us = worker.spec.config.timeout_us
        block = self.request[0] if self.request is not None else b""
        self.codec = ClientConnection(block, self, keep_responses=self.source.wants_responses)
        self.in_flight: dict[int, StreamSlot] = {}
        self.idle: list[StreamSlot] = []  # slots waiting for a stream the server allows
        self.closed: asyncio.Future[None] = worker.loop.create_future()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.error_counted = False
        self.pending = 0  # -n: requests sent on this connection and not answered yet
        self.written_through = 0  # the last stream id written to the socket
        self.lost_unwritten = 0  # streams dropped before they were written (lose)

    def itself(self) -> Http2Connection:
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.worker.stopping:
            self.transport.abort()  # as Connection.connection_made: nothing after the stop
            return
        self.worker.open.add(self)
        now = perf_counter_ns()
        for slot in self.slots:
            self.send_next(slot, now)
        self.flush()

    def flush(self) -> None:
        """Write what the codec has queued: requests, SETTINGS acks, flow-control credit."""
        data = self.codec.data_to_send()
        if data:
            self.transport.write(data)
            self.written_through = self.codec.last_stream_id
            if self.lost_unwritten:  # dropped before this write, sent all the same: lost now
                self.result.read_errors += self.lost_unwritten
                if self.worker.quota is not None:
                    self.worker.count_lost(self, self.lost_unwritten)
                self.lost_unwritten = 0

    def written_in_flight(self) -> int:
        """Streams in flight that were written: a stream opened during a read that then ended
        the connection (a GOAWAY, garbage) never left, and is no read error."""
        written = self.written_through
        return sum(1 for stream_id in self.in_flight if stream_id <= written)

    def data_received(self, data: bytes) -> None:
        try:
            self.codec.feed(data)
        except ProtocolError:
            self.fail_read()
            return
        self.result.bytes_read += len(data)
        if not self.transport.is_closing():
            self.flush()

    # -- StreamEvents: the codec's calls, one per stream that ends ----------------------------

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        """The hot path: one stream's response. Time it, count it, open the next stream."""
        now = perf_counter_ns()
        worker = self.worker
        if now >= worker.due_ns:  # a sample is due, or the deadline: before this response
            worker.check_time(now)
            if worker.stopping:
                return  # after the deadline: not counted (the connection is closed)
        slot = self.in_flight.pop(stream_id)
        result = self.result
        result.requests += 1
        if slot.schedule is None:
            latency_us = (now - slot.sent_ns) // 1000
            if latency_us > self.timeout_us:
                result.timeouts += 1  # as over HTTP/1.1: a request and a timeout
            else:
                counts = worker.interval_counts
                counts[latency_us] = counts.get(latency_us, 0) + 1
        else:  # a constant rate: as Connection.on_paced_response
            intended_us = (now - slot.intended_ns) // 1000
            counts = worker.interval_counts
            counts[intended_us] = counts.get(intended_us, 0) + 1
            latency_us = (now - slot.sent_ns) // 1000
            if latency_us > self.timeout_us:
                result.timeouts += 1
            else:
                counts = self.latency_counts
                counts[latency_us] = counts.get(latency_us, 0) + 1
        if status != 200:  # rare: counted by code (200's count is the rest of the requests)
            statuses = worker.interval_statuses
            statuses[status] = statuses.get(status, 0) + 1
            if status > 399:
                result.status_errors += 1
        if self.at_once and not self.idle:
            stream_id = self.codec.open_stream()  # the next request, written after this read
            if stream_id:
                slot.sent_ns = now
                self.in_flight[stream_id] = slot
                return
        self.after_response(slot, status, now)

    def reset(self, stream_id: int, error_code: int) -> None:
        """The server reset a stream in flight: a read error; the slot sends its next one."""
        self.lose(stream_id)

    def goaway(self, last_stream_id: int, error_code: int, dropped: list[int]) -> None:
        """The server is closing: each stream it dropped is a read error; no stream opens from
        now on, and the connection closes once the streams it kept have ended."""
        for stream_id in dropped:
            self.lose(stream_id)
        self.close_if_done()

    def lose(self, stream_id: int) -> None:
        """A stream in flight that will never be answered: a read error."""
        slot = self.in_flight.pop(stream_id, None)
        worker = self.worker
        if slot is None or worker.stopping:
            return
        if stream_id <= self.written_through:
            self.result.read_errors += 1
            if worker.quota is not None:
                worker.count_lost(self, 1)
        else:  # opened during this read, not written yet: an error once it is (flush)
            self.lost_unwritten += 1
        slot.streams -= 1
        if not slot.streams:
            self.send_next(slot, perf_counter_ns())

    # -- everything but the fast path ----------------------------------------------------------

    def after_response(self, slot: StreamSlot, status: int, now: int) -> None:
        """The response hook, -n, a batch not yet answered whole, the pacer, a GOAWAY."""
        worker = self.worker
        if self.source.wants_responses:
            self.source.response(status, self.codec.last_headers, self.codec.last_body)
        if worker.stopping or (worker.quota is not None and worker.count_answered(self, now)):
            return  # the script (thread.stop(), a hook that raised) or -n ended the load
        slot.streams -= 1
        if slot.streams > 0:
            return  # a script's pipelined batch: the slot's next one when all are answered
        self.send_next(slot, now)
        while self.idle and self.codec.slots:  # the server allows more streams again
            self.send(self.idle.pop(0))
        self.close_if_done()

    def send_next(self, slot: StreamSlot, now: int) -> None:
        """The slot's next request now, or when its schedule (or the script's delay) says."""
        if self.source.delays:  # -s: the script's delay() before each request (hooks.py)
            slot.timer = self.worker.loop.call_later(self.source.delay_s(), self.send_later, slot)
            return
        if slot.schedule is not None:
            slot.intended_ns = slot.schedule.next_send_ns(now)
            wait_ns = slot.intended_ns - now
            if wait_ns > 0:
                slot.timer = self.worker.loop.call_later(wait_ns / 1e9, self.send_later, slot)
                return
        self.send(slot)

    def send_later(self, slot: StreamSlot) -> None:
        """A timer's send: outside a read, so written at once."""
        if self.transport.is_closing():
            return
        self.send(slot)
        self.flush()

    def send(self, slot: StreamSlot) -> None:
        """Open the slot's next request (a script's batch: one stream each); a slot the server
        has no stream for now waits in ``idle``."""
        slot.timer = None
        worker = self.worker
        if worker.stopping:
            return
        if worker.quota is not None and not worker.may_send():
            return  # -n: this thread's share is sent; the slot stays idle
        codec = self.codec
        if not codec.slots:
            self.idle.append(slot)  # a lowered limit, or a GOAWAY: see close_if_done
            self.close_if_done()
            return
        if self.request is not None:
            batch = [self.request]
        else:
            try:
                batch = self.requests.convert(self.source.next_request())
            except UsageError as exc:  # the script's request is not one HTTP/2 can carry
                worker.end_by_script(HookError(f"request(): {exc}"))
                return
        slot.sent_ns = sent = perf_counter_ns()
        if sent < slot.intended_ns:  # the loop's timer (1 ms steps) fired a little early
            slot.intended_ns = sent
        slot.streams = 0
        for block, body in batch:
            if not codec.slots:  # the rest of a batch beyond the server's limit: lost
                break
            self.in_flight[codec.send_request(block, body)] = slot
            slot.streams += 1
        if worker.quota is not None:
            worker.count_sent(self, slot.streams)

    def close_if_done(self) -> None:
        """After a GOAWAY (or with stream ids used up): close once no stream is in flight,
        so that the slot reconnects."""
        codec = self.codec
        used_up = codec.last_stream_id + 2 > MAX_STREAM_ID
        if not self.in_flight and (codec.goaway_received or used_up):
            self.transport.close()

    def requests_in_flight(self) -> list[int]:
        """When each request in flight was sent (LoadThread.stop)."""
        written = self.written_through
        return [slot.sent_ns for sid, slot in self.in_flight.items() if sid <= written]

    # -- the connection's end ------------------------------------------------------------------

    def eof_received(self) -> bool:
        if self.written_in_flight() and not self.worker.stopping:
            self.fail_read()  # the streams in flight will never be answered
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        worker = self.worker
        worker.open.discard(self)
        for slot in self.slots:
            if slot.timer is not None:
                slot.timer.cancel()
                slot.timer = None
        if exc is not None and not self.error_counted and not worker.stopping:
            if isinstance(exc, BrokenPipeError):
                self.result.write_errors += 1
            else:
                self.result.read_errors += max(1, self.written_in_flight())
            self.error_counted = True
        if self.lost_unwritten and worker.quota is not None:
            worker.count_sent(self, -self.lost_unwritten)  # never written: never sent
        if self.pending and not worker.stopping:
            worker.count_lost(self)  # -n: its unanswered requests are done with
        if not self.closed.done():
            self.closed.set_result(None)

    def fail_read(self) -> None:
        """The connection is unusable (a protocol error, a close with streams in flight): a
        read error per stream in flight, at least one."""
        if not self.error_counted and not self.worker.stopping:
            self.error_counted = True
            self.result.read_errors += max(1, self.written_in_flight())
        self.transport.abort()
