"""The suite's one way to open a page in a real browser: headless Chromium, network off, bounded.

    from tests.browser import open_page

    page = open_page(tmp_path / "r.html", screenshot=tmp_path / "r.png")
    assert not page.errors, page.errors          # console errors, exceptions, failed loads
    assert page.charts and all(c.drawn for c in page.charts), page.charts
    assert "Requests/sec" in page.text           # what the page shows, after its scripts ran

``open_page(path)`` starts Debian's ``chromium`` (``--headless --no-sandbox --disable-gpu``, a
throwaway ``--user-data-dir``) through tests/procs.py's ``spawn``, opens ``file://path``, waits for
the load event and two animation frames (a chart library that draws on the next frame has
drawn), reads the page and closes the browser. ``timeout`` is a deadline for a hang (a page that
never loads, a browser that never starts): past it everything is killed and ``BrowserTimeout``
is raised with what Chromium printed. A missing chromium skips the test locally and fails it
under CI (conftest's ``require_tool``); ``scripts/setup test`` installs it.

**What it returns** (a ``Page``):

- ``console``: every console message, uncaught exception and failed resource load, each with its
  level (``page.errors`` are those at level ``error``). They come from the DevTools protocol
  (``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown``, ``Log.entryAdded``), spoken over
  ``--remote-debugging-pipe`` (file descriptors 3 and 4), not from ``--enable-logging=stderr``:
  that log prints ``console.error`` and ``console.log`` alike at INFO, leaves out failed loads
  ("Failed to load resource: net::ERR_..."), and mixes the page's lines with Chromium's own
  (D-Bus, GPU). A pipe, not ``--remote-debugging-port``: a port is reachable by every process on
  the machine, and from outside the empty network namespace below it is not reachable at all.
- ``dom``: ``document.documentElement.outerHTML`` after the scripts ran; ``text``: the body's
  ``innerText``, what a reader sees (for comparing the numbers shown with the text report).
- ``charts``: one ``Chart(name, drawn)`` per element carrying a ``data-chart`` attribute, in
  document order. **The page's side of the contract**: give each chart's container (or the
  ``<canvas>``, ``<svg>`` or ``<img>`` itself) ``data-chart="NAME"``; nothing else is asked of it
  and nothing is injected before its scripts run. The helper then decides "drawn" from outside:
  the element (or any element inside it) is a ``<canvas>`` with at least one pixel that is not
  fully transparent (read by copying it onto a scratch canvas with ``drawImage`` and
  ``getImageData``, so a 2d or WebGL canvas alike), an ``<svg>`` with a shape
  (path, line, polyline, polygon, rect, circle, ellipse, text, use, image) whose bounding box is
  not empty, or an ``<img>`` that loaded (``complete`` with a ``naturalWidth``). A canvas that
  only has axes painted counts as drawn: the check is "the chart rendered", not "it has data";
  read the page's data through ``evaluate`` for that.
- ``evaluated``: the value of each JavaScript expression given in ``evaluate={name: expr}``,
  evaluated in the page after it settled (a promise is awaited; the value must be JSON).
- ``screenshot``: the PNG written, when asked: the whole page (its full height at the window's
  width) or only the window (``full_page=False``). ``color_scheme="dark"`` emulates
  ``prefers-color-scheme: dark``; ``media="print"`` the print stylesheet.
- ``isolation``: how the network was cut (below).

**The network is off.** As root, where ``unshare -n true`` works, Chromium runs under
``unshare -n``: a network namespace of its own whose only interface is a loopback that is down,
so no address answers, 127.0.0.1 included (a page cannot reach a server of the test either).
That is ``isolation == "unshare -n"``. Otherwise (not root, or namespaces refused) it is
Chromium's own switches, ``isolation == "chromium switches"``: the DevTools protocol's offline
emulation (``Network.emulateNetworkConditions``, every request of the page fails with
``ERR_INTERNET_DISCONNECTED``), every host name unresolvable (``--host-resolver-rules``) and every
request, loopback included (``--proxy-bypass-list=<-loopback>``), sent to a proxy at a port of
0.0.0.0, where nothing listens; weaker than a namespace (a process Chromium starts outside the
page could still connect) but enough for a page. ``isolation="switches"`` forces them (the
tests check both).

From a shell, ``python -m tests.browser PAGE.html [--screenshot OUT.png] [--width W]
[--dark]`` prints what the page showed (the isolation, each console message, each chart) and
exits 1 when there was a console error or an undrawn chart (scripts/report-screenshot uses it).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import html.parser
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.conftest import require_tool
from tests.procs import run, spawn

__all__ = [
    "BrowserError",
    "BrowserTimeout",
    "Chart",
    "ConsoleMessage",
    "Page",
    "network_references",
    "open_page",
]

#: The whole visit, from starting Chromium to its exit: a deadline for a hang, generous for a
#: loaded 2-core machine (a visit takes about a second).
TIMEOUT_S = 60.0
#: The window (CSS pixels) the page is laid out in; a full-page screenshot keeps the width.
WINDOW = (1280, 900)

Isolation = Literal["auto", "namespace", "switches"]

_FLAGS = (
    "--headless",
    "--no-sandbox",  # as root Chromium refuses to start without it; the pages are our own files
    "--disable-gpu",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-color-profile=srgb",
)
_OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://0.0.0.0:9",
    "--proxy-bypass-list=<-loopback>",
)

# Run in the page after it settled: [[name, drawn], ...] for every [data-chart] (docstring).
_CHARTS_JS = """
(() => {
  const SHAPES = "path,line,polyline,polygon,rect,circle,ellipse,text,use,image";
  const canvasDrawn = (c) => {
    if (!c.width || !c.height) return false;
    const scratch = document.createElement("canvas");
    scratch.width = c.width;
    scratch.height = c.height;
    const g = scratch.getContext("2d");
    g.drawImage(c, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
    return false;
  };
  const svgDrawn = (s) => [...s.querySelectorAll(SHAPES)].some((e) => {
    const b = e.getBBox ? e.getBBox() : null;
    return b !== null && (b.width > 0 || b.height > 0);
  });
  const imgDrawn = (i) => i.complete && i.naturalWidth > 0;
  const drawn = (el) => {
    const tag = el.tagName.toLowerCase();
    if (tag === "canvas") return canvasDrawn(el);
    if (tag === "svg") return svgDrawn(el);
    if (tag === "img") return imgDrawn(el);
    return [...el.querySelectorAll("canvas")].some(canvasDrawn)
      || [...el.querySelectorAll("svg")].some(svgDrawn)
      || [...el.querySelectorAll("img")].some(imgDrawn);
  };
  return [...document.querySelectorAll("[data-chart]")].map((el) => [el.dataset.chart, drawn(el)]);
})()
"""
_TWO_FRAMES_JS = (
    "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
)


class BrowserError(RuntimeError):
    """Chromium could not open the page (it exited, the protocol answered an error, the file is
    missing); the message carries the tail of what Chromium printed."""


class BrowserTimeout(BrowserError, TimeoutError):
    """The visit passed its deadline; Chromium was killed."""


@dataclass(frozen=True)
class ConsoleMessage:
    """One line of the page's console: ``source`` is ``console`` (a console.* call),
    ``exception`` (uncaught), or the DevTools Log domain's source (``network``, ``security``,
    ``javascript``...)."""

    level: str  # error, warning, info, log, debug... (console.warn is "warning")
    source: str
    text: str
    url: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f" ({self.url}{'' if self.line is None else f':{self.line}'})" if self.url else ""
        return f"{self.level} [{self.source}] {self.text}{where}"


@dataclass(frozen=True)
class Chart:
    """An element with ``data-chart``: its name and whether it has drawn (module docstring)."""

    name: str
    drawn: bool


@dataclass(frozen=True)
class Page:
    """What ``open_page`` saw of a page once it had loaded and settled."""

    url: str
    isolation: str
    console: tuple[ConsoleMessage, ...]
    dom: str
    text: str
    charts: tuple[Chart, ...]
    evaluated: dict[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None

    @property
    def errors(self) -> tuple[ConsoleMessage, ...]:
        """The console's errors: console.error, uncaught exceptions, failed loads."""
        return tuple(m for m in self.console if m.level == "error")


def chromium_path() -> str:
    """Debian's chromium; missing, the test skips locally and fails under CI."""
    return require_tool("chromium")


@functools.cache
def namespaces_work() -> bool:
    """Whether this process may run a command in a network namespace of its own (root, and
    a kernel and container that allow it): ``unshare -n true`` succeeds."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return False
    return run([unshare, "-n", "true"], timeout=30).returncode == 0


def open_page(
    path: str | os.PathLike[str],
    *,
    screenshot: str | os.PathLike[str] | None = None,
    full_page: bool = True,
    window: tuple[int, int] = WINDOW,
    color_scheme: Literal["light", "dark"] | None = None,
    media: Literal["screen", "print"] | None = None,
    evaluate: Mapping[str, str] | None = None,
    isolation: Isolation = "auto",
    timeout: float = TIMEOUT_S,
) -> Page:
    """Open the local file ``path`` in headless Chromium with the network off and return what
    it showed (module docstring: the console, DOM, text, charts, evaluated expressions and the
    screenshot). ``timeout``: a deadline for a hang, never a measurement."""
    chromium = chromium_path()
    url = Path(path).resolve().as_uri()
    if isolation == "namespace" and not namespaces_work():
        raise BrowserError("unshare -n does not work here (not root, or namespaces refused)")
    in_namespace = isolation != "switches" and namespaces_work()
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="pyload-chromium-") as scratch:
        args = [chromium, *_FLAGS, f"--user-data-dir={scratch}/profile"]
        args.append(f"--window-size={window[0]},{window[1]}")
        if not in_namespace:
            args.extend(_OFFLINE_FLAGS)
        args.append("about:blank")
        with _Browser(args, in_namespace, Path(scratch) / "chromium.log", deadline) as browser:
            page = browser.visit(
                url,
                offline_emulation=not in_namespace,
                window=window,
                color_scheme=color_scheme,
                media=media,
                evaluate=dict(evaluate or {}),
                screenshot=None if screenshot is None else Path(screenshot),
                full_page=full_page,
            )
    return page


class _Browser:
    """One Chromium and its DevTools pipe: commands out on fd 3, answers and events in on fd 4,
    each a JSON object ended by a NUL byte."""

    def __init__(self, args: list[str], in_namespace: bool, log: Path, deadline: float) -> None:
        self.deadline = deadline
        self.log = log
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.buffer = b""
        # Our ends of the two pipes, and Chromium's, kept at 10 and above: bash (not dash, which
        # knows fds 0-9 only) moves Chromium's onto 3 and 4, which must not be one of them.
        to_chromium_r, to_chromium_w = _high_pipe()
        from_chromium_r, from_chromium_w = _high_pipe()
        self.to_chromium, self.from_chromium = to_chromium_w, from_chromium_r
        self.theirs = (to_chromium_r, from_chromium_w)
        theirs_in, theirs_out = to_chromium_r, from_chromium_w
        shell = f'exec "$@" 3<&{theirs_in} 4>&{theirs_out} {theirs_in}<&- {theirs_out}>&-'
        prefix = [shutil.which("unshare") or "unshare", "-n", "--"] if in_namespace else []
        self.args = [*prefix, "bash", "-c", shell, "bash", *args]

    def __enter__(self) -> _Browser:
        self.log_file = self.log.open("w")
        self.spawned = spawn(
            self.args, stdout=self.log_file, stderr=subprocess.STDOUT, pass_fds=self.theirs
        )
        try:
            self.proc = self.spawned.__enter__()
        finally:
            for fd in self.theirs:
                os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                with contextlib.suppress(BrowserError):
                    self.call("Browser.close")
                remaining = max(0.1, self.deadline - time.monotonic())
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=remaining)
        finally:
            os.close(self.to_chromium)
            os.close(self.from_chromium)
            self.spawned.__exit__(None, None, None)  # kills whatever is left, reaps, closes
            self.log_file.close()

    # -- the protocol ------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.to_chromium, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise self._failure(f"Chromium exited before {method}") from None
        while True:
            answer = self._receive()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise self._failure(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, session: str, since: int = 0) -> dict[str, Any]:
        """The first event ``method`` of ``session`` among those kept from index ``since`` on,
        or to come."""
        for event in self.events[since:]:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._receive()
            if "method" in event:
                self.events.append(event)
                if event["method"] == method and event.get("sessionId") == session:
                    return event

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserTimeout(f"the page did not finish in time{self._log_tail()}")
            readable, _, _ = select.select([self.from_chromium], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self.from_chromium, 1 << 20)
            if not chunk:
                raise self._failure("Chromium closed its DevTools pipe (it exited)")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def _log_tail(self) -> str:
        self.log_file.flush()
        lines = self.log.read_text(errors="replace").splitlines()[-15:]
        return (":\n" + "\n".join(lines)) if lines else ""

    def _failure(self, what: str) -> BrowserError:
        return BrowserError(f"{what}{self._log_tail()}")

    # -- the visit ---------------------------------------------------------------------------

    def visit(
        self,
        url: str,
        *,
        offline_emulation: bool,
        window: tuple[int, int],
        color_scheme: str | None,
        media: str | None,
        evaluate: dict[str, str],
        screenshot: Path | None,
        full_page: bool,
    ) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        if offline_emulation:
            self.call("Network.enable", session=session)
            offline = {"offline": True, "latency": 0, "downloadThroughput": -1,
                       "uploadThroughput": -1}  # fmt: skip
            self.call("Network.emulateNetworkConditions", offline, session=session)
        width, height = window
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)  # fmt: skip
        features = [{"name": "prefers-color-scheme", "value": color_scheme or ""}]
        self.call("Emulation.setEmulatedMedia", {"media": media or "", "features": features},
                  session=session)  # fmt: skip
        since = len(self.events)
        navigated = self.call("Page.navigate", {"url": url}, session=session)
        if navigated.get("errorText"):
            raise self._failure(f"cannot open {url}: {navigated['errorText']}")
        loaded = "document.readyState === 'complete' && location.href === " + json.dumps(url)
        while not self._evaluate(loaded, session):  # a load event of about:blank is not ours
            since = self.events.index(self.wait_for("Page.loadEventFired", session, since)) + 1
        self._settle(session)
        dom = self._evaluate("document.documentElement.outerHTML", session)
        text = self._evaluate("document.body ? document.body.innerText : ''", session)
        charts = tuple(Chart(str(n), bool(d)) for n, d in self._evaluate(_CHARTS_JS, session))
        evaluated = {name: self._evaluate(expr, session) for name, expr in evaluate.items()}
        written = None
        if screenshot is not None:
            if full_page:
                metrics = self.call("Page.getLayoutMetrics", session=session)
                full = math.ceil(metrics["cssContentSize"]["height"])
                self.call("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": max(height, full), "deviceScaleFactor": 1,
                           "mobile": False}, session=session)  # fmt: skip
                self._settle(session)
            shot = self.call("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            written = screenshot
        console = tuple(
            message
            for event in self.events
            if event.get("sessionId") == session and (message := _console(event)) is not None
        )
        return Page(
            url=url,
            isolation="unshare -n" if not offline_emulation else "chromium switches",
            console=console,
            dom=dom,
            text=text,
            charts=charts,
            evaluated=evaluated,
            screenshot=written,
        )

    def _settle(self, session: str) -> None:
        """Two animation frames: what a page draws on the next frame is drawn."""
        self._evaluate(_TWO_FRAMES_JS, session)

    def _evaluate(self, expression: str, session: str) -> Any:
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        answer = self.call("Runtime.evaluate", params, session=session)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise self._failure(f"evaluating {expression[:60]!r} threw: {text}")
        return answer["result"].get("value")


#: Attributes that make a browser fetch what they name (or go there, for href).
_URL_ATTRIBUTES = frozenset(
    {"src", "href", "srcset", "action", "formaction", "poster", "data", "background",
     "xlink:href", "manifest", "ping", "cite"}
)  # fmt: skip
_NETWORK_URL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)  # http://, //host
_CSS_URL = re.compile(r"""url\(\s*['"]?\s*((?:[a-z][a-z0-9+.-]*:)?//[^)'"\s]*)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+['"]\s*((?:[a-z][a-z0-9+.-]*:)?//[^'"]*)""", re.I)


class _References(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in _URL_ATTRIBUTES:
                candidates = value.split(",") if name == "srcset" else [value]
                self.found += [f"<{tag} {name}={v.strip()}>" for v in candidates
                               if _NETWORK_URL.match(v)]  # fmt: skip
            elif name == "style":
                self._css(tag, value)

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self._css("style", data)

    def _css(self, where: str, css: str) -> None:
        for pattern in (_CSS_URL, _CSS_IMPORT):
            self.found += [f"<{where}> {url}" for url in pattern.findall(css)]


def network_references(page_html: str) -> list[str]:
    """Every place in ``page_html`` that names a network address for the browser to fetch or
    follow: a ``src``, ``href``, ``srcset`` (and the like) attribute, or a CSS ``url()`` or
    ``@import`` in a ``<style>`` or ``style=``, whose value has a scheme and ``//`` (http://,
    https://, ws://, protocol-relative ``//host``; file:// too, which no other machine has).
    ``data:``, ``#anchor`` and relative names are not network references. Text in a script
    is not parsed: a report's JSON island may quote a URL (the target's) without the browser
    fetching it; the network-off run in ``open_page`` is what catches a script that fetches."""
    parser = _References()
    parser.feed(page_html)
    parser.close()
    return parser.found


def _high_pipe() -> tuple[int, int]:
    """A pipe whose two ends are file descriptors 10 and above (close-on-exec)."""
    low = os.pipe()
    high = (fcntl.fcntl(low[0], fcntl.F_DUPFD_CLOEXEC, 10),
            fcntl.fcntl(low[1], fcntl.F_DUPFD_CLOEXEC, 10))  # fmt: skip
    for fd in low:
        os.close(fd)
    return high


def _console(event: dict[str, Any]) -> ConsoleMessage | None:
    """The console message a DevTools event carries, if it is one."""
    params = event.get("params", {})
    method = event["method"]
    if method == "Runtime.consoleAPICalled":
        words = [_remote_text(arg) for arg in params.get("args", [])]
        frame = (params.get("stackTrace", {}).get("callFrames") or [{}])[0]
        line = frame.get("lineNumber")
        return ConsoleMessage(
            level=params.get("type", "log"),
            source="console",
            text=" ".join(words),
            url=frame.get("url", ""),
            line=None if line is None else line + 1,
        )
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text", "")
        line = details.get("lineNumber")
        return ConsoleMessage(
            level="error",
            source="exception",
            text=text,
            url=details.get("url", ""),
            line=None if line is None else line + 1,
        )
    if method == "Log.entryAdded":
        entry = params.get("entry", {})
        line = entry.get("lineNumber")
        return ConsoleMessage(
            level=entry.get("level", "info"),
            source=entry.get("source", "other"),
            text=entry.get("text", ""),
            url=entry.get("url", ""),
            line=None if line is None else line + 1,
        )
    return None


def _remote_text(value: dict[str, Any]) -> str:
    """A console argument as console.log would print it, near enough."""
    if "value" in value:
        shown = value["value"]
        return shown if isinstance(shown, str) else json.dumps(shown)
    return str(value.get("description") or value.get("unserializableValue") or value["type"])


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.browser PAGE.html [--screenshot OUT.png] [--width W] [--dark]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.browser", description=main.__doc__)
    parser.add_argument("page", type=Path)
    parser.add_argument("--screenshot", type=Path, help="write a full-page PNG here")
    parser.add_argument("--width", type=int, default=WINDOW[0], help="window width, CSS px")
    parser.add_argument("--dark", action="store_true", help="prefers-color-scheme: dark")
    ns = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        print("browser: no chromium (scripts/setup test installs it)", file=sys.stderr)
        return 1
    try:
        page = open_page(
            ns.page,
            screenshot=ns.screenshot,
            window=(ns.width, WINDOW[1]),
            color_scheme="dark" if ns.dark else None,
        )
    except BrowserError as exc:
        print(f"browser: {exc}", file=sys.stderr)
        return 1
    print(f"isolation: {page.isolation}")
    for message in page.console:
        print(f"console: {message}")
    for chart in page.charts:
        print(f"chart {chart.name}: {'drawn' if chart.drawn else 'NOT DRAWN'}")
    if page.screenshot is not None:
        print(f"screenshot: {page.screenshot}")
    return 1 if page.errors or not all(c.drawn for c in page.charts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
