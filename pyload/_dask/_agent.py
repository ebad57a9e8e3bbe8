"""The agent process: its share of the run as a local run, started at the agreed time; its
messages as JSON lines on stdout; a stop request (or the end of stdin) as its own Ctrl-C."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from pyload._counters import RunProgress
from pyload._dask._messages import (
    AgentError,
    AgentMessage,
    AgentProgress,
    AgentResult,
    AgentSpec,
    AgentStarted,
)
from pyload._local import run_local
from pyload._pacing import CLOSED_LOOP, ConstantRate
from pyload._plan import Share, make_plan
from pyload.errors import PyloadError, WorkerError

__all__ = ["AGENT_COMMAND", "agent_main"]

AGENT_COMMAND = f"from {__name__} import agent_main; raise SystemExit(agent_main())"
"""How the Dask task starts the agent: ``python -c AGENT_COMMAND``."""


def agent_main() -> int:
    """The agent process (``python -c AGENT_COMMAND``): one JSON spec on stdin (AgentSpec); JSON
    lines on stdout (AgentStarted, AgentProgress, then AgentResult or AgentError); ``stop`` on
    stdin (or its end) is Ctrl-C.
    """
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's own copy of stdout
    os.dup2(2, 1)  # anything else printed (by this process or its workers) goes to stderr

    def send(message: AgentMessage) -> None:
        channel.write(json.dumps(message.to_json(), separators=(",", ":")) + "\n")

    try:
        return _agent_run(AgentSpec.from_json(json.loads(sys.stdin.readline())), send)
    except PyloadError as exc:
        send(AgentError(type(exc).__name__, str(exc)))
        return 1
    except KeyboardInterrupt:
        send(AgentError("WorkerError", "stopped before the start"))
        return 1


def _agent_run(spec: AgentSpec, send: Callable[[AgentMessage], None]) -> int:
    config = spec.config
    body_copy = None
    if spec.body_file is not None:  # the client's file, sent along: this machine has none
        body_copy = tempfile.NamedTemporaryFile(prefix="pyload-body-", delete=False)  # noqa: SIM115
        with body_copy:
            body_copy.write(spec.body_file)
        config = dataclasses.replace(config, body_file=body_copy.name)
    pacing = CLOSED_LOOP if spec.rate is None else ConstantRate(spec.rate, spec.slots)
    running = threading.Event()

    def on_start() -> None:
        # The workers are ready (forked while this process had one thread): from here on a
        # stop request on stdin becomes Ctrl-C. Then wait for the agreed start, in this clock.
        ready = time.time()
        if ready > spec.latest_start:
            raise WorkerError("ready only after the run's end")
        running.set()  # before the watcher reads a stop request that came early
        threading.Thread(target=_watch_stdin, args=(running,), daemon=True).start()
        remaining = spec.start_at - time.time()
        if remaining > 0:
            time.sleep(remaining)
        now = time.time()
        send(
            AgentStarted(
                host=socket.gethostname(),
                pid=os.getpid(),
                ready_margin_ms=(spec.start_at - ready) * 1000,
                start_late_ms=max(0.0, now - spec.start_at) * 1000,
            )
        )

    def on_progress(progress: RunProgress) -> None:
        send(
            AgentProgress(
                elapsed_s=progress.elapsed_s,
                counters=progress.counters,
                workers=progress.workers,
                last_second_requests=progress.last_second_requests,
                p99_us=progress.p99_us,
            )
        )

    try:
        plan = make_plan(config, Share(spec.first_slot, pacing))
        result = run_local(plan, on_start, on_progress)
    finally:
        running.clear()
        if body_copy is not None:
            with contextlib.suppress(OSError):
                os.unlink(body_copy.name)
    send(AgentResult(result.to_dict()))
    return 0


def _watch_stdin(running: threading.Event) -> None:
    """A line ``stop``, or the end of stdin (the Dask task is gone): Ctrl-C for this process,
    which the local executor turns into a stop of the workers and a partial result."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    if running.is_set():
        os.kill(os.getpid(), signal.SIGINT)
