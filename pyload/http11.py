"""HTTP/1.1 without I/O: the request bytes, and a response parser that reports completed responses.

Owns framing. The parser takes bytes (``feed``) and the end of the stream (``feed_eof``) and calls
``on_response(status, keep_alive)`` once per completed response; it imports neither asyncio nor
socket, so it is tested by feeding every split of a byte stream. Parsing is done by httptools
(llhttp, the successor of the http-parser that wrk embeds).

State: the chunks of the current response up to the end of its head (empty between
responses). httptools cannot be told about the end of the stream, so ``feed_eof`` reads that
head to decide whether the response was one whose body ends with the connection. A caller that
wants headers and bodies uses ``FullResponseParser``; HEAD requests use ``HeadResponseParser``.
"""

from __future__ import annotations

from collections.abc import Callable

import httptools

from pyload.config import Target

__all__ = [
    "FullResponseParser",
    "HeadFullResponseParser",
    "HeadResponseParser",
    "ResponseError",
    "ResponseParser",
    "build_request",
    "parser_class",
]


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


class _HeadOnly(Exception):
    """Raised from ``on_headers_complete`` to stop llhttp at the end of a HEAD response's head."""


class ResponseParser:
    """Frames responses on one connection; calls ``on_response(status, keep_alive)`` for each.

    Keeps no body: only the chunks up to the end of the current response's head, which
    ``feed_eof`` needs (8 connections fetching 100 MB bodies hold a few chunks, not the bodies).
    """

    __slots__ = ("_head", "_head_done", "_on_response", "_parser")

    def __init__(self, on_response: Callable[[int, bool], None]) -> None:
        self._on_response = on_response
        self._parser = httptools.HttpResponseParser(self)
        self._head: list[bytes] = []  # chunks of the current response, until its head is done
        self._head_done = False

    def feed(self, data: bytes) -> None:
        """Parse a chunk; raise ResponseError if it is not HTTP."""
        if not self._head_done:
            self._head.append(data)
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
        if self._head_done and _delimited_by_eof(b"".join(self._head)):
            self.on_message_complete()
            return True
        return False

    def on_headers_complete(self) -> None:
        """httptools' callback: the head is complete; stop keeping chunks."""
        self._head_done = True

    def on_message_complete(self) -> None:
        """httptools' callback: a response is complete."""
        self._head.clear()
        self._head_done = False
        parser = self._parser
        self._on_response(parser.get_status_code(), parser.should_keep_alive())


class FullResponseParser(ResponseParser):
    """A ResponseParser that also keeps each response's headers and body, for a caller that
    reads them (``last_headers`` and ``last_body`` during ``on_response``).

    Only this class defines httptools' ``on_header`` and ``on_body`` callbacks, so a caller
    that does not ask for them pays nothing for them.
    """

    __slots__ = ("_body", "_headers", "last_body", "last_headers")

    def __init__(self, on_response: Callable[[int, bool], None]) -> None:
        super().__init__(on_response)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self.last_headers: list[tuple[bytes, bytes]] = []
        self.last_body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.last_headers, self._headers = self._headers, []
        self.last_body = b"".join(self._body)
        self._body.clear()
        super().on_message_complete()


class HeadResponseParser(ResponseParser):
    """For HEAD requests: a response ends with its head, whatever its Content-Length says
    (RFC 9110, 9.3.2). llhttp cannot be told the request's method, so the parse stops at the
    end of the head (``_HeadOnly``) and a fresh parser takes the bytes after it.
    """

    __slots__ = ()

    def feed(self, data: bytes) -> None:
        self._head.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadOnly):
                raise ResponseError(str(exc) or type(exc).__name__) from None
        except httptools.HttpParserError as exc:
            raise ResponseError(str(exc) or type(exc).__name__) from None
        else:
            return
        self._complete_head()  # outside the handler: a nested raise would hide _HeadOnly

    def on_headers_complete(self) -> None:
        raise _HeadOnly

    def _complete_head(self) -> None:
        head = b"".join(self._head)
        rest = head[head.index(b"\r\n\r\n") + 4 :]
        parser = self._parser
        status, keep_alive = parser.get_status_code(), parser.should_keep_alive()
        self._parser = httptools.HttpResponseParser(self)
        self._head.clear()
        self._on_response(status, keep_alive)
        if rest:
            self.feed(rest)


class HeadFullResponseParser(HeadResponseParser, FullResponseParser):
    """HEAD requests for a caller that reads the headers (the body is always empty)."""

    __slots__ = ()

    def _complete_head(self) -> None:
        self.last_headers, self._headers = self._headers, []
        self.last_body = b""
        super()._complete_head()


def parser_class(method: str, keep_responses: bool) -> type[ResponseParser]:
    """The parser for a request ``method``, keeping headers and bodies if ``keep_responses``."""
    if method.upper() == "HEAD":
        return HeadFullResponseParser if keep_responses else HeadResponseParser
    return FullResponseParser if keep_responses else ResponseParser


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
