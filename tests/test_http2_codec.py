"""The HTTP/2 client codec on bytes made by the h2 library as a server, fed in every split; and
on a real socket against hypercorn serving h2c."""

from __future__ import annotations

import itertools
import re
import socket
import struct
import subprocess
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.nginx import BODY, LARGE_PATH, LARGE_SIZE
from pyload import _http2
from pyload._hpack import encode_request_block, requests_from_http11
from pyload._http2 import ClientConnection, ProtocolError, frame
from pyload.config import Target
from pyload.errors import UsageError
from tests.conftest import require_tool
from tests.procs import run, spawn

TARGET = Target.parse("http://127.0.0.1:8080/path?q=1")


class Recorder:
    """StreamEvents as a list."""

    def __init__(self) -> None:
        self.got: list[tuple[object, ...]] = []

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        self.got.append(("response", stream_id, status, body_size))

    def reset(self, stream_id: int, error_code: int) -> None:
        self.got.append(("reset", stream_id, error_code))

    def goaway(self, last_stream_id: int, error_code: int, dropped: list[int]) -> None:
        self.got.append(("goaway", last_stream_id, error_code, dropped))


class Server:
    """h2 as the server, sans-IO: what it receives, and the bytes it answers with."""

    def __init__(self) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.events: list[h2.events.Event] = []

    def receive(self, data: bytes) -> list[int]:
        """Read the client's bytes; return the ids of the requests among them."""
        events = self.conn.receive_data(data)
        self.events += events
        return [e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)]

    def respond(self, stream_id: int, status: int, body: bytes, pad: int | None = None) -> None:
        self.conn.send_headers(stream_id, [(":status", str(status)), ("server", "h2-test")])
        self.body(stream_id, body, end=True, pad=pad)

    def body(self, stream_id: int, body: bytes, end: bool, pad: int | None = None) -> None:
        size = self.conn.max_outbound_frame_size - (pad or 0) - 1
        for start in range(0, max(len(body), 1), size):
            last = end and start + size >= len(body)
            self.conn.send_data(stream_id, body[start : start + size], last, pad_length=pad)

    def out(self) -> bytes:
        return self.conn.data_to_send()


def opened(requests: int = 1, **windows: int) -> tuple[ClientConnection, Recorder, Server]:
    """A client that sent ``requests`` requests and read the server's SETTINGS."""
    rec = Recorder()
    client = ClientConnection(encode_request_block(TARGET), rec, **windows)
    for _ in range(requests):
        client.send_request()
    server = Server()
    assert server.receive(client.data_to_send()) == [2 * i + 1 for i in range(requests)]
    return client, rec, server


def split_points(stream: bytes) -> list[int]:
    """Every cut in the first 600 and the last 300 bytes (the frame heads of the streams
    below are there, and around each DATA frame's head), every 101st in between."""
    size = len(stream)
    return sorted(
        {*range(min(size, 600)), *range(max(0, size - 300), size + 1)} | {*range(0, size, 101)}
    )


def every_split(requests: int, stream: bytes) -> list[tuple[object, ...]]:
    """What a fresh client reports for ``stream``, checked to be the same for every split in
    two (``split_points``), and for splits in three on a coarser grid; the frames it sends back
    must be the same too."""
    results = []
    points = split_points(stream)
    coarse = points[:: max(1, len(points) // 25)]
    cuts = [(cut,) for cut in points] + [(a, b) for a in coarse for b in coarse if a < b]
    for cut in cuts:
        client, rec, _ = opened(requests)
        bounds = [0, *cut, len(stream)]
        for start, end in itertools.pairwise(bounds):
            client.feed(stream[start:end])
        results.append((rec.got, client.data_to_send()))
    assert all(result == results[0] for result in results)
    return results[0][0]


def test_the_request_block_is_the_request_and_valid_on_every_stream():
    headers = [("User-Agent", "t"), ("Host", "example.org"), ("Connection", "close"), ("X-A", "1")]
    block = encode_request_block(TARGET, headers, method="POST", path="/other")
    client = ClientConnection(block, Recorder())
    server = Server()
    for _ in range(3):
        client.send_request()
    assert server.receive(client.data_to_send()) == [1, 3, 5]
    requests = [e for e in server.events if isinstance(e, h2.events.RequestReceived)]
    expected = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"example.org"),
        (b":path", b"/other"),
        (b"user-agent", b"t"),
        (b"x-a", b"1"),
    ]
    assert [list(r.headers) for r in requests] == [expected] * 3
    assert all(r.stream_ended is not None for r in requests)
    # The client's SETTINGS: no dynamic table, no push; acknowledged by the server's reply.
    changed = next(e for e in server.events if isinstance(e, h2.events.RemoteSettingsChanged))
    assert changed.changed_settings[h2.settings.SettingCodes.HEADER_TABLE_SIZE].new_value == 0
    assert changed.changed_settings[h2.settings.SettingCodes.ENABLE_PUSH].new_value == 0


def test_concurrent_streams_every_split():
    """Three streams answered out of order: static and literal statuses, an interim 103,
    padding, trailers, a body over several DATA frames."""
    _, _, server = opened(3)
    server.conn.send_headers(5, [(":status", "103"), ("link", "</a>")])
    server.respond(3, 404, b"gone", pad=7)
    server.conn.send_headers(5, [(":status", "503")])
    server.body(5, b"y" * 20_000, end=False)
    server.conn.send_headers(5, [("x-trailer", "1")], end_stream=True)
    server.respond(1, 200, b"")
    stream = server.out()
    got = every_split(3, stream)
    assert got == [("response", 3, 404, 4), ("response", 5, 503, 20_000), ("response", 1, 200, 0)]


def test_a_goaway_drops_the_streams_above_its_last_id():
    _, _, server = opened(3)
    server.respond(1, 200, b"ok")
    server.conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=1)
    got = every_split(3, server.out())
    assert got == [("response", 1, 200, 2), ("goaway", 1, 0, [3, 5])]
    client2, rec2, server2 = opened(3)
    server2.conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=1)
    client2.feed(server2.out())
    assert rec2.got == [("goaway", 1, 0, [3, 5])]
    assert client2.slots == 0 and client2.in_flight == [1]
    with pytest.raises(ProtocolError):
        client2.send_request()


def test_a_rst_stream_mid_response_ends_that_stream_only():
    _, _, server = opened(2)
    server.conn.send_headers(1, [(":status", "200")])
    server.body(1, b"z" * 3000, end=False)
    server.conn.reset_stream(1, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
    server.respond(3, 200, b"fine")
    got = every_split(2, server.out())
    assert got == [("reset", 1, 2), ("response", 3, 200, 4)]


def test_a_settings_frame_lowering_concurrency_caps_the_slots_and_is_acknowledged():
    client, rec, server = opened(1)
    assert client.slots == _http2.UNLIMITED - 1
    server.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2})
    client.feed(server.out())
    assert client.max_concurrent_streams == 2
    assert client.slots == 1
    client.send_request()
    assert client.slots == 0
    with pytest.raises(ProtocolError):
        client.send_request()
    server.receive(client.data_to_send())
    acked = [e for e in server.events if isinstance(e, h2.events.SettingsAcknowledged)]
    assert len(acked) == 2  # the server's first SETTINGS and the lowering one
    assert client.settings_acked  # the server acknowledged the client's
    server.respond(1, 200, b"")
    client.feed(server.out())
    assert rec.got == [("response", 1, 200, 0)]
    assert client.slots == 1


def test_a_ping_is_answered_with_its_payload():
    client, _, server = opened(0)
    server.conn.ping(b"12345678")
    client.feed(server.out())
    server.receive(client.data_to_send())
    acks = [e for e in server.events if isinstance(e, h2.events.PingAckReceived)]
    assert [a.ping_data for a in acks] == [b"12345678"]


def test_flow_control_credit_is_returned_in_batches():
    """With the default 65,535-byte windows the server can send 1 MB only if the client returns
    credit: it does, in WINDOW_UPDATE frames far fewer than the DATA frames."""
    client, rec, server = opened(1, stream_window=65_535, connection_window=65_535)
    body = b"w" * 1_000_000
    server.conn.send_headers(1, [(":status", "200")])
    sent = data_frames = 0
    while sent < len(body):
        window = min(server.conn.local_flow_control_window(1), server.conn.max_outbound_frame_size)
        assert window > 0, "the client returned no credit: the server is stuck"
        while window > 0 and sent < len(body):
            chunk = body[sent : sent + window]
            sent += len(chunk)
            server.conn.send_data(1, chunk, end_stream=sent == len(body))
            data_frames += 1
            window = min(
                server.conn.local_flow_control_window(1), server.conn.max_outbound_frame_size
            )
        client.feed(server.out())
        server.receive(client.data_to_send())
    assert rec.got == [("response", 1, 200, 1_000_000)]
    updates = [e for e in server.events if isinstance(e, h2.events.WindowUpdated)]
    assert {e.stream_id for e in updates} == {0, 1}
    assert all(e.delta >= 65_535 // 2 for e in updates)  # half a window at a time, not per frame
    for stream_id in (0, 1):
        returned = sum(e.delta for e in updates if e.stream_id == stream_id)
        assert 1_000_000 - 65_535 < returned <= 1_000_000
        assert sum(e.stream_id == stream_id for e in updates) <= data_frames // 2


def test_a_cancelled_stream_is_reset_and_its_late_frames_skipped():
    client, rec, server = opened(2)
    client.feed(server.out())
    client.cancel(1)
    server.receive(client.data_to_send())
    assert any(isinstance(e, h2.events.StreamReset) for e in server.events)
    # h2 has closed stream 1; what a server had sent before reading the reset, built by hand:
    late = frame(_http2.HEADERS, _http2.END_HEADERS, 1, b"\x88")
    late += frame(_http2.DATA, _http2.END_STREAM, 1, b"late")
    server.respond(3, 200, b"x")
    client.feed(late + server.out())
    assert rec.got == [("response", 3, 200, 1)]


SETTINGS = frame(_http2.SETTINGS, 0, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an HTTP/2 server"),
        (frame(_http2.PING, 0, 0, b"12345678"), "not an HTTP/2 server"),
        (SETTINGS + frame(_http2.DATA, 0, 0, b"x"), "frame of"),
        (SETTINGS + struct.pack(">BHBBL", 1, 0, 0, 0, 0), "above the maximum"),
        (SETTINGS + frame(_http2.HEADERS, 4, 7, b"\x88"), "never opened"),
        (SETTINGS + frame(_http2.DATA, 0, 9, b"x"), "never opened"),
        (SETTINGS + frame(_http2.PUSH_PROMISE, 4, 1, b"\0\0\0\2\x88"), "PUSH_PROMISE"),
        (SETTINGS + frame(_http2.CONTINUATION, 4, 1, b"\x88"), "CONTINUATION"),
        (SETTINGS + frame(_http2.HEADERS, 4, 1, b"\xff\xff\xff\xff\xff"), "bad header block"),
        (SETTINGS + frame(_http2.HEADERS, 4, 1, b"\x08\x03abc"), "bad :status"),
        (SETTINGS + frame(_http2.HEADERS, 0, 1, b"\x88") + SETTINGS, "interrupted"),
        (SETTINGS + frame(_http2.SETTINGS, 0, 0, b"\0\5\0\0\0\1"), "MAX_FRAME_SIZE"),
        (SETTINGS + frame(_http2.SETTINGS, 0, 0, b"\0\5\0"), "bad SETTINGS"),
        (SETTINGS + frame(_http2.RST_STREAM, 0, 1, b"\0"), "bad RST_STREAM"),
        (SETTINGS + frame(_http2.GOAWAY, 0, 0, b"\0"), "bad GOAWAY"),
        (SETTINGS + frame(_http2.WINDOW_UPDATE, 0, 0, b"\0\0\0\0"), "WINDOW_UPDATE of 0"),
    ],
    ids=[
        "http1",
        "ping-first",
        "data-on-stream-0",
        "oversized",
        "headers-never-opened",
        "data-never-opened",
        "push",
        "stray-continuation",
        "bad-hpack",
        "bad-status",
        "interrupted-block",
        "bad-max-frame-size",
        "short-settings",
        "short-rst",
        "short-goaway",
        "zero-window-update",
    ],
)
def test_garbage_raises_protocol_error(data: bytes, message: str):
    client, rec, _ = opened(1)
    with pytest.raises(ProtocolError, match=message):
        for byte in range(len(data)):
            client.feed(data[byte : byte + 1])
    assert rec.got == []


def test_bad_requests_and_windows_are_refused_before_any_byte():
    with pytest.raises(UsageError, match="cannot send"):
        encode_request_block(TARGET, [("X-A", "\udc80\ud800")])
    with pytest.raises(UsageError, match="too large"):
        ClientConnection(encode_request_block(TARGET, [("X-A", "a" * 30_000)]), Recorder())
    for windows in ({"stream_window": 0}, {"connection_window": 1000}, {"stream_window": 2**31}):
        with pytest.raises(ValueError, match="window"):
            ClientConnection(encode_request_block(TARGET), Recorder(), **windows)


def test_a_status_outside_the_static_table_is_read_with_hpack():
    client, rec, server = opened(1)
    server.respond(1, 299, b"")
    client.feed(server.out())
    assert rec.got == [("response", 1, 299, 0)]


def exchange(address: tuple[str, int], paths: list[str], at_once: int) -> list[tuple[object, ...]]:
    """Send a request for each of ``paths`` on one connection to ``address``, ``at_once`` in
    flight, through the codec and a blocking socket; return (path, status, body size) by
    stream id, and check that the body bytes came in fewer bytes than the wire carried."""
    blocks = {
        p: encode_request_block(Target.parse(f"http://{address[0]}:{address[1]}{p}")) for p in paths
    }
    rec = Recorder()
    client = ClientConnection(blocks[paths[0]], rec)
    sent: dict[int, str] = {}
    queue = list(paths)
    wire = 0
    with socket.create_connection(address, timeout=30) as conn:
        while queue or client.open_streams:
            while queue and client.open_streams < at_once and client.slots:
                path = queue.pop(0)
                sent[client.send_request(blocks[path])] = path
            conn.sendall(client.data_to_send())
            data = conn.recv(65536)
            assert data, "the server closed the connection"
            wire += len(data)
            client.feed(data)
        conn.sendall(client.data_to_send())
    assert client.settings_acked
    assert all(event[0] == "response" for event in rec.got), rec.got
    assert wire > sum(int(event[3]) for event in rec.got)
    return sorted((event[1], sent[int(event[1])], event[2], event[3]) for event in rec.got)


def test_against_hypercorn_over_a_real_socket():
    """hypercorn serves h2c with prior knowledge on a socket this test bound; six requests on
    one connection, three at a time, each answered with its own status and size."""
    paths = ["/", "/status/404", "/bytes/70000", "/status/201", "/bytes/0", "/"]
    listener = socket.create_server(("127.0.0.1", 0))
    fd = listener.fileno()
    command = [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", "tests.h2_app:app"]
    with listener, spawn(command, pass_fds=(fd,)) as proc:
        got = exchange(listener.getsockname(), paths, at_once=3)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert got == [
        (1, "/", 200, 6),
        (3, "/status/404", 404, 6),
        (5, "/bytes/70000", 200, 70_000),
        (7, "/status/201", 201, 6),
        (9, "/bytes/0", 200, 0),
        (11, "/", 200, 6),
    ]


def test_against_nginx_h2c_over_a_real_socket():
    """nginx (benchmarks.nginx with http2=True: the selfbench's nginx, its port h2c only):
    ten requests on one connection, five at a time, its short answer and its 25 KB file."""
    require_tool("nginx")
    code = (
        "import sys\n"
        "from benchmarks.nginx import running_nginx\n"
        "with running_nginx(http2=True) as url:\n"
        "    print(url, flush=True)\n"
        "    sys.stdin.read()  # until the test closes stdin, or kills us\n"
    )
    paths = ["/", f"/{LARGE_PATH}"] * 5
    with spawn([sys.executable, "-c", code], stdin=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.communicate(timeout=30)
        got = exchange(("127.0.0.1", int(url.rstrip("/").rsplit(":", 1)[1])), paths, at_once=5)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    sizes = {"/": len(BODY), f"/{LARGE_PATH}": LARGE_SIZE}
    assert got == [(2 * i + 1, path, 200, sizes[path]) for i, path in enumerate(paths)]


def test_the_codec_benchmark_runs_and_prints_its_table():
    """``python -m benchmarks.h2codec``, as small as it goes: a row per candidate, each cell a
    time and its ratio to h2 (jh2's rows only where jh2 is installed)."""
    done = run([sys.executable, "-m", "benchmarks.h2codec", "--responses", "5", "--repeats", "1"],
               timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    names = [row[0].removeprefix("| ") for row in rows[1:]]
    assert {"h2", "pyload", "pyload+hpack"} <= set(names)
    for row in rows[1:]:
        for cell in row[1:]:
            match = re.fullmatch(r"([\d.]+) µs \(([\d.]+)x h2\)( \|)?", cell)
            assert match, cell
            assert float(match[1]) > 0 and float(match[2]) > 0
    assert "median of 1 runs of 5 responses" in done.stdout
    bad = run([sys.executable, "-m", "benchmarks.h2codec", "--repeats", "0"], timeout=60)
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def _valid_stream() -> bytes:
    """The server's bytes for three streams: statuses static and literal, padding, a 103,
    trailers, a PING and a SETTINGS change among them."""
    _, _, server = opened(3)
    server.conn.send_headers(5, [(":status", "103")])
    server.respond(3, 404, b"gone", pad=3)
    server.conn.ping(b"pingpong")
    server.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 7})
    server.conn.send_headers(5, [(":status", "503")])
    server.body(5, b"y" * 300, end=False)
    server.conn.send_headers(5, [("x-trailer", "1")], end_stream=True)
    server.respond(1, 201, b"created")
    return server.out()


VALID = _valid_stream()


def _outcome(stream: bytes, cuts: list[int]) -> tuple[object, ...]:
    client, rec, _ = opened(3)
    error = None
    try:
        for start, end in itertools.pairwise([0, *sorted(cuts), len(stream)]):
            client.feed(stream[start:end])
    except ProtocolError as exc:
        error = str(exc)
    return (repr(rec.got), error, client.data_to_send() if error is None else b"")


@settings(max_examples=300, deadline=None, database=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, len(VALID) + 8), max_size=6),
)
def test_mutated_frames_raise_protocol_error_or_nothing_the_same_in_any_split(
    edits: list[tuple[int, int, str]], cuts: list[int]
):
    """Bytes replaced, inserted or deleted anywhere in a valid stream: ``feed`` raises nothing
    but ProtocolError, and the outcome (streams reported, error, bytes to send) is the same
    whether the bytes come whole or in pieces."""
    stream = bytearray(VALID)
    for position, value, kind in edits:
        position = min(position, len(stream) - 1)
        if kind == "r":
            stream[position] = value
        elif kind == "i":
            stream.insert(position, value)
        elif len(stream) > 1:
            del stream[position]
    data = bytes(stream)
    cuts = [min(cut, len(data)) for cut in cuts]
    assert _outcome(data, cuts) == _outcome(data, [])


def test_the_valid_stream_of_the_fuzz_test():
    got, error, _ = _outcome(VALID, [])
    assert error is None
    assert got == repr(
        [("response", 3, 404, 4), ("response", 5, 503, 300), ("response", 1, 201, 7)]
    )


# -- request bodies, kept responses, requests from HTTP/1.1 bytes -------------------------------


def test_a_body_beyond_the_servers_window_waits_for_its_credit():
    """A 100 KB body against the server's initial 65,535-byte windows: the client sends what
    the windows allow in frames of at most 16 KB, then the rest as the server's WINDOW_UPDATEs
    arrive; the server receives the whole body, and the stream ends with it."""
    rec = Recorder()
    client = ClientConnection(encode_request_block(TARGET, method="PUT"), rec)
    server = Server()
    server.receive(client.data_to_send())
    client.feed(server.out())  # its SETTINGS
    body = bytes(range(256)) * 400  # 102,400 bytes
    stream_id = client.send_request(body=body)
    received = b""
    for _ in range(10):
        events = server.conn.receive_data(client.data_to_send())
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                received += event.data
                server.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
        frames = [e for e in events if isinstance(e, h2.events.StreamEnded)]
        if frames:
            break
        assert client.bodies_waiting == 1
        client.feed(server.out())  # the credit
    assert received == body
    assert client.bodies_waiting == 0
    server.respond(stream_id, 201, b"made")
    client.feed(server.out())
    assert rec.got == [("response", stream_id, 201, 4)]


def test_a_body_that_fits_is_sent_with_its_headers_and_a_lowered_initial_window_holds_it():
    """A server SETTINGS_INITIAL_WINDOW_SIZE of 0: no DATA until a WINDOW_UPDATE on the stream
    (the window that never opens, until it does)."""
    rec = Recorder()
    client = ClientConnection(encode_request_block(TARGET, method="POST"), rec)
    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    conn.local_settings = h2.settings.Settings(client=False, initial_values={4: 0})
    conn.initiate_connection()
    conn.receive_data(client.data_to_send())
    client.feed(conn.data_to_send())
    stream_id = client.send_request(body=b"hello")
    events = conn.receive_data(client.data_to_send())
    assert not [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert client.bodies_waiting == 1
    conn.increment_flow_control_window(5, stream_id)
    client.feed(conn.data_to_send())
    events = conn.receive_data(client.data_to_send())
    assert [e.data for e in events if isinstance(e, h2.events.DataReceived)] == [b"hello"]
    assert [e.stream_id for e in events if isinstance(e, h2.events.StreamEnded)] == [stream_id]


def test_kept_responses_give_the_headers_and_the_body_in_any_split():
    """keep_responses (a hook script's response()): every header but :status, and the body
    without its padding, whatever the split."""
    server = Server()
    got = []

    class Keeper(Recorder):
        def response(self, stream_id: int, status: int, body_size: int) -> None:
            got.append((stream_id, status, body_size, client.last_headers, client.last_body))

    for cut in range(0, 120, 7):
        client = ClientConnection(encode_request_block(TARGET), Keeper(), keep_responses=True)
        server = Server()
        server.receive(client.data_to_send())
        stream = server.out()
        client.send_request()
        server.receive(client.data_to_send())
        server.respond(1, 404, b"not here" * 10, pad=3)
        stream += server.out()
        client.feed(stream[:cut])
        client.feed(stream[cut:])
    assert len(got) == len(range(0, 120, 7))
    assert set(map(repr, got)) == {repr((1, 404, 80, [(b"server", b"h2-test")], b"not here" * 10))}


def test_requests_from_http11_bytes_are_the_same_requests():
    """A script's HTTP/1.1 bytes, two pipelined requests: methods, paths, headers (Host as
    :authority) and bodies, as h2 decodes them."""
    data = (
        b"POST /a?x=1 HTTP/1.1\r\nHost: example.org\r\nX-Test: 1\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: example.org\r\n\r\n"
    )
    pairs = requests_from_http11(data, TARGET)
    assert [body for _, body in pairs] == [b"abc", b""]
    decoded = [hpack_decode(block) for block, _ in pairs]
    assert decoded == [
        [(":method", "POST"), (":scheme", "http"), (":authority", "example.org"),
         (":path", "/a?x=1"), ("x-test", "1")],
        [(":method", "GET"), (":scheme", "http"), (":authority", "example.org"), (":path", "/b")],
    ]  # fmt: skip
    for bad in (b"GET / HTTP/1.1\r\nHost: x\r\n", b"not a request\r\n\r\n", b""):
        with pytest.raises(UsageError, match=r"HTTP/1\.1 request"):
            requests_from_http11(bad, TARGET)


def hpack_decode(block: bytes) -> list[tuple[str, str]]:
    return [(str(name), str(value)) for name, value in hpack.Decoder().decode(block)]
