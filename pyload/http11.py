"""HTTP/1.1 without I/O: the request bytes, and a response parser that reports completed responses.

Owns framing. The parser takes bytes (``feed``) and the end of the stream (``feed_eof``) and calls
``on_response(status, keep_alive)`` once per completed response; it imports neither asyncio nor
socket, so it is tested by feeding every split of a byte stream. Parsing is done by httptools
(llhttp, the successor of the http-parser that wrk embeds).

States: IDLE (no byte of the next response yet) -> HEAD (status line and headers arriving)
-> BODY (headers complete) -> IDLE on message completion.
"""

from __future__ import annotations

from collections.abc import Callable

import httptools

from pyload.config import Target

__all__ = ["ResponseError", "ResponseParser", "build_request"]

IDLE, HEAD, BODY = 0, 1, 2


def build_request(
    target: Target,
    headers: tuple[tuple[str, str], ...] = (),
    method: str = "GET",
    body: bytes = b"",
) -> bytes:
    """The bytes of one request, built once before the load starts (wrk's ``wrk.format``).

    As wrk: ``Host`` is the only default header (with ``:port`` only if the URL had one);
    ``-H`` overrides it and repeated names keep the last value; ``Content-Length`` is set from
    the body and dropped when there is none. Unlike wrk (whose Lua table is case-sensitive and
    hash-ordered), names are matched case-insensitively and kept in the order given.
    """
    fields: dict[str, tuple[str, str]] = {"host": ("Host", target.host_header)}
    for name, value in headers:
        fields[name.lower()] = (name, value)
    fields.pop("content-length", None)
    if body:
        fields["content-length"] = ("Content-Length", str(len(body)))
    lines = [f"{method} {target.path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.values()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseError(Exception):
    """The server sent bytes that are not an HTTP/1.x response."""


class ResponseParser:
    """Frames responses on one connection; calls ``on_response(status, keep_alive)`` for each."""

    __slots__ = ("_head", "_on_response", "_parser", "state")

    def __init__(self, on_response: Callable[[int, bool], None]) -> None:
        self._on_response = on_response
        self._parser = httptools.HttpResponseParser(self)
        self._head: list[bytes] = []
        self.state = IDLE

    def feed(self, data: bytes) -> None:
        """Parse a chunk; raise ResponseError if it is not HTTP."""
        if self.state != BODY:
            # Kept only until the headers are complete: feed_eof() may need to read them.
            self._head.append(data)
            self.state = HEAD
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise ResponseError(str(exc) or type(exc).__name__) from None

    def feed_eof(self) -> bool:
        """The peer closed the stream. Return True if that completed a response.

        A body delimited by the end of the connection (no Content-Length, not chunked) is
        complete at EOF. wrk counts such a response as a request *and* a read error (its parser
        is not in the "message done" state); pyload counts it as a request only.
        """
        if self.state == BODY and _delimited_by_eof(b"".join(self._head)):
            self.on_message_complete()
            return True
        return False

    # httptools callbacks ------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self.state = BODY

    def on_message_complete(self) -> None:
        self.state = IDLE
        self._head.clear()
        parser = self._parser
        self._on_response(parser.get_status_code(), parser.should_keep_alive())


def _delimited_by_eof(data: bytes) -> bool:
    """True if the response head in ``data`` declares neither Content-Length nor chunking."""
    head, _, _ = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    status = status_line.split(b" ", 2)[1:2]
    if (status and status[0] in (b"204", b"304")) or (status[0:1] and status[0].startswith(b"1")):
        return False
    for line in header_lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return False
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return False
    return True
