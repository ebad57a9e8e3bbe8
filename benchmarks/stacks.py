"""A server stack's life cycle in the matrix: started by django_target's launcher (which
returns once the stack answers), checked between cells with the launcher's own probe (a stack
that exited or stopped answering is restarted once), warmed up, stopped.

    with StackRunner(server, profile, log_dir) as runner:   # start(); runner.url or None
        runner.warm_up(cells)         a short unrecorded pyload run + one GET per client view
        runner.settle(drain_s)        before each cell: the last cell's slow views drained,
                                      the stack alive and answering GET /
        runner.restart()              when it is not
                                      (leaving the block stops it; on Ctrl-C or another
                                      stop signal it kills it)
    runner.record                     its starts and warm-up, for the results document

Which stacks serve HTTP/2 is declared here once (``H2C_GAPS``, ``serves_h2c``): the plan, the
matrix and the report of ``python -m benchmarks --http2`` read it.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pyload
from benchmarks.profiles import Profile
from benchmarks.results import StackRecord, StackStart, WarmUp
from benchmarks.stopping import stop_run
from django_target import ServerConfig, Stack, TargetError, start
from django_target.launcher import _http_get as probe  # the launcher's readiness GET

if TYPE_CHECKING:  # benchmarks.plan reads this module's H2C_GAPS
    from benchmarks.plan import Cell

__all__ = [
    "H2C_GAPS",
    "NOT_HTTP2",
    "PROBE_TIMEOUT_S",
    "SETTLE_DRAIN_CAP_S",
    "SETTLE_TIMEOUT_S",
    "STARTUP_TIMEOUT_S",
    "StackRunner",
    "serves_h2c",
]

STARTUP_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 20.0  # the stack must answer GET / within this after a cell, else restart
SETTLE_DRAIN_CAP_S = 3.0  # wait at most this long for the previous cell's slow views to end
PROBE_TIMEOUT_S = 5.0
POLL_S = 0.1
WARMUP_CONNECTIONS = 10

#: What the reports say of a stack that cannot be loaded over HTTP/2.
NOT_HTTP2 = "does not serve HTTP/2"
#: Why each stack, as django_target's launcher starts it, does not serve HTTP/2 over cleartext
#: with prior knowledge (h2c: what ``pyload --http2`` speaks on http://); None: it does.
#: hypercorn takes a connection that opens with HTTP/2's preface as HTTP/2 on its plain port,
#: with no option and no TLS (its SETTINGS allow 100 concurrent streams). Checked against each
#: stack with pyload's setup probe (tests/test_benchmarks_http2.py).
H2C_GAPS: dict[str, str | None] = {
    "gunicorn-gevent": (
        "as launched, gunicorn answers HTTP/1.1 only; gunicorn 26.2 and later can serve h2c "
        "when asked (--http-protocols h2 --http2-cleartext prior-knowledge), which the "
        "launcher does not do, to run gunicorn as the reference experiment did"
    ),
    "gunicorn-uvicorn": "uvicorn's worker speaks HTTP/1.1 only",
    "hypercorn-asyncio": None,
    "hypercorn-uvloop": None,
}


def serves_h2c(server: str) -> bool:
    """Whether ``server`` (a django_target stack) serves h2c as the launcher starts it."""
    return server in H2C_GAPS and H2C_GAPS[server] is None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class StackRunner:
    """Owns one running stack (a django_target ``Stack``) and can restart it."""

    def __init__(self, server: str, profile: Profile, log_dir: Path | None) -> None:
        self.server = server
        self.profile = profile
        self.log_path = str(log_dir / f"{server}.log") if log_dir is not None else None
        self.record = StackRecord(server, profile.server_workers)
        self.stack: Stack | None = None
        self.gave_up: str | None = None  # set when a start failed: no more attempts

    @property
    def url(self) -> str | None:
        """The stack's base URL while it runs."""
        return self.stack.url if self.stack is not None else None

    def start(self) -> str | None:
        """Start; returns the base URL or None (the reason is in ``record.starts``)."""
        began = time.monotonic()
        try:
            self.stack = start(
                ServerConfig(
                    self.server,
                    port=0,
                    workers=self.profile.server_workers,
                    scale=self.profile.scale,
                    startup_timeout=STARTUP_TIMEOUT_S,
                    log_path=self.log_path,
                )
            )
        except TargetError as exc:
            self.gave_up = _error(exc)
            self.record.starts.append(
                StackStart(False, round(time.monotonic() - began, 3), self.gave_up)
            )
            return None
        self.record.starts.append(StackStart(True, round(time.monotonic() - began, 3)))
        return self.stack.url

    def stop(self, kill: bool = False) -> str | None:
        """Stop; returns an error text if the stack did not stop cleanly. ``kill``: SIGKILL it
        first (on a stop signal: its cells are over, its graceful shutdown would only spend the
        stop's bound); a stop signal during a graceful stop kills what is left too."""
        stack, self.stack = self.stack, None
        if stack is None:
            return None
        try:
            if kill:
                stack.kill()
            stack.stop()  # returns once every process of the stack is gone
        except TargetError as exc:
            return _error(exc)
        except BaseException:
            stack.kill()
            with contextlib.suppress(TargetError):
                stack.stop()
            raise
        return None

    def restart(self) -> str | None:
        self.stop()
        return self.start()

    def __enter__(self) -> StackRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(kill=exc_type is not None and issubclass(exc_type, KeyboardInterrupt))

    def settle(self, drain_s: float) -> tuple[bool, float, str]:
        """Let the previous cell's in-flight work end, then wait until GET / answers 200.

        Returns (answering, seconds spent, why not)."""
        began = time.monotonic()
        if drain_s > 0:
            time.sleep(min(drain_s, SETTLE_DRAIN_CAP_S))  # the slow views' own wait, not a sync
        deadline = began + SETTLE_TIMEOUT_S
        why = "not running"
        while self.stack is not None:
            exited = self.stack.exited()
            if exited is not None:
                why = exited
                break
            remaining = deadline - time.monotonic()
            try:
                status, _ = probe(self.stack.url + "/", min(PROBE_TIMEOUT_S, max(0.1, remaining)))
            except ConnectionRefusedError as exc:
                why = _error(exc)
                break  # nothing listens: the stack is gone
            except (OSError, http.client.HTTPException) as exc:
                why = _error(exc)
            else:
                if status == 200:
                    return True, time.monotonic() - began, ""
                why = f"HTTP {status}"
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)  # polling interval
        return False, time.monotonic() - began, why

    def warm_up(self, cells: Sequence[Cell]) -> None:
        """A short unrecorded pyload run on the first cell (and one over HTTP/2 when the cells
        run over it too), then one GET per client view."""
        url = self.url
        if url is None:
            return
        began = time.monotonic()
        notes: list[str] = []
        if self.profile.warmup_s > 0 and cells:
            for http2 in (False, True) if any(c.http2 for c in cells) else (False,):
                try:
                    result = pyload.run(
                        url + cells[0].endpoint.path,
                        connections=min(WARMUP_CONNECTIONS, self.profile.connections),
                        duration=self.profile.warmup_s,
                        threads=1,
                        timeout=self.profile.timeout_s,
                        http2=http2,
                    )
                except pyload.PyloadError as exc:
                    notes.append(f"warm-up run{' over HTTP/2' if http2 else ''}: {exc}")
                else:
                    if result.interrupted:  # pyload took a stop signal: the run stops here
                        stop_run()
            for cell in cells:
                if not cell.endpoint.is_gateway:
                    try:
                        probe(url + cell.endpoint.path, PROBE_TIMEOUT_S)
                    except (OSError, http.client.HTTPException) as exc:
                        notes.append(f"warm-up GET {cell.endpoint.path}: {exc}")
        self.record.warm_up = WarmUp(round(time.monotonic() - began, 3), notes)
