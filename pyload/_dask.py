"""Distributed runs: one run split over the workers of a Dask cluster, one pyload agent each.

Owns the cluster connection, the split of a Config into the agents' shares, the agreed start,
the agents' processes and the merge of their results. Dask schedules the agents and carries
their messages; the load itself is made by pyload's own worker processes, outside Dask's
event loop and outside the Dask worker's process. Call chain:

    run_dask(plan)                    the caller's thread
      _cluster(config.dask)                    reach the scheduler (bounded), or start local:N
      split_over_agents                        AgentShare per Dask worker: its threads, slots,
                                               connections, rate, as in a local run's split
      clock_offsets(client, workers)           time.time() round trips, the best of a few
      client.submit(_agent_task, ...)          one task per Dask worker, pinned to it
        _agent_task    (a Dask worker thread)  starts the agent process, relays its lines:
                                               started/progress -> Worker.log_event(topic);
                                               the result -> the task's return value
          agent_main   (the agent process)     run_local(its share's plan: Share(first slot, the
                                               whole run's pacing)); waits in on_start for the
                                               agreed start time (in its own clock)
      _Collector.wait                          progress (subscribe_topic) summed -> on_progress;
                                               outcomes; an agent whose Dask worker left, or
                                               whose process died, is lost; Ctrl-C stops all
      merge_agents                             RunResult.combine (exact), the run's own config,
                                               the per-agent breakdown (``RunResult.agents``)

Why a process per agent: a Dask worker is a daemonic process (children of its own are refused
by multiprocessing), it runs Dask's event loop and heartbeats in one of its threads, and a fork
of a multi-threaded process is unsafe. The agent is a plain subprocess in its own session: it
is single-threaded when it forks its workers (fast, as a local run), it owns its SIGINT (a stop
request from the client arrives as a line on its stdin and becomes its own Ctrl-C), and a
closed stdin (its Dask worker gone) stops it too.

What crosses the network: the Config and shares (a few hundred bytes per agent), a progress
message per agent per second, and each agent's result in the JSON wire format (docs/json.md:
counters and exact latency counts, some kilobytes). Never a request or a response.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyload import errors
from pyload._counters import Counters, LostPart, RunProgress
from pyload._hdr import encode_hdr, merge_encoded_hdr
from pyload._local import run_local
from pyload._net import CONNECT_TIMEOUT_S
from pyload._pacing import CLOSED_LOOP, ConstantRate
from pyload._plan import AgentShare, Plan, Share, make_plan, split_over_agents
from pyload._progress import Interval
from pyload.config import Config
from pyload.errors import ConnectError, PyloadError, UsageError, WorkerError

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = [
    "START_LEAD_S",
    "agent_main",
    "clock_offsets",
    "merge_intervals",
    "parse_address",
    "run_dask",
]

START_LEAD_S = 1.5  # from the submission to the agreed start: agent process start-up and fork
CLOCK_ROUNDS = 5  # time.time() round trips per agent; the one with the shortest wait counts
STOP_GRACE_S = 10.0  # after the deadline, how long an agent may take to send its result
EXITED_GRACE_S = 1.0  # after an agent process exited, how long its last lines may take
POLL_S = 0.2
STDERR_LINES = 20  # the agent's last stderr lines kept, for a failure note
AGENT_COMMAND = "from pyload._dask import agent_main; raise SystemExit(agent_main())"
_NO_DASK = "--dask needs the 'distributed' package (Dask): pip install 'pyload-wrk[dask]'"


# -- the cluster ---------------------------------------------------------------------------


def parse_address(address: str) -> int | None:
    """The N of ``local:N`` (a local cluster of N workers), or None for a scheduler address.

    Raises UsageError for a ``local:`` without a whole number >= 1.
    """
    if not address.startswith("local:") and address != "local":
        return None
    count = address.partition(":")[2]
    if not count.isdigit() or int(count) < 1:
        raise UsageError(f"--dask {address}: local:N needs a number of workers N >= 1")
    return int(count)


@contextlib.contextmanager
def _cluster(address: str) -> Iterator[Any]:
    """A Dask client of the scheduler at ``address``, or of a new local cluster (``local:N``),
    closed (and the local cluster stopped) on the way out.

    Raises UsageError without Dask, ConnectError when the scheduler cannot be reached within
    CONNECT_TIMEOUT_S, WorkerError when it has no worker within that time.
    """
    workers = parse_address(address)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(_NO_DASK) from None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask_logs())
        if workers is not None:
            # Ctrl-C in a terminal reaches the whole process group: the local cluster's
            # processes start with SIGINT ignored (inherited), so only this process sees it
            # and stops the agents. The price: a Ctrl-C during these seconds of start-up is
            # ignored (SIG_IGN is the one disposition that survives the spawn).
            with _sigint_ignored():
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # no fixed port (8787 may be taken)
                        silence_logs=logging.ERROR,
                    )
                )
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            _probe_scheduler(address)
            client = stack.enter_context(_connect(Client, address))
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise WorkerError(
                    f"the Dask scheduler at {address} has no worker"
                    f" (waited {CONNECT_TIMEOUT_S:.0f}s)"
                ) from None
        yield client


def _connect(client_class: Any, address: str) -> Any:
    """A Dask client of the scheduler at ``address``, within CONNECT_TIMEOUT_S (twice, for the
    connection and the handshake).

    Dask's client bounds the connection but not the handshake that follows: a peer that accepts
    and never answers would hang it for ever. So it is made in a thread of its own and waited
    for; on a timeout that thread is left behind (a daemon, it holds one socket).
    """
    made: list[Any] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            made.append(client_class(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False))
        except BaseException as exc:  # reported in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=make, name="pyload-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * CONNECT_TIMEOUT_S)
    if made:
        return made[0]
    if not failed:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: no Dask handshake within"
            f" {2 * CONNECT_TIMEOUT_S:.0f}s"
        )
    exc = failed[0]
    if isinstance(exc, OSError | TimeoutError):
        raise ConnectError(f"unable to reach the Dask scheduler at {address}: {_one_line(exc)}")
    if isinstance(exc, ValueError):
        raise UsageError(f"--dask {address}: {_one_line(exc)}")
    raise exc


def _probe_scheduler(address: str) -> None:
    """A TCP connect to a ``tcp://`` or ``tls://`` scheduler first: a refused connection is
    one clear line at once (Dask's client retries until its timeout). A ``tcp://`` scheduler
    greets first (its side of Dask's handshake): a peer that sends nothing is no scheduler."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise UsageError(f"--dask {address}: expected a scheduler address such as tcp://host:8786")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as sock:
            if scheme == "tcp" and not sock.recv(1):
                raise ConnectError(
                    f"unable to reach the Dask scheduler at {address}: it closed the connection"
                )
    except socket.gaierror as exc:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: {exc.strerror}"
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: no Dask answer within"
            f" {CONNECT_TIMEOUT_S:.0f}s (is it a Dask scheduler?)"
        ) from None
    except OSError as exc:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: {exc.strerror or exc}"
        ) from None


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Dask's own log lines (a worker lost, a connection closed) would interleave with the
    report: the run reports those itself, so only Dask's errors are shown during it."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def clock_offsets(
    client: Any, addresses: list[str], rounds: int = CLOCK_ROUNDS
) -> dict[str, tuple[float, float]]:
    """Each worker's wall clock minus this one's, and the uncertainty (half the round trip),
    both in seconds: of ``rounds`` round trips, the shortest (NTP's idea)."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        sent = time.time()
        remote = client.run(time.time, workers=addresses)
        back = time.time()
        half = (back - sent) / 2
        for address, then in remote.items():
            if address not in best or half < best[address][1]:
                best[address] = (then - (sent + back) / 2, half)
    return best


# -- the client side -----------------------------------------------------------------------


def run_dask(
    plan: Plan,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    keep_latency_intervals: bool = False,
    script: object | None = None,
    start_lead_s: float = START_LEAD_S,
) -> RunResult:
    """Run ``config`` over the workers of the Dask cluster ``config.dask``; the merged result.

    As ``_local.run_local``: setup errors raise (UsageError, ConnectError, WorkerError, or the
    agents' own, e.g. ResolveError, when every agent failed to start), ``on_start`` comes just
    before the load, ``on_progress`` about once a second with the agents' progress summed, and
    Ctrl-C (from the main thread) stops every agent and returns the partial result. An agent
    lost during the run becomes a ``LostPart`` of the result (the report's "Partial result"
    line), with what it had done by its last progress. ``keep_latency_intervals``: as
    ``run_local``'s, the agents' seconds merged (``merge_intervals``).
    """
    config = plan.config
    if config.dask is None:
        raise UsageError("run_distributed needs config.dask (a scheduler address or local:N)")
    if script is not None or config.script is not None:
        raise UsageError(
            "--dask does not run -s scripts yet (their threads' state would be on other"
            " machines): run the script without --dask, or merge runs with pyload merge"
        )
    body = plan.body if config.body_file is not None else None  # sent along to the agents
    local = parse_address(config.dask)
    if local is not None:
        # Too few threads for the agents: an error before a cluster is started.
        split_over_agents(config, [f"local-{i}" for i in range(local)])
    with _cluster(config.dask) as client:
        addresses = sorted(client.scheduler_info()["workers"])
        shares = split_over_agents(config, addresses)
        offsets = clock_offsets(client, addresses)
        run_id = uuid.uuid4().hex[:12]
        topic = f"pyload-{run_id}"
        collector = _Collector(config, shares, offsets, on_start, on_progress)
        client.subscribe_topic(topic, lambda event: collector.inbox.put(event[1]))
        start_at = time.time() + start_lead_s
        collector.deadline = start_at + start_lead_s + config.warmup + config.duration
        futures = {
            client.submit(
                _agent_task,
                _agent_spec(
                    config,
                    share,
                    start_at + offsets[share.address][0],
                    body,
                    keep_latency_intervals,
                ),
                topic,
                run_id,
                key=f"pyload-agent-{share.index}-{run_id}",
                workers=[share.address],
                allow_other_workers=False,
                pure=False,
                retries=0,
            ): share.index
            for share in shares
        }
        try:
            collector.wait(client, futures, run_id)
        finally:
            with contextlib.suppress(Exception):
                client.cancel(list(futures))
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(topic)
    return collector.result()


def _agent_spec(
    config: Config, share: AgentShare, start_at: float, body: bytes | None, intervals: bool
) -> str:
    """What the agent process reads on its stdin (one JSON line): its Config, its first slot,
    the whole run's pacing, the start time in its own clock, the body file's bytes."""
    return json.dumps(
        {
            "index": share.index,
            "config": share.config(config).to_json(),
            "first_slot": share.first_slot,
            "rate": config.rate,  # the whole run's grid: ConstantRate(rate, connections)
            "slots": config.connections,
            "start_at": start_at,
            "latest_start": start_at + config.warmup + config.duration,
            "body_file": None if body is None else base64.b64encode(body).decode("ascii"),
            "keep_latency_intervals": intervals,
        }
    )


@dataclass
class _Agent:
    """The client's view of one agent during the run."""

    share: AgentShare
    offset_s: float
    uncertainty_s: float
    status: str = "pending"  # pending, started, done (ok, failed or lost)
    started: dict[str, Any] | None = None
    progress: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    outcome: dict[str, Any] | None = None
    lost: str | None = None  # why it was lost

    @property
    def name(self) -> str:
        return f"{self.share.index} at {self.share.address}"

    def last_counters(self) -> Counters | None:
        if not self.progress:
            return None
        return Counters(**Counters.counters_from_json(self.progress[-1]["counters"]))


class _Collector:
    """The run as the client sees it: the agents' messages and outcomes, until each is done."""

    def __init__(
        self,
        config: Config,
        shares: list[AgentShare],
        offsets: Mapping[str, tuple[float, float]],
        on_start: Callable[[], None] | None,
        on_progress: Callable[[RunProgress], None] | None,
    ) -> None:
        self.config = config
        self.agents = [_Agent(s, *offsets[s.address]) for s in shares]
        self.on_start = on_start
        self.on_progress = on_progress
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()  # filled by Dask's thread
        self.deadline = 0.0  # wall clock: when an agent without a result is given up
        self.interrupted = False
        self.announced = False  # on_start was called
        self.reported = 0  # seconds passed to on_progress

    def wait(self, client: Any, futures: Mapping[Any, int], run_id: str) -> None:
        """Until every agent is done: dispatch messages, outcomes, losses; Ctrl-C stops all."""
        pending = dict(futures)
        next_check = time.monotonic() + 1.0
        while pending:
            try:
                with contextlib.suppress(queue.Empty):
                    self._dispatch(self.inbox.get(timeout=POLL_S))
                for future in [f for f in pending if f.done()]:
                    self._finish(self.agents[pending.pop(future)], future)
                if time.monotonic() > next_check:
                    next_check = time.monotonic() + 1.0
                    alive = set(client.scheduler_info()["workers"])
                    for future, index in list(pending.items()):
                        if self.agents[index].share.address not in alive:
                            del pending[future]
                            self._lose(self.agents[index], "was lost with its Dask worker")
                if time.time() > self.deadline + STOP_GRACE_S:
                    for future, index in list(pending.items()):
                        del pending[future]
                        self._lose(self.agents[index], f"sent no result within {STOP_GRACE_S:.0f}s")
                self._maybe_announce()
            except KeyboardInterrupt:
                if self.interrupted:
                    raise  # a second Ctrl-C: give up at once
                self.interrupted = True
                self.deadline = min(self.deadline, time.time())
                client.run(_stop_agents, run_id)
        while not self.inbox.empty():
            self._dispatch(self.inbox.get_nowait())

    def _dispatch(self, message: dict[str, Any]) -> None:
        agent = self.agents[int(message["agent"])]
        if agent.status == "done":
            return
        if message["kind"] == "started":
            agent.started = message
            agent.status = "started"
        elif message["kind"] == "progress":
            agent.progress.append(message)
            self._maybe_report()

    def _finish(self, agent: _Agent, future: Any) -> None:
        try:
            outcome = future.result()
        except Exception as exc:  # the task itself raised: a bug, or its worker's end
            self._lose(agent, f"failed in its Dask task: {type(exc).__name__}: {_one_line(exc)}")
            return
        agent.outcome = outcome
        if agent.started is None and outcome.get("started") is not None:
            agent.started = outcome["started"]
        agent.status = "done"
        if outcome["status"] == "lost":
            agent.lost = outcome["reason"]
        self._maybe_report()

    def _lose(self, agent: _Agent, reason: str) -> None:
        agent.status = "done"
        agent.lost = reason
        self._maybe_report()

    def _maybe_announce(self) -> None:
        """``on_start`` once every agent has started or is done (and one at least started)."""
        if self.announced or any(a.status == "pending" for a in self.agents):
            return
        self.announced = True
        if self.on_start is not None and any(a.started is not None for a in self.agents):
            self.on_start()

    def _maybe_report(self) -> None:
        """``on_progress`` once every running agent has sent its n-th second: the counters of
        all summed (an agent that is done counts with its last ones)."""
        if self.on_progress is None:
            return
        while True:
            number = self.reported + 1
            if any(len(a.progress) < number for a in self.agents if a.status != "done"):
                return  # a running agent has not sent its n-th second yet
            fresh = [a.progress[number - 1] for a in self.agents if len(a.progress) >= number]
            if not fresh:
                return
            self.reported = number
            latest = [a.progress[min(number, len(a.progress)) - 1] for a in self.agents
                      if a.progress]  # fmt: skip
            p99s = [m["p99_us"] for m in latest if m["p99_us"] is not None]
            self.on_progress(
                RunProgress(
                    elapsed_s=max(float(m["elapsed_s"]) for m in fresh),
                    counters=Counters.total(
                        Counters(**Counters.counters_from_json(m["counters"])) for m in latest
                    ),
                    workers=sum(int(m["workers"]) for m in latest),
                    last_second_requests=sum(int(m["last_second_requests"]) for m in fresh),
                    # The run's p99 is at most the highest of the agents' (a mixture's
                    # quantile lies between its parts'): an upper bound, not the exact one.
                    p99_us=max(p99s) if p99s else None,
                )
            )

    def result(self) -> RunResult:
        """The agents' results merged exactly, with the lost agents and the breakdown; raises
        the agents' setup error when none of them ran."""
        from pyload.result import RunResult

        runs: dict[int, RunResult] = {}  # by agent index
        seconds: list[list[Interval]] = []  # each agent's, for --hdr-log and --plot
        lost: list[LostPart] = []
        setup_errors: list[tuple[_Agent, dict[str, Any]]] = []
        for agent in self.agents:
            outcome = agent.outcome or {}
            if agent.lost is None and outcome.get("status") == "ok":
                run = RunResult.from_json(outcome["result"])
                runs[agent.share.index] = self._agent_result(agent, run)
                seconds.append([Interval(**i) for i in outcome.get("intervals", ())])
            elif agent.lost is None and outcome.get("status") == "failed" and agent.started is None:
                setup_errors.append((agent, outcome))
                lost.append(self._lost(agent, f"failed to start: {outcome['error']}"))
            else:
                lost.append(self._lost(agent, agent.lost or f"failed: {outcome.get('error')}"))
        if not runs:
            if setup_errors:
                raise _setup_error(setup_errors)
            raise WorkerError(
                "every agent was lost: " + "; ".join(str(failure) for failure in lost)
            )
        merged = RunResult.combine(list(runs.values()))
        # Each thread keeps its number in the whole run (a lost agent's are missing, as a lost
        # worker process's are in a local run).
        numbers = [t for i in runs for t in self.agents[i].share.thread_numbers]
        workers = tuple(dataclasses.replace(w, index=numbers[w.index]) for w in merged.workers)
        return dataclasses.replace(
            merged,
            config=self.config,
            workers=workers,
            lost_workers=merged.lost_workers + tuple(lost),
            interrupted=merged.interrupted or self.interrupted,
            agents=tuple(self._breakdown(a, runs.get(a.share.index)) for a in self.agents),
            intervals=merge_intervals(seconds),
        )

    def _agent_result(self, agent: _Agent, run: RunResult) -> RunResult:
        """An agent's result, ready for ``RunResult.combine``: its lost worker processes named
        with the agent and the run's thread numbers; what was split only for it (processes,
        -n, the body file's local copy) set back to the run's, so the settings compare equal."""
        first = agent.share.first_thread
        lost = tuple(
            dataclasses.replace(w, agent=agent.name, threads=tuple(first + t for t in w.threads))
            for w in run.lost_workers
        )
        config = dataclasses.replace(
            run.config,
            processes=self.config.processes,
            requests=self.config.requests,
            body_file=self.config.body_file,
        )
        return dataclasses.replace(run, config=config, lost_workers=lost)

    def _lost(self, agent: _Agent, reason: str) -> LostPart:
        last = agent.progress[-1] if agent.progress else None
        return LostPart(
            process=-1,
            threads=agent.share.thread_numbers,
            reason=reason,
            last_progress=agent.last_counters(),
            last_progress_s=None if last is None else float(last["elapsed_s"]),
            agent=agent.name,
        )

    def _breakdown(self, agent: _Agent, run: RunResult | None) -> dict[str, Any]:
        """The agent's line of the JSON ``agents`` list (docs/json.md)."""
        share = agent.share
        outcome = agent.outcome or {}
        started = agent.started or {}
        entry: dict[str, Any] = {
            "index": share.index,
            "name": share.address,
            "status": "ok" if run is not None else "lost" if agent.started else "failed",
            "host": started.get("host"),
            "pid": started.get("pid"),
            "threads": list(share.thread_numbers),
            "connections": share.connections,
            "first_slot": share.first_slot,
            "rate": share.rate,
            "clock_offset_ms": agent.offset_s * 1000,
            "clock_uncertainty_ms": agent.uncertainty_s * 1000,
            "ready_margin_ms": started.get("ready_margin_ms"),
            "start_late_ms": started.get("start_late_ms"),
            "reason": None if run is not None else (agent.lost or outcome.get("error")),
        }
        if run is not None:
            from pyload.merge import part_summary

            entry.update(part_summary(run))
        else:
            last = agent.last_counters()
            entry["last_progress_s"] = agent.progress[-1]["elapsed_s"] if agent.progress else None
            entry["last_progress"] = None if last is None else last.counters_json()
        return entry


def merge_intervals(parts: list[list[Interval]]) -> tuple[Interval, ...]:
    """The run's seconds from the agents' (they started together): the n-th of each added up,
    their latencies exactly (HdrHistogram encodings added); an agent that ended earlier simply
    has fewer. Latencies not kept by one agent are not kept for the run (empty encoding)."""
    merged: list[Interval] = []
    for number, seconds in enumerate(itertools.zip_longest(*parts)):
        present = [s for s in seconds if s is not None]
        kept = all(s.latency_encoded for s in present)
        histogram = merge_encoded_hdr(s.latency_encoded for s in present) if kept else None
        merged.append(
            dataclasses.replace(
                present[0],
                start_s=merged[number - 1].end_s if number else min(s.start_s for s in present),
                end_s=max(s.end_s for s in present),
                requests=sum(s.requests for s in present),
                errors=sum(s.errors for s in present),
                latency_count=sum(s.latency_count for s in present),
                latency_encoded="" if histogram is None else encode_hdr(histogram),
            )
        )
    return tuple(merged)


def _setup_error(failures: list[tuple[_Agent, dict[str, Any]]]) -> PyloadError:
    """The error of agents that all failed before the start: the one a local run would have
    raised when they agree (say, the target refuses connections), else the first, named."""
    first_agent, first = failures[0]
    kind = getattr(errors, str(first.get("error_type")), None)
    if not (isinstance(kind, type) and issubclass(kind, PyloadError)):
        kind = WorkerError
    messages = {outcome["message"] for _, outcome in failures}
    if len(messages) == 1:
        return kind(first["message"])
    return kind(f"agent {first_agent.name}: {first['message']}")


def _stop_agents(run_id: str) -> int:
    """Run on every Dask worker (``Client.run``): ask this run's agent there to stop."""
    stop = _STOPS.get(run_id)
    if stop is not None:
        stop.set()
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- the Dask task: one agent process per Dask worker -------------------------------------

_STOPS: dict[str, threading.Event] = {}  # in a Dask worker: the stop request of each run


def _agent_task(spec_text: str, topic: str, run_id: str) -> dict[str, Any]:
    """Run on a Dask worker, in one of its task threads (never its event loop): start the agent
    process, feed it its spec, relay its messages, return its outcome (a plain mapping).

    The outcome's ``status``: ``ok`` (with the result document), ``failed`` (the agent raised:
    ``error_type``, ``message``) or ``lost`` (its process ended without a result: ``reason``).
    """
    spec = json.loads(spec_text)
    index = int(spec["index"])
    if time.time() > spec["latest_start"]:  # scheduled again after the run's end: never run
        return {"status": "failed", "error_type": "WorkerError", "error": "too late to start",
                "message": "too late to start", "started": None}  # fmt: skip
    stop = _STOPS.setdefault(run_id, threading.Event())
    try:
        return _agent_process(spec_text, index, topic, stop)
    finally:
        _STOPS.pop(run_id, None)


def _agent_process(spec_text: str, index: int, topic: str, stop: threading.Event) -> dict[str, Any]:
    """Start the agent process and relay its lines until it ends; its outcome."""
    from distributed import get_worker

    worker = get_worker()
    spec = json.loads(spec_text)
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
    hard_deadline = spec["latest_start"] + STOP_GRACE_S + EXITED_GRACE_S
    outcome: dict[str, Any] | None = None
    started: dict[str, Any] | None = None
    stop_sent = False
    exited_at: float | None = None
    try:
        process.stdin.write(spec_text + "\n")
        process.stdin.flush()
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:
                break  # EOF: the agent and its workers are gone
            if line:
                message = json.loads(line)
                kind = message.get("kind")
                if kind in ("started", "progress"):
                    if kind == "started":
                        started = message
                    worker.log_event(topic, {**message, "agent": index})
                elif kind == "result":
                    outcome = {
                        "status": "ok",
                        "result": message["result"],
                        "intervals": message["intervals"],
                    }
                elif kind == "error":
                    outcome = {
                        "status": "failed",
                        "error_type": message["type"],
                        "message": message["message"],
                        "error": f"{message['type']}: {message['message']}",
                    }
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
    if outcome is None:
        outcome = {"status": "lost", "reason": _exit_reason(code, stderr)}
    outcome["started"] = started
    return outcome


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


# -- the agent process ---------------------------------------------------------------------


def agent_main() -> int:
    """The agent process (``python -c AGENT_COMMAND``): one JSON spec on stdin; JSON lines on
    stdout (started, progress, then result or error); ``stop`` on stdin (or its end) is Ctrl-C.
    """
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's own copy of stdout
    os.dup2(2, 1)  # anything else printed (by this process or its workers) goes to stderr

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message, separators=(",", ":")) + "\n")

    try:
        return _agent_run(json.loads(sys.stdin.readline()), send)
    except PyloadError as exc:
        send({"kind": "error", "type": type(exc).__name__, "message": str(exc)})
        return 1
    except KeyboardInterrupt:
        send({"kind": "error", "type": "WorkerError", "message": "stopped before the start"})
        return 1


def _agent_run(spec: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> int:
    config = Config.from_json(spec["config"])
    body_copy = None
    if spec["body_file"] is not None:  # the client's file, sent along: this machine has none
        body_copy = tempfile.NamedTemporaryFile(prefix="pyload-body-", delete=False)  # noqa: SIM115
        with body_copy:
            body_copy.write(base64.b64decode(spec["body_file"]))
        config = dataclasses.replace(config, body_file=body_copy.name)
    pacing = CLOSED_LOOP if spec["rate"] is None else ConstantRate(spec["rate"], spec["slots"])
    running = threading.Event()

    def on_start() -> None:
        # The workers are ready (forked while this process had one thread): from here on a
        # stop request on stdin becomes Ctrl-C. Then wait for the agreed start, in this clock.
        ready = time.time()
        if ready > spec["latest_start"]:
            raise WorkerError("ready only after the run's end")
        running.set()  # before the watcher reads a stop request that came early
        threading.Thread(target=_watch_stdin, args=(running,), daemon=True).start()
        remaining = spec["start_at"] - time.time()
        if remaining > 0:
            time.sleep(remaining)
        now = time.time()
        send({
            "kind": "started",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "ready_margin_ms": (spec["start_at"] - ready) * 1000,
            "start_late_ms": max(0.0, now - spec["start_at"]) * 1000,
        })  # fmt: skip

    def on_progress(progress: RunProgress) -> None:
        send({
            "kind": "progress",
            "elapsed_s": progress.elapsed_s,
            "counters": progress.counters.counters_json(),
            "workers": progress.workers,
            "last_second_requests": progress.last_second_requests,
            "p99_us": progress.p99_us,
        })  # fmt: skip

    try:
        plan = make_plan(config, Share(spec["first_slot"], pacing))
        result = run_local(
            plan, on_start, on_progress, keep_latency_intervals=spec["keep_latency_intervals"]
        )
    finally:
        running.clear()
        if body_copy is not None:
            with contextlib.suppress(OSError):
                os.unlink(body_copy.name)
    intervals = [dataclasses.asdict(interval) for interval in result.intervals]
    send({"kind": "result", "result": result.to_dict(), "intervals": intervals})
    return 0


def _watch_stdin(running: threading.Event) -> None:
    """A line ``stop``, or the end of stdin (the Dask task is gone): Ctrl-C for this process,
    which the local executor turns into a stop of the workers and a partial result."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    if running.is_set():
        os.kill(os.getpid(), signal.SIGINT)
