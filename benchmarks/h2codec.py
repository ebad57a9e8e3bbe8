"""HTTP/2 client codecs compared: CPU per response of h2, jh2 and pyload's own framing.

    python -m benchmarks.h2codec            # a markdown table on stdout, about 15 s
    python -m benchmarks.h2codec --responses 50 --repeats 3     # a quick look

What is timed, per response, is what a load generator's hot path does on the client side: send a
request's HEADERS frame on a new stream, read the server's HEADERS (the status) and DATA frames
(their size, END_STREAM), and return flow-control credit. The server's bytes are real: made once,
before the timing, by the ``h2`` library acting as the server (sans-IO, in process), answering a
200 with a small body and one with a 25 KB body, with the headers hypercorn sends. Each candidate
reads the bytes made for the SETTINGS it sends (an HPACK dynamic table of 4096 bytes for h2 and
jh2, whose server then indexes the repeated headers; none for pyload). Times are CPU time
(``time.process_time_ns``) of RESPONSES responses (``--responses``) one after another on one
connection, the median of REPEATS runs (``--repeats``), so that other load on the machine moves
them less than wall time would.

Candidates (jh2's are skipped when it is not installed; ``pip install jh2`` adds them):

- ``h2``: python-hyper's H2Connection (state machine, pure-Python HPACK), as a client uses it.
- ``jh2``: jh2's H2Connection, h2's fork with its HPACK in compiled code, the same calls.
- ``pyload``: ``pyload._http2.ClientConnection`` as built: a prebuilt HEADERS block, no
  dynamic table, the status read from the block's first byte.
- ``pyload+hpack``: the same framing, but with a dynamic table and every response block
  decoded by ``hpack`` (what reading all headers would cost).
- ``pyload+jh2-hpack``: the same, decoded by jh2's compiled HPACK decoder.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import h2.config
import h2.connection
import h2.events
import hpack

from pyload import _hpack, _http2
from pyload.config import Target

RESPONSES = 1000  # responses per timed run, on one connection, one stream at a time
REPEATS = 9  # timed runs per candidate and body; the median is reported
WARMUP = 2  # untimed runs first
SMALL_BODY = b"hello\n"
LARGE_BODY = b"x" * 25_000
URL = "http://127.0.0.1:8080/"
REQUEST_HEADERS = [
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "127.0.0.1:8080"),
    (":path", "/"),
]
RESPONSE_HEADERS = [  # hypercorn's, for a Django view answering text
    ("content-type", "text/plain; charset=utf-8"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("date", "Sat, 05 Dec 2026 20:30:00 GMT"),
    ("server", "hypercorn-h2"),
]

Recording = tuple[bytes, list[bytes]]  # the server's opening bytes, then one chunk per response


class _Ignore:
    """pyload's StreamEvents, counting nothing: the benchmark checks the totals below."""

    def __init__(self) -> None:
        self.responses = 0
        self.body = 0

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        self.responses += 1
        self.body += body_size

    def reset(self, stream_id: int, error_code: int) -> None:
        raise AssertionError("reset")

    def goaway(self, last_stream_id: int, error_code: int, dropped: list[int]) -> None:
        raise AssertionError("goaway")


def _respond(server: h2.connection.H2Connection, stream_id: int, body: bytes) -> None:
    headers = [(":status", "200"), ("content-length", str(len(body))), *RESPONSE_HEADERS]
    server.send_headers(stream_id, headers)
    size = server.max_outbound_frame_size
    for start in range(0, len(body), size):
        server.send_data(
            stream_id, body[start : start + size], end_stream=start + size >= len(body)
        )


def _h2_like(module: str) -> Callable[[Recording], int]:
    """The replay for h2, or for jh2 (the same API under another name)."""
    lib: Any = importlib.import_module(module)
    for part in ("config", "connection", "events"):
        importlib.import_module(f"{module}.{part}")
    data_received = lib.events.DataReceived
    stream_ended = lib.events.StreamEnded

    def client() -> Any:
        config = lib.config.H2Configuration(client_side=True, header_encoding=None)
        conn = lib.connection.H2Connection(config)
        conn.initiate_connection()
        return conn

    def exchange(conn: Any, stream_id: int, chunk: bytes) -> int:
        conn.send_headers(stream_id, REQUEST_HEADERS, end_stream=True)
        conn.data_to_send()
        ended = 0
        for event in conn.receive_data(chunk):
            if isinstance(event, data_received):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, stream_ended):
                ended += 1
        conn.data_to_send()
        return ended

    def replay(recording: Recording) -> int:
        conn = client()
        conn.data_to_send()
        conn.receive_data(recording[0])
        conn.data_to_send()
        ended = 0
        for index, chunk in enumerate(recording[1]):
            ended += exchange(conn, 2 * index + 1, chunk)
        return ended

    return replay


def _record_h2(body: bytes, responses: int) -> Recording:
    """The bytes an h2 (or jh2) client gets: recorded with an h2 client that returns credit."""
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    opening = server.data_to_send()
    client.receive_data(opening)
    chunks = []
    for index in range(responses):
        stream_id = 2 * index + 1
        client.send_headers(stream_id, REQUEST_HEADERS, end_stream=True)
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, h2.events.RequestReceived):
                _respond(server, event.stream_id, body)
        chunk = server.data_to_send()
        chunks.append(chunk)
        for event in client.receive_data(chunk):
            if isinstance(event, h2.events.DataReceived):
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    return opening, chunks


def _record_pyload(body: bytes, responses: int) -> Recording:
    """The bytes pyload's client gets, for the SETTINGS it sends (no dynamic table)."""
    events = _Ignore()
    block = _hpack.encode_request_block(Target.parse(URL))
    client = _http2.ClientConnection(block, events)
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    opening = server.data_to_send()
    client.feed(opening)
    chunks = []
    for _ in range(responses):
        client.send_request()
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, h2.events.RequestReceived):
                _respond(server, event.stream_id, body)
        chunk = server.data_to_send()
        chunks.append(chunk)
        client.feed(chunk)
    return opening, chunks


class _DecodingClient(_http2.ClientConnection):
    """pyload's framing with every response header block decoded by a stateful HPACK decoder
    (the server was told of a 4096-byte dynamic table)."""

    __slots__ = ("decode",)
    decode: Callable[[bytes], Any]

    def _headers(self, stream_id: int, block: bytes, end_stream: bool) -> None:
        fields = self.decode(block)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream[0] < 200:
            stream[0] = next(int(value) for name, value, *_ in fields if name == b":status")
        if end_stream:
            del self._streams[stream_id]
            self._events.response(stream_id, stream[0], stream[1])


def _pyload_replay(decode: Callable[[bytes], Any] | None) -> Callable[[Recording], int]:
    block = _hpack.encode_request_block(Target.parse(URL))

    def replay(recording: Recording) -> int:
        events = _Ignore()
        if decode is None:
            conn = _http2.ClientConnection(block, events)
        else:
            conn = _DecodingClient(block, events)
            conn.decode = decode
        conn.data_to_send()
        conn.feed(recording[0])
        conn.data_to_send()
        send, feed, data_to_send = conn.send_request, conn.feed, conn.data_to_send
        for chunk in recording[1]:
            send()
            data_to_send()
            feed(chunk)
            data_to_send()
        return events.responses

    return replay


def _jh2() -> ModuleType | None:
    try:
        return importlib.import_module("jh2")
    except ImportError:
        return None


Candidate = tuple[str, Callable[[bytes, int], Recording], Callable[[Recording], int]]


def candidates() -> list[Candidate]:
    """(name, make the server's bytes for a body, replay them as that client)."""
    found: list[Candidate] = [("h2", _record_h2, _h2_like("h2"))]
    jh2 = _jh2()
    if jh2 is not None:
        found.append(("jh2", _record_h2, _h2_like("jh2")))
    found.append(("pyload", _record_pyload, _pyload_replay(None)))
    found.append(("pyload+hpack", _record_h2, _fresh(_pyload_replay, hpack.Decoder)))
    if jh2 is not None:
        hazmat = importlib.import_module("jh2._hazmat")
        found.append(("pyload+jh2-hpack", _record_h2, _fresh(_pyload_replay, hazmat.Decoder)))
    return found


def _fresh(
    replay_for: Callable[[Callable[[bytes], Any] | None], Callable[[Recording], int]],
    decoder_class: Callable[[], Any],
) -> Callable[[Recording], int]:
    """A replay with a new HPACK decoder per connection, as each connection has its own."""

    def replay(recording: Recording) -> int:
        decoder = decoder_class()
        if isinstance(decoder, hpack.Decoder):
            return replay_for(lambda block: decoder.decode(block, raw=True))(recording)
        return replay_for(decoder.decode)(recording)

    return replay


def measure(replay: Callable[[Recording], int], recording: Recording, repeats: int) -> float:
    """Median CPU µs per response over ``repeats`` runs (after WARMUP untimed ones)."""
    responses = len(recording[1])
    for _ in range(WARMUP):
        if replay(recording) != responses:
            raise AssertionError("a replay did not end every stream")
    times = []
    for _ in range(repeats):
        start = time.process_time_ns()
        replay(recording)
        times.append((time.process_time_ns() - start) / responses / 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.h2codec", description=__doc__)
    parser.add_argument("--responses", type=int, default=RESPONSES, help="per timed run")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs (median)")
    args = parser.parse_args(argv)
    if args.responses < 1 or args.repeats < 1:
        parser.error("--responses and --repeats must be at least 1")
    bodies = [("200, 6 B body", SMALL_BODY), ("200, 25 KB body", LARGE_BODY)]
    rows = []
    for name, make, replay in candidates():
        cells = [measure(replay, make(body, args.responses), args.repeats) for _, body in bodies]
        rows.append((name, cells))
    reference = rows[0][1]
    print("| candidate | " + " | ".join(label for label, _ in bodies) + " |")
    print("|---|" + "---:|" * len(bodies))
    for name, cells in rows:
        shown = [
            f"{us:.1f} µs ({us / ref:.2f}x h2)" for us, ref in zip(cells, reference, strict=True)
        ]
        print(f"| {name} | " + " | ".join(shown) + " |")
    print(
        f"\nCPU µs per response, median of {args.repeats} runs of {args.responses} responses; "
        f"Python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
