"""The ``-s`` script's machinery: wrk's Lua life cycle (wrk's src/script.c), in Python.

Owns the script: reading and compiling it (a missing file or a syntax error is a ScriptError
before anything is sent), its namespaces, calling its hooks, and turning a hook's exception into
one HookError line that names the file, the line and the hook. What the script itself calls
(``format``, ``lookup``, ``Thread``...) is the public ``pyload.hooks``.

As in wrk, the whole file runs once in the parent (wrk's main Lua state: ``setup``, ``done``)
and once more per thread, in a fresh namespace of its own in its process (wrk's thread
states: ``init``, ``delay``, ``request``, ``response``), so a global is per thread.

    parent  MainScript(config)              read, compile, run the file; hooks must be functions
            MainScript.setup(i, addr, body)  setup(thread) -> the thread's HookSource (pickled
                                            into its ThreadSpec, thread.set values with it)
    process HookSource.start()              the file in a new namespace, thread.set values,
                                            init(args); then what the loop asks: ``static`` (no
                                            request hook: the fast path), ``wants_responses``
                                            (a response hook), ``delays`` (a delay hook)
            next_request / delay_s / response  the hooks; an exception -> stop(HookError)
            finish()                        the thread's plain globals, back for done()
    parent  MainScript.finish(results), MainScript.done(result)   after the report (_run.Run)
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import CodeType
from typing import TYPE_CHECKING, Any

import httptools

from pyload import hooks
from pyload._http11 import build_request
from pyload.config import Config, header_pairs
from pyload.errors import HookError, ScriptError
from pyload.hooks import Address, Stats, Thread, is_plain

if TYPE_CHECKING:
    from pyload._counters import ThreadResult
    from pyload.result import RunResult

__all__ = ["HOOKS", "HookSource", "MainScript", "hook_error", "read_script"]

HOOKS = ("setup", "init", "delay", "request", "response", "done")
"""wrk's global hooks, each optional (wrk's SCRIPTING)."""


def read_script(path: str) -> tuple[bytes, CodeType]:
    """The script's bytes and compiled code; ScriptError (one line) if it is missing or does
    not compile: ``cannot open script x.py: No such file or directory``,
    ``x.py:3: syntax error: invalid syntax``. Nothing of it runs here."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ScriptError(f"cannot open script {path}: {exc.strerror or exc}") from None
    try:
        code = compile(data, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else path
        raise ScriptError(f"{where}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise ScriptError(f"{path}: cannot compile: {exc}") from None
    return data, code


def hook_error(path: str, what: str, exc: BaseException) -> HookError:
    """One line for an exception out of the script: ``x.py:12: response() raised
    ZeroDivisionError: division by zero`` (the line: the script's innermost frame), and the
    whole traceback beside it."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == path:
            line = lineno
    text = str(exc).strip().splitlines()
    message = f"{path}:{line}" if line is not None else path
    message += f": {what} raised {type(exc).__name__}"
    if text:
        message += f": {text[0]}"
    tb = exc.__traceback__  # from the script's first frame on: pyload's own are noise
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb or exc.__traceback__)
    return HookError(message, "".join(lines))


def _new_namespace(path: str) -> dict[str, Any]:
    return {"__name__": "__pyload_script__", "__file__": path, "__builtins__": builtins}


def _hook(namespace: Mapping[str, Any], name: str, path: str) -> Callable[..., Any] | None:
    value = namespace.get(name)
    if value is None:
        return None
    if not callable(value):
        raise ScriptError(f"{path}: {name} must be a function, not {type(value).__name__}")
    hook: Callable[..., Any] = value
    return hook


class _Namespace:
    """What ``format()`` reads where a hook runs: the run's config and body, and the script's
    globals ``method``, ``path``, ``headers`` and ``body`` (a ``hooks.ScriptContext``)."""

    thread: Thread | None = None

    path: str
    config: Config
    body: bytes
    namespace: dict[str, Any]
    # format()'s common case, a new method or path on the run's headers and body: the bytes
    # after the request line, and the script's headers and body they were built from.
    _tail: tuple[Any, Any, bytes] | None = None

    def format(
        self,
        method: str | None,
        path: str | None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        body: bytes | str | None,
    ) -> bytes:
        globals_ = self.namespace
        if method is None:
            method = globals_.get("method") or self.config.method
        if path is None:
            path = globals_.get("path") or self.config.target.path
        if not isinstance(method, str) or not isinstance(path, str):
            raise TypeError(f"method and path must be str, not {method!r} and {path!r}")
        if headers is not None or body is not None:
            return self._build(method, path, headers, body)
        script_headers, script_body = globals_.get("headers"), globals_.get("body")
        tail = self._tail
        if tail is None or tail[0] != script_headers or tail[1] != script_body:
            built = self._build(method, "/", None, None)
            copied = dict(script_headers) if isinstance(script_headers, Mapping) else (
                list(script_headers) if script_headers is not None else None
            )  # fmt: skip
            tail = self._tail = (copied, script_body, built[built.index(b"\r\n") + 2 :])
        # UTF-8 as build_request sends the rest (a path's non-ASCII text, an argument's bytes).
        return f"{method} {path} HTTP/1.1\r\n".encode("utf-8", "surrogateescape") + tail[2]

    def _build(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        body: bytes | str | None,
    ) -> bytes:
        globals_, config = self.namespace, self.config
        fields: list[tuple[str, str]] = list(config.headers)
        script_headers = globals_.get("headers")
        if script_headers:
            fields += header_pairs(script_headers)
        if headers:
            fields += header_pairs(headers)
        if body is None:
            body = globals_.get("body")
            if body is None:
                body = self.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        return build_request(
            config.target, fields, method, body, path, close=not config.keepalive
        )


def _count_requests(data: bytes) -> int:
    """How many whole HTTP requests ``data`` holds (wrk counts a script's pipeline depth so,
    in wrk.c main()); ValueError with llhttp's reason if it is not whole requests."""

    class Counter:
        def __init__(self) -> None:
            self.begun = self.complete = 0

        def on_message_begin(self) -> None:
            self.begun += 1

        def on_message_complete(self) -> None:
            self.complete += 1

    counter = Counter()
    try:
        httptools.HttpRequestParser(counter).feed_data(data)
    except httptools.HttpParserError as exc:
        raise ValueError(f"bytes that are not an HTTP request ({exc})") from None
    if counter.complete == 0 or counter.begun > counter.complete:
        raise ValueError("an incomplete HTTP request")
    return counter.complete


# -- the thread's side (its process) ---------------------------------------------------------


def _nothing() -> bytes:
    return b""


def _ignore(status: int, headers: dict[str, str], body: bytes) -> None:
    pass


def _no_delay() -> float:
    return 0.0


class HookSource(_Namespace):
    """A thread's request source when the run has a script (sources.RequestSource): the hooks
    of the thread's own namespace, made in its worker process by ``start()``."""

    def __init__(self, main: MainScript, thread: Thread, body: bytes) -> None:
        self.path, self.data, self.config, self.body = main.path, main.data, main.config, body
        self.thread: Thread = thread
        self.keep_values = main.hooks["done"] is not None  # done() may thread.get() them
        self.static: bytes | None = None
        self.wants_responses = False
        self.delays = False
        self.pipelined = 1
        self.namespace: dict[str, Any] = {}
        self._request: Callable[[], Any] = _nothing
        self._response: Callable[[int, dict[str, str], bytes], Any] = _ignore
        self._delay: Callable[[], Any] = _no_delay
        self._counted = False
        self._stop: Callable[[HookError | None], None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "namespace": {},
            "_request": _nothing,
            "_response": _ignore,
            "_delay": _no_delay,
            "_stop": None,
        }

    def start(self) -> None:
        """Run the file in the thread's namespace, give it the values setup() set, call
        ``init(args)``; then decide what the connections ask (wrk.c main(), after init)."""
        hooks._current = self
        code = compile(self.data, self.path, "exec", dont_inherit=True)  # the parent's did
        namespace = self.namespace = _new_namespace(self.path)
        thread = self.thread
        values, thread._values = thread._values, {}
        thread._namespace = namespace
        try:
            exec(code, namespace)
        except Exception as exc:
            raise hook_error(self.path, "running the script", exc) from None
        namespace.update(values)
        init = _hook(namespace, "init", self.path)
        if init is not None:
            try:
                init(list(thread.args))
            except Exception as exc:
                raise hook_error(self.path, "init()", exc) from None
        request = _hook(namespace, "request", self.path)
        response = _hook(namespace, "response", self.path)
        delay = _hook(namespace, "delay", self.path)
        if request is None:
            try:
                self.static = self.format(None, None, None, None)
            except Exception as exc:
                raise hook_error(self.path, "building the request", exc) from None
        else:
            self._request = request
        if response is not None:
            self._response = response
            self.wants_responses = True
        if delay is not None:
            self._delay = delay
            self.delays = True
        sys.stdout.flush()  # init()'s output before the report, as wrk's

    def bind(self, stop: Callable[[HookError | None], None]) -> None:
        self._stop = stop
        self.thread._stop = self._stop_thread

    def _stop_thread(self) -> None:
        if self._stop is not None:
            self._stop(None)

    def next_request(self) -> bytes:
        hooks._current = self
        try:
            data = self._request()
        except Exception as exc:
            return self._fail("request()", exc)
        if type(data) is not bytes:
            if not isinstance(data, bytearray | memoryview):
                return self._fail(
                    "request()",
                    TypeError(
                        f"it returned {type(data).__name__}, not bytes (build requests with"
                        " pyload.format())"
                    ),
                )
            data = bytes(data)
        if not self._counted:  # the first batch: wrk counts its requests (pipeline depth)
            try:
                self.pipelined = _count_requests(data)
            except ValueError as exc:
                return self._fail("request()", ValueError(f"it returned {exc}: {data[:40]!r}"))
            self._counted = True
        return data

    def response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        hooks._current = self
        try:
            fields = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in headers}
            self._response(status, fields, body)
        except Exception as exc:
            self._fail("response()", exc)

    def delay_s(self) -> float:
        hooks._current = self
        try:
            seconds = float(self._delay()) / 1000
        except Exception as exc:
            self._fail("delay()", exc)
            return 0.0
        return seconds if seconds > 0 else 0.0

    def _fail(self, what: str, exc: BaseException) -> bytes:
        """A hook raised: the source goes inert, and the worker is told (it ends the run)."""
        error = hook_error(self.path, what, exc)
        self._request, self._response, self._delay = _nothing, _ignore, _no_delay
        self._counted = True
        if self._stop is None:
            raise error
        self._stop(error)
        return b""

    def finish(self) -> dict[str, Any]:
        """The thread's plain globals, for ``thread.get()`` in ``done()`` (only if there is a
        done hook)."""
        if not self.keep_values:
            return {}
        return {
            name: value
            for name, value in self.namespace.items()
            if not name.startswith("__") and is_plain(value)
        }


# -- the parent's side -----------------------------------------------------------------------


class MainScript(_Namespace):
    """The parent's side of a script (wrk's main Lua state): the file run once, ``setup()`` per
    thread before the load, ``done()`` after the report.

    Raises ScriptError if the file is missing or does not compile, if a hook is not a function,
    or if it defines ``delay()`` for a constant-rate run (the rate decides when requests go);
    HookError if running it raises.
    """

    def __init__(self, config: Config) -> None:
        if config.script is None:
            raise ScriptError("no script: the config has none")
        self.path = config.script
        self.config = config
        self.body = b""
        self.data, code = read_script(self.path)
        self.namespace = _new_namespace(self.path)
        self.threads: list[Thread] = []
        with _parent_hook(self):
            try:
                exec(code, self.namespace)
            except Exception as exc:
                raise hook_error(self.path, "running the script", exc) from None
        self.hooks = {name: _hook(self.namespace, name, self.path) for name in HOOKS}
        if config.rate is not None and self.hooks["delay"] is not None:
            raise ScriptError(
                f"{self.path}: delay() cannot be combined with -R/--rate (the rate decides when"
                " each request goes)"
            )

    def setup(self, index: int, addr: Address, body: bytes) -> HookSource:
        """Thread ``index``'s setup(thread) (wrk calls it in order, before each thread starts)
        and its request source; ``body`` is the run's (``--body``/``--body-file``)."""
        self.body = body
        thread = Thread(index, self.config.script_args, addr, self.namespace)
        self.threads.append(thread)
        setup = self.hooks["setup"]
        if setup is not None:
            with _parent_hook(self):
                try:
                    setup(thread)
                except Exception as exc:
                    raise hook_error(self.path, "setup()", exc) from None
        return HookSource(self, thread, body)

    def finish(self, results: Iterable[ThreadResult]) -> None:
        """The threads' globals as their loads left them, for ``thread.get()`` in ``done()``."""
        by_index = {thread.index: thread for thread in self.threads}
        for result in results:
            thread = by_index.get(result.stats.index)
            if thread is not None:
                thread._final = dict(result.script_values)

    def done(self, result: RunResult) -> None:
        """``done(summary, latency, requests)`` if the script has it (wrk: after the report).

        ``summary``: wrk's table as a dict (``duration`` in µs, ``requests``, ``bytes``,
        ``errors`` by wrk's names); ``latency`` (µs, as reported: after wrk's correction)
        and ``requests`` (the Req/Sec samples) are ``Stats``.
        """
        done = self.hooks["done"]
        if done is None:
            return
        summary = {
            "duration": result.runtime_us,
            "requests": result.requests,
            "bytes": result.bytes_read,
            "errors": dict(result.errors),
        }
        with _parent_hook(self):
            try:
                done(summary, Stats(result.latency), Stats(result.rate))
            except Exception as exc:
                raise hook_error(self.path, "done()", exc) from None


@contextlib.contextmanager
def _parent_hook(namespace: _Namespace) -> Iterator[None]:
    """For a hook called in the parent: ``namespace`` is the current one, then none (a
    worker's stays: only its hooks run there)."""
    hooks._current = namespace
    try:
        yield
    finally:
        hooks._current = None


