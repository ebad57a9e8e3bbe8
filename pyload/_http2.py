"""HTTP/2 client without I/O: the preface, requests as one prebuilt HEADERS block, responses."""

from __future__ import annotations

import struct
from typing import Protocol

from pyload._hpack import STATIC_STATUS, ProtocolError, decode_fields, decode_status
from pyload.errors import UsageError

__all__ = ["PREFACE", "ClientConnection", "ProtocolError", "StreamEvents"]

# The rules, in the order bytes go through them (RFC 9113; RFC 7541 for HPACK):
#
# - The client opens with the preface, its SETTINGS (no push, no HPACK dynamic table: a
#   SETTINGS_HEADER_TABLE_SIZE of 0, so that a response's status is read from its header block
#   alone and no block needs decoding for the sake of the next), and a WINDOW_UPDATE raising the
#   connection's window to ``connection_window``.
# - The request's header block is encoded once (``_hpack.encode_request_block``); each request is
#   that block in a HEADERS frame with END_STREAM and the next odd stream id. With a body, the
#   body ends the stream, in DATA frames of the server's SETTINGS_MAX_FRAME_SIZE at most, within
#   its windows (from its SETTINGS and WINDOW_UPDATEs); what does not fit waits for credit.
# - ``feed`` takes bytes in any split. The first frame must be the server's SETTINGS. A stream
#   ends at END_STREAM (``events.response(stream_id, status, body_size)``: the status of its last
#   non-1xx HEADERS, the payload bytes of its DATA frames less padding), at a RST_STREAM
#   (``events.reset``), or when a GOAWAY names a last stream id below it (``events.goaway`` with
#   every such stream in flight). DATA payloads are counted as they arrive and never kept.
# - SETTINGS are acknowledged and MAX_CONCURRENT_STREAMS caps ``slots``; a PING is answered;
#   DATA's flow-control credit is returned once half of a window has been consumed; a
#   WINDOW_UPDATE opens the server's windows for request bodies; PRIORITY and unknown frame types
#   are read and ignored. Frames on a stream this side no longer tracks (cancelled, reset) are
#   skipped.
# - ``keep_responses`` (a hook script's ``response``): ``last_headers`` and ``last_body``.
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

class StreamEvents(Protocol):
    """What a ClientConnection reports, one call per stream that ends."""

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        """The stream ended (END_STREAM) with this final status and DATA payload size."""

    def reset(self, stream_id: int, error_code: int) -> None:
        """The server reset the stream (RST_STREAM) before it ended."""

    def goaway(self, last_stream_id: int, error_code: int, dropped: list[int]) -> None:
        """The server is closing: streams above ``last_stream_id`` were not and will not be
        processed; ``dropped`` are those that were in flight, in increasing order."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame's bytes."""
    length = len(payload)
    return _FRAME_HEAD.pack(length >> 16, length & 0xFFFF, kind, flags, stream_id) + payload


class ClientConnection:
    """One HTTP/2 connection's client side: ``send_request`` opens a stream, ``feed`` reads the
    server's bytes and calls ``events``, ``data_to_send`` returns what to write.

    State: the open streams (id -> [status, body bytes, flow-control bytes not yet returned,
    the server's send window for the stream]), the request bodies waiting for send credit, the
    server's windows and frame size, the next stream id, the server's MAX_CONCURRENT_STREAMS,
    the bytes of an incomplete frame (or the rest of a DATA payload still to come, counted
    without keeping it), a header block being continued, and the connection's flow-control
    bytes not yet returned.
    """

    __slots__ = (
        "_block",
        "_block_end",
        "_block_stream",
        "_buffer",
        "_conn_unacked",
        "_connection_window",
        "_events",
        "_initial_send_window",
        "_kept",
        "_max_send_frame",
        "_outbound",
        "_pending_bodies",
        "_request",
        "_seen_settings",
        "_send_window",
        "_skip",
        "_skip_end",
        "_skip_stream",
        "_stream_window",
        "_streams",
        "goaway_received",
        "keep_responses",
        "last_body",
        "last_headers",
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
        keep_responses: bool = False,
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
        # Request bodies: the server's windows (RFC 9113's initial 65,535 until its SETTINGS
        # and WINDOW_UPDATEs say otherwise), its frame size, and what waits for credit.
        self._send_window = DEFAULT_WINDOW
        self._initial_send_window = DEFAULT_WINDOW
        self._max_send_frame = MAX_FRAME_SIZE
        self._pending_bodies: dict[int, memoryview] = {}
        # keep_responses: the header fields and body chunks of each open stream.
        self.keep_responses = keep_responses
        self._kept: dict[int, tuple[list[tuple[bytes, bytes]], list[bytes]]] = {}
        self.last_headers: list[tuple[bytes, bytes]] = []
        self.last_body = b""
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
    def settings_received(self) -> bool:
        """The server's first SETTINGS frame has been read."""
        return self._seen_settings

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

    def open_stream(self) -> int:
        """The hot path's ``send_request()``: the prebuilt request on a new stream, and its id;
        0 (nothing sent) if no stream may be opened now."""
        streams = self._streams
        stream_id = self.last_stream_id + 2
        if (
            len(streams) >= self.max_concurrent_streams
            or self.goaway_received
            or stream_id > MAX_STREAM_ID
            or self.keep_responses
        ):
            return 0 if self.slots <= 0 else self.send_request()
        self.last_stream_id = stream_id
        streams[stream_id] = [0, 0, 0, self._initial_send_window]
        head, block = self._request
        outbound = self._outbound
        outbound += head
        outbound += _U32.pack(stream_id)
        outbound += block
        return stream_id

    def send_request(self, header_block: bytes | None = None, body: bytes = b"") -> int:
        """Open a stream with the request and return its id; raise ProtocolError if no slot
        is free (the caller checks ``slots`` first). ``header_block`` sends another request
        than the prebuilt one (from ``encode_request_block``: a hook script's request);
        ``body`` goes in DATA frames, as far as the server's windows allow now, the rest when
        they open."""
        if self.slots <= 0:
            raise ProtocolError("no stream may be opened now")
        stream_id = self.last_stream_id + 2
        self.last_stream_id = stream_id
        self._streams[stream_id] = [0, 0, 0, self._initial_send_window]
        if self.keep_responses:
            self._kept[stream_id] = ([], [])
        head, block = self._request
        if header_block is not None or body:
            block = self._request[1] if header_block is None else header_block
            if len(block) > MAX_FRAME_SIZE:
                raise UsageError(f"request headers too large for HTTP/2: {len(block)} bytes")
            length = len(block)
            flags = END_HEADERS if body else END_STREAM | END_HEADERS
            head = _FRAME_HEAD.pack(length >> 16, length & 0xFFFF, HEADERS, flags, 0)[:5]
        self._outbound += head
        self._outbound += _U32.pack(stream_id)
        self._outbound += block
        if body:
            self._pending_bodies[stream_id] = memoryview(body)
            self._send_bodies()
        return stream_id

    def _send_bodies(self) -> None:
        """Send what the server's windows allow of the request bodies waiting, in the order
        their streams were opened; a body's last frame ends its stream."""
        pending = self._pending_bodies
        for stream_id in list(pending):
            stream = self._streams.get(stream_id)
            if stream is None:  # answered, reset or dropped before its body was sent
                del pending[stream_id]
                continue
            rest = pending[stream_id]
            while rest and self._send_window > 0 and stream[3] > 0:
                size = min(len(rest), self._send_window, stream[3], self._max_send_frame)
                last = size == len(rest)
                self._outbound += frame(
                    DATA, END_STREAM if last else 0, stream_id, bytes(rest[:size])
                )
                self._send_window -= size
                stream[3] -= size
                rest = rest[size:]
            if rest:
                pending[stream_id] = rest
                if self._send_window <= 0:
                    return
            else:
                del pending[stream_id]

    @property
    def bodies_waiting(self) -> int:
        """Request bodies not wholly sent for want of flow-control credit."""
        return len(self._pending_bodies)

    def cancel(self, stream_id: int) -> None:
        """Give up a stream (a timeout): RST_STREAM CANCEL; what still arrives for it is
        skipped."""
        if self._streams.pop(stream_id, None) is not None:
            self._kept.pop(stream_id, None)
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
        quick = not self.keep_responses and self._seen_settings  # the common frames, inline
        while end - pos >= 9:
            high, low, kind, flags, stream_id = unpack(data, pos)
            length = high << 16 | low
            stream_id &= MAX_STREAM_ID
            if length > MAX_FRAME_SIZE:
                self._bad_frame(data, pos, length)
            if (
                kind == HEADERS
                and quick
                and flags & (END_HEADERS | PADDED | PRIORITY_FLAG) == END_HEADERS
                and length
                and end - pos - 9 >= length
                and not self._block
            ):
                # A whole response head of one frame on a stream in flight whose status is one
                # byte of the static table: what _headers_frame and _headers would do.
                stream = streams.get(stream_id)
                status = STATIC_STATUS.get(data[pos + 9])
                if stream is not None and status is not None and stream[0] < 200:
                    pos += 9 + length
                    stream[0] = status
                    if flags & END_STREAM:
                        del streams[stream_id]
                        self._events.response(stream_id, status, stream[1])
                    continue
            if kind == DATA and not self._block and not self.keep_responses:
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
        if kind == DATA:  # here only with keep_responses: whole frames, their bytes kept
            self._kept_data(flags, stream_id, payload)
        elif kind == HEADERS:
            self._headers_frame(flags, stream_id, payload)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise ProtocolError("bad RST_STREAM frame")
            if stream_id > self.last_stream_id:
                raise ProtocolError(f"RST_STREAM on stream {stream_id}, which was never opened")
            if self._streams.pop(stream_id, None) is not None:
                self._kept.pop(stream_id, None)
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
            increment = _U32.unpack(payload)[0] & MAX_WINDOW
            if stream_id == 0:
                if increment == 0:
                    raise ProtocolError("WINDOW_UPDATE of 0 on the connection")
                self._send_window += increment
                if self._send_window > MAX_WINDOW:
                    raise ProtocolError("WINDOW_UPDATE past the largest window")
            else:
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream[3] += increment
            if self._pending_bodies:
                self._send_bodies()
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

    def _kept_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        """A whole DATA frame, with keep_responses: counted as the fast path counts it, and its
        data kept for the stream's ``last_body``."""
        if stream_id == 0:
            raise ProtocolError("DATA on stream 0")
        start, stop = 0, len(payload)
        if flags & PADDED:
            if not payload or payload[0] + 1 > len(payload):
                raise ProtocolError("DATA padding longer than its frame")
            start, stop = 1, len(payload) - payload[0]
        stream = self._streams.get(stream_id)
        if stream is None and stream_id > self.last_stream_id:
            raise ProtocolError(f"DATA on stream {stream_id}, which was never opened")
        self._consumed(len(payload))
        if stream is None:
            return
        stream[1] += stop - start
        stream[2] += len(payload)
        self._kept[stream_id][1].append(payload[start:stop])
        if flags & END_STREAM:
            del self._streams[stream_id]
            self._respond(stream_id, stream)
        elif stream[2] >= self._stream_window // 2:
            self._outbound += frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(stream[2]))
            stream[2] = 0

    def _respond(self, stream_id: int, stream: list[int]) -> None:
        """A kept stream ended: its headers and body as ``last_headers`` and ``last_body``."""
        headers, chunks = self._kept.pop(stream_id)
        self.last_headers, self.last_body = headers, b"".join(chunks)
        self._events.response(stream_id, stream[0], stream[1])

    def _headers(self, stream_id: int, block: bytes, end_stream: bool) -> None:
        """A whole header block: a response's head (or a 1xx's), or trailers."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # cancelled or reset: with no dynamic table, its block need not be read
        if stream[0] < 200:
            if self.keep_responses:  # every field, for the response hook
                status, headers = decode_fields(block)
                if status >= 200:
                    self._kept[stream_id][0][:] = headers
            else:
                status = decode_status(block)
            if not 100 <= status <= 999:
                raise ProtocolError(f"response on stream {stream_id} without a :status")
            stream[0] = status
            if status < 200 and end_stream:
                raise ProtocolError(f"stream {stream_id} ended with an interim response")
        if end_stream:
            del self._streams[stream_id]
            if self.keep_responses:
                self._respond(stream_id, stream)
            else:
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
            elif key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ProtocolError(f"SETTINGS_INITIAL_WINDOW_SIZE of {value}")
                delta = value - self._initial_send_window  # applies to the open streams too
                self._initial_send_window = value
                for stream in self._streams.values():
                    stream[3] += delta
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not MAX_FRAME_SIZE <= value <= 2**24 - 1:
                    raise ProtocolError(f"SETTINGS_MAX_FRAME_SIZE of {value}")
                self._max_send_frame = value
            elif key == SETTINGS_ENABLE_PUSH and value > 1:
                raise ProtocolError(f"SETTINGS_ENABLE_PUSH of {value}")
        self._outbound += frame(SETTINGS, ACK, 0)
        if self._pending_bodies:
            self._send_bodies()

    def _goaway(self, stream_id: int, payload: bytes) -> None:
        if stream_id != 0 or len(payload) < 8:
            raise ProtocolError("bad GOAWAY frame")
        last = _U32.unpack_from(payload)[0] & MAX_STREAM_ID
        code = _U32.unpack_from(payload, 4)[0]
        self.goaway_received = True
        dropped = sorted(sid for sid in self._streams if sid > last)
        for sid in dropped:
            del self._streams[sid]
            self._kept.pop(sid, None)
        self._events.goaway(last, code, dropped)
