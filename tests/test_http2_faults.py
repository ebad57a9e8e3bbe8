"""HTTP/2's faults: a misbehaving h2 server (tests/h2_fault_server.py), first checked on its own
with h2 as the client, then loaded by pyload's CLI (``--http2``), its counters against the
server's and the contract of docs/http2.md: a RST_STREAM or a GOAWAY that drops streams in
flight is a read error per stream; a connection closed or broken (garbage, an invalid frame)
with streams in flight, a read error per stream in flight; a late response, a request and a
timeout; streams never answered, ``in_flight_at_end``; bytes read, the bytes on the wire. Every
run ends within its bound, and no run breaks the protocol (the server's ``violations``)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    PingAckReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.settings import SettingCodes
from hpack import Encoder
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, PingFrame, SettingsFrame

from tests.h2_fault_server import (
    BAD_FRAME,
    BODY,
    GARBAGE,
    GOAWAY_AFTER,
    HTTP1_ANSWER,
    LOWER_AFTER,
    MAX_STREAMS,
    H2FaultServer,
    running,
)
from tests.helpers import pyload_cli

HANG_S = 30.0  # a deadline for a hang (a socket read, a server's close), never a measurement
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture
def h2_server(request: pytest.FixtureRequest) -> Iterator[H2FaultServer]:
    """A fresh server per test, its fault the test's parameter (``indirect``)."""
    with running(request.param) as server:
        yield server


# -- the server itself, spoken to by h2 as a client -------------------------------------------


class H2Client:
    """h2 as a client on a blocking socket: one connection, its events as they come."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.events: list[Event] = []
        self.received = 0  # bytes
        self.unsent: dict[int, bytes] = {}  # request bodies, the part the windows held back
        self.flush()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(self, path: str = "/", body: bytes = b"", write: bool = True) -> int:
        """Open a stream: a GET of ``path``, or a POST of ``body`` (as far as the windows
        allow now; ``send_rest`` sends the rest). ``write=False``: written by the next
        ``flush``, with the requests opened until then (the server reads them at once)."""
        stream_id = self.conn.get_next_available_stream_id()
        method = b"POST" if body else b"GET"
        headers = request_headers(method, path.encode())
        self.conn.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self.unsent[stream_id] = body
            self.send_rest(stream_id)
        if write:
            self.flush()
        return stream_id

    def requests(self, *paths: str) -> list[int]:
        """Open a stream per path, written at once."""
        streams = [self.request(path, write=False) for path in paths]
        self.flush()
        return streams

    def send_rest(self, stream_id: int) -> int:
        """Send what the windows allow of the stream's body not sent yet (its last frame ends
        the stream); how many bytes are left."""
        rest = self.unsent.pop(stream_id, b"")
        while rest:
            size = min(self.conn.local_flow_control_window(stream_id),
                       self.conn.max_outbound_frame_size, len(rest))  # fmt: skip
            if size <= 0:
                self.unsent[stream_id] = rest
                break
            self.conn.send_data(stream_id, rest[:size], end_stream=size == len(rest))
            rest = rest[size:]
        return len(rest)

    def read_until(self, done: Callable[[list[Event]], bool]) -> list[Event]:
        """Read and answer (SETTINGS acks) until ``done(all events so far)``; the events."""
        while not done(self.events):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"closed by the server; events so far: {self.events}")
            self.received += len(data)
            self.events += self.conn.receive_data(data)
            # The server may have closed after what it sent (a GOAWAY): that is still read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.flush()
        return self.events

    def ended(self, *stream_ids: int) -> Callable[[list[Event]], bool]:
        """A ``done`` for read_until: each of these streams ended or was reset."""

        def done(events: list[Event]) -> bool:
            over = {e.stream_id for e in events if isinstance(e, StreamEnded | StreamReset)}
            return over.issuperset(stream_ids)

        return done

    def read_frames_until(self, done: Callable[[list[Frame]], bool]) -> list[Frame]:
        """Read frames past h2 (which reads nothing after a GOAWAY) until ``done(frames)``;
        the frames, parsed by hyperframe (their types, flags and streams; no HPACK)."""
        data = b""
        while not done(frames := frames_in(data)):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed by the server; frames so far: {frames}")
            data += chunk
        return frames

    def read_raw_until(self, done: Callable[[bytes], bool]) -> bytes:
        """Bytes as they come, past h2, until ``done(bytes so far)`` or the server closes."""
        data = b""
        while not done(data) and (chunk := self.sock.recv(65536)):
            data += chunk
        return data


def request_headers(method: bytes, path: bytes) -> list[tuple[bytes, bytes]]:
    return [(b":method", method), (b":path", path), (b":scheme", b"http"),
            (b":authority", b"127.0.0.1")]  # fmt: skip


def of(kind: type[Any], events: list[Event], stream_id: int | None = None) -> list[Any]:
    found = [e for e in events if isinstance(e, kind)]
    return found if stream_id is None else [e for e in found if e.stream_id == stream_id]


def more_than(count: int, kind: type[Event]) -> Callable[[list[Event]], bool]:
    """A ``done`` for read_until: more than ``count`` events of that kind."""
    return lambda events: len(of(kind, events)) > count


def status_of(events: list[Event], stream_id: int) -> bytes:
    (response,) = of(ResponseReceived, events, stream_id)
    return dict(response.headers)[b":status"]


def body_of(events: list[Event], stream_id: int) -> bytes:
    return b"".join(e.data for e in of(DataReceived, events, stream_id))


def frames_in(data: bytes) -> list[Frame]:
    """The whole frames in ``data``, parsed by hyperframe (types, flags, streams; no HPACK)."""
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        if len(data) < 9 + length:
            break
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


def closed(server: H2FaultServer) -> H2FaultServer:
    """``server`` once it has seen every connection end (its counts final)."""
    assert server.wait_all_closed(HANG_S), "a connection still open on the server"
    return server


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
def test_ok_answers_concurrent_streams_and_counts_what_it_sent(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        one, other, third = client.requests("/", "/status/503", "/")
        events = client.read_until(client.ended(one, other, third))
        received = client.received
    assert [status_of(events, s) for s in (one, other, third)] == [b"200", b"503", b"200"]
    assert body_of(events, one) == body_of(events, other) == BODY
    counts = closed(h2_server).counts
    assert (counts.connections, counts.streams, counts.requests, counts.responses) == (1, 3, 3, 3)
    assert counts.max_concurrent == [3]  # the three came in one read, answered after it
    assert counts.bytes_sent == [received]  # what the client read, byte for byte
    assert counts.violations == []


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
def test_slow_paths_are_answered_that_late(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        started = time.monotonic()
        slow = client.request("/slow/200")
        events = client.read_until(client.ended(slow))
        waited = time.monotonic() - started
    assert status_of(events, slow) == b"200" and waited >= 0.2
    assert closed(h2_server).counts.violations == []


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
def test_a_request_body_is_read_whole_with_its_credit_returned(h2_server: H2FaultServer):
    body = b"x" * 100_000  # past the connection's first 65,535 bytes
    with H2Client(h2_server.port) as client:
        client.read_until(lambda events: bool(of(RemoteSettingsChanged, events)))
        stream = client.request("/", body=body)
        assert client.unsent[stream]
        while client.send_rest(stream):
            client.flush()
            client.read_until(more_than(len(of(WindowUpdated, client.events)), WindowUpdated))
        client.flush()
        events = client.read_until(client.ended(stream))
    assert status_of(events, stream) == b"200"
    counts = closed(h2_server).counts
    assert (counts.requests, counts.responses, counts.violations) == (1, 1, [])
    assert counts.body_bytes == len(body)


@pytest.mark.parametrize("h2_server", ["max-streams"], indirect=True)
def test_max_streams_says_its_limit_and_counts_a_client_past_it(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        events = client.read_until(lambda events: bool(of(RemoteSettingsChanged, events)))
        (settings,) = of(RemoteSettingsChanged, events)
        limit = settings.changed_settings[SettingCodes.MAX_CONCURRENT_STREAMS].new_value
        assert limit == MAX_STREAMS
    with H2Client(h2_server.port) as client:  # opens one more before reading the SETTINGS
        client.requests(*["/"] * (MAX_STREAMS + 1))
        events = client.read_until(lambda events: bool(of(ConnectionTerminated, events)))
        assert of(ConnectionTerminated, events)[0].error_code == ErrorCodes.PROTOCOL_ERROR
    counts = closed(h2_server).counts
    assert len(counts.violations) == 1 and "TooManyStreamsError" in counts.violations[0]


@pytest.mark.parametrize("h2_server", ["settings"], indirect=True)
def test_settings_lowers_the_limit_to_one_after_lower_after_responses(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        streams = client.requests(*["/"] * LOWER_AFTER)

        def lowered(events: list[Event]) -> bool:
            return any(
                SettingCodes.MAX_CONCURRENT_STREAMS in e.changed_settings
                and e.changed_settings[SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 1
                for e in of(RemoteSettingsChanged, events)
            )

        client.read_until(lambda events: client.ended(*streams)(events) and lowered(events))
        after = client.request()  # one at a time from now on: the acknowledgement went first
        events = client.read_until(client.ended(after))
    assert status_of(events, after) == b"200"
    counts = closed(h2_server).counts
    assert (counts.lowered, counts.max_after_lowering, counts.responses) == (1, 1, LOWER_AFTER + 1)
    assert counts.max_concurrent == [LOWER_AFTER] and counts.violations == []


@pytest.mark.parametrize("h2_server", ["rst"], indirect=True)
def test_rst_resets_every_second_stream_after_half_its_body(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        streams = client.requests("/", "/", "/", "/")  # 1, 3, 5, 7
        events = client.read_until(client.ended(*streams))
    answered, reset = streams[0::2], streams[1::2]
    assert [body_of(events, s) for s in answered] == [BODY, BODY]
    assert [body_of(events, s) for s in reset] == [BODY[:6], BODY[:6]]
    assert [e.error_code for e in of(StreamReset, events)] == [ErrorCodes.INTERNAL_ERROR] * 2
    assert {e.stream_id for e in of(StreamReset, events)} == set(reset)
    counts = closed(h2_server).counts
    assert (counts.resets, counts.responses, counts.violations) == (2, 2, [])


@pytest.mark.parametrize("h2_server", ["goaway"], indirect=True)
@pytest.mark.parametrize("in_flight", [1, 3])
def test_goaway_after_n_responses_drops_the_streams_above_its_last_id(
    h2_server: H2FaultServer, in_flight: int
):
    """With several streams in flight, the lowest is kept (answered after the GOAWAY) and the
    others dropped; with one, it is dropped (the last stream id is below it). A stream opened
    after the GOAWAY is dropped too."""
    with H2Client(h2_server.port) as client:
        for _ in range(GOAWAY_AFTER):
            stream = client.request()
            client.read_until(client.ended(stream))
        streams = client.requests(*["/"] * in_flight)
        kept = streams[:1] if in_flight > 1 else []

        def over(frames: list[Frame]) -> bool:
            ended = {f.stream_id for f in frames if "END_STREAM" in f.flags}
            return any(isinstance(f, GoAwayFrame) for f in frames) and ended.issuperset(kept)

        frames = client.read_frames_until(over)  # past h2, which reads nothing after a GOAWAY
        late = streams[-1] + 2
        block = Encoder().encode(request_headers(b"GET", b"/"))
        ping = PingFrame(0, b"8 bytes!")
        client.sock.sendall(
            HeadersFrame(late, block, flags=["END_HEADERS", "END_STREAM"]).serialize()
            + ping.serialize()
        )  # the PING's answer comes once the server has read the HEADERS
        pong = client.read_frames_until(lambda got: any(isinstance(f, PingFrame) for f in got))
    (goaway,) = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaway.error_code == ErrorCodes.NO_ERROR
    assert goaway.last_stream_id == (streams[0] if kept else streams[0] - 2)
    answered = {f.stream_id for f in frames + pong if isinstance(f, HeadersFrame)}
    assert answered == set(kept)  # no answer to a stream above the last id
    counts = closed(h2_server).counts
    assert (counts.goaways, counts.dropped) == (1, in_flight - len(kept) + 1)
    assert counts.responses == GOAWAY_AFTER + len(kept) and counts.violations == []


@pytest.mark.parametrize("h2_server", ["window"], indirect=True)
def test_window_reads_what_came_before_its_settings_and_nothing_after(h2_server: H2FaultServer):
    """A body sent at once, within the initial 65,535 bytes, is read and answered (RFC 9113,
    6.9.2); once the SETTINGS of window 0 is read, no body can go, and no credit ever comes."""
    early_body = b"x" * 20_000
    with H2Client(h2_server.port) as client:
        early = client.request("/", body=early_body)  # before the server's SETTINGS are read

        def zero_window(events: list[Event]) -> bool:
            return any(
                e.changed_settings[SettingCodes.INITIAL_WINDOW_SIZE].new_value == 0
                for e in of(RemoteSettingsChanged, events)
                if SettingCodes.INITIAL_WINDOW_SIZE in e.changed_settings
            )

        client.read_until(lambda events: zero_window(events) and client.ended(early)(events))
        late = client.request("/", body=b"x")
        assert client.conn.local_flow_control_window(late) == 0
        get = client.request("/")
        events = client.read_until(client.ended(get))
    assert status_of(events, early) == status_of(events, get) == b"200"
    assert of(WindowUpdated, events) == [] and of(ResponseReceived, events, late) == []
    counts = closed(h2_server).counts
    assert (counts.streams, counts.requests, counts.responses, counts.violations) == (3, 2, 2, [])


@pytest.mark.parametrize("h2_server", ["stingy"], indirect=True)
def test_stingy_never_returns_credit(h2_server: H2FaultServer):
    body = b"x" * 20_000  # three fit in the connection's 65,535 bytes, the fourth does not
    with H2Client(h2_server.port) as client:
        client.read_until(lambda events: bool(of(RemoteSettingsChanged, events)))
        streams = [client.request("/", body=body, write=False) for _ in range(4)]
        client.flush()
        assert client.conn.outbound_flow_control_window == 0
        events = client.read_until(client.ended(*streams[:3]))
    assert of(WindowUpdated, events) == [] and of(ResponseReceived, events, streams[3]) == []
    counts = closed(h2_server).counts
    assert (counts.streams, counts.requests, counts.responses, counts.violations) == (4, 3, 3, [])


@pytest.mark.parametrize("h2_server", ["garbage", "bad-frame", "close"], indirect=True)
def test_breaking_faults_break_the_connection_at_its_first_request(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        client.requests("/", "/")
        ending = {"garbage": GARBAGE, "bad-frame": BAD_FRAME, "close": b""}[h2_server.fault]
        data = client.read_raw_until(lambda data: bool(ending) and data.endswith(ending))
    assert data.endswith(ending)  # for close: the server closed
    frames = frames_in(data[: len(data) - len(ending)])
    assert [type(f) for f in frames] == [SettingsFrame, SettingsFrame]  # its own, the ack
    counts = closed(h2_server).counts
    assert (counts.broken, counts.in_flight_at_break, counts.responses) == (1, 2, 0)
    assert counts.violations == []


@pytest.mark.parametrize("h2_server", ["silence"], indirect=True)
def test_silence_answers_pings_and_no_stream(h2_server: H2FaultServer):
    with H2Client(h2_server.port) as client:
        client.requests("/", "/")
        client.conn.ping(b"12345678")
        client.flush()
        events = client.read_until(lambda events: bool(of(PingAckReceived, events)))
    assert of(ResponseReceived, events) == []
    counts = closed(h2_server).counts
    assert (counts.streams, counts.requests, counts.responses, counts.violations) == (2, 2, 0, [])


@pytest.mark.parametrize("h2_server", ["http1"], indirect=True)
def test_http1_answers_the_preface_as_an_http11_server_would(h2_server: H2FaultServer):
    with socket.create_connection(("127.0.0.1", h2_server.port), timeout=HANG_S) as sock:
        sock.sendall(PREFACE)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer == HTTP1_ANSWER
    assert closed(h2_server).counts.bytes_sent == [len(HTTP1_ANSWER)]


# -- pyload --http2 against each fault, through the CLI ----------------------------------------

#: pyload's connections before the load, neither opening a stream: wrk's connect probe, and the
#: HTTP/2 probe reading the server's SETTINGS (pyload/_net.py, probe_connect and probe_http2).
PROBES = 2
CONNECTIONS = 2
#: What pyload's process may take beyond -d to start and exit: a bound for a hang on a busy
#: 2-core machine, never a measurement (tests/test_faults.py allows 3 s).
EXIT_S = 5.0
#: An upper bound of one response's bytes on the wire: HEADERS (9 + a block of about 20) and
#: DATA (9 + 13).
RESPONSE_BYTES = 64


def load(server: H2FaultServer, *args: str, path: str = "", duration: int = 1) -> dict[str, Any]:
    """``pyload --http2 -t1 -c2 -dN ARGS --json - URL`` on ``server``: its JSON, the run checked
    to end on time and to break no rule of the protocol, and the server's counts made final."""
    started = time.monotonic()
    done = pyload_cli("--http2", "-t1", f"-c{CONNECTIONS}", f"-d{duration}", *args,
                      "--json", "-", server.url + path.lstrip("/"))  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert data["protocol"] == "HTTP/2" and data["config"]["http2"] is True
    assert duration * 1e6 <= data["runtime_us"] < duration * 1e6 + 100_000
    assert wall < duration + EXIT_S, f"{wall:.1f} s: hung"
    counts = closed(server).counts
    assert counts.violations == []
    assert counts.max_concurrent[:PROBES] == [0] * PROBES  # the probes open no stream
    return data


def in_flight(data: dict[str, Any]) -> int:
    return int(data["in_flight_at_end"])


def assert_answered(data: dict[str, Any], responses: int) -> None:
    """Every response pyload counted, the server wrote; those it did not count were in
    flight at the end."""
    assert data["requests"] <= responses <= data["requests"] + in_flight(data)


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
@pytest.mark.parametrize("streams", [1, 10])
def test_streams_m_are_m_concurrent_streams_per_connection(h2_server: H2FaultServer, streams: int):
    data = load(h2_server, "--streams", str(streams))
    counts = h2_server.counts
    assert counts.max_concurrent[PROBES:] == [streams] * CONNECTIONS  # and no reconnect
    assert data["config"]["streams"] == streams
    assert data["errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    # Every slot has a stream in flight at the end, but for one case: a stop that falls on a
    # response (its time check finds the deadline passed) while the same read already ended
    # k other streams of that connection, whose slots opened new ones, not yet written (a
    # read's new streams go out together as it ends): the server never saw those, so they
    # are not in flight (assert_answered holds either way). k < streams.
    assert data["requests"] > 100
    assert CONNECTIONS * streams - (streams - 1) <= in_flight(data) <= CONNECTIONS * streams
    assert_answered(data, counts.responses)
    unread = sum(counts.bytes_sent[PROBES:]) - data["bytes_read"]  # the bytes on the wire
    assert 0 <= unread <= in_flight(data) * RESPONSE_BYTES


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
def test_error_statuses_are_non_2xx(h2_server: H2FaultServer):
    data = load(h2_server, "--streams", "2", path="/status/503")
    assert data["requests"] > 100 and data["errors"]["status"] == data["requests"]
    assert data["status_codes"] == {"503": data["requests"]}
    assert_answered(data, h2_server.counts.responses)


@pytest.mark.parametrize("h2_server", ["ok"], indirect=True)
def test_a_response_later_than_the_timeout_is_a_request_and_a_timeout(h2_server: H2FaultServer):
    """Answers 1.2 s after each request, -T1, -d2: the first stream of each slot is answered
    late, the second is in flight at the end."""
    data = load(h2_server, "--streams", "2", "-T1", path="/slow/1200", duration=2)
    slots = CONNECTIONS * 2
    assert data["requests"] == data["errors"]["timeout"] == slots
    assert in_flight(data) == slots
    assert data["errors"]["read"] == 0 and h2_server.counts.responses == slots


@pytest.mark.parametrize("h2_server", ["max-streams"], indirect=True)
def test_streams_above_the_servers_limit_are_capped_and_said_once(h2_server: H2FaultServer):
    started = time.monotonic()
    done = pyload_cli("--http2", "-t1", f"-c{CONNECTIONS}", "-d1", "--streams", "10",
                      "--json", "-", h2_server.url)  # fmt: skip
    assert done.returncode == 0 and time.monotonic() - started < 1 + EXIT_S, done.stderr
    line = (f"pyload: --streams 10 capped to {MAX_STREAMS}, the server's"
            " SETTINGS_MAX_CONCURRENT_STREAMS\n")  # fmt: skip
    assert done.stderr.count("capped") == 1 and line in done.stderr
    data = json.loads(done.stdout)
    assert data["config"]["streams"] == MAX_STREAMS
    counts = closed(h2_server).counts
    assert counts.max_concurrent[PROBES:] == [MAX_STREAMS] * CONNECTIONS
    assert counts.violations == [] and sum(data["errors"].values()) == 0


@pytest.mark.parametrize("h2_server", ["settings"], indirect=True)
def test_a_settings_frame_lowering_concurrency_is_honoured(h2_server: H2FaultServer):
    data = load(h2_server, "--streams", "10")
    counts = h2_server.counts
    assert counts.max_concurrent[PROBES:] == [10] * CONNECTIONS  # before it
    assert counts.lowered == CONNECTIONS and counts.max_after_lowering == 1  # after it
    assert sum(data["errors"].values()) == 0
    assert data["requests"] > 10 * CONNECTIONS * LOWER_AFTER  # the connections went on
    assert_answered(data, counts.responses)
    assert counts.connections == PROBES + CONNECTIONS


@pytest.mark.parametrize("h2_server", ["rst"], indirect=True)
def test_each_stream_reset_is_a_read_error_and_the_connection_goes_on(h2_server: H2FaultServer):
    data = load(h2_server, "--streams", "4")
    counts = h2_server.counts
    resets, read = counts.resets, data["errors"]["read"]
    assert read > 100 and resets - in_flight(data) <= read <= resets
    assert_answered(data, counts.responses)
    assert counts.connections == PROBES + CONNECTIONS  # a reset stream is not a reconnect
    unread = sum(counts.bytes_sent[PROBES:]) - data["bytes_read"]
    assert 0 <= unread <= in_flight(data) * RESPONSE_BYTES


@pytest.mark.parametrize("h2_server", ["goaway"], indirect=True)
@pytest.mark.parametrize("streams", [1, 4])
def test_streams_a_goaway_drops_are_read_errors_then_a_reconnect(
    h2_server: H2FaultServer, streams: int
):
    """Each stream above the GOAWAY's last id is a read error; the kept one is answered; the
    connection closes once it has, and is opened again."""
    data = load(h2_server, "--streams", str(streams))
    counts = h2_server.counts
    dropped, read = counts.dropped, data["errors"]["read"]
    assert counts.goaways > 10 and dropped >= counts.goaways
    why = f"{read} read errors, {dropped} streams dropped, {in_flight(data)} in flight at the end"
    assert dropped - in_flight(data) <= read <= dropped, why  # each one the server dropped
    assert_answered(data, counts.responses)
    assert PROBES + counts.goaways <= counts.connections <= PROBES + CONNECTIONS + counts.goaways


@pytest.mark.parametrize("h2_server", ["garbage", "bad-frame", "close"], indirect=True)
@pytest.mark.parametrize("streams", [1, 3])
def test_a_broken_connection_is_a_read_error_per_stream_in_flight(
    h2_server: H2FaultServer, streams: int
):
    data = load(h2_server, "--streams", str(streams))
    counts = h2_server.counts
    broken, read = counts.in_flight_at_break, data["errors"]["read"]
    assert counts.broken > 10 and broken == counts.broken * streams
    assert broken - in_flight(data) <= read <= broken
    assert data["requests"] == 0 and counts.responses == 0
    assert PROBES + counts.broken <= counts.connections <= PROBES + CONNECTIONS + counts.broken
    assert data["bytes_read"] <= sum(counts.bytes_sent[PROBES:])


@pytest.mark.parametrize("h2_server", ["silence"], indirect=True)
def test_a_server_that_never_answers_leaves_every_stream_in_flight(h2_server: H2FaultServer):
    """-T1 -d2: no stream is answered, none counted as a timeout or an error (as over HTTP/1.1),
    all in flight at the end and older than the timeout; the bytes read are the server's
    SETTINGS and its acknowledgement, to the byte."""
    data = load(h2_server, "--streams", "3", "-T1", duration=2)
    counts = h2_server.counts
    assert data["requests"] == 0 and sum(data["errors"].values()) == 0
    assert in_flight(data) == data["in_flight_over_timeout_at_end"] == CONNECTIONS * 3
    assert counts.streams == CONNECTIONS * 3 and counts.client_resets == 0
    assert data["bytes_read"] == sum(counts.bytes_sent[PROBES:]) > 0


@pytest.mark.parametrize("h2_server", ["window"], indirect=True)
@pytest.mark.parametrize(("body_size", "answered"), [(20_000, 1), (100_000, 0)])
def test_a_window_that_never_opens_leaves_the_bodies_in_flight(
    h2_server: H2FaultServer, body_size: int, answered: int
):
    """Window 0 from the server's second SETTINGS frame: each stream's first body, written with
    the request before the SETTINGS came, is sent whole if it fits in the initial 65,535 bytes
    (both streams' 20 KB do) and answered; no byte of a later one can go. Nothing is an error."""
    data = load(h2_server, "--streams", "2", "-m", "POST", "--body", "x" * body_size)
    counts = h2_server.counts
    slots = CONNECTIONS * 2
    assert (data["requests"], in_flight(data)) == (answered * slots, slots)
    assert sum(data["errors"].values()) == 0
    assert (counts.requests, counts.streams) == (answered * slots, slots + answered * slots)


@pytest.mark.parametrize("h2_server", ["stingy"], indirect=True)
def test_a_server_that_returns_no_credit_stops_the_bodies_at_its_window(h2_server: H2FaultServer):
    """20 KB bodies, one stream per connection: three fit in the connection's 65,535 bytes."""
    data = load(h2_server, "-m", "POST", "--body", "x" * 20_000)
    assert (data["requests"], in_flight(data)) == (3 * CONNECTIONS, CONNECTIONS)
    assert sum(data["errors"].values()) == 0 and h2_server.counts.requests == 3 * CONNECTIONS


@pytest.mark.parametrize("h2_server", ["http1"], indirect=True)
def test_an_http11_server_is_refused_before_the_load_in_one_line(h2_server: H2FaultServer):
    started = time.monotonic()
    done = pyload_cli("--http2", "-t1", f"-c{CONNECTIONS}", "-d1", h2_server.url)
    assert time.monotonic() - started < EXIT_S
    assert done.returncode == 1 and done.stdout == ""
    prefix = f"unable to connect to 127.0.0.1:{h2_server.port} not an HTTP/2 server: "
    assert done.stderr.startswith(prefix) and done.stderr.count("\n") == 1, done.stderr
    assert "HTTP/1.1" in done.stderr and "Traceback" not in done.stderr
    assert closed(h2_server).counts.connections == PROBES  # no load was started
