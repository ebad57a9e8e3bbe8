"""The core loop: one of wrk's threads on the running event loop, and its connections.

Call chain, in execution order (everything a request goes through is in this file; the process
around it is ``_process``):

    run_thread(spec, send, should_stop)               one per wrk thread, all on one loop;
      LoadThread.run()                                also the in-process mode: a test awaits
                                                      it on its own loop, no process
        one LoadThread.keep_connected() task per connection slot (at a constant rate, each
        waits until just before its first send time: _pacing.ConstantRate):
          loop.create_connection(Connection)          failure -> connect error, retry
          Connection.connection_made                  send the first request
          Connection.data_received -> feed            httptools (_http11.py: a Connection is
                                                      its own ResponseParser)
            Connection.on_response                    time, count (a status but 200 by its
                                                      code), record; then the next
                                                      request: at once, the static bytes (the
                                                      fast path), else after_response(): the
                                                      source's hook, the pacer's wait, close
            Connection.on_paced_response              at a constant rate instead: latency
                                                      from the intended and the actual send
          Connection.send_next -> send                the schedule's next time: wait, or send
          Connection.eof_received / connection_lost   read/write error; the slot reconnects
        LoadThread.check_time                         on a response, or the loop's timer when
          LoadThread.begin_measuring                  none comes: the end of --warmup,
          LoadThread.tick every 100 ms                Req/Sec sample (wrk's rule),
            LoadThread.send_progress every second     the second's latencies, status codes
                                                      (but 200's) and open connections to the
                                                      parent; the stop request
          LoadThread.stop at the deadline             note requests in flight, abort them all
      -> ThreadResult                                 counters, exact latency counts, samples

A thread is one of wrk's threads: a group of connections with its own counters and its own
100 ms Req/Sec sampler. A worker process (``_process``) hosts one or more on one event loop.

State: each LoadThread owns its connections and counters; the process owns its loop and the one
latency count its threads share (``ProcessLatencies``); nothing is shared with other processes
but the start and stop events and the messages sent (_messages.py).
Failures during the run are counters, not exceptions (as wrk counts them: src/wrk.c,
``thread->errors``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from time import perf_counter_ns
from typing import cast

from pyload._counters import ProcessLatencies, ThreadResult, ThreadStats
from pyload._engine_http2 import Http2Connection, Http2Requests
from pyload._http11 import FullResponseParser, ResponseError, ResponseParser, parser_class
from pyload._messages import HookFailed, ProcessMessage, Progress
from pyload._net import client_tls_context
from pyload._pacing import Schedule
from pyload._plan import ThreadSpec
from pyload.errors import HookError

__all__ = ["LoadThread", "rate_sample", "run_thread"]

TICK_NS = 100_000_000  # the Req/Sec sampling interval: wrk's RECORD_INTERVAL_MS
TICKS_PER_PROGRESS = 10  # a Progress message every 10 samples: every second
CONNECT_RETRY_DELAY_S = 0.01  # after a failed connect; wrk abandons the slot instead
UNLIMITED = 2**62  # -n during --warmup: no limit until the measurement begins


def rate_sample(done: int, elapsed_ms: int) -> int | None:
    """wrk's Req/Sec sample (wrk.c record_rate()): requests per second over the interval, or
    None when no request completed or no whole millisecond passed (the interval then grows
    into the next one)."""
    if not done or not elapsed_ms:
        return None
    return int(done / elapsed_ms * 1000)


async def run_thread(
    spec: ThreadSpec,
    send: Callable[[ProcessMessage], None],
    should_stop: Callable[[], bool],
    latencies: ProcessLatencies | None = None,
) -> ThreadResult:
    """Run one worker's load on the running loop until its deadline or ``should_stop()``.

    ``send`` receives a Progress message every second; ``latencies``: the count and the start
    shared with the process's other threads (else its own, from now). This is the whole
    worker but the process around it: tests await it on their own loop (the in-process mode).
    """
    loop = asyncio.get_running_loop()
    result = await LoadThread(spec, loop, send, should_stop, latencies).run()
    result.script_values = spec.requests.finish()  # -s: the thread's globals, for done()
    return result


class LoadThread:
    """One worker's run: its connections, counters, sampler and deadline."""

    def __init__(
        self,
        spec: ThreadSpec,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[ProcessMessage], None],
        should_stop: Callable[[], bool],
        latencies: ProcessLatencies | None = None,
    ) -> None:
        self.spec = spec
        self.loop = loop
        self.send = send
        self.should_stop = should_stop
        self.stats = ThreadStats(
            index=spec.index, connections=spec.connections, process=spec.process
        )
        self.result = ThreadResult(self.stats)
        self.connection_class = connection_class(
            parser_class(spec.config.method, spec.requests.wants_responses)
        )
        self.open: set[Connection | Http2Connection] = set()
        self.schedules: list[Schedule] = []  # the slots' schedules (constant rate only)
        # The latencies recorded since the last Progress, in one dict for the process's threads:
        # from the intended send times at a constant rate, else as measured. Each second they
        # go to the parent and are added to ``recorded``, the run's totals of the same.
        self.latencies = ProcessLatencies(perf_counter_ns()) if latencies is None else latencies
        self.interval_counts = self.latencies.counts
        # The responses since the last Progress by status code, every code but 200 (a rare
        # branch of the hot path; 200's count is the rest): each second to the parent too,
        # and added to the run's ``result.status_counts``.
        self.interval_statuses: dict[int, int] = {}
        self.open_at_stop = 0  # connections open when the load stopped (the last Progress)
        self.recorded = (
            self.result.latency_counts
            if spec.pacing.post_run_correction
            else self.result.intended_counts
        )
        self.never_connected = spec.connections
        self.stopping = False
        # -n: how many requests this thread may still send, and how many it sent that are not
        # answered yet (None: no limit, and no cost: the fast path stays as it is).
        self.quota = spec.quota
        self.unsent = (spec.quota or 0) if not spec.config.warmup else UNLIMITED  # see below
        self.unanswered = 0
        self.keepalive = spec.config.keepalive  # --no-keepalive: close after each response
        spec.requests.bind(self.end_by_script)  # -s: thread.stop(), or a hook that raised
        self.ssl_context: ssl.SSLContext | None = None
        if spec.config.target.tls:
            # As wrk: TLS with SNI, no certificate verification (HTTP/2: ALPN h2).
            self.ssl_context = client_tls_context(http2=spec.config.http2)
        # --http2: the connections are Http2Connection, a request slot per stream.
        self.streams = spec.config.streams if spec.config.http2 else 0
        self.http2 = Http2Requests(spec.requests, spec.config.target) if self.streams else None

    async def run(self) -> ThreadResult:
        loop, stats, spec = self.loop, self.stats, self.spec
        cpu_start = time.process_time()
        start_ns = self.start_ns = self.latencies.start_ns  # the process's threads': together
        self.end_ns = 0
        self.finished: asyncio.Future[None] = loop.create_future()
        self.sample_start_ns, self.sampled_requests, self.ticks = start_ns, 0, 0
        # --warmup: load from the start, measured from measure_start_ns on (begin_measuring).
        self.measure_start_ns = start_ns + round(spec.config.warmup * 1e9)
        self.warming = self.measure_start_ns > start_ns
        self.deadline_ns = self.measure_start_ns + round(spec.config.duration * 1e9)
        self.next_tick_ns = start_ns + TICK_NS
        self.due_ns = min(self.next_tick_ns, self.deadline_ns, self.measure_start_ns)
        self.timer = loop.call_later(TICK_NS / 1e9, self.on_timer)
        per_connection = max(1, self.streams)  # request slots: HTTP/2's streams, else one
        slots = []
        for i in range(spec.connections):
            first = (spec.first_slot + i) * per_connection
            schedules = [spec.pacing.schedule(first + j, start_ns) for j in range(per_connection)]
            slots.append(loop.create_task(self.keep_connected(schedules)))
            slots[-1].add_done_callback(self.slot_ended)
        try:
            await self.finished
        finally:
            self.stop(perf_counter_ns())  # a no-op after the deadline; not if cancelled
            self.timer.cancel()
            for slot in slots:
                slot.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
        stats.runtime_us = max(0, self.end_ns - self.measure_start_ns) // 1000
        stats.cpu_s = time.process_time() - cpu_start
        self.send_progress(self.end_ns, final=True)  # the part-second before the end
        return self.result

    def on_timer(self) -> None:
        """The loop's timer: keeps the worker's time when no response does (an idle or hanging
        server). Under load, responses check the time first (``Connection.on_response``):
        uvloop may run thousands of callbacks between two timer checks, so a timer alone
        would fire hundreds of milliseconds late at 2000 connections."""
        now = perf_counter_ns()
        self.check_time(now)
        if not self.stopping:
            wait_ns = max(self.due_ns - now, 1_000_000)
            self.timer = self.loop.call_later(wait_ns / 1e9, self.on_timer)

    def check_time(self, now: int) -> None:
        """End the warm-up, take the samples that are due, then stop at the deadline or on
        request."""
        if self.stopping:
            return
        if self.warming and now >= self.measure_start_ns:
            self.begin_measuring(now)
        if now >= self.next_tick_ns:
            self.tick(now)
            self.next_tick_ns = now + TICK_NS  # wrk re-arms its timer 100 ms after it fired
        if now >= self.deadline_ns:
            self.stop(now)
        if not self.stopping:  # once stopped, due_ns stays 0: see stop()
            self.due_ns = min(self.next_tick_ns, self.deadline_ns)
            if self.warming:
                self.due_ns = min(self.due_ns, self.measure_start_ns)

    def begin_measuring(self, now: int) -> None:
        """The end of --warmup: forget everything counted so far, measure from now. The
        containers are emptied in place: the connections hold references to them."""
        self.warming = False
        self.measure_start_ns = now
        self.stats.clear_counts()
        self.latencies.end_warm_up()
        self.interval_statuses = {}
        self.result.status_counts.clear()
        self.result.latency_counts.clear()
        self.result.intended_counts.clear()
        self.result.rate_samples.clear()
        self.sample_start_ns, self.sampled_requests, self.ticks = now, 0, 0
        self.next_tick_ns = now + TICK_NS
        if self.quota is not None:  # -n counts measured responses: those in flight, then new
            self.unsent = self.quota - self.unanswered  # (no limit during the warm-up)

    async def keep_connected(self, schedules: list[Schedule | None]) -> None:
        """One connection slot: connect, let the protocol run requests, reconnect when closed.

        The slot keeps its ``schedules`` (one per request slot: HTTP/2's streams, else one;
        None: closed loop) across reconnects.
        """
        spec, loop = self.spec, self.loop
        host, port = spec.address[0], spec.address[1]
        server_hostname = spec.config.target.host if self.ssl_context else None
        first = True
        schedule = schedules[0]  # the slot's earliest
        if schedule is not None:
            self.schedules += [s for s in schedules if s is not None]
            wait_s = (schedule.connect_at_ns() - perf_counter_ns()) / 1e9
            if wait_s > 0:  # connects spread like the requests (pacing.ConstantRate)
                await asyncio.sleep(wait_s)
        while not self.stopping:
            conn: Connection | Http2Connection = (
                Http2Connection(self, schedules)
                if self.streams
                else self.connection_class(self, schedule)
            )
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
                self.stats.connect_errors += 1
                await asyncio.sleep(CONNECT_RETRY_DELAY_S)
                continue
            if first:
                first = False
                self.never_connected -= 1
                if not self.never_connected:
                    self.stats.all_connected_us = (perf_counter_ns() - self.start_ns) // 1000
            await conn.closed

    def slot_ended(self, slot: asyncio.Task[None]) -> None:
        """Only a bug ends a slot before the stop: the thread ends with it (the process reports
        it), rather than load on a connection short with nothing said."""
        error = None if slot.cancelled() else slot.exception()
        if error is not None and not self.finished.done():
            self.finished.set_exception(error)

    def tick(self, now: int) -> None:
        """Every 100 ms: one Req/Sec sample, as wrk takes it; progress; obey a stop request."""
        stats = self.stats
        done = stats.requests - self.sampled_requests
        sample = rate_sample(done, (now - self.sample_start_ns) // 1_000_000)
        if sample is not None:
            self.result.rate_samples.append(sample)
            self.sampled_requests += done
            self.sample_start_ns = now
        self.ticks += 1
        # A tick at the deadline or on a stop request sends no Progress of its own: the final
        # one, sent once the thread has stopped, covers that second. Otherwise a thread whose
        # tick fell on its deadline sent one message more than the others (a zero-length last
        # second), and the run's seconds, merged message by message, went out of step.
        stopping = self.should_stop()
        due = self.ticks % TICKS_PER_PROGRESS == 0 and not self.warming
        if due and not stopping and now < self.deadline_ns:
            self.send_progress(now)
        if stopping:
            self.stop(now)

    def send_progress(self, now: int, final: bool = False) -> None:
        """Send the counters so far, the latencies and the status codes other than 200 counted
        since the last Progress (added to the run's totals here, once a second, not per
        response) and the connections open (the last one: when the load stopped)."""
        interval = self.latencies.take()  # the process's, since its last Progress
        recorded = self.recorded
        for value, n in interval.items():
            recorded[value] = recorded.get(value, 0) + n
        statuses, self.interval_statuses = self.interval_statuses, {}
        totals = self.result.status_counts
        for code, n in statuses.items():
            totals[code] = totals.get(code, 0) + n
        elapsed = max(0, now - self.measure_start_ns)
        open_now = self.open_at_stop if final else len(self.open)
        self.send(
            Progress(self.stats.index, elapsed, self.stats.counters(), interval, final,
                     statuses, open_now)
        )  # fmt: skip

    def end_by_script(self, error: HookError | None) -> None:
        """The -s script ends this thread's load (hooks.py): ``thread.stop()``, or a hook
        raised (``error``), which the parent hears of at once and ends the whole run for."""
        if error is not None:
            self.send(HookFailed(self.spec.process, str(error), error.traceback))
        self.stop(perf_counter_ns())

    def may_send(self) -> bool:
        """-n: whether this thread's share still has requests to send; with none to send and
        none unanswered, its load is over."""
        if self.unsent > 0:
            return True
        if self.unanswered <= 0:
            self.stop(perf_counter_ns())
        return False

    def count_sent(self, conn: Connection | Http2Connection, batch: int | None = None) -> None:
        """-n: ``conn`` sent a batch (one request, or a script's pipelined few; HTTP/2: the
        ``batch`` of streams it opened)."""
        if batch is None:
            batch = conn.source.pipelined
        self.unsent -= batch
        self.unanswered += batch
        conn.pending += batch

    def count_answered(self, conn: Connection | Http2Connection, now: int) -> bool:
        """-n: a response was counted; stop once the share is answered (True: stopped)."""
        conn.pending -= 1
        self.unanswered -= 1
        if self.warming:
            return False
        if self.stats.requests >= (self.quota or 0) or (self.unsent <= 0 and self.unanswered <= 0):
            self.stop(now)
            return True
        return False

    def count_lost(self, conn: Connection | Http2Connection, lost: int | None = None) -> None:
        """-n: ``conn`` closed with requests unanswered (or lost ``lost`` of them: HTTP/2's
        reset streams): they are done with (ab and hey count a failed request towards -n
        too); stop if nothing else is to come."""
        if lost is None:
            lost = conn.pending
        self.unanswered -= lost
        conn.pending -= lost
        if self.unsent <= 0 and self.unanswered <= 0:
            self.stop(perf_counter_ns())

    def stop(self, now: int) -> None:
        """End the run now: note the requests in flight and close every connection at once,
        so that nothing is counted after this moment, even in the loop's current batch."""
        if self.stopping:
            return
        self.stopping = True
        self.end_ns = now
        self.due_ns = 0  # every response still delivered in this batch comes here, and stops
        stats = self.stats
        timeout_ns = self.spec.config.timeout_us * 1000
        in_flight = [sent for c in self.open for sent in c.requests_in_flight()]
        stats.in_flight = len(in_flight)
        stats.in_flight_over_timeout = sum(1 for sent in in_flight if now - sent > timeout_ns)
        stats.unsent_at_end = sum(schedule.overdue(now) for schedule in self.schedules)
        self.open_at_stop = len(self.open)
        for conn in list(self.open):
            conn.transport.abort()
        if not self.finished.done():
            self.finished.set_result(None)


class Connection(ResponseParser, asyncio.Protocol):
    """One keep-alive connection: writes requests, times and counts each response. It is its
    own response parser (one object per connection, no call between the two); a response hook
    or HEAD requests take a subclass on their parser (``connection_class``)."""

    __slots__ = (
        "at_once", "closed", "error_counted", "intended_ns", "latency_counts", "pending",
        "request", "result", "schedule", "sent_ns", "source", "timeout_us", "timer", "transport",
        "worker",
    )  # fmt: skip

    def __init__(self, worker: LoadThread, schedule: Schedule | None) -> None:
        self.worker = worker
        self.result = worker.stats
        self.latency_counts = worker.result.latency_counts
        self.source = worker.spec.requests
        self.request = self.source.static  # None: the source builds each request
        self.schedule = schedule
        # wrk's common case, decided once: static bytes, closed loop, no response hook
        # (nor delay hook, -n or --no-keepalive).
        self.at_once = (
            self.request is not None
            and schedule is None
            and not self.source.wants_responses
            and not self.source.delays
            and worker.quota is None
            and worker.keepalive
        )
        self.timeout_us = worker.spec.config.timeout_us
        super().__init__(None if schedule is None else self.on_paced_response)
        self.closed: asyncio.Future[None] = worker.loop.create_future()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.timer: asyncio.TimerHandle | None = None  # set while the pacer makes it wait
        self.sent_ns = 0
        self.intended_ns = 0  # constant rate: when the request in flight was due
        self.error_counted = False
        self.pending = 0  # -n: requests sent on this connection and not answered yet

    def itself(self) -> Connection:
        """The protocol factory create_connection wants: this very connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.worker.stopping:
            # A connect that completes after the stop (the slots are cancelled a loop turn
            # later) sends nothing: its request would reach the server and never be counted.
            self.transport.abort()
            return
        self.worker.open.add(self)
        self.send_next(perf_counter_ns())

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
        worker = self.worker
        if now >= worker.due_ns:  # a sample is due, or the deadline: before this response
            worker.check_time(now)
            if worker.stopping:
                return  # after the deadline: not counted (the connection is closed)
        result = self.result
        result.requests += 1
        latency_us = (now - self.sent_ns) // 1000
        if latency_us > self.timeout_us:
            # wrk: a late response counts as a request and a timeout, not as a latency.
            result.timeouts += 1
        else:
            counts = worker.interval_counts
            counts[latency_us] = counts.get(latency_us, 0) + 1
        if status != 200:  # rare: counted by code (200's count is the rest of the requests)
            statuses = worker.interval_statuses
            statuses[status] = statuses.get(status, 0) + 1
            if status > 399:
                result.status_errors += 1
        if self.at_once and keep_alive:
            # The next request goes out at once, timed from now. wrk instead waits for the
            # next "writable" event and starts its clock then, so under a saturated client its
            # latencies leave out the time a connection waited to write (README, differences).
            self.sent_ns = now
            self.transport.write(self.request)  # type: ignore[arg-type]
        else:
            self.after_response(status, keep_alive, now)

    def on_paced_response(self, status: int, keep_alive: bool) -> None:
        """One completed response at a constant rate: its latency from the intended send time
        (recorded whatever it is) and from the actual send (wrk's rule: a timeout if late)."""
        now = perf_counter_ns()
        worker = self.worker
        if now >= worker.due_ns:
            worker.check_time(now)
            if worker.stopping:
                return
        result = self.result
        result.requests += 1
        intended_us = (now - self.intended_ns) // 1000
        counts = worker.interval_counts
        counts[intended_us] = counts.get(intended_us, 0) + 1
        latency_us = (now - self.sent_ns) // 1000
        if latency_us > self.timeout_us:
            result.timeouts += 1  # once, when the response comes (wrk2 recounts every 2 s)
        else:
            counts = self.latency_counts
            counts[latency_us] = counts.get(latency_us, 0) + 1
        if status != 200:
            statuses = worker.interval_statuses
            statuses[status] = statuses.get(status, 0) + 1
            if status > 399:
                result.status_errors += 1
        self.after_response(status, keep_alive, now)

    def after_response(self, status: int, keep_alive: bool, now: int) -> None:
        """Everything but the fast path: the response hook, the pacer, or closing."""
        if self.source.wants_responses:
            assert isinstance(self, FullResponseParser)
            self.source.response(status, self.last_headers, self.last_body)
        worker = self.worker
        if worker.stopping or (worker.quota is not None and worker.count_answered(self, now)):
            return  # the script (thread.stop(), a hook that raised) or -n ended the load
        if keep_alive and worker.keepalive:
            self.send_next(now)
        else:
            self.transport.close()  # the server's choice, or --no-keepalive's

    def send_next(self, now: int) -> None:
        """Send the next request now, or when this slot's schedule says (a request that is
        already due goes at once, and keeps its intended time)."""
        if self.source.delays:  # -s: the script's delay() before each request (hooks.py)
            self.timer = self.worker.loop.call_later(self.source.delay_s(), self.send)
            return
        if self.schedule is not None:
            self.intended_ns = self.schedule.next_send_ns(now)
            wait_ns = self.intended_ns - now
            if wait_ns > 0:
                self.timer = self.worker.loop.call_later(wait_ns / 1e9, self.send)
                return
        self.send()

    def send(self) -> None:
        self.timer = None
        worker = self.worker
        if worker.quota is not None and not worker.may_send():
            return  # -n: this thread's share is sent; the connection stays idle
        request = self.request
        if request is None:
            request = self.source.next_request()
        if worker.quota is not None:
            worker.count_sent(self)
        self.sent_ns = sent = perf_counter_ns()
        if sent < self.intended_ns:  # the loop's timer (1 ms steps) fired a little early
            self.intended_ns = sent
        self.transport.write(request)

    def eof_received(self) -> bool:
        if self.timer is not None or (self.worker.quota is not None and not self.pending):
            return False  # closed while waiting (pacer, delay(), -n's share sent): none in flight
        if not self.feed_eof():
            # The request in flight will never be answered (wrk: EOF before "message done").
            self.fail_read()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        worker = self.worker
        worker.open.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if exc is not None and not self.error_counted and not worker.stopping:
            if isinstance(exc, BrokenPipeError):
                self.result.write_errors += 1
            else:
                self.result.read_errors += 1
        if self.pending and not worker.stopping:
            worker.count_lost(self)  # -n: its unanswered requests are done with
        if not self.closed.done():  # cancelled when the run stops
            self.closed.set_result(None)

    def fail_read(self) -> None:
        if not self.error_counted and not self.worker.stopping:
            self.error_counted = True
            self.result.read_errors += 1
        self.transport.abort()

    def requests_in_flight(self) -> list[int]:
        """When the request in flight was sent, if one is (LoadThread.stop): not while the
        pacer or delay() makes it wait, nor once -n's share is sent and answered."""
        if self.timer is not None or (self.worker.quota is not None and not self.pending):
            return []
        return [self.sent_ns]


def connection_class(parser: type[ResponseParser]) -> type[Connection]:
    """The Connection that parses as ``parser`` (_http11.parser_class: a response hook's, or
    HEAD's; a class made once per thread); Connection itself for the plain ResponseParser."""
    if parser is ResponseParser:
        return Connection
    name = parser.__name__.replace("ResponseParser", "Connection")
    return cast(type[Connection], type(name, (Connection, parser), {"__slots__": ()}))
