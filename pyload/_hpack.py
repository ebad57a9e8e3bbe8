"""HPACK for HTTP/2, without a dynamic table: request header blocks built once, and a response's
block read for its status (or decoded in full for a hook script).

The hpack package is imported by the functions that use it, not with this module: the engine
imports this module for every run, and an HTTP/1.1 run's start imports only what its load needs
(docs/architecture.md, "What a run imports")."""

from __future__ import annotations

from collections.abc import Iterable

import httptools

from pyload.config import Target
from pyload.errors import UsageError

__all__ = [
    "MAX_BLOCK_SIZE",
    "STATIC_STATUS",
    "ProtocolError",
    "decode_fields",
    "decode_status",
    "encode_request_block",
    "requests_from_http11",
]

MAX_BLOCK_SIZE = 16_384  # a request's block in one HEADERS frame of the smallest size allowed

# HPACK's static table entries for :status (RFC 7541, appendix A): indexes 8 to 14.
STATIC_STATUS = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}
_CONNECTION_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}
)


class ProtocolError(Exception):
    """The server sent bytes that are not HTTP/2, or broke a rule a client must treat as a
    connection error."""


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
    import hpack  # an HTTP/2 run's setup (the module docstring says why here)

    try:
        encoded = [
            hpack.NeverIndexedHeaderTuple(
                name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")
            )
            for name, value in [*pseudo, *fields.values()]
        ]
    except UnicodeEncodeError as exc:  # a lone surrogate that no argument byte gives
        raise UsageError(f"cannot send {exc.object[exc.start : exc.end]!r} in a request") from None
    block = bytes(hpack.Encoder().encode(encoded, huffman=True))
    if len(block) > MAX_BLOCK_SIZE:  # one HEADERS frame of the smallest size a server takes
        raise UsageError(f"request headers too large for HTTP/2: {len(block)} bytes")
    return block


class _RequestReader:
    """httptools' callbacks for ``requests_from_http11``: each request's parts, in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.parsed: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self.method = ""
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self.method = self.parser.get_method().decode("ascii")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path = self.url.decode("utf-8", "surrogateescape")
        self.parsed.append((self.method, path, self.headers, b"".join(self.body)))
        self.method, self.url, self.headers, self.body = "", b"", [], []


def requests_from_http11(data: bytes, target: Target) -> list[tuple[bytes, bytes]]:
    """The HTTP/2 requests (header block, body) that the HTTP/1.1 request bytes ``data`` hold,
    in order: a hook script builds its requests as HTTP/1.1 bytes (``wrk.format``), on either
    protocol. ``Host`` becomes ``:authority``; UsageError if ``data`` is not whole requests."""
    reader = _RequestReader()
    try:
        reader.parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise UsageError(f"not an HTTP/1.1 request to send over HTTP/2: {exc}") from None
    if not reader.parsed or reader.method or reader.url or reader.headers or reader.body:
        raise UsageError(f"not whole HTTP/1.1 requests to send over HTTP/2: {data[:60]!r}")
    return [
        (encode_request_block(target, headers, method, path), body)
        for method, path, headers, body in reader.parsed
    ]


def decode_status(block: bytes) -> int:
    """The :status of a response header block (0 if it has none). The common statuses are one
    static table byte; anything else goes through hpack's decoder, with no dynamic table."""
    start = 0
    while start < len(block) and block[start] & 0xE0 == 0x20:  # dynamic table size updates
        if block[start] != 0x20:
            break  # a size above 0 needs the full decoder (which refuses it)
        start += 1
    status = STATIC_STATUS.get(block[start]) if start < len(block) else None
    if status is not None:
        return status
    return decode_fields(block)[0]  # a status beyond the static table's: the whole block


def decode_fields(block: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """A response header block decoded in full (no dynamic table): its :status (0 if none) and
    its other fields, as a hook script's ``response`` hook gets them."""
    import hpack  # (the module docstring says why here)

    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 0
    decoder.header_table_size = 0
    try:
        fields = decoder.decode(block, raw=True)
    except hpack.HPACKError as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    status, headers = 0, []
    for name, value in fields:
        if name == b":status":
            if len(value) != 3 or not value.isdigit():
                raise ProtocolError(f"bad :status {bytes(value)!r}")
            status = int(value)
        else:
            headers.append((bytes(name), bytes(value)))
    return status, headers
