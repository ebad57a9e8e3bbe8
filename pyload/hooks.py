"""The API of ``-s`` hook scripts: what a script imports (``from pyload.hooks import ...``).

wrk's Lua scripts see a ``wrk`` table (wrk's SCRIPTING, src/script.c); a pyload script calls
these instead: ``format`` (wrk.format), ``lookup`` and ``connect`` (wrk.lookup, wrk.connect),
``current_thread()`` (wrk.thread), and gets ``Thread`` objects in ``setup`` and ``Stats`` in
``done`` (docs/hooks.md). The machinery that loads a script and calls its hooks, in the parent
and in each thread's process, is ``_script``; this module holds no run state but ``_current``,
the script context whose hook runs now (set by ``_script`` before each hook).

A hook that is not defined costs nothing: the connection never asks for it (_sources.py).
The script may set the request with the globals ``method``, ``path``, ``headers`` (added to
``-H``'s) and ``body``, as wrk's scripts set ``wrk.method`` and the rest.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pyload._net import can_connect, resolve
from pyload.config import Config
from pyload.errors import ScriptError

if TYPE_CHECKING:
    from pyload._stats import ExactHistogram

__all__ = [
    "Address",
    "Stats",
    "Thread",
    "connect",
    "current_thread",
    "format",
    "lookup",
]

_PLAIN = (type(None), bool, int, float, str, bytes)
_MAX_DEPTH = 64  # plain values nest at most this deep (wrk: Lua tables of plain values)


class ScriptContext(Protocol):
    """Where a hook runs (``_script``): the run's config, the thread (None in the parent's
    ``setup`` and ``done``) and the request builder behind ``format()``."""

    config: Config

    @property
    def thread(self) -> Thread | None: ...

    def format(
        self,
        method: str | None,
        path: str | None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        body: bytes | str | None,
    ) -> bytes: ...


_current: ScriptContext | None = None
"""The context whose hook runs now: what ``format()``, ``lookup()`` and ``current_thread()``
read. ``_script`` sets it before each hook (threads of one process share this module), so it
costs a store per call."""


# -- what scripts call -----------------------------------------------------------------------


def format(  # wrk.format's name, on purpose (shadows the builtin only here)
    method: str | None = None,
    path: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
) -> bytes:
    """The bytes of one request (wrk.format): what is not given comes from the run.

    ``method``, ``path`` and ``body`` default to the script's globals of those names, else to
    the command line's (``-m``, the URL's path, ``--body``/``--body-file``). The headers are
    ``-H``'s, then the script's global ``headers``, then these (a later name replaces an earlier
    one, case-insensitively); unlike wrk, given headers are added to the run's, not used alone.
    ``Host`` and ``Content-Length`` are set as wrk sets them; ``--no-keepalive`` adds
    ``Connection: close``. A str body is sent as UTF-8. Call it from the script (a hook or its
    top level): outside a run there are no defaults (ScriptError).
    """
    namespace = _current
    if namespace is None:
        raise ScriptError("pyload.format() builds requests for a -s script: call it in the script")
    return namespace.format(method, path, headers, body)


@dataclass(frozen=True)
class Address:
    """One resolved address (wrk's address userdata): what ``thread.addr`` holds; ``str()`` is
    ``host:port`` (``[host]:port`` for IPv6)."""

    family: int
    sockaddr: tuple[Any, ...]

    @property
    def pair(self) -> tuple[int, tuple[Any, ...]]:
        """``(family, sockaddr)``, as a socket's connect takes them."""
        return self.family, self.sockaddr

    @property
    def host(self) -> str:
        return str(self.sockaddr[0])

    @property
    def port(self) -> int:
        return int(self.sockaddr[1])

    def __str__(self) -> str:
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def current_thread() -> Thread:
    """The thread whose hook runs now (wrk's ``wrk.thread``), in a thread's hooks (``init``,
    ``delay``, ``request``, ``response``) and its top level: ``current_thread().stop()``."""
    thread = None if _current is None else _current.thread
    if thread is None:
        raise ScriptError("current_thread() is for a thread's hooks (init, delay, request...)")
    return thread


def lookup(host: str | None = None, port: int | str | None = None) -> list[Address]:
    """Every address ``host`` resolves to for TCP (wrk.lookup); the URL's host and port by
    default. ResolveError (``unable to resolve host:port reason``) if it does not resolve."""
    if host is None or port is None:
        if _current is None:
            raise ScriptError("pyload.lookup() without a host and port: call it in the script")
        target = _current.config.target
        host = target.host if host is None else host
        port = target.port if port is None else port
    found: list[Address] = []
    for family, sockaddr in resolve(host, port):
        address = Address(family, sockaddr)
        if address not in found:
            found.append(address)
    return found


def connect(address: Address) -> bool:
    """True if ``address`` accepts a TCP connection, closed at once (wrk.connect)."""
    return can_connect(address.family, address.sockaddr)


# -- the thread object -------------------------------------------------------------------------


class Thread:
    """One thread of the run as the script sees it (wrk's thread userdata).

    ``setup(thread)`` gets it in the parent; in the thread's worker, ``current_thread()``
    returns it. ``index`` (from 0) and ``args`` (the command-line arguments
    after the URL, also given to ``init``) are pyload's additions; ``addr`` is the address its
    connections go to (set it in ``setup``, from ``lookup()``, or as ``(host, port)`` with a
    numeric host); ``get``/``set`` pass values: in ``setup`` they set the thread's globals
    before its ``init`` (plain data only: None, bool, int, float, str, bytes, and lists, tuples
    and dicts of those), in ``done`` ``get`` reads the thread's globals as its load left them;
    in the worker they are the thread's own globals. ``stop()`` (in the worker's hooks) ends
    this thread's load; the others go on.
    """

    def __init__(
        self, index: int, args: Sequence[str], addr: Address, main: dict[str, Any] | None = None
    ) -> None:
        self.index = index
        self.args = list(args)
        self._addr = addr
        self._values: dict[str, Any] = {}  # set() in setup: the worker's globals before init
        self._main = main  # parent: the main namespace (get() before the load)
        self._final: dict[str, Any] | None = None  # parent: the thread's globals after the load
        self._namespace: dict[str, Any] | None = None  # worker: the thread's own globals
        self._stop: Callable[[], None] | None = None  # worker: ends this thread's load

    def __getstate__(self) -> dict[str, Any]:
        # What crosses into the worker: not the parent's namespace (functions do not pickle).
        return {**self.__dict__, "_main": None, "_final": None, "_stop": None}

    def __repr__(self) -> str:
        return f"<pyload thread {self.index} {self._addr}>"

    @property
    def addr(self) -> Address:
        return self._addr

    @addr.setter
    def addr(self, value: Address | tuple[str, int]) -> None:
        if self._namespace is not None:
            raise ScriptError("thread.addr can be set in setup() only")
        self._addr = _as_address(value)

    def get(self, name: str, default: Any = None) -> Any:
        if self._namespace is not None:
            return self._namespace.get(name, default)
        if self._final is not None and name in self._final:
            return self._final[name]
        if name in self._values:
            return self._values[name]
        if self._main is not None and name in self._main and is_plain(self._main[name]):
            return self._main[name]
        return default

    def set(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ScriptError(f"thread.set(): {name!r} is not a name")
        if self._namespace is not None:
            self._namespace[name] = value
            return
        if not is_plain(value):
            raise ScriptError(
                f"thread.set({name!r}): cannot transfer {type(value).__name__!r} to a thread"
                " (only None, bool, int, float, str, bytes, and lists, tuples and dicts of them)"
            )
        self._values[name] = value

    def stop(self) -> None:
        if self._stop is None:
            raise ScriptError(
                "thread.stop() ends a thread's load: call it in delay(), request() or response()"
            )
        self._stop()


def _as_address(value: object) -> Address:
    if isinstance(value, Address):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        host, port = value
        try:
            infos = socket.getaddrinfo(
                host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
        except (socket.gaierror, TypeError, UnicodeError):
            raise ScriptError(
                f"thread.addr = {value!r}: not a numeric address (use pyload.hooks.lookup())"
            ) from None
        family, _, _, _, sockaddr = infos[0]
        return Address(family, tuple(sockaddr))
    raise ScriptError(
        f"thread.addr = {value!r}: an Address (from lookup()) or a (host, port) pair"
    )


def is_plain(value: object, depth: int = 0) -> bool:
    """True for what may cross between the parent and a thread (wrk: nil, boolean, number,
    string, and tables of them)."""
    if isinstance(value, _PLAIN):
        return True
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, list | tuple):
        return all(is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, _PLAIN) and is_plain(item, depth + 1) for key, item in value.items()
        )
    return False


# -- done()'s statistics -------------------------------------------------------------------


class Stats:
    """wrk's statistics object in ``done()``: latencies in µs, or Req/Sec samples.

    ``min``, ``max``, ``mean``, ``stdev`` (wrk's formulas, stats.c), ``count`` (values
    recorded), ``percentile(p)`` (wrk's rank rule), ``len()`` (distinct values) and iteration
    over ``(value, count)`` in ascending order (wrk's ``s(i)``). Empty: every number is 0.
    """

    def __init__(self, histogram: ExactHistogram) -> None:
        from pyload._stats import stats_row  # numpy: only in the parent, after the report

        self._histogram = histogram
        row = stats_row(histogram)
        self.count = histogram.count
        self.min = histogram.min or 0
        self.max = histogram.max
        self.mean = float(row.mean)
        self.stdev = float(row.stdev)

    def percentile(self, p: float) -> int:
        return self._histogram.percentile(p)

    def __len__(self) -> int:
        return sum(1 for n in self._histogram.counts.values() if n)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(sorted((v, n) for v, n in self._histogram.counts.items() if n))

    def __repr__(self) -> str:
        return f"<Stats count={self.count} min={self.min} max={self.max} mean={self.mean:.2f}>"
