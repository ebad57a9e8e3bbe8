"""Distributed runs (pyload._dask): a real local Dask cluster of 2 workers, real agent
processes, a real loopback target. One cluster for the module: starting one costs seconds."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

import pyload
from pyload._counters import RunProgress
from pyload._dask import parse_address
from pyload._net import CONNECT_TIMEOUT_S
from pyload._plan import AgentShare
from pyload._plan import split_over_agents as split
from pyload.config import Config
from pyload.errors import ConnectError, UsageError
from pyload.result import RunResult
from tests.helpers import children_of, pyload_cli
from tests.procs import kept_by_fixture
from tests.target_server import TargetServer


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local Dask cluster of 2 worker processes (each under a nanny) and a client of it.
    The worker processes are the module's, also those a nanny starts during a test to replace
    one the test killed (tests/procs.py, ``kept_by_fixture``); the agents they start are not."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as local,
        kept_by_fixture(lambda: {nanny.pid for nanny in local.workers.values()}),
        distributed.Client(local, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


def shape(text: str) -> list[str]:
    """A report's lines with every number (and the width of its column) blanked: what must
    match between two runs."""
    numbers = re.compile(r"\s*-?\d[\d.]*(?:[a-zA-Z%]+)?")
    # "Client saturated" (pyload's CPU the limit) depends on the machine's load, not the run.
    lines = [line for line in text.splitlines() if not line.startswith("  Client saturated:")]
    return [numbers.sub(" N", line) for line in lines]


# -- the split, without a cluster ---------------------------------------------------------


def test_split_gives_each_agent_the_slots_a_local_run_gives_its_threads():
    config = Config("http://127.0.0.1:1/", connections=10, threads=4, rate=100.0, processes=3,
                    requests=10)  # fmt: skip
    shares = split(config, ["a", "b", "c"])
    # A local run: threads of 3, 3, 2, 2 connections; the agents host threads 0-1, 2, 3.
    assert [(s.first_thread, s.threads) for s in shares] == [(0, 2), (2, 1), (3, 1)]
    assert [(s.first_slot, s.connections) for s in shares] == [(0, 6), (6, 2), (8, 2)]
    assert [s.rate for s in shares] == [60.0, 20.0, 20.0]
    assert [s.processes for s in shares] == [1, 1, 1]
    assert [s.requests for s in shares] == [6, 2, 2]
    agent = shares[0].config(config)
    assert (agent.connections, agent.threads, agent.rate, agent.dask) == (6, 2, 60.0, None)
    assert agent.connections_per_thread() == config.connections_per_thread()[:2]


def test_split_refuses_fewer_threads_or_connections_than_agents():
    with pytest.raises(UsageError, match=r"3 agents need at least 3 threads and 3 connections"):
        split(Config("http://127.0.0.1:1/", connections=10, threads=2), ["a", "b", "c"])
    with pytest.raises(UsageError, match="need -n of at least 2"):
        split(Config("http://127.0.0.1:1/", requests=1), ["a", "b"])


def test_local_addresses():
    assert parse_address("local:2") == 2
    assert parse_address("tcp://10.0.0.1:8786") is None
    for bad in ("local:0", "local:x", "local"):
        with pytest.raises(UsageError, match="local:N needs a number of workers"):
            parse_address(bad)


def test_too_few_threads_for_a_local_cluster_is_one_line_before_any_cluster():
    started = time.monotonic()
    done = pyload_cli("--dask", "local:3", "-t2", "-c10", "-d1", "http://127.0.0.1:1/")
    assert done.returncode == 1
    assert done.stderr == (
        "--dask: 3 agents need at least 3 threads and 3 connections (got -t2 -c10)\n"
    )
    assert time.monotonic() - started < 10  # no cluster was started for it


def test_scripts_are_refused_in_one_line(tmp_path: Path):
    script = tmp_path / "hooks.py"
    script.write_text("")
    with pytest.raises(UsageError, match=r"^--dask does not run -s scripts yet"):
        pyload.run("http://127.0.0.1:1/", script=str(script), dask="local:2")


def test_an_unreachable_scheduler_is_one_line_and_quick():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    done = pyload_cli("--dask", f"tcp://127.0.0.1:{port}", "-d1", "http://127.0.0.1:1/")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"unable to reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 5
    with pytest.raises(ConnectError):
        pyload.run("http://127.0.0.1:1/", dask=f"tcp://127.0.0.1:{port}")


def test_a_peer_that_is_no_scheduler_is_one_line_not_a_hang(server: TargetServer):
    """An HTTP server accepts the connection and waits for a request: Dask's own client would
    wait for its handshake for ever."""
    started = time.monotonic()
    with pytest.raises(ConnectError, match=r"no Dask answer within 5s \(is it a Dask scheduler"):
        pyload.run(server.url, duration=1, dask=f"tcp://127.0.0.1:{server.port}")
    assert time.monotonic() - started < 2 * CONNECT_TIMEOUT_S + 5


# -- runs over the cluster ----------------------------------------------------------------


def test_a_run_over_two_agents_merges_their_results_exactly(cluster: Any, server: TargetServer):
    progress: list[RunProgress] = []
    address = cluster.scheduler.address
    result = pyload.run(server.url, connections=6, threads=4, duration=1.5, dask=address,
                        on_progress=progress.append)  # fmt: skip
    agents = result.agents
    assert [a["status"] for a in agents] == ["ok", "ok"]
    assert [a["threads"] for a in agents] == [[0, 1], [2, 3]]
    assert [a["connections"] for a in agents] == [4, 2]  # threads of 2, 2, 1, 1 connections
    assert {a["name"] for a in agents} == set(cluster.scheduler_info()["workers"])
    # Merged exactly: every counter and every latency of the agents, nothing else.
    assert result.requests > 0
    assert result.requests == sum(a["requests"] for a in agents)
    assert result.latency_uncorrected.count == sum(a["latency_count"] for a in agents) > 0
    for kind, count in result.errors.items():
        assert count == sum(a["errors"][kind] for a in agents)
    assert server.answered["/"] >= result.requests  # answered includes those in flight at the end
    assert sorted(w.index for w in result.workers) == [0, 1, 2, 3]
    assert result.config == Config(server.url, connections=6, threads=4, duration=1.5,
                                   dask=address)  # fmt: skip
    assert not result.lost_workers
    # The run's seconds (--json, --hdr-log, --plot): the agents' n-th seconds added up, exactly.
    assert sum(s.requests for s in result.seconds) == result.requests
    assert sum(s.latency_count for s in result.seconds) == result.latency_uncorrected.count
    assert sum(s.status_classes["2xx"] for s in result.seconds) == result.requests
    assert result.status_codes == {200: result.requests}
    assert result.seconds[0].open_connections == 6  # both agents' connections
    assert result.meta is not None and result.meta.command is None  # the library's run
    # Started together: each agent waited for the agreed time, measured in its own clock.
    for agent in agents:
        assert abs(agent["clock_offset_ms"]) < 50  # one machine, one clock
        assert 0 <= agent["start_late_ms"] < 500
        assert agent["pid"] not in (None, os.getpid())
    # Live progress: the agents' counters summed, all 4 threads reporting.
    assert progress and progress[0].workers == 4
    assert 0 < progress[0].counters.requests <= result.requests
    # The same report as a local run of the same settings, and the breakdown travels in JSON.
    local = pyload.run(server.url, connections=6, threads=4, duration=0.5)
    assert shape(result.to_wrk_text()) == shape(local.to_wrk_text())
    again = RunResult.from_json(result.to_json())
    assert again.to_wrk_text() == result.to_wrk_text()
    assert again.agents == agents


def test_a_constant_rate_is_shared_not_repeated(cluster: Any, server: TargetServer):
    result = pyload.run(server.url, connections=4, threads=2, duration=1.5, rate=200.0,
                        dask=cluster.scheduler.address)  # fmt: skip
    assert [a["rate"] for a in result.agents] == [100.0, 100.0]
    assert [a["first_slot"] for a in result.agents] == [0, 2]
    # One grid for the whole run: 200/s in total, not 200/s per agent.
    assert 0.5 * 200 * 1.5 <= result.requests <= 1.1 * 200 * 1.5 + 4
    assert result.config.rate == 200.0


def test_a_setup_error_of_every_agent_is_the_error_a_local_run_raises(cluster: Any):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(ConnectError) as local:
        pyload.run(url, duration=1)
    with pytest.raises(ConnectError) as spread:
        pyload.run(url, duration=1, dask=cluster.scheduler.address)
    assert str(spread.value) == str(local.value)


def test_a_killed_agent_is_reported_and_the_rest_of_the_run_is_kept(
    cluster: Any, server: TargetServer
):
    workers = cluster.run(os.getpid)  # Dask worker address -> pid
    victim_address = sorted(workers)[0]
    killed: list[int] = []

    def kill_first_agent(progress: RunProgress) -> None:
        if killed:
            return
        agents = [
            pid
            for pid in children_of(workers[victim_address])
            if b"agent_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(agents) == 1
        os.kill(agents[0], signal.SIGKILL)
        killed.append(agents[0])

    started = time.monotonic()
    result = pyload.run(server.url, connections=4, threads=2, duration=2.5,
                        dask=cluster.scheduler.address, on_progress=kill_first_agent)  # fmt: skip
    assert killed
    assert time.monotonic() - started < 2.5 + 10  # it did not wait for the lost agent
    lost, kept = sorted(result.agents, key=lambda a: a["name"] != victim_address)
    assert (lost["status"], kept["status"]) == ("lost", "ok")
    assert lost["pid"] == killed[0]
    assert "killed by SIGKILL" in lost["reason"]
    assert lost["last_progress"]["requests"] > 0  # what it had done by its last progress
    # Partial: the lost agent's counters are missing, the other agent's are all there.
    assert result.requests == kept["requests"] > 0
    assert [w.index for w in result.workers] == kept["threads"]
    (failure,) = result.lost_workers
    assert failure.agent == f"{lost['index']} at {victim_address}"
    assert failure.threads == tuple(lost["threads"])
    note = f"  Partial result: agent {lost['index']} at {victim_address} ("
    assert any(line.startswith(note) for line in result.to_wrk_text().splitlines())
    assert "requests, 0 errors); its counters are missing" in result.to_wrk_text()


def test_an_agent_lost_with_its_dask_worker_is_reported(cluster: Any, server: TargetServer):
    """The whole Dask worker process dies (a machine lost): its agent is reported lost at once,
    and the agent process it left behind stops by itself (its stdin closed)."""
    workers = cluster.run(os.getpid)
    victim_address = sorted(workers)[0]
    orphans: list[int] = []

    def kill_first_worker(progress: RunProgress) -> None:
        if not orphans:
            orphans.extend(children_of(workers[victim_address]))
            os.kill(workers[victim_address], signal.SIGKILL)

    try:
        address = cluster.scheduler.address
        result = pyload.run(server.url, connections=4, threads=2, duration=2.5, dask=address,
                            on_progress=kill_first_worker)  # fmt: skip
        lost = next(a for a in result.agents if a["name"] == victim_address)
        assert (lost["status"], lost["reason"]) == ("lost", "was lost with its Dask worker")
        assert result.requests == sum(a["requests"] for a in result.agents if a["status"] == "ok")
        assert len(result.lost_workers) == 1
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in orphans):
            assert time.monotonic() < deadline, "the orphaned agent process did not stop"
            time.sleep(0.05)
    finally:
        cluster.wait_for_workers(2, timeout=60)  # the nanny starts a new worker


def test_the_command_line_with_a_local_cluster(server: TargetServer, tmp_path: Any):
    out, log = tmp_path / "run.json", tmp_path / "run.hlog"
    done = pyload_cli("--dask", "local:2", "-c4", "-t2", "-d1", "--latency", "--json", str(out),
                      "--hdr-log", str(log), server.url, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    local = pyload_cli("-c4", "-t2", "-d1", "--latency", server.url)
    assert shape(done.stdout) == shape(local.stdout)
    document = json.loads(out.read_text())
    assert document["config"]["dask"] == "local:2"
    assert [a["status"] for a in document["agents"]] == ["ok", "ok"]
    assert all(a["name"].startswith("tcp://127.0.0.1:") for a in document["agents"])
    assert document["requests"] == sum(a["requests"] for a in document["agents"]) > 0
    assert len([line for line in log.read_text().splitlines() if line[:1].isdigit()]) >= 1


def test_agent_shares_cover_the_run(cluster: Any):
    """The shares of the cluster's workers add up to the run: every thread and slot once."""
    addresses = sorted(cluster.scheduler_info()["workers"])
    config = Config("http://127.0.0.1:1/", connections=7, threads=3)
    shares: list[AgentShare] = split(config, addresses)
    assert [t for s in shares for t in s.thread_numbers] == [0, 1, 2]
    assert sum(s.connections for s in shares) == 7
    assert [s.address for s in shares] == addresses
