"""HTTP/2 client without I/O: the preface, requests as one prebuilt HEADERS block, responses."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Protocol

import hpack
from hpack import NeverIndexedHeaderTuple

from pyload.config import Target
from pyload.errors import UsageError

__all__ = [
    "PREFACE",
    "ClientConnection",
    "ProtocolError",
    "StreamEvents",
    "encode_request_block",
]

# The rules, in the order bytes go through them (RFC 9113; RFC 7541 for HPACK):
#
# - The client opens with the preface, its SETTINGS (no push, no HPACK dynamic table: a
#   SETTINGS_HEADER_TABLE_SIZE of 0, so that a response's status is read from its header block
#   alone and no block needs decoding for the sake of the next), and a WINDOW_UPDATE raising the
#   connection's window to ``connection_window``.
# - The request's header block is encoded once (``encode_request_block``: static table entries
#   and literals never indexed, Huffman coded); each request is that block in a HEADERS frame with
#   END_STREAM and the next odd stream id. Requests carry no body yet.
# - ``feed`` takes bytes in any split. The first frame must be the server's SETTINGS. A stream
#   ends at END_STREAM (``events.response(stream_id, status, body_size)``: the status of its last
#   non-1xx HEADERS, the payload bytes of its DATA frames less padding), at a RST_STREAM
#   (``events.reset``), or when a GOAWAY names a last stream id below it (``events.goaway`` with
#   every such stream in flight). DATA payloads are counted as they arrive and never kept.
# - SETTINGS are acknowledged and MAX_CONCURRENT_STREAMS caps ``slots``; a PING is answered;
#   DATA's flow-control credit is returned once half of a window has been consumed; PRIORITY,
#   WINDOW_UPDATE (nothing is sent that it would pace) and unknown frame types are read and
#   ignored. Frames on a stream this side no longer tracks (cancelled, reset) are skipped.
# - Anything a client must treat as a connection error raises ProtocolError: the connection is
#   unusable, and what ``data_to_send`` holds need not be sent.

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0, 1, 2, 3, 4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 5, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH = 1, 2
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 3, 4
SETTINGS_MAX_FRAME_SIZE = 5
CANCEL = 0x8  # RST_STREAM's error code for a stream the client gives up on

DEFAULT_WINDOW = 65_535  # RFC 9113's initial window, for streams and the connection
STREAM_WINDOW = 16 * 1024 * 1024  # what a stream may receive before credit is returned
CONNECTION_WINDOW = 16 * 1024 * 1024
MAX_FRAME_SIZE = 16_384  # the smallest allowed, and SETTINGS_MAX_FRAME_SIZE's default
MAX_WINDOW = 2**31 - 1
MAX_STREAM_ID = 2**31 - 1
UNLIMITED = 2**31 - 1  # MAX_CONCURRENT_STREAMS before the server says otherwise

_FRAME_HEAD = struct.Struct(">BHBBL")  # length (24 bits as 8 + 16), type, flags, stream id
_PAIR = struct.Struct(">HL")
_U32 = struct.Struct(">L")

# HPACK's static table entries for :status (RFC 7541, appendix A): indexes 8 to 14.
_STATIC_STATUS = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}
_CONNECTION_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}
)


class ProtocolError(Exception):
    """The server sent bytes that are not HTTP/2, or broke a rule a client must treat as a
    connection error."""


class StreamEvents(Protocol):
    """What a ClientConnection reports, one call per stream that ends."""

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        """The stream ended (END_STREAM) with this final status and DATA payload size."""

    def reset(self, stream_id: int, error_code: int) -> None:
        """The server reset the stream (RST_STREAM) before it ended."""

    def goaway(self, last_stream_id: int, error_code: int, dropped: list[int]) -> None:
        """The server is closing: streams above ``last_stream_id`` were not and will not be
        processed; ``dropped`` are those that were in flight, in increasing order."""


def encode_request_block(
    target: Target,
    headers: Iterable[tuple[str, str]] = (),
    method: str = "GET",
    path: str | None = None,
) -> bytes:
    """The HPACK header block of one request, built once before the load starts.

    The same header fields as ``_http11.build_request``: ``-H`` overrides, names matched
    case-insensitively; ``Host`` becomes ``:authority``, and HTTP/1.1's connection-specific
    fields (Connection, Keep-Alive, Transfer-Encoding, Upgrade) are dropped, as HTTP/2 forbids
    them. Every field is a static table entry or a literal never indexed, so the bytes are valid
    on every stream of every connection whatever was sent before them.
    """
    authority = target.host_header
    fields: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower == "host":
            authority = value
        elif lower == "te" and value.strip().lower() != "trailers":
            continue
        if lower not in _CONNECTION_HEADERS:
            fields[lower] = (lower, value)
    fields.pop("content-length", None)
    pseudo = [
        (":method", method),
        (":scheme", target.scheme),
        (":authority", authority),
        (":path", target.path if path is None else path),
    ]
    try:
        encoded = [
            NeverIndexedHeaderTuple(
                name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")
            )
            for name, value in [*pseudo, *fields.values()]
        ]
    except UnicodeEncodeError as exc:  # a lone surrogate that no argument byte gives
        raise UsageError(f"cannot send {exc.object[exc.start : exc.end]!r} in a request") from None
    return bytes(hpack.Encoder().encode(encoded, huffman=True))


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame's bytes."""
    length = len(payload)
    return _FRAME_HEAD.pack(length >> 16, length & 0xFFFF, kind, flags, stream_id) + payload


def _decode_status(block: bytes) -> int:
    """The :status of a response header block (0 if it has none). The common statuses are one
    static table byte; anything else goes through hpack's decoder, with no dynamic table."""
    start = 0
    while start < len(block) and block[start] & 0xE0 == 0x20:  # dynamic table size updates
        if block[start] != 0x20:
            break  # a size above 0 needs the full decoder (which refuses it)
        start += 1
    status = _STATIC_STATUS.get(block[start]) if start < len(block) else None
    if status is not None:
        return status
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 0
    decoder.header_table_size = 0
    try:
        fields = decoder.decode(block, raw=True)
    except hpack.HPACKError as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    for name, value in fields:
        if name == b":status":
            if len(value) != 3 or not value.isdigit():
                raise ProtocolError(f"bad :status {bytes(value)!r}")
            return int(value)
    return 0


class ClientConnection:
    """One HTTP/2 connection's client side: ``send_request`` opens a stream, ``feed`` reads the
    server's bytes and calls ``events``, ``data_to_send`` returns what to write.

    State: the open streams (id -> [status, body bytes, flow-control bytes not yet returned]),
    the next stream id, the server's MAX_CONCURRENT_STREAMS, the bytes of an incomplete frame (or
    the rest of a DATA payload still to come, counted without keeping it), a header block being
    continued, and the connection's flow-control bytes not yet returned.
    """

    __slots__ = (
        "_block",
        "_block_end",
        "_block_stream",
        "_buffer",
        "_conn_unacked",
        "_connection_window",
        "_events",
        "_outbound",
        "_request",
        "_seen_settings",
        "_skip",
        "_skip_end",
        "_skip_stream",
        "_stream_window",
        "_streams",
        "goaway_received",
        "last_stream_id",
        "max_concurrent_streams",
        "settings_acked",
    )

    def __init__(
        self,
        header_block: bytes,
        events: StreamEvents,
        stream_window: int = STREAM_WINDOW,
        connection_window: int = CONNECTION_WINDOW,
    ) -> None:
        if not (DEFAULT_WINDOW <= connection_window <= MAX_WINDOW):
            raise ValueError(f"connection window {connection_window} out of range")
        if not (1 <= stream_window <= MAX_WINDOW):
            raise ValueError(f"stream window {stream_window} out of range")
        if len(header_block) > MAX_FRAME_SIZE:
            raise UsageError(f"request headers too large for HTTP/2: {len(header_block)} bytes")
        self._events = events
        self._stream_window = stream_window
        self._connection_window = connection_window
        # The HEADERS frame without its stream id: 5 bytes of head, 4 of id, the block.
        length = len(header_block)
        self._request = (
            _FRAME_HEAD.pack(length >> 16, length & 0xFFFF, HEADERS, END_STREAM | END_HEADERS, 0)[
                :5
            ],
            header_block,
        )
        self._streams: dict[int, list[int]] = {}
        self._buffer = b""
        self._skip = 0  # bytes of the current DATA payload still to come
        self._skip_stream = 0
        self._skip_end = False
        self._block: list[bytes] = []  # a header block continued by CONTINUATION frames
        self._block_stream = 0
        self._block_end = False
        self._conn_unacked = 0
        self._seen_settings = False
        self.settings_acked = False
        self.goaway_received = False
        self.last_stream_id = -1  # the last stream opened (ids are odd)
        self.max_concurrent_streams = UNLIMITED
        settings = b"".join(
            _PAIR.pack(key, value)
            for key, value in (
                (SETTINGS_HEADER_TABLE_SIZE, 0),
                (SETTINGS_ENABLE_PUSH, 0),
                (SETTINGS_INITIAL_WINDOW_SIZE, stream_window),
            )
        )
        outbound = [PREFACE, frame(SETTINGS, 0, 0, settings)]
        if connection_window > DEFAULT_WINDOW:
            increment = _U32.pack(connection_window - DEFAULT_WINDOW)
            outbound.append(frame(WINDOW_UPDATE, 0, 0, increment))
        self._outbound = bytearray(b"".join(outbound))

    # -- sending -------------------------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def in_flight(self) -> list[int]:
        """The streams opened and not ended, in increasing order: those a closed connection
        drops."""
        return sorted(self._streams)

    @property
    def slots(self) -> int:
        """How many more streams may be opened now (0 after a GOAWAY or with ids used up)."""
        if self.goaway_received or self.last_stream_id + 2 > MAX_STREAM_ID:
            return 0
        return max(0, self.max_concurrent_streams - len(self._streams))

    def send_request(self, header_block: bytes | None = None) -> int:
        """Open a stream with the request and return its id; raise ProtocolError if no slot
        is free (the caller checks ``slots`` first). ``header_block`` sends another request
        than the prebuilt one (from ``encode_request_block``: a hook script's request)."""
        if self.slots <= 0:
            raise ProtocolError("no stream may be opened now")
        stream_id = self.last_stream_id + 2
        self.last_stream_id = stream_id
        self._streams[stream_id] = [0, 0, 0]
        head, block = self._request
        if header_block is not None:
            if len(header_block) > MAX_FRAME_SIZE:
                raise UsageError(f"request headers too large for HTTP/2: {len(header_block)} bytes")
            length = len(header_block)
            head = _FRAME_HEAD.pack(
                length >> 16, length & 0xFFFF, HEADERS, END_STREAM | END_HEADERS, 0
            )[:5]
            block = header_block
        self._outbound += head
        self._outbound += _U32.pack(stream_id)
        self._outbound += block
        return stream_id

    def cancel(self, stream_id: int) -> None:
        """Give up a stream (a timeout): RST_STREAM CANCEL; what still arrives for it is
        skipped."""
        if self._streams.pop(stream_id, None) is not None:
            self._outbound += frame(RST_STREAM, 0, stream_id, _U32.pack(CANCEL))

    def data_to_send(self) -> bytes:
        """The bytes to write now (and forget)."""
        data = bytes(self._outbound)
        self._outbound.clear()
        return data

    # -- receiving -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Read the server's bytes, in any split; raise ProtocolError on a connection error."""
        if self._skip:
            data = self._skip_data(data)
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        end = len(data)
        pos = 0
        unpack = _FRAME_HEAD.unpack_from
        streams = self._streams
        while end - pos >= 9:
            high, low, kind, flags, stream_id = unpack(data, pos)
            length = high << 16 | low
            stream_id &= MAX_STREAM_ID
            if length > MAX_FRAME_SIZE:
                self._bad_frame(data, pos, length)
            if kind == DATA and not self._block:
                # Counted as it arrives: a payload cut short is finished by the next feed.
                if flags & PADDED and end - pos < 10:
                    break
                if not self._seen_settings or stream_id == 0:
                    self._bad_frame(data, pos, length)
                pad = data[pos + 9] + 1 if flags & PADDED else 0
                if pad > length:
                    raise ProtocolError("DATA padding longer than its frame")
                stream = streams.get(stream_id)
                if stream is None and stream_id > self.last_stream_id:
                    raise ProtocolError(f"DATA on stream {stream_id}, which was never opened")
                self._consumed(length)
                here = min(length, end - pos - 9)
                if stream is not None:
                    stream[1] += length - pad
                    stream[2] += length
                    if stream[2] >= self._stream_window // 2 and not flags & END_STREAM:
                        self._outbound += frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(stream[2]))
                        stream[2] = 0
                if here < length:  # the rest of the payload comes later
                    self._skip = length - here
                    self._skip_stream = stream_id
                    self._skip_end = bool(flags & END_STREAM)
                    return
                pos += 9 + length
                if flags & END_STREAM and stream is not None:
                    del streams[stream_id]
                    self._events.response(stream_id, stream[0], stream[1])
                continue
            if end - pos - 9 < length:
                break
            payload = data[pos + 9 : pos + 9 + length]
            pos += 9 + length
            self._control(kind, flags, stream_id, payload)
        if pos < end:
            self._buffer = data[pos:]

    def _skip_data(self, data: bytes) -> bytes:
        """Count the rest of a DATA payload from ``data``; return what follows it."""
        here = min(self._skip, len(data))
        self._skip -= here
        if self._skip:
            return b""
        stream_id = self._skip_stream
        if self._skip_end:
            stream = self._streams.pop(stream_id, None)
            if stream is not None:
                self._events.response(stream_id, stream[0], stream[1])
        return data[here:]

    def _consumed(self, length: int) -> None:
        """Flow control: DATA of ``length`` bytes arrived; return the connection's credit in
        one WINDOW_UPDATE once half its window is used."""
        self._conn_unacked += length
        if self._conn_unacked >= self._connection_window // 2:
            self._outbound += frame(WINDOW_UPDATE, 0, 0, _U32.pack(self._conn_unacked))
            self._conn_unacked = 0

    def _bad_frame(self, data: bytes, pos: int, length: int) -> None:
        if not self._seen_settings:
            raise ProtocolError(
                f"not an HTTP/2 server: it began with {bytes(data[pos : pos + 9])!r}, "
                "not a SETTINGS frame"
            )
        raise ProtocolError(f"frame of {length} bytes, above the maximum of {MAX_FRAME_SIZE}")

    def _control(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        """Every frame but DATA, whole."""
        if not self._seen_settings:
            if kind != SETTINGS or flags & ACK:
                raise ProtocolError(
                    f"not an HTTP/2 server: its first frame is of type {kind}, not SETTINGS"
                )
            self._seen_settings = True
        if self._block:
            if kind != CONTINUATION or stream_id != self._block_stream:
                raise ProtocolError("a header block interrupted by another frame")
            self._block.append(payload)
            if flags & END_HEADERS:
                block = b"".join(self._block)
                self._block = []
                self._headers(stream_id, block, self._block_end)
            return
        if kind == HEADERS:
            self._headers_frame(flags, stream_id, payload)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise ProtocolError("bad RST_STREAM frame")
            if stream_id > self.last_stream_id:
                raise ProtocolError(f"RST_STREAM on stream {stream_id}, which was never opened")
            if self._streams.pop(stream_id, None) is not None:
                self._events.reset(stream_id, _U32.unpack(payload)[0])
        elif kind == PING:
            if stream_id != 0 or len(payload) != 8:
                raise ProtocolError("bad PING frame")
            if not flags & ACK:
                self._outbound += frame(PING, ACK, 0, payload)
        elif kind == GOAWAY:
            self._goaway(stream_id, payload)
        elif kind == WINDOW_UPDATE:
            if len(payload) != 4:
                raise ProtocolError("bad WINDOW_UPDATE frame")
            if stream_id == 0 and _U32.unpack(payload)[0] & MAX_WINDOW == 0:
                raise ProtocolError("WINDOW_UPDATE of 0 on the connection")
        elif kind == PUSH_PROMISE:
            raise ProtocolError("PUSH_PROMISE, though push was disabled")
        elif kind == CONTINUATION:
            raise ProtocolError("CONTINUATION without a header block to continue")
        elif kind == PRIORITY and (stream_id == 0 or len(payload) != 5):
            raise ProtocolError("bad PRIORITY frame")
        # Unknown types are ignored (RFC 9113, 4.1).

    def _headers_frame(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0 or stream_id > self.last_stream_id or not stream_id & 1:
            raise ProtocolError(f"HEADERS on stream {stream_id}, which was never opened")
        start, stop = 0, len(payload)
        if flags & PADDED:
            if not payload:
                raise ProtocolError("HEADERS padding longer than its frame")
            start, stop = 1, stop - payload[0]
        if flags & PRIORITY_FLAG:
            start += 5
        if start > stop:
            raise ProtocolError("HEADERS padding longer than its frame")
        block = payload[start:stop]
        if flags & END_HEADERS:
            self._headers(stream_id, block, bool(flags & END_STREAM))
        else:
            self._block = [block]
            self._block_stream = stream_id
            self._block_end = bool(flags & END_STREAM)

    def _headers(self, stream_id: int, block: bytes, end_stream: bool) -> None:
        """A whole header block: a response's head (or a 1xx's), or trailers."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # cancelled or reset: with no dynamic table, its block need not be read
        if stream[0] < 200:
            status = _decode_status(block)
            if not 100 <= status <= 999:
                raise ProtocolError(f"response on stream {stream_id} without a :status")
            stream[0] = status
            if status < 200 and end_stream:
                raise ProtocolError(f"stream {stream_id} ended with an interim response")
        if end_stream:
            del self._streams[stream_id]
            self._events.response(stream_id, stream[0], stream[1])

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0 or len(payload) % 6:
            raise ProtocolError("bad SETTINGS frame")
        if flags & ACK:
            if payload:
                raise ProtocolError("SETTINGS acknowledgement with a payload")
            self.settings_acked = True
            return
        for offset in range(0, len(payload), 6):
            key, value = _PAIR.unpack_from(payload, offset)
            if key == SETTINGS_MAX_CONCURRENT_STREAMS:
                self.max_concurrent_streams = value
            elif key == SETTINGS_INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
                raise ProtocolError(f"SETTINGS_INITIAL_WINDOW_SIZE of {value}")
            elif key == SETTINGS_MAX_FRAME_SIZE and not MAX_FRAME_SIZE <= value <= 2**24 - 1:
                raise ProtocolError(f"SETTINGS_MAX_FRAME_SIZE of {value}")
            elif key == SETTINGS_ENABLE_PUSH and value > 1:
                raise ProtocolError(f"SETTINGS_ENABLE_PUSH of {value}")
        self._outbound += frame(SETTINGS, ACK, 0)

    def _goaway(self, stream_id: int, payload: bytes) -> None:
        if stream_id != 0 or len(payload) < 8:
            raise ProtocolError("bad GOAWAY frame")
        last = _U32.unpack_from(payload)[0] & MAX_STREAM_ID
        code = _U32.unpack_from(payload, 4)[0]
        self.goaway_received = True
        dropped = sorted(sid for sid in self._streams if sid > last)
        for sid in dropped:
            del self._streams[sid]
        self._events.goaway(last, code, dropped)
