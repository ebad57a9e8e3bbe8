"""Request sources: what a connection sends next, chosen once per run before the loop starts.

A connection asks its source for the bytes of its next request. ``StaticRequest`` (wrk's case
without a script: the same bytes every time) exposes them as ``static``, so the connection
writes them without a call, the fast path. A source that builds each request (a hook script)
returns ``static = None`` and answers ``next_request()``; one that reads the responses sets
``wants_responses`` and the connection's parser hands it each status, headers and body (wrk
decides the same once, in wrk.c main(): ``cfg.dynamic`` and ``script_want_response()``).
Sources are pickled into the worker processes. No I/O.

A source's life in its worker process (a hook script's, hooks.py; the others' are no-ops):
``start()`` before the common start (the script's ``init()``: static, wants_responses and
delays are read after it), ``bind(stop)`` when the thread's LoadThread exists (``stop(None)``: the
script ends this thread's load, ``thread.stop()``; ``stop(error)``: a hook raised, and the
source is inert from then on), ``finish()`` after the load (what goes back to the parent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pyload.errors import HookError

__all__ = ["RequestSource", "SourceDefaults", "StaticRequest"]


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

    # -- hooks (hooks.py): delay, pipelining, the life cycle -------------------------------

    @property
    def delays(self) -> bool:
        """True to wait ``delay_s()`` before each request (wrk's ``delay()`` hook)."""
        ...

    @property
    def pipelined(self) -> int:
        """How many requests each write carries (wrk's pipeline depth; 1 but for a script)."""
        ...

    def delay_s(self) -> float:
        """Seconds to wait before the next request (called only when ``delays``)."""
        ...

    def start(self) -> None:
        """In the worker process, before the common start; raises HookError."""
        ...

    def bind(self, stop: Callable[[HookError | None], None]) -> None:
        """Give the source its thread's way to end the load (see the module's docstring)."""
        ...

    def finish(self) -> dict[str, Any]:
        """After the load: values for the parent (a script's globals, for ``done()``)."""
        ...


class SourceDefaults:
    """The hooks' part of RequestSource for a source that needs none of it: no delay, one
    request per write, nothing to do before or after the load. Inherit it."""

    __slots__ = ()
    delays = False
    pipelined = 1

    def delay_s(self) -> float:
        raise AssertionError(f"{type(self).__name__} does not delay")

    def start(self) -> None:
        pass

    def bind(self, stop: Callable[[HookError | None], None]) -> None:
        pass

    def finish(self) -> dict[str, Any]:
        return {}


class StaticRequest(SourceDefaults):
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
