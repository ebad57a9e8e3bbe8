"""Distributed runs: one run split over the workers of a Dask cluster, one pyload agent each.

Dask schedules the agents and carries their messages; the load itself is made by pyload's own
worker processes, outside Dask's event loop and outside the Dask worker's process. One module
per job:

    _cluster    the cluster connection: a scheduler reached within bounds, or local:N
                started; the workers' clock offsets
    _client     the client side: run_dask, the collector of the agents' messages and
                outcomes, the merge of their results (per-agent summaries, seconds)
    _relay      the Dask task: starts the agent process, relays its lines, returns its outcome
    _agent      the agent process: its share of the run as a local run (_local.run_local)
    _messages   what crosses between them, as typed events (AgentSpec, AgentStarted,
                AgentProgress, AgentResult, AgentError; outcomes Finished, Failed, Lost)
    _errors     foreign errors (Dask's exceptions, the agents' reports) mapped to
                pyload.errors, in one function

The call chain:

    run_dask(plan)                    the caller's thread (_client)
      cluster(config.dask)                     reach the scheduler (bounded), or start local:N
      split_over_agents (_plan)                AgentShare per Dask worker: its threads, slots,
                                               connections, rate, as in a local run's split
      clock_offsets(client, workers)           time.time() round trips, the best of a few
      client.submit(agent_task, AgentSpec)     one task per Dask worker, pinned to it
        agent_task     (a Dask worker thread)  starts the agent process, relays its lines:
                                               AgentStarted/AgentProgress -> log_event(topic);
                                               AgentResult/AgentError -> the task's outcome
          agent_main   (the agent process)     run_local(its share's plan: Share(first slot, the
                                               whole run's pacing)); waits in on_start for the
                                               agreed start time (in its own clock)
      _Collector.wait                          progress (subscribe_topic) summed once every
                                               running agent sent its n-th second
                                               (_progress.RoundBarrier) -> on_progress;
                                               outcomes; an agent whose Dask worker left, or
                                               whose process died, is lost; Ctrl-C stops all
      _Collector.result                        RunResult.combine (exact), the run's own config,
                                               an AgentSummary per agent (RunResult.agents)

Why a process per agent: a Dask worker is a daemonic process (children of its own are refused
by multiprocessing), it runs Dask's event loop and heartbeats in one of its threads, and a fork
of a multi-threaded process is unsafe. The agent is a plain subprocess in its own session: it
is single-threaded when it forks its workers (fast, as a local run), it owns its SIGINT (a stop
request from the client arrives as a line on its stdin and becomes its own Ctrl-C), and a
closed stdin (its Dask worker gone) stops it too.

What crosses the network: the Config and shares (a few hundred bytes per agent), a progress
message per agent per second, and each agent's result in the JSON wire format (docs/json.md:
counters, exact latency counts and its seconds, some kilobytes). Never a request or a response.

Dask itself is loaded on use: importing this package needs no ``distributed``.
"""

from pyload._dask._agent import AGENT_COMMAND, agent_main
from pyload._dask._client import START_LEAD_S, run_dask
from pyload._dask._cluster import clock_offsets, parse_address

__all__ = [
    "AGENT_COMMAND",
    "START_LEAD_S",
    "agent_main",
    "clock_offsets",
    "parse_address",
    "run_dask",
]
