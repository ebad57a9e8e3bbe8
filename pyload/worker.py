"""The core loop: one worker process, its event loop and its share of the connections.

Call chain, in execution order (everything a request goes through is in this file):

    worker_main(spec, pipe, start_event, stop_event)    process entry (spawned by runner.py)
      new_event_loop(spec.config.loop)                  uvloop, or asyncio
      pipe <- "ready"; start_event.wait()               the start barrier shared by all workers
      Worker.run()
        one Worker.keep_connected() task per connection slot:
          loop.create_connection(Connection)            failure -> connect error, retry
          Connection.connection_made                    write request, take the start time
          Connection.data_received -> ResponseParser.feed
            Connection.on_response                      time, count, record; write the next
                                                        request (keep-alive) or close
          Connection.eof_received / connection_lost     read/write error; slot reconnects
        Worker.tick every 100 ms                        Req/Sec sample (wrk's rule); stop_event
        deadline timer                                  stop: note requests in flight, abort
      pipe <- ("result", WorkerResult)                  plain counters + encoded histogram

State: the worker owns its sockets, its loop and its counters; nothing is shared with other
processes but the start and stop events. Failures during the run are counters (STYLE.md, 5).
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Event
from time import perf_counter_ns
from typing import Any

from pyload.config import Config
from pyload.hdr import encode_hdr, hdr_from_counts
from pyload.http11 import ResponseError, ResponseParser

__all__ = ["WorkerResult", "WorkerSpec", "error_counts", "new_event_loop", "worker_main"]

RATE_SAMPLE_INTERVAL_S = 0.1  # wrk's RECORD_INTERVAL_MS
CONNECT_RETRY_DELAY_S = 0.01  # after a failed connect; wrk abandons the slot instead
START_WAIT_S = 300.0  # a worker whose start never comes gives up
START_POLL_S = 0.1  # how often a waiting worker checks whether the run was called off


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker needs, built by the runner: the config, its share, the resolved address."""

    index: int
    config: Config
    connections: int
    family: int
    address: tuple[Any, ...]
    request: bytes


@dataclass
class WorkerResult:
    """What a worker sends back: plain counters, exact latency counts, Req/Sec samples."""

    index: int
    connections: int
    requests: int = 0
    bytes_read: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    status_errors: int = 0
    latency_counts: dict[int, int] = field(default_factory=dict)  # µs -> count, <= timeout
    rate_samples: list[int] = field(default_factory=list)
    latency_hdr: str = ""  # the same latencies as an encoded HdrHistogram
    in_flight: int = 0  # requests sent and not answered when the run stopped
    in_flight_over_timeout: int = 0  # ... of which older than the timeout
    runtime_ns: int = 0
    all_connected_ns: int | None = None  # from the start until every slot had connected once
    cpu_s: float = 0.0  # the worker's CPU time during the load

    @property
    def errors(self) -> dict[str, int]:
        return error_counts(self)


def error_counts(counters: Any) -> dict[str, int]:
    """The error counters of a worker's or a run's result, by wrk's names."""
    return {
        "connect": counters.connect_errors,
        "read": counters.read_errors,
        "write": counters.write_errors,
        "timeout": counters.timeouts,
        "status": counters.status_errors,
    }


def new_event_loop(name: str) -> asyncio.AbstractEventLoop:
    """The loop factory: ``uvloop`` (the default where installed) or ``asyncio``."""
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def worker_main(spec: WorkerSpec, pipe: Pipe, start_event: Event, stop_event: Event) -> None:
    """Process entry: get ready, wait for the common start, run, send the result."""
    # Ctrl-C is the parent's to handle: it sets stop_event and still collects every result.
    # (The parent already spawned this process with SIGINT ignored; this keeps it so.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        loop = new_event_loop(spec.config.loop)
        worker = Worker(spec, loop, stop_event)
        pipe.send(("ready", None))
        waited_until = time.monotonic() + START_WAIT_S
        while not start_event.wait(START_POLL_S):
            if stop_event.is_set() or time.monotonic() > waited_until:
                return  # the run was called off before it started
        try:
            result = loop.run_until_complete(worker.run())
        finally:
            loop.close()
        result.latency_hdr = encode_hdr(hdr_from_counts(result.latency_counts))
        pipe.send(("result", result))
    except BaseException as exc:  # reported to the parent, which reports it to the user
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


class Worker:
    """One worker's run: its connections, counters, sampler and deadline."""

    def __init__(self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop, stop_event: Event):
        self.spec = spec
        self.loop = loop
        self.stop_event = stop_event
        self.result = WorkerResult(spec.index, spec.connections)
        self.open: set[Connection] = set()
        self.never_connected = spec.connections
        self.stopping = False
        self.ssl_context: ssl.SSLContext | None = None
        if spec.config.target.tls:
            # As wrk: TLS with SNI, no certificate verification.
            self.ssl_context = ssl.create_default_context()
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE

    async def run(self) -> WorkerResult:
        loop, result = self.loop, self.result
        cpu_start = time.process_time()
        start_ns = self.start_ns = perf_counter_ns()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.sample_start_ns, self.sampled_requests = start_ns, 0
        ticker = loop.call_later(RATE_SAMPLE_INTERVAL_S, self.tick)
        deadline = loop.call_later(self.spec.config.duration_s, self.stop)
        slots = [loop.create_task(self.keep_connected()) for _ in range(self.spec.connections)]
        try:
            await self.finished
        finally:
            ticker.cancel()
            deadline.cancel()
            self.stopping = True
            end_ns = perf_counter_ns()
            timeout_ns = self.spec.config.timeout_us * 1000
            result.in_flight = len(self.open)
            result.in_flight_over_timeout = sum(
                1 for conn in self.open if end_ns - conn.sent_ns > timeout_ns
            )
            for conn in list(self.open):
                conn.transport.abort()
            for slot in slots:
                slot.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
        result.runtime_ns = end_ns - start_ns
        result.cpu_s = time.process_time() - cpu_start
        return result

    async def keep_connected(self) -> None:
        """One connection slot: connect, let the protocol run requests, reconnect when closed."""
        spec, loop = self.spec, self.loop
        host, port = spec.address[0], spec.address[1]
        server_hostname = spec.config.target.host if self.ssl_context else None
        first = True
        while not self.stopping:
            conn = Connection(self)
            try:
                await loop.create_connection(
                    conn.itself,
                    host,
                    port,
                    family=spec.family,
                    ssl=self.ssl_context,
                    server_hostname=server_hostname,
                )
            except (OSError, ssl.SSLError):
                if self.stopping:
                    return
                self.result.connect_errors += 1
                await asyncio.sleep(CONNECT_RETRY_DELAY_S)
                continue
            if first:
                first = False
                self.never_connected -= 1
                if not self.never_connected:
                    self.result.all_connected_ns = perf_counter_ns() - self.start_ns
            await conn.closed

    def tick(self) -> None:
        """Every 100 ms: one Req/Sec sample, as wrk takes it; obey a stop request."""
        now = perf_counter_ns()
        done = self.result.requests - self.sampled_requests
        if done:  # no sample for an empty interval: it grows into the next (wrk)
            elapsed_ms = (now - self.sample_start_ns) // 1_000_000
            if elapsed_ms:
                self.result.rate_samples.append(int(done / elapsed_ms * 1000))
                self.sampled_requests += done
                self.sample_start_ns = now
        if self.stop_event.is_set():
            self.stop()
        else:
            self.loop.call_later(RATE_SAMPLE_INTERVAL_S, self.tick)

    def stop(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, times and counts each response."""

    __slots__ = (
        "closed",
        "error_counted",
        "feed",
        "latency_counts",
        "parser",
        "request",
        "result",
        "sent_ns",
        "timeout_us",
        "transport",
        "worker",
    )

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.result = worker.result
        self.latency_counts = worker.result.latency_counts
        self.request = worker.spec.request
        self.timeout_us = worker.spec.config.timeout_us
        self.parser = ResponseParser(self.on_response)
        self.feed = self.parser.feed
        self.closed: asyncio.Future[None] = worker.loop.create_future()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.sent_ns = 0
        self.error_counted = False

    def itself(self) -> Connection:
        """The protocol factory create_connection wants: this very connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.worker.open.add(self)
        self.sent_ns = perf_counter_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.feed(data)
        except ResponseError:
            self.fail_read()
            return
        self.result.bytes_read += len(data)

    def on_response(self, status: int, keep_alive: bool) -> None:
        """The hot path: one completed response. Time it, count it, send the next request."""
        now = perf_counter_ns()
        result = self.result
        result.requests += 1
        latency_us = (now - self.sent_ns) // 1000
        if latency_us > self.timeout_us:
            # wrk: a late response counts as a request and a timeout, not as a latency.
            result.timeouts += 1
        else:
            counts = self.latency_counts
            counts[latency_us] = counts.get(latency_us, 0) + 1
        if status > 399:
            result.status_errors += 1
        if keep_alive:
            # The next request goes out at once, timed from now. wrk instead waits for the
            # next "writable" event and starts its clock then, so under a saturated client its
            # latencies leave out the time a connection waited to write (README, differences).
            self.sent_ns = now
            self.transport.write(self.request)
        else:
            self.transport.close()

    def eof_received(self) -> bool:
        if not self.parser.feed_eof():
            # The request in flight will never be answered (wrk: EOF before "message done").
            self.fail_read()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        worker = self.worker
        worker.open.discard(self)
        if exc is not None and not self.error_counted and not worker.stopping:
            if isinstance(exc, BrokenPipeError):
                self.result.write_errors += 1
            else:
                self.result.read_errors += 1
        if not self.closed.done():  # cancelled when the run stops
            self.closed.set_result(None)

    def fail_read(self) -> None:
        if not self.error_counted and not self.worker.stopping:
            self.error_counted = True
            self.result.read_errors += 1
        self.transport.abort()
