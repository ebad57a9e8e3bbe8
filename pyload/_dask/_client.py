"""The client side of a distributed run: the agents' tasks submitted, their messages and outcomes
collected, their results merged (with the per-agent summaries and the seconds)."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyload._counters import Counters, LostPart, RunProgress
from pyload._dask._cluster import clock_offsets, cluster, parse_address
from pyload._dask._errors import pyload_error
from pyload._dask._messages import (
    AgentProgress,
    AgentSpec,
    AgentStarted,
    Failed,
    Finished,
    Lost,
    Outcome,
    agent_message,
)
from pyload._dask._relay import STOP_GRACE_S, agent_task, stop_agents
from pyload._parts import AgentLaunch, AgentSummary, PartMeasured
from pyload._plan import AgentShare, Plan, split_over_agents
from pyload._progress import RoundBarrier
from pyload.config import Config
from pyload.errors import UsageError, WorkerError

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["START_LEAD_S", "run_dask"]

START_LEAD_S = 1.5  # from the submission to the agreed start: agent process start-up and fork
POLL_S = 0.2


def run_dask(
    plan: Plan,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    script: object | None = None,
    start_lead_s: float = START_LEAD_S,
) -> RunResult:
    """Run ``config`` over the workers of the Dask cluster ``config.dask``; the merged result.

    As ``_local.run_local``: setup errors raise (UsageError, ConnectError, WorkerError, or the
    agents' own, e.g. ResolveError, when every agent failed to start), ``on_start`` comes just
    before the load, ``on_progress`` about once a second with the agents' progress summed, and
    Ctrl-C (from the main thread) stops every agent and returns the partial result. An agent
    lost during the run becomes a ``LostPart`` of the result (the report's "Partial result"
    line), with what it had done by its last progress. The agents' seconds are added second
    by second (``RunResult.combine``: a lost agent's are missing, as its counters are).
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
    with cluster(config.dask) as client:
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
                agent_task,
                _agent_spec(
                    config,
                    share,
                    start_at + offsets[share.address][0],
                    body,
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
    config: Config, share: AgentShare, start_at: float, body: bytes | None
) -> AgentSpec:
    """What the agent runs: its Config, its first slot, the whole run's pacing, the start time
    in its own clock, the body file's bytes."""
    return AgentSpec(
        index=share.index,
        config=share.config(config),
        first_slot=share.first_slot,
        rate=config.rate,  # the whole run's grid: ConstantRate(rate, request slots)
        slots=config.request_slots,
        start_at=start_at,
        latest_start=start_at + config.warmup + config.duration,
        body_file=body,
    )


@dataclass
class _Agent:
    """The client's view of one agent during the run."""

    share: AgentShare
    offset_s: float
    uncertainty_s: float
    started: AgentStarted | None = None
    progress: list[AgentProgress] = dataclasses.field(default_factory=list)
    outcome: Outcome | None = None  # None: still running

    @property
    def name(self) -> str:
        return f"{self.share.index} at {self.share.address}"

    @property
    def pending(self) -> bool:
        """Neither started nor done."""
        return self.started is None and self.outcome is None

    @property
    def reason(self) -> str | None:
        """Why it was lost or failed (None: it finished)."""
        match self.outcome:
            case Lost(reason=reason):
                return reason
            case Failed(error=error):
                return error.line
        return None


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
        self.inbox: queue.Queue[Mapping[str, Any]] = queue.Queue()  # filled by Dask's thread
        self.deadline = 0.0  # wall clock: when an agent without a result is given up
        self.interrupted = False
        self.announced = False  # on_start was called
        self.rounds = RoundBarrier(range(len(shares)))  # the n-th second: every agent's n-th

    def wait(self, client: Any, futures: Mapping[Any, int], run_id: str) -> None:
        """Until every agent is done: dispatch messages, outcomes, losses; Ctrl-C stops all."""
        pending = dict(futures)
        next_check = time.monotonic() + 1.0
        while pending:
            try:
                with contextlib.suppress(queue.Empty):
                    self._receive(self.inbox.get(timeout=POLL_S))
                for future in [f for f in pending if f.done()]:
                    self._dispatch(pending.pop(future), self._outcome(future))
                if time.monotonic() > next_check:
                    next_check = time.monotonic() + 1.0
                    alive = set(client.scheduler_info()["workers"])
                    for future, index in list(pending.items()):
                        if self.agents[index].share.address not in alive:
                            del pending[future]
                            self._dispatch(index, Lost("was lost with its Dask worker"))
                if time.time() > self.deadline + STOP_GRACE_S:
                    for future, index in list(pending.items()):
                        del pending[future]
                        reason = f"sent no result within {STOP_GRACE_S:.0f}s"
                        self._dispatch(index, Lost(reason))
                self._maybe_announce()
            except KeyboardInterrupt:
                if self.interrupted:
                    raise  # a second Ctrl-C: give up at once
                self.interrupted = True
                self.deadline = min(self.deadline, time.time())
                client.run(stop_agents, run_id)
        while not self.inbox.empty():
            self._receive(self.inbox.get_nowait())

    def _receive(self, event: Mapping[str, Any]) -> None:
        """An event of the run's topic: an agent's message, with its index."""
        match agent_message(event):
            case AgentStarted() | AgentProgress() as message:  # the only ones relayed
                self._dispatch(int(event["agent"]), message)

    def _outcome(self, future: Any) -> Outcome:
        """A done task's outcome; a task that raised (a bug, or its worker's end) is Lost."""
        try:
            outcome: Outcome = future.result()
        except Exception as exc:
            return Lost(str(pyload_error(exc, "task", None)))
        return outcome

    def _dispatch(self, index: int, event: AgentStarted | AgentProgress | Outcome) -> None:
        """Everything the client learns of an agent, in one place; nothing after its outcome."""
        agent = self.agents[index]
        if agent.outcome is not None:
            return
        match event:
            case AgentStarted():
                agent.started = event
            case AgentProgress():
                agent.progress.append(event)
                self.rounds.add(index)
                self._report(self.rounds.advance())
            case Finished() | Failed() | Lost():
                agent.outcome = event
                if agent.started is None:
                    agent.started = event.started
                self.rounds.end(index)
                self._report(self.rounds.advance())

    def _maybe_announce(self) -> None:
        """``on_start`` once every agent has started or is done (and one at least started)."""
        if self.announced or any(a.pending for a in self.agents):
            return
        self.announced = True
        if self.on_start is not None and any(a.started is not None for a in self.agents):
            self.on_start()

    def _report(self, seconds: list[int]) -> None:
        """``on_progress`` for each second every running agent has sent: the counters of all
        summed (an agent that is done counts with its last ones)."""
        if self.on_progress is None:
            return
        for number in seconds:
            fresh = [a.progress[number - 1] for a in self.agents if len(a.progress) >= number]
            latest = [a.progress[min(number, len(a.progress)) - 1] for a in self.agents
                      if a.progress]  # fmt: skip
            p99s = [m.p99_us for m in latest if m.p99_us is not None]
            self.on_progress(
                RunProgress(
                    elapsed_s=max(m.elapsed_s for m in fresh),
                    counters=Counters.total(m.counters for m in latest),
                    workers=sum(m.workers for m in latest),
                    last_second_requests=sum(m.last_second_requests for m in fresh),
                    # The run's p99 is at most the highest of the agents' (a mixture's
                    # quantile lies between its parts'): an upper bound, not the exact one.
                    p99_us=max(p99s) if p99s else None,
                )
            )

    # -- the merge ---------------------------------------------------------------------------

    def result(self) -> RunResult:
        """The agents' results merged exactly, with the lost agents and the summaries; raises
        the agents' setup error when none of them ran."""
        from pyload.result import RunResult

        runs: dict[int, RunResult] = {}  # by agent index
        lost: list[LostPart] = []
        setup_errors: list[tuple[_Agent, Failed]] = []
        for agent in self.agents:
            match agent.outcome:
                case Finished(result=message):
                    run = RunResult.from_json(message.result)
                    runs[agent.share.index] = self._agent_result(agent, run)
                case Failed(error=error) as failed if agent.started is None:
                    setup_errors.append((agent, failed))
                    lost.append(self._lost(agent, f"failed to start: {error.line}"))
                case Failed(error=error):
                    lost.append(self._lost(agent, f"failed: {error.line}"))
                case Lost(reason=reason):
                    lost.append(self._lost(agent, reason))
        if not runs:
            if setup_errors:
                # The error a local run would have raised when they agree (say, the target
                # refuses connections), else the first, named.
                first_agent, first = setup_errors[0]
                agree = len({failed.error.message for _, failed in setup_errors}) == 1
                raise pyload_error(first.error, "agent", None if agree else first_agent.name)
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
            agents=tuple(self._summary(a, runs.get(a.share.index)) for a in self.agents),
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
            last_progress=None if last is None else last.counters,
            last_progress_s=None if last is None else last.elapsed_s,
            agent=agent.name,
        )

    def _summary(self, agent: _Agent, run: RunResult | None) -> AgentSummary:
        """The agent's entry of ``RunResult.agents`` (docs/json.md)."""
        share, started = agent.share, agent.started
        last = agent.progress[-1] if agent.progress and run is None else None
        return AgentSummary(
            index=share.index,
            name=share.address,
            status="ok" if run is not None else "lost" if started is not None else "failed",
            threads=share.thread_numbers,
            connections=share.connections,
            rate=share.rate,
            measured=None if run is None else PartMeasured.of(run),
            launch=AgentLaunch(
                host=None if started is None else started.host,
                pid=None if started is None else started.pid,
                first_slot=share.first_slot,
                clock_offset_ms=agent.offset_s * 1000,
                clock_uncertainty_ms=agent.uncertainty_s * 1000,
                ready_margin_ms=None if started is None else started.ready_margin_ms,
                start_late_ms=None if started is None else started.start_late_ms,
            ),
            reason=None if run is not None else agent.reason,
            last_progress=None if last is None else last.counters,
            last_progress_s=None if last is None else last.elapsed_s,
        )
