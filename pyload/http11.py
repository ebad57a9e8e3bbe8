"""HTTP/1.1 without I/O: the request bytes, and a response parser that reports completed responses.

Owns framing. The parser takes bytes (``feed``) and the end of the stream (``feed_eof``) and calls
``on_response(status, keep_alive)`` once per completed response; it imports neither asyncio nor
socket, so it is tested by feeding every split of a byte stream. Parsing is done by httptools
(llhttp, the successor of the http-parser that wrk embeds).

State: the chunks of the response being received (empty between responses). httptools cannot
be told about the end of the stream, so ``feed_eof`` reads those chunks to decide whether the
response was one whose body ends with the connection.
"""

from __future__ import annotations

from collections.abc import Callable

import httptools

from pyload.config import Target

__all__ = ["ResponseError", "ResponseParser", "build_request"]


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

    __slots__ = ("_on_response", "_parser", "_pending")

    def __init__(self, on_response: Callable[[int, bool], None]) -> None:
        self._on_response = on_response
        self._parser = httptools.HttpResponseParser(self)
        self._pending: list[bytes] = []  # chunks of the response not yet complete

    def feed(self, data: bytes) -> None:
        """Parse a chunk; raise ResponseError if it is not HTTP."""
        self._pending.append(data)
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
        if self._pending and _delimited_by_eof(b"".join(self._pending)):
            self.on_message_complete()
            return True
        return False

    def on_message_complete(self) -> None:
        """httptools' callback: a response is complete."""
        self._pending.clear()
        parser = self._parser
        self._on_response(parser.get_status_code(), parser.should_keep_alive())


def _delimited_by_eof(data: bytes) -> bool:
    """True if ``data`` holds a complete head that declares neither Content-Length nor chunking."""
    head, complete, _ = data.partition(b"\r\n\r\n")
    if not complete:
        return False
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
