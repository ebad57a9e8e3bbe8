"""Request sources: what a connection sends next, chosen once per run before the loop starts.

A connection asks its source for the bytes of its next request. ``StaticRequest`` (wrk's case
without a script: the same bytes every time) exposes them as ``static``, so the connection
writes them without a call, the fast path. A source that builds each request (a hook script)
returns ``static = None`` and answers ``next_request()``; one that reads the responses sets
``wants_responses`` and the connection's parser hands it each status, headers and body (wrk
decides the same once, in wrk.c main(): ``cfg.dynamic`` and ``script_want_response()``).
Sources are pickled into the worker processes. No I/O.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["RequestSource", "StaticRequest"]


class RequestSource(Protocol):
    """What a connection sends; one object per worker, shared by its connections."""

    @property
    def static(self) -> bytes | None:
        """The bytes of every request, if they never change (the fast path), else None."""
        ...

    @property
    def wants_responses(self) -> bool:
        """True to receive every response through ``response()``."""
        ...

    def next_request(self) -> bytes:
        """The bytes of the next request (called only when ``static`` is None)."""
        ...

    def response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """One complete response (called only when ``wants_responses``)."""
        ...


class StaticRequest:
    """The same request bytes for every request, built once (wrk without a script)."""

    __slots__ = ("static",)
    wants_responses = False

    def __init__(self, data: bytes) -> None:
        self.static: bytes | None = data

    def next_request(self) -> bytes:
        assert self.static is not None
        return self.static

    def response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        raise AssertionError("StaticRequest does not read responses")
