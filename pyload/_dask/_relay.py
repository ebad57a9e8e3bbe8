"""The Dask task: on a Dask worker, it starts the agent process, relays its messages to the
client and returns its outcome."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pyload._dask._agent import AGENT_COMMAND
from pyload._dask._messages import (
    AgentError,
    AgentProgress,
    AgentResult,
    AgentSpec,
    AgentStarted,
    Failed,
    Finished,
    Lost,
    Outcome,
    agent_message,
)

__all__ = ["EXITED_GRACE_S", "STOP_GRACE_S", "agent_task", "stop_agents"]

STOP_GRACE_S = 10.0  # after the deadline, how long an agent may take to send its result
EXITED_GRACE_S = 1.0  # after an agent process exited, how long its last lines may take
POLL_S = 0.2
STDERR_LINES = 20  # the agent's last stderr lines kept, for a failure note

_STOPS: dict[str, threading.Event] = {}  # in a Dask worker: the stop request of each run


def agent_task(spec: AgentSpec, topic: str, run_id: str) -> Outcome:
    """Run on a Dask worker, in one of its task threads (never its event loop): start the agent
    process, feed it its spec, relay its messages, return its outcome: Finished (its result),
    Failed (it raised) or Lost (its process ended without a result)."""
    if time.time() > spec.latest_start:  # scheduled again after the run's end: never run
        return Failed(AgentError(None, "too late to start"), started=None)
    stop = _STOPS.setdefault(run_id, threading.Event())
    try:
        return _agent_process(spec, topic, stop)
    finally:
        _STOPS.pop(run_id, None)


def stop_agents(run_id: str) -> int:
    """Run on every Dask worker (``Client.run``): ask this run's agent there to stop."""
    stop = _STOPS.get(run_id)
    if stop is not None:
        stop.set()
    return 0


def _agent_process(spec: AgentSpec, topic: str, stop: threading.Event) -> Outcome:
    """Start the agent process and relay its lines until it ends; its outcome."""
    from distributed import get_worker

    worker = get_worker()
    process = subprocess.Popen(
        [sys.executable, "-c", AGENT_COMMAND],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C reaches the client only, which relays it
    )
    assert process.stdin is not None and process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: deque[str] = deque(maxlen=STDERR_LINES)
    threading.Thread(target=_pump, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, _keep(stderr)), daemon=True).start()
    hard_deadline = spec.latest_start + STOP_GRACE_S + EXITED_GRACE_S
    ended: AgentResult | AgentError | None = None
    started: AgentStarted | None = None
    stop_sent = False
    exited_at: float | None = None
    try:
        process.stdin.write(json.dumps(spec.to_json()) + "\n")
        process.stdin.flush()
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:
                break  # EOF: the agent and its workers are gone
            if line:
                match agent_message(json.loads(line)):
                    case AgentStarted() as message:
                        started = message
                        worker.log_event(topic, {**message.to_json(), "agent": spec.index})
                    case AgentProgress() as message:
                        worker.log_event(topic, {**message.to_json(), "agent": spec.index})
                    case AgentResult() | AgentError() as message:
                        ended = message
                continue
            if stop.is_set() and not stop_sent:
                stop_sent = True
                with contextlib.suppress(OSError):
                    process.stdin.write("stop\n")
                    process.stdin.flush()
            if process.poll() is not None:
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > EXITED_GRACE_S:
                    break  # its worker processes may still hold the pipe: stop waiting
            if time.time() > hard_deadline:
                process.kill()
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            code = process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    match ended:
        case AgentResult():
            return Finished(ended, started)
        case AgentError():
            return Failed(ended, started)
    return Lost(_exit_reason(code, stderr), started)


def _keep(lines: deque[str]) -> Callable[[str | None], None]:
    def keep(line: str | None) -> None:
        if line is not None:
            lines.append(line)

    return keep


def _pump(stream: Any, put: Callable[[str | None], Any]) -> None:
    """Copy a pipe's lines to ``put`` until EOF, then put None."""
    with contextlib.suppress(OSError, ValueError):
        for line in stream:
            put(line)
    put(None)


def _exit_reason(code: int, stderr: deque[str]) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"died before sending its result (killed by {signal.Signals(-code).name})"
    last = next((line.strip() for line in reversed(stderr) if line.strip()), "")
    return f"died before sending its result (exit status {code}{': ' + last if last else ''})"
