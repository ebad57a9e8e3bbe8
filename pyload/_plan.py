"""The plan of a run: everything derived from a Config before the load, computed once.

    Config --make_plan--> Plan        the body's bytes, each thread's connections, first slot
                                      and -n quota, the threads each process hosts, the pacing
           (_local.prepare) --> ThreadSpec per thread: its share, address and request source
           --split_over_agents--> AgentShare per Dask worker (a distributed run, ``_dask``)

A Plan is what an executor runs: the local one (``_local``: processes on this machine) or the
Dask one (``_dask``: one agent per Dask worker, each running the local executor on its share).
Nothing here touches the network; the only I/O is reading ``--body-file``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from typing import Any

from pyload._pacing import ConstantRate, Pacing, pacing_for
from pyload._sources import RequestSource
from pyload._split import even_split, proportional_split
from pyload.config import Config
from pyload.errors import UsageError

__all__ = [
    "AgentShare",
    "Plan",
    "Share",
    "ThreadSpec",
    "make_plan",
    "processes_for",
    "read_body",
    "request_quotas",
    "split_over_agents",
    "threads_per_process",
    "with_streams",
]


@dataclass(frozen=True)
class Share:
    """This run as one part of a larger one (a distributed run's agent): its connection slots
    are numbered from ``first_slot`` in the whole run, and paced by the whole run's ``pacing``
    (so that the parts' constant-rate grids interleave instead of coinciding)."""

    first_slot: int
    pacing: Pacing


@dataclass(frozen=True)
class Plan:
    """What each thread and process of a run does, derived from ``config`` (``make_plan``)."""

    config: Config
    body: bytes  # --body as UTF-8, or --body-file's bytes
    connections: tuple[int, ...]  # per thread
    first_slots: tuple[int, ...]  # per thread: its first connection slot in the whole run
    quotas: tuple[int | None, ...]  # per thread: its share of -n (None: no limit)
    processes: tuple[tuple[int, ...], ...]  # the thread numbers each process hosts
    pacing: Pacing

    @property
    def connections_per_process(self) -> list[int]:
        return [sum(self.connections[t] for t in threads) for threads in self.processes]


@dataclass(frozen=True)
class ThreadSpec:
    """What one worker needs, built by the runner: the config, its share, the resolved address,
    what to send (``requests``) and when (``pacing``)."""

    index: int
    config: Config
    connections: int
    first_slot: int  # the run-wide number of this worker's first connection slot
    family: int
    address: tuple[Any, ...]
    requests: RequestSource
    pacing: Pacing
    process: int = 0  # the worker process that hosts this thread
    quota: int | None = None  # -n: this thread's share of the requests (None: no limit)


def make_plan(config: Config, share: Share | None = None) -> Plan:
    """The plan of ``config`` (``share``: as one part of a larger run); UsageError if the body
    file cannot be read."""
    connections = config.connections_per_thread()
    offset = share.first_slot if share is not None else 0
    firsts = [offset + first for first in itertools.accumulate(connections, initial=0)]
    blocks = threads_per_process(config.threads, processes_for(config))
    return Plan(
        config=config,
        body=read_body(config),
        connections=tuple(connections),
        first_slots=tuple(firsts[:-1]),
        quotas=tuple(request_quotas(config)),
        processes=tuple(tuple(block) for block in blocks),
        pacing=share.pacing if share is not None else pacing_for(config),
    )


def with_streams(plan: Plan, streams: int) -> Plan:
    """``plan`` with ``streams`` per connection instead (--http2's --streams capped at the
    server's limit): at a constant rate, the grid's slots are the streams, so the whole run's
    rate spreads over fewer slots, each sending more often."""
    pacing = plan.pacing
    if isinstance(pacing, ConstantRate):
        slots = pacing.slots // plan.config.streams * streams
        pacing = ConstantRate(pacing.rate, slots)
    config = dataclasses.replace(plan.config, streams=streams)
    return dataclasses.replace(plan, config=config, pacing=pacing)


def read_body(config: Config) -> bytes:
    """The request body: ``--body`` as UTF-8 (an argument byte that is not UTF-8 is sent as
    itself, as wrk sends its arguments: ``surrogateescape``), or the bytes of ``--body-file``."""
    if config.body is not None:
        try:
            return config.body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:  # a lone surrogate that no argument byte gives
            raise UsageError(f"cannot send {exc.object[exc.start : exc.end]!r} in a body") from None
    if config.body_file is None:
        return b""
    try:
        with open(config.body_file, "rb") as body:
            return body.read()
    except OSError as exc:
        raise UsageError(f"cannot read body file {config.body_file}: {exc.strerror}") from None


def request_quotas(config: Config) -> list[int | None]:
    """``-n`` split over the threads as the connections are: each thread stops once it has its
    share; None each without ``-n``."""
    if config.requests is None:
        return [None] * config.threads
    return list(even_split(config.requests, config.threads))


def processes_for(config: Config) -> int:
    """How many worker processes host the run's threads: ``--processes``, else one per CPU this
    process may run on (``os.sched_getaffinity``), never more than the threads.

    One process per CPU is the cheapest per request: a Python process uses one core, and more
    processes than cores only add interpreters (memory, start-up) and context switches.
    """
    if config.processes is not None:
        return config.processes
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(config.threads, cpus))


def threads_per_process(threads: int, processes: int) -> list[list[int]]:
    """Thread numbers per process, in contiguous blocks as even as can be: 5 over 2 -> [[0, 1, 2],
    [3, 4]]."""
    blocks, start = [], 0
    for size in even_split(threads, processes):
        blocks.append(list(range(start, start + size)))
        start += size
    return blocks


# -- a distributed run: the agents' shares ---------------------------------------------------


@dataclass(frozen=True)
class AgentShare:
    """One agent's part of the run: the threads and connection slots it hosts, numbered in the
    whole run, and its share of the rate, the processes and the request budget."""

    index: int
    address: str  # its Dask worker
    first_thread: int
    threads: int
    first_slot: int
    connections: int
    rate: float | None  # its share of the whole run's rate (its JSON says what it did)
    processes: int | None
    requests: int | None

    def config(self, whole: Config) -> Config:
        """The agent's own Config: the whole run's, with its share of what adds up."""
        return dataclasses.replace(
            whole,
            dask=None,
            threads=self.threads,
            connections=self.connections,
            rate=self.rate,
            processes=self.processes,
            requests=self.requests,
        )

    @property
    def thread_numbers(self) -> tuple[int, ...]:
        return tuple(range(self.first_thread, self.first_thread + self.threads))


def split_over_agents(config: Config, addresses: list[str]) -> list[AgentShare]:
    """Split ``config`` over one agent per Dask worker address, in order.

    The threads go to the agents in contiguous blocks as even as can be, and each agent gets
    the connections of its threads as a local run splits them (``Config.connections_per_thread``),
    so the run's connection slots, and at a constant rate their sending grids, are the ones a
    local run of the same Config would have. The rate, ``--processes`` and ``-n`` are shared in
    proportion (processes: at least one per agent). Raises UsageError when there are fewer
    threads or connections (or ``-n`` requests) than agents.
    """
    agents = len(addresses)
    if agents < 1:
        raise UsageError("--dask: the cluster has no workers")
    if config.threads < agents or config.connections < agents:
        raise UsageError(
            f"--dask: {agents} agents need at least {agents} threads and {agents} connections"
            f" (got -t{config.threads} -c{config.connections})"
        )
    if config.requests is not None and config.requests < agents:
        raise UsageError(f"--dask: {agents} agents need -n of at least {agents} requests")
    per_thread = config.connections_per_thread()
    thread_blocks = even_split(config.threads, agents)
    process_blocks = even_split(config.processes, agents) if config.processes is not None else None
    shares, first_thread, first_slot, whole = [], 0, 0, config.connections
    for index, (address, threads) in enumerate(zip(addresses, thread_blocks, strict=True)):
        connections = sum(per_thread[first_thread : first_thread + threads])
        processes = None
        if process_blocks is not None:
            processes = max(1, min(threads, process_blocks[index]))
        shares.append(
            AgentShare(
                index=index,
                address=address,
                first_thread=first_thread,
                threads=threads,
                first_slot=first_slot,
                connections=connections,
                rate=None if config.rate is None else config.rate * connections / whole,
                processes=processes,
                requests=None,
            )
        )
        first_thread += threads
        first_slot += connections
    if config.requests is not None:
        budget = proportional_split(config.requests, [s.connections for s in shares])
        shares = [dataclasses.replace(s, requests=n) for s, n in zip(shares, budget, strict=True)]
    return shares
