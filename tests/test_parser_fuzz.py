"""The response parser against random and mutated byte streams (hypothesis), on bytes alone.

A stream is a sequence of valid responses (statuses, versions, Content-Length, chunked with
extensions and trailers, 1xx interim responses before a final one, a body ended by the close
last, ``101`` last with bytes of another protocol after it), fed in random pieces. The rules:

- Valid streams, fed in any pieces: exactly the final responses, in order, with their
  keep-alive; ``feed_eof`` completes the last one if and only if its body ends with the close.
  Nothing raises.
- Mutated streams (bits flipped, bytes replaced, inserted, deleted, a range repeated, the
  stream cut short): ``feed`` and ``feed_eof`` raise nothing but ResponseError; every response
  that ended before the first changed byte is reported as it was; no more responses are
  reported than the stream has status lines (``HTTP/``), none of them interim; the outcome
  (responses, error, end) is the same however the bytes are split. So the worker's counts add
  up: one request per reported response, and one read error for a stream that failed or ended
  with a request unanswered, never a response counted twice or out of nothing.

Bodies are lowercase text: a response that begins in the read where the previous one ended,
and whose body runs to the close, is found at EOF by its status line (http11._current_head),
which a body holding a status line could mislead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyload._http11 import ResponseError, ResponseParser

FUZZ = settings(max_examples=200, deadline=None, database=None)
BODY_TEXT = st.text("abcdefghijklmnopqrstuvwxyz0123456789 ", max_size=40)
FINAL_STATUSES = st.sampled_from([200, 201, 204, 206, 301, 304, 400, 404, 500, 503]) | st.integers(
    200, 999
)


@dataclass(frozen=True)
class Stream:
    data: bytes
    expected: list[tuple[int, bool]]  # the final responses, as on_response gets them
    ends: list[int]  # where each expected response ends in data (the last: len(data) if by EOF)
    eof_completes: bool  # the last response's body ends with the close


@st.composite
def one_response(draw: Any, last: bool) -> tuple[bytes, tuple[int, bool], bool]:
    """(bytes, (status, keep_alive), delimited by EOF) of one response and its interims."""
    interims = b"".join(
        b"HTTP/1.1 %d Interim\r\n%s\r\n" % (code, b"Link: </a>\r\n" if code == 103 else b"")
        for code in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2))
    )
    if last and draw(st.integers(0, 9)) == 0:  # 101, then another protocol's bytes
        head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"
        return interims + head + draw(st.binary(max_size=20)), (101, False), False
    status = draw(FINAL_STATUSES)
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    bodiless = status in (204, 304)
    framings = (
        ["length"] if bodiless else ["length", "chunked"] if version == b"1.1" else ["length"]
    )
    if last and not bodiless:
        framings.append("eof")
    framing = draw(st.sampled_from(framings))
    # Only the last response may end the connection (llhttp refuses bytes after it).
    close = last and draw(st.booleans())
    headers = [b"X-Fuzz: %s" % draw(BODY_TEXT).encode()] if draw(st.booleans()) else []
    if version == b"1.0" and not close and framing != "eof":
        headers.append(b"Connection: keep-alive")
    if close:
        headers.append(b"Connection: close")
    body = b"" if bodiless else draw(BODY_TEXT).encode()
    if framing == "length":
        if not bodiless:
            headers.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        payload = b""
        rest = body
        while rest:
            size = draw(st.integers(1, len(rest)))
            hexsize = f"{size:x}".encode()
            hexsize = hexsize.upper() if draw(st.booleans()) else hexsize
            extension = b";ext=1" if draw(st.booleans()) else b""
            payload += hexsize + extension + b"\r\n" + rest[:size] + b"\r\n"
            rest = rest[size:]
        payload += b"0\r\n" + (b"Trailer: t\r\n" if draw(st.booleans()) else b"") + b"\r\n"
    else:
        payload = body
    head = b"HTTP/%s %d Reason\r\n" % (version, status) + b"".join(h + b"\r\n" for h in headers)
    keep_alive = framing != "eof" and not close  # HTTP/1.0: with its keep-alive header
    return interims + head + b"\r\n" + payload, (status, keep_alive), framing == "eof"


@st.composite
def streams(draw: Any) -> Stream:
    count = draw(st.integers(1, 4))
    data, expected, ends, eof = b"", [], [], False
    for i in range(count):
        response, final, eof = draw(one_response(last=i == count - 1))
        data += response
        expected.append(final)
        ends.append(len(data))
    if expected[-1][0] == 101:  # everything after its head is ignored: it ends at its head
        ends[-1] = data.rindex(b"Connection: Upgrade\r\n\r\n") + len(b"Connection: Upgrade\r\n\r\n")
    return Stream(data, expected, ends, eof)


@dataclass(frozen=True)
class Outcome:
    responses: tuple[tuple[int, bool], ...]
    error: bool  # feed raised ResponseError (the worker counts a read error and reconnects)
    eof_completed: bool | None  # feed_eof's answer (None: not asked, after an error)


def parse(data: bytes, cuts: list[int]) -> Outcome:
    """Feed ``data`` cut at ``cuts``, then the end of the stream, as the worker does."""
    seen: list[tuple[int, bool]] = []
    parser = ResponseParser(lambda status, keep_alive: seen.append((status, keep_alive)))
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
    try:
        for start, end in itertools.pairwise(bounds):
            if end > start:
                parser.feed(data[start:end])
    except ResponseError:
        return Outcome(tuple(seen), True, None)
    completed = parser.feed_eof()
    return Outcome(tuple(seen), False, completed)


def cut_points(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, max(len(data), 1)), max_size=8)


# -- valid streams: exactly what they hold -------------------------------------------------


@given(data=st.data())
@FUZZ
def test_a_valid_stream_gives_its_responses_however_it_is_split(data: Any):
    stream = data.draw(streams(), label="stream")
    cuts = data.draw(cut_points(stream.data), label="cuts")
    outcome = parse(stream.data, cuts)
    assert outcome == Outcome(tuple(stream.expected), False, stream.eof_completes), (stream, cuts)


@given(stream=streams())
@settings(max_examples=25, deadline=None, database=None)
def test_a_valid_stream_split_at_every_point(stream: Stream):
    whole = parse(stream.data, [])
    assert whole.responses == tuple(stream.expected) and not whole.error
    assert whole.eof_completed is stream.eof_completes
    for cut in range(len(stream.data) + 1):
        assert parse(stream.data, [cut]) == whole, cut
    assert parse(stream.data, list(range(len(stream.data)))) == whole  # a byte at a time


# -- mutated streams: only ResponseError, and the counts still add up -----------------------

MUTATIONS = ["flip", "replace", "insert", "delete", "repeat", "truncate"]


@st.composite
def mutated(draw: Any) -> tuple[Stream, bytes]:
    stream = draw(streams())
    data = bytearray(stream.data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b"\r\n", b"HTTP/1.1 200 OK\r\n", b"0\r\n\r\n", b":", b" ", b"\x00"]))  # fmt: skip
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
        elif kind == "truncate":
            del data[at:]
    return stream, bytes(data)


def first_difference(original: bytes, changed: bytes) -> int:
    for i, (a, b) in enumerate(zip(original, changed, strict=False)):
        if a != b:
            return i
    return min(len(original), len(changed))


@given(case=mutated(), data=st.data())
@FUZZ
def test_a_mutated_stream_raises_only_response_error_and_keeps_its_counts(
    case: tuple[Stream, bytes], data: Any
):
    stream, changed = case
    cuts = data.draw(cut_points(changed), label="cuts")
    outcome = parse(changed, cuts)  # anything but ResponseError fails the test here
    # The same bytes give the same outcome, whatever the pieces.
    assert parse(changed, []) == outcome
    assert parse(changed, list(range(len(changed)))) == outcome
    # Every response that ended before the first changed byte is reported, as it was.
    intact = first_difference(stream.data, changed)
    completed_by_eof = len(stream.data) if stream.eof_completes else -1
    before = [
        final
        for final, end in zip(stream.expected, stream.ends, strict=True)
        if end <= intact and end != completed_by_eof  # that one needs the end of the stream
    ]
    if changed != stream.data:
        assert list(outcome.responses[: len(before)]) == before, (outcome, before)
    # Nothing out of nothing: one status line at least per reported response, none interim,
    # nothing after a 101.
    assert len(outcome.responses) <= changed.count(b"HTTP/")
    assert all(status >= 200 or status == 101 for status, _ in outcome.responses)
    assert all(status != 101 for status, _ in outcome.responses[:-1])


@given(noise=st.binary(max_size=300), data=st.data())
@FUZZ
def test_random_bytes_raise_only_response_error(noise: bytes, data: Any):
    prefix = data.draw(st.sampled_from([b"", b"HTTP/1.1 ", b"HTTP/1.1 200 OK\r\n"]))
    stream = prefix + noise
    outcome = parse(stream, data.draw(cut_points(stream)))
    assert parse(stream, []) == outcome
    assert len(outcome.responses) <= stream.count(b"HTTP/")
