"""The request bytes and the response parser, on bytes alone: every split of every stream."""

from __future__ import annotations

import functools
import itertools

import pytest

from pyload._http11 import ResponseError, ResponseParser, build_request
from pyload.config import Target
from pyload.errors import UsageError

CL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
)
CLOSE = b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
HTTP10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
EOF_BODY = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class Recorder:
    def __init__(self) -> None:
        self.responses: list[tuple[int, bool]] = []
        self.parser = ResponseParser(lambda status, keep: self.responses.append((status, keep)))


def feed_split(stream: bytes, cut: int, second_cut: int | None = None) -> Recorder:
    rec = Recorder()
    cuts = [0, cut, *([] if second_cut is None else [second_cut]), len(stream)]
    for start, end in itertools.pairwise(cuts):
        if end > start:
            rec.parser.feed(stream[start:end])
    return rec


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (CL, [(200, True)]),
        (CHUNKED, [(404, True)]),
        (CLOSE, [(500, False)]),
        (HTTP10, [(200, False)]),
        (NO_CONTENT, [(204, True)]),
        (CL + CHUNKED + CL, [(200, True), (404, True), (200, True)]),
    ],
    ids=["content-length", "chunked", "connection-close", "http10", "204", "three-in-a-row"],
)
def test_every_split_gives_the_same_responses(stream: bytes, expected: list[tuple[int, bool]]):
    for cut in range(len(stream) + 1):
        assert feed_split(stream, cut).responses == expected, cut
    for cut in range(0, len(stream), 7):
        for second in range(cut, len(stream), 5):
            assert feed_split(stream, cut, second).responses == expected, (cut, second)


def test_byte_at_a_time():
    rec = Recorder()
    for i in range(len(CHUNKED)):
        rec.parser.feed(CHUNKED[i : i + 1])
    assert rec.responses == [(404, True)]


def test_eof_completes_a_body_delimited_by_the_end_of_the_connection():
    for cut in range(len(EOF_BODY) + 1):
        rec = feed_split(EOF_BODY, cut)
        assert rec.responses == []
        assert rec.parser.feed_eof() is True
        assert rec.responses == [(200, False)]


@pytest.mark.parametrize(
    "stream",
    [
        b"",  # nothing at all: a request in flight
        b"HTTP/1.1 200 OK\r\nContent-Le",  # half a head
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",  # half a body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # half a chunk
    ],
)
def test_eof_before_the_end_of_a_framed_response_completes_nothing(stream: bytes):
    rec = Recorder()
    if stream:
        rec.parser.feed(stream)
    assert rec.parser.feed_eof() is False
    assert rec.responses == []


def test_eof_after_a_complete_response_completes_nothing_more():
    rec = feed_split(CL, 3)
    assert rec.parser.feed_eof() is False
    assert rec.responses == [(200, True)]


@pytest.mark.parametrize(
    "garbage",
    [
        b"HTTP/1.1 2x0 NOPE\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_malformed_responses_raise(garbage: bytes):
    rec = Recorder()
    with pytest.raises(ResponseError):
        rec.parser.feed(garbage)


def test_request_bytes_are_wrks_by_default():
    target = Target.parse("http://127.0.0.1:18090/")
    assert build_request(target) == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n\r\n"


def test_host_header_has_a_port_only_if_the_url_had_one():
    assert b"Host: example.test\r\n" in build_request(Target.parse("http://example.test/x"))
    assert b"Host: [::1]:8080\r\n" in build_request(Target.parse("http://[::1]:8080/"))


def test_headers_override_case_insensitively_and_keep_their_order():
    target = Target.parse("http://127.0.0.1:1/p?q=1")
    request = build_request(
        target, (("X-One", "1"), ("host", "other"), ("X-One", "2"), ("Content-Length", "5"))
    )
    # wrk would keep both "host" and "Host" and send the stale Content-Length without a body.
    assert request == b"GET /p?q=1 HTTP/1.1\r\nhost: other\r\nX-One: 2\r\n\r\n"


def test_a_body_gets_its_content_length():
    request = build_request(Target.parse("http://h:1/"), (), method="POST", body=b"abc")
    assert request.endswith(b"Content-Length: 3\r\n\r\nabc")
    assert request.startswith(b"POST / HTTP/1.1\r\n")


def test_the_parser_keeps_no_body():
    # 50 MB in fresh 64 KiB chunks: a parser that kept them would hold 50 MB.
    import tracemalloc

    seen: list[tuple[int, bool]] = []
    parser = ResponseParser(lambda status, keep: seen.append((status, keep)))
    size, chunk = 50 * 2**20, 64 * 1024
    tracemalloc.start()
    try:
        parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // chunk):
            parser.feed(bytes(chunk))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == [(200, True)]
    assert peak < 2 * 2**20, peak


@pytest.mark.parametrize("cut", range(1, 40))
def test_full_parser_hands_over_headers_and_body_at_every_split(cut: int):
    from pyload._http11 import FullResponseParser

    stream = CL + CHUNKED
    got: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
    parser = FullResponseParser(
        lambda status, keep: got.append((status, parser.last_headers, parser.last_body))
    )
    parser.feed(stream[:cut])
    parser.feed(stream[cut:])
    assert got == [
        (200, [(b"Content-Length", b"5"), (b"Server", b"t")], b"hello"),
        (404, [(b"Transfer-Encoding", b"chunked")], b"hello!"),
    ]


@pytest.mark.parametrize("cut", range(1, 60))
def test_head_parser_ends_each_response_with_its_head(cut: int):
    from pyload._http11 import HeadResponseParser

    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    stream = head + head + NO_CONTENT
    seen: list[tuple[int, bool]] = []
    parser = HeadResponseParser(lambda status, keep: seen.append((status, keep)))
    parser.feed(stream[:cut])
    parser.feed(stream[cut:])
    assert seen == [(200, True), (200, True), (204, True)]


def test_head_parser_still_refuses_garbage():
    from pyload._http11 import HeadResponseParser

    parser = HeadResponseParser(lambda status, keep: None)
    with pytest.raises(ResponseError):
        parser.feed(b"HTTP/1.1 2x0 NOPE\r\n\r\n")


# -- 1xx interim responses, 101, and responses that share a read -----------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (CONTINUE + CL, [(200, True)]),
        (HINTS + PROCESSING + CONTINUE + CHUNKED, [(404, True)]),
        (CONTINUE + CL + CONTINUE + NO_CONTENT, [(200, True), (204, True)]),
        (CONTINUE + CLOSE, [(500, False)]),
    ],
    ids=["100-then-200", "103-102-100-then-chunked", "two-requests", "100-then-close"],
)
def test_interim_responses_are_skipped_at_every_split(
    stream: bytes, expected: list[tuple[int, bool]]
):
    # wrk counts each interim response as a request of its own (tests/test_faults.py).
    for cut in range(len(stream) + 1):
        for second in (cut, (cut + len(stream)) // 2):
            assert feed_split(stream, cut, second).responses == expected, (cut, second)


@pytest.mark.parametrize("before", [CONTINUE, HINTS + CONTINUE, CL, CL + CHUNKED + NO_CONTENT])
def test_a_body_ended_by_close_after_other_responses_in_the_same_read(before: bytes):
    """The head of a response that begins in the read where the one before it ended is found
    there at EOF, wherever the stream was split."""
    stream = before + EOF_BODY
    finals = len(feed_split(before, len(before)).responses)
    for cut in range(len(stream) + 1):
        rec = feed_split(stream, cut)
        assert len(rec.responses) == finals, cut
        assert rec.parser.feed_eof() is True, cut
        assert rec.responses[-1] == (200, False)


def test_switching_protocols_is_a_final_response_and_ends_the_http_stream():
    for head in (SWITCH, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"):
        stream = CONTINUE + head + b"\x81\x05hello" + CL  # a frame of another protocol, then bytes
        for cut in range(len(stream) + 1):
            rec = feed_split(stream, cut)
            # Counted once, not kept alive: the caller closes the connection; the rest is ignored.
            assert rec.responses == [(101, False)], cut
            rec.parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            assert rec.parser.feed_eof() is False
            assert rec.responses == [(101, False)]


def record(seen: list[tuple[int, bool]], status: int, keep_alive: bool) -> None:
    seen.append((status, keep_alive))


def test_head_parser_skips_interim_responses_and_stops_at_101():
    from pyload._http11 import HeadResponseParser

    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    for stream, expected in [
        (CONTINUE + head + HINTS + NO_CONTENT, [(200, True), (204, True)]),
        (SWITCH + head, [(101, False)]),
    ]:
        for cut in range(len(stream) + 1):
            seen: list[tuple[int, bool]] = []
            parser = HeadResponseParser(functools.partial(record, seen))
            parser.feed(stream[:cut])
            parser.feed(stream[cut:])
            assert seen == expected, cut


def test_full_parser_hands_over_the_final_response_not_the_interim():
    from pyload._http11 import FullResponseParser

    got: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
    parser = FullResponseParser(
        lambda status, keep: got.append((status, parser.last_headers, parser.last_body))
    )
    parser.feed(HINTS + CL)
    assert got == [(200, [(b"Content-Length", b"5"), (b"Server", b"t")], b"hello")]


@pytest.mark.parametrize(
    ("coding", "by_eof"),
    [(b"gzip", True), (b"chunked, gzip", True), (b"gzip, chunked", False)],
)
def test_a_transfer_coding_not_ending_in_chunked_is_read_until_the_close(
    coding: bytes, by_eof: bool
):
    stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
    rec = feed_split(stream, len(stream))
    assert rec.parser.feed_eof() is by_eof  # the chunked one is cut short: not complete
    assert rec.responses == ([(200, False)] if by_eof else [])


def test_an_exception_of_the_callback_is_not_taken_for_a_bad_response():
    from pyload._http11 import HeadResponseParser

    class CallerBug(Exception):
        pass

    def on_response(status: int, keep_alive: bool) -> None:
        raise CallerBug(status)

    for parser_class in (ResponseParser, HeadResponseParser):
        with pytest.raises(CallerBug):
            parser_class(on_response).feed(CL)


def test_text_beyond_latin_1_is_sent_as_utf_8_as_wrk_sends_its_arguments():
    target = Target.parse("http://127.0.0.1:1/caf\u00e9/\u20ac")
    request = build_request(target, (("X-Price", "10 \u20ac"), ("X-Raw", "\udcff")))
    # \udcff: a command-line byte that was not UTF-8 (surrogateescape), sent back as that byte
    assert request.startswith("GET /caf\u00e9/\u20ac HTTP/1.1\r\n".encode())
    assert "X-Price: 10 \u20ac\r\n".encode() in request and b"X-Raw: \xff\r\n" in request
    with pytest.raises(UsageError, match=r"cannot send '\\ud800' in a request"):
        build_request(target, (("X-Bad", "\ud800"),))


def test_no_chunk_is_kept_once_its_response_is_done():
    """A chunk is kept only while a response that began in it is not done (``feed_eof`` may
    need its head): with 2000 connections fetching 25 KB bodies, one chunk kept per connection
    made every read slower (docs/benchmarks.md)."""
    import sys

    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 25000\r\n\r\n" + bytes(25_000)
    parser = ResponseParser(lambda status, keep: None)
    refs = sys.getrefcount(whole)
    parser.feed(whole)
    assert sys.getrefcount(whole) == refs  # a whole response in one chunk: nothing kept
    begins = whole[:-10] + b""  # a fresh object: the body's end comes in the next chunk
    refs = sys.getrefcount(begins)
    parser.feed(begins)
    assert sys.getrefcount(begins) == refs + 1  # its response goes on: kept for feed_eof
    next_begins = whole[-10:] + b"HTTP/1.1 200 OK\r\nContent-"  # the next head, cut short
    next_refs = sys.getrefcount(next_begins)
    parser.feed(next_begins)
    assert sys.getrefcount(begins) == refs  # its response is done
    assert sys.getrefcount(next_begins) == next_refs + 1  # where the next one began


@pytest.mark.parametrize(
    ("head", "by_eof"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", True),
    ],
)
def test_a_long_response_is_judged_at_eof_from_its_head_alone(head: bytes, by_eof: bool):
    """Past its first chunks, a response's head is read once and its chunks are dropped; EOF is
    judged from that head, whichever chunk the head ended in."""
    import sys

    for cut in (len(head) // 3, len(head), len(head) + 5):
        rec = Recorder()
        stream = CL + head + b"x" * 50
        split = len(CL) + cut
        rec.parser.feed(stream[:split])  # a whole response, then the next one begins
        rec.parser.feed(stream[split:])
        chunks = [b"y" * 1000 + bytes([i]) for i in range(20)]
        for chunk in chunks:
            rec.parser.feed(chunk)
        del chunk
        never_fed = [b"y" * 1000 + b"\xff"]
        refs = sys.getrefcount(never_fed[0])
        assert [sys.getrefcount(chunk) for chunk in chunks] == [refs] * len(chunks)  # none kept
        assert rec.parser.feed_eof() is by_eof, cut
        assert rec.responses == [(200, True)] + ([(200, False)] if by_eof else [])
