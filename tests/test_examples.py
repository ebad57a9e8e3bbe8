"""Every script in examples/ does what its docstring says, checked on what a real loopback
server received (or what the script printed or wrote)."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest

import pyload
from tests.helpers import ROOT
from tests.procs import run
from tests.target_server import TargetServer, running

EXAMPLES = ROOT / "examples"
BOUND_S = 5.0  # every run is bounded by this; -n ends most far sooner


def example(name: str) -> str:
    return str(EXAMPLES / f"{name}.py")


def heads(server: TargetServer) -> list[list[str]]:
    """The recorded requests' head lines."""
    return [r.split(b"\r\n\r\n", 1)[0].decode().split("\r\n") for r in server.recorded]


def test_every_example_is_tested_here():
    tested = {m.group(1) for m in re.finditer(r'example\("(\w+)"\)', Path(__file__).read_text())}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_post_sends_its_json_body(server: TargetServer):
    result = pyload.run(
        server.url + "/record", script=example("post"), requests=5, connections=1, threads=1,
        duration=BOUND_S,
    )  # fmt: skip
    assert result.requests == 5 == len(server.recorded)
    for request in server.recorded:
        head, body = request.split(b"\r\n\r\n", 1)
        assert head.startswith(b"POST /record HTTP/1.1\r\n")
        assert b"\r\nContent-Type: application/json" in head
        assert json.loads(body) == {"name": "pyload", "tags": ["load", "test"], "count": 3}


def test_counter_sends_a_new_path_each_time(server: TargetServer):
    pyload.run(
        server.url + "/", script=example("counter"), requests=20, connections=1, threads=1,
        duration=BOUND_S,
    )  # fmt: skip
    assert dict(server.received) == {f"/{n}": 1 for n in range(20)}


def test_paths_takes_the_paths_in_turn(server: TargetServer):
    paths = ["/record/a", "/record/b", "/record/c"]
    pyload.run(
        server.url + "/", script=example("paths"), script_args=paths, requests=30,
        connections=1, threads=1, duration=BOUND_S,
    )  # fmt: skip
    sent = [lines[0].split()[1] for lines in heads(server)]
    assert sent == paths * 10


def test_pipeline_writes_its_batch_at_once(server: TargetServer):
    paths = ["/record/1", "/record/2", "/record/3"]
    result = pyload.run(
        server.url + "/", script=example("pipeline"), script_args=paths, requests=30,
        connections=2, threads=1, duration=BOUND_S,
    )  # fmt: skip
    # -n counts the batch's requests: 30 requests are 10 batches, every response counted.
    assert result.requests == 30 == len(server.recorded)
    assert sorted(lines[0].split()[1] for lines in heads(server)) == sorted(paths * 10)
    assert all(n % 3 == 0 for n in server.requests_per_connection)  # whole batches only


def test_delay_pauses_before_each_request(server: TargetServer):
    result = pyload.run(
        server.url + "/", script=example("delay"), connections=1, threads=1, duration=0.5
    )
    # 10 to 50 ms before each request: at most 50 in half a second (thousands without).
    assert 5 <= result.requests <= 50
    assert result.requests <= server.received["/"] <= result.requests + 1


def test_auth_sends_the_token_it_was_given(server: TargetServer):
    result = pyload.run(
        server.url + "/", script=example("auth"), script_args=["/token", "/record"],
        requests=30, connections=2, threads=1, duration=BOUND_S,
    )  # fmt: skip
    logins = server.received["/token"]
    assert 1 <= logins <= 2  # each connection's first request, before any token came back
    assert len(server.recorded) == 30 - logins == result.requests - logins
    assert all(f"X-Token: {server.token}" in lines for lines in heads(server))


def test_report_writes_a_csv_in_done(server: TargetServer, tmp_path: Path):
    out = tmp_path / "results.csv"
    done = run(
        [sys.executable, "-m", "pyload", "-d1", "-c2", "-t1", "-s", example("report"),
         server.url + "/", str(out)],
        timeout=90, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"wrote {out}\n")  # done()'s output comes after the report
    rows = dict(csv.reader(out.read_text().splitlines()[1:]))
    reported = re.search(r"(\d+) requests in", done.stdout)
    assert reported is not None and rows["requests"] == reported.group(1)
    assert rows["errors_read"] == "0"
    percentiles = [int(rows[f"latency_p{p}_us"]) for p in ("50", "75", "90", "99", "99.9")]
    assert percentiles[0] > 0 and percentiles == sorted(percentiles)


def test_stop_ends_each_thread_after_n_responses(server: TargetServer):
    result = pyload.run(
        server.url + "/", script=example("stop"), script_args=["25"], threads=2, processes=2,
        connections=4, duration=BOUND_S,
    )  # fmt: skip
    assert result.requests == 50  # 25 per thread, exactly
    assert result.runtime_s < BOUND_S - 1  # every thread stopped: the run ended
    assert server.received["/"] >= 50


def test_addr_gives_each_thread_its_own_server(server: TargetServer):
    with running() as other:
        pyload.run(
            server.url + "/record", script=example("addr"),
            script_args=[f"127.0.0.1:{server.port}", f"127.0.0.1:{other.port}"],
            threads=2, connections=2, requests=40, duration=BOUND_S,
        )  # fmt: skip
        assert len(server.recorded) == 20 == len(other.recorded)  # -n: 20 per thread
        assert all(f"Host: 127.0.0.1:{server.port}" in lines for lines in heads(other))


def test_thread_values_reports_each_thread(
    server: TargetServer, capsys: pytest.CaptureFixture[str]
):
    result = pyload.run(
        server.url + "/", script=example("thread_values"), threads=2, connections=2,
        duration=0.5,
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    found = [re.fullmatch(r"(thread-\d) sent (\d+) requests and got (\d+) responses", line)
             for line in lines]  # fmt: skip
    assert all(found) and [m.group(1) for m in found if m] == ["thread-1", "thread-2"]
    assert sum(int(m.group(3)) for m in found if m) == result.requests
    assert sum(int(m.group(2)) for m in found if m) == server.received["/"]
