"""HTTP/1.1 without I/O: the request bytes, and a response parser that reports completed responses.

Owns framing. The parser takes bytes (``feed``) and the end of the stream (``feed_eof``) and calls
``on_response(status, keep_alive)`` once per completed *final* response; it imports neither asyncio
nor socket, so it is tested by feeding every split of a byte stream. Parsing is done by httptools
(llhttp, the successor of the http-parser that wrk embeds).

Rules, in the order a response goes through them:

- ``feed`` raises ResponseError, and nothing else, for bytes that are not an HTTP/1.x response
  (an exception raised by ``on_response`` itself propagates unchanged: it is the caller's bug).
- 1xx interim responses (``100 Continue``, ``102 Processing``, ``103 Early Hints``) are skipped:
  the final response to the same request follows them, and only it is counted. wrk counts each
  interim response as a request of its own (its http-parser reports each as a complete message,
  and ``response_complete`` counts every one); see the README's differences from wrk.
- ``101 Switching Protocols`` is a final response: the request got its answer, and what follows
  is another protocol that a load generator does not speak. It is reported with
  ``keep_alive=False`` (the caller closes the connection and opens a new one), and every byte
  after it is ignored. wrk counts it and sends its next request on the same connection.
- A body delimited by the end of the connection (no Content-Length, not chunked) is complete at
  ``feed_eof``; any other response that the end of the stream cuts short is not.

State: the first chunks of the current response, from the one it began in
(``on_message_begin``; empty between responses): httptools cannot be told about the end of the
stream, so ``feed_eof`` reads the response's head from them to decide whether its body ends
with the connection; a response that begins in the same chunk as the end of the one before it
is found in that chunk. No chunk is kept once its response is done: with 2000 connections
fetching 25 KB bodies, a chunk kept per connection (as this parser once kept the chunk in
which each response ended) made every ``read()`` copy into memory out of the cache
(docs/benchmarks.md). A caller that wants headers and bodies uses ``FullResponseParser``; HEAD
requests use ``HeadResponseParser``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httptools

from pyload.config import Target
from pyload.errors import UsageError

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
    headers: Iterable[tuple[str, str]] = (),
    method: str = "GET",
    body: bytes = b"",
    path: str | None = None,
    close: bool = False,
) -> bytes:
    """The bytes of one request, built once before the load starts (wrk's ``wrk.format``).

    As wrk: ``Host`` is the only default header (with ``:port`` only if the URL had one);
    ``-H`` overrides it and repeated names keep the last value; ``Content-Length`` is set from
    the body and dropped when there is none. Unlike wrk (whose Lua table is case-sensitive and
    hash-ordered), names are matched case-insensitively and kept in the order given.
    ``path`` replaces the URL's (a hook script's ``pyload.format``); ``close`` adds
    ``Connection: close`` (``--no-keepalive``), replacing any Connection header given.
    Text is sent as UTF-8, as wrk sends its arguments' bytes (``surrogateescape`` gives back
    the very bytes of a command-line argument that was not UTF-8).
    """
    fields: dict[str, tuple[str, str]] = {"host": ("Host", target.host_header)}
    for name, value in headers:
        fields[name.lower()] = (name, value)
    fields.pop("content-length", None)
    if body:
        fields["content-length"] = ("Content-Length", str(len(body)))
    if close:
        fields.pop("connection", None)
        fields["connection"] = ("Connection", "close")
    lines = [f"{method} {target.path if path is None else path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.values()]
    head = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return head.encode("utf-8", "surrogateescape") + body
    except UnicodeEncodeError as exc:  # a lone surrogate that no argument byte gives
        raise UsageError(f"cannot send {exc.object[exc.start : exc.end]!r} in a request") from None


class ResponseError(Exception):
    """The server sent bytes that are not an HTTP/1.x response."""


class _HeadOnly(Exception):
    """Raised from ``on_headers_complete`` to stop llhttp at the end of a HEAD response's head."""


SWITCHING_PROTOCOLS = 101


def _parse_error(exc: Exception, switched: bool) -> None:
    """Map an exception out of llhttp: the callback's own exception, if one raised; nothing
    after a 101 (the rest is another protocol); else ResponseError."""
    context = exc.__context__
    if isinstance(exc, httptools.HttpParserCallbackError) and context is not None:
        raise context
    if not switched:
        raise ResponseError(str(exc) or type(exc).__name__) from None


KEPT_CHUNKS = 4  # a response's first chunks kept for feed_eof; its head is read from them


class ResponseParser:
    """Frames responses on one connection; calls ``on_response(status, keep_alive)`` for each
    final response (1xx interim responses are skipped; 101 ends the HTTP stream).

    Keeps no body: only the first chunks of the current response (``KEPT_CHUNKS``), from the
    one it began in, which hold its head for ``feed_eof``; a response that takes more has its
    head read once from them, and then only whether its body ends with the connection is kept
    (8 connections fetching 100 MB bodies hold a few chunks each, not the bodies). Nothing is
    kept once a response is done. httptools calls into Python twice per response, at its
    beginning and at its end.
    """

    __slots__ = ("_chunk", "_ends_at_eof", "_head", "_on_response", "_parser", "_switched")

    def __init__(self, on_response: Callable[[int, bool], None] | None = None) -> None:
        self._on_response = self.on_response if on_response is None else on_response
        self._parser = httptools.HttpResponseParser(self)
        # The first chunks of the current response, from the one it began in (which may hold
        # the end of the previous response too); empty between responses.
        self._head: list[bytes] = []
        self._ends_at_eof: bool | None = None  # a long response's head, read: see _keep_long
        self._chunk = b""  # the chunk being parsed, during feed only
        self._switched = False  # a 101 was received: the rest is not HTTP

    def feed(self, data: bytes) -> None:
        """Parse a chunk; raise ResponseError if it is not HTTP."""
        if self._switched:
            return
        self._chunk = data
        head = self._head
        if head:  # a response goes on in this chunk
            if len(head) < KEPT_CHUNKS:
                head.append(data)
            else:
                self._keep_long(head)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._chunk = b""
            _parse_error(exc, self._switched)
            return
        self._chunk = b""  # not kept past the parse (see the module's docstring)

    def _keep_long(self, head: list[bytes]) -> None:
        """A response that goes on past KEPT_CHUNKS chunks: once its head is complete in them,
        read it, keep whether its body ends with the connection, and drop the chunks (empty
        ones stay in their place, so that the next chunks come here too); until then keep the
        chunk being parsed."""
        if self._ends_at_eof is not None:
            return
        status = self._parser.get_status_code()
        found = _current_head(b"".join(head), status)
        if found is None:  # a head longer than the chunks kept (or chunks of a few bytes)
            head.append(self._chunk)
            return
        self._ends_at_eof = _delimited_by_eof(status, found.headers)
        head[:] = [b""] * KEPT_CHUNKS

    def feed_eof(self) -> bool:
        """The peer closed the stream. Return True if that completed a response.

        A body delimited by the end of the connection (no Content-Length, not chunked) is
        complete at EOF. wrk counts such a response as a request *and* a read error (its parser
        is not in the "message done" state); pyload counts it as a request only.
        """
        if self._switched or not self._head:
            return False
        ends_at_eof = self._ends_at_eof
        if ends_at_eof is None:
            status = self._parser.get_status_code()
            found = _current_head(b"".join(self._head), status)
            ends_at_eof = found is not None and _delimited_by_eof(status, found.headers)
        if not ends_at_eof:
            return False
        self.on_message_complete()
        return True

    def on_response(self, status: int, keep_alive: bool) -> None:
        """A final response is complete: what a subclass that is its own caller overrides (the
        engine's connection is its parser: one object per connection, one call less per
        response), when no ``on_response`` is given."""
        raise NotImplementedError

    def on_message_begin(self) -> None:
        """httptools' callback: a response begins in the chunk being parsed; keep it."""
        self._head.append(self._chunk)

    def on_message_complete(self) -> None:
        """httptools' callback: a response is complete. Only final responses are reported."""
        self._head.clear()
        self._ends_at_eof = None
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:
            if status != SWITCHING_PROTOCOLS:
                return  # interim: the final response follows
            self._switched = True
            self._on_response(status, False)
            return
        self._on_response(status, parser.should_keep_alive())


class FullResponseParser(ResponseParser):
    """A ResponseParser that also keeps each response's headers and body, for a caller that
    reads them (``last_headers`` and ``last_body`` during ``on_response``).

    Only this class defines httptools' ``on_header`` and ``on_body`` callbacks, so a caller
    that does not ask for them pays nothing for them.
    """

    # No __slots__: with them, a class could not derive from both this and another subclass
    # of ResponseParser with slots of its own (the engine's connection). Not on the hot path.

    def __init__(self, on_response: Callable[[int, bool], None] | None = None) -> None:
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
    end of the head (``_HeadOnly``) and a fresh parser takes the bytes after it. Interim and
    101 responses follow the rules of ResponseParser.
    """

    __slots__ = ()

    on_message_begin = None  # type: ignore[assignment]  # its feed keeps every chunk itself

    def feed_eof(self) -> bool:
        """A HEAD response ends with its head: the end of the stream completes none."""
        return False

    def feed(self, data: bytes) -> None:
        if self._switched:
            return
        self._head.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadOnly):
                _parse_error(exc, self._switched)
                return
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            _parse_error(exc, self._switched)
            return
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
        if status < 200:
            if status == SWITCHING_PROTOCOLS:
                self._switched = True
                self._on_response(status, False)
                return
        else:
            self._on_response(status, keep_alive)
        if rest:
            self.feed(rest)


class HeadFullResponseParser(HeadResponseParser, FullResponseParser):
    """HEAD requests for a caller that reads the headers (the body is always empty)."""

    def _complete_head(self) -> None:
        self.last_headers, self._headers = self._headers, []
        self.last_body = b""
        super()._complete_head()


def parser_class(method: str, keep_responses: bool) -> type[ResponseParser]:
    """The parser for a request ``method``, keeping headers and bodies if ``keep_responses``."""
    if method.upper() == "HEAD":
        return HeadFullResponseParser if keep_responses else HeadResponseParser
    return FullResponseParser if keep_responses else ResponseParser


class _HeadCheck:
    """A throwaway parser's protocol: the head llhttp read, and whether a whole response was."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.head = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head = True

    def on_message_complete(self) -> None:
        self.complete = True


def _unfinished_response(data: bytes, status: int) -> _HeadCheck | None:
    """The head of ``data`` if it is a complete head with this status, followed by a body that
    has not ended; else None."""
    check = _HeadCheck()
    parser = httptools.HttpResponseParser(check)
    try:
        parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return None
    if check.head and not check.complete and parser.get_status_code() == status:
        return check
    return None


def _current_head(data: bytes, status: int) -> _HeadCheck | None:
    """The current response's head, given the chunks kept from the one it began in; None if it
    is not there.

    The common case: the response began with a chunk of its own (``data`` starts with it). Else
    it began in a chunk that held the end of the previous response too (an interim response, or
    a server that sent more than it was asked): llhttp does not say where, so the first status
    line there that starts a complete head with the status llhttp read, and no whole response,
    is taken. A body that itself held such a status line could mislead this; it is only asked
    at EOF.
    """
    found = _unfinished_response(data, status)
    if found is not None:
        return found
    start = data.find(b"HTTP/", 1)
    while start != -1 and found is None:
        found = _unfinished_response(data[start:], status)
        start = data.find(b"HTTP/", start + 1)
    return found


def _delimited_by_eof(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """True if a response's body ends with the connection (RFC 9112, 6.3): it may have a body
    (not 1xx, 204 or 304), and declares neither chunked as its final coding nor a length. A
    Transfer-Encoding that does not end in chunked is read until the close, as llhttp does."""
    if status < 200 or status in (204, 304):
        return False
    codings = b",".join(value for name, value in headers if name == b"transfer-encoding")
    if codings:
        return codings.rsplit(b",", 1)[-1].strip().lower() != b"chunked"
    return all(name != b"content-length" for name, _ in headers)
