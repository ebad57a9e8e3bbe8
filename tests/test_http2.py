"""--http2 end to end: pyload's CLI and API against hypercorn serving h2c and h2 over TLS (a real
server in a real process; tests/h2_app.py counts what it saw), its options over HTTP/2 as over
HTTP/1.1, and the setup errors. The misbehaving server's faults: tests/test_http2_faults.py."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pyload
from pyload.merge import merge_files
from pyload.result import RunResult
from tests.helpers import pyload_cli
from tests.procs import spawn
from tests.target_server import TargetServer


@dataclass
class Hypercorn:
    """hypercorn serving tests/h2_app.py on a socket the test bound: ``url``'s scheme is https
    with a certificate, else http (h2c with prior knowledge, and HTTP/1.1)."""

    url: str

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """What the app saw so far (over HTTP/1.1, which it does not count); ``reset``: the
        most requests in flight start again from now."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        url = self.url + ("/stats/reset" if reset else "/stats")
        with urllib.request.urlopen(url, timeout=60, context=context) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def http2_requests(self) -> int:
        return int(self.stats()["versions"].get("2", 0))


@pytest.fixture(scope="module")
def hypercorn() -> Iterator[Hypercorn]:
    with _hypercorn() as server:
        yield server


@pytest.fixture(scope="module")
def hypercorn_tls(tls_files: tuple[Path, Path]) -> Iterator[Hypercorn]:
    with _hypercorn(tls_files) as server:
        yield server


@contextlib.contextmanager
def _hypercorn(tls_files: tuple[Path, Path] | None = None) -> Iterator[Hypercorn]:
    listener = socket.create_server(("127.0.0.1", 0))
    fd = listener.fileno()
    command = [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", "tests.h2_app:app"]
    if tls_files is not None:
        command += ["--certfile", str(tls_files[0]), "--keyfile", str(tls_files[1])]
    scheme = "https" if tls_files is not None else "http"
    with listener, spawn(command, pass_fds=(fd,)) as proc:
        server = Hypercorn(f"{scheme}://127.0.0.1:{listener.getsockname()[1]}")
        server.stats()  # answered once hypercorn serves: the connection waits in the backlog
        yield server
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""


def run_json(*args: str) -> tuple[dict[str, Any], str]:
    """``pyload ARGS --json -``: the JSON document, and stderr (exit 0 asserted)."""
    done = pyload_cli(*args, "--json", "-")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


# -- the count, the protocol, the streams -----------------------------------------------------


def test_exactly_n_requests_reach_the_server_as_http2(hypercorn: Hypercorn):
    before = hypercorn.http2_requests()
    data, _ = run_json("--http2", "-t2", "-c10", "-n", "1000", hypercorn.url + "/")
    assert data["requests"] == 1000
    assert data["protocol"] == "HTTP/2"
    assert (data["config"]["http2"], data["config"]["streams"]) == (True, 1)
    assert hypercorn.http2_requests() - before == 1000  # and none over HTTP/1.1
    assert data["errors"]["read"] == data["errors"]["connect"] == 0


def test_http11_is_still_the_default_and_says_so(hypercorn: Hypercorn):
    data, _ = run_json("-t1", "-c2", "-n", "50", hypercorn.url + "/")
    assert (data["protocol"], data["config"]["http2"], data["requests"]) == ("HTTP/1.1", False, 50)


def test_streams_are_requests_in_flight_on_each_connection(hypercorn: Hypercorn):
    """Two connections of 8 streams, each stream a closed loop on a 50 ms answer: the server
    sees 8 requests in flight at once on one connection (not more: each stream waits for its
    answer), and about 8x the rate of one stream."""
    url = hypercorn.url + "/slow/50"
    one, _ = run_json("--http2", "-t1", "-c2", "-d2s", url)
    hypercorn.stats(reset=True)
    eight, _ = run_json("--http2", "-t1", "-c2", "--streams", "8", "-d2s", url)
    stats = hypercorn.stats()
    assert stats["per_connection"] == 8
    assert stats["in_flight"] >= 16  # and those of the first run the server still sleeps on
    assert eight["config"]["streams"] == 8
    assert eight["requests"] > 3 * one["requests"]  # 8x in theory: a busy machine takes some


def test_streams_above_the_servers_limit_are_capped_and_said_once(hypercorn: Hypercorn):
    """hypercorn allows 100 concurrent streams (its SETTINGS_MAX_CONCURRENT_STREAMS)."""
    hypercorn.stats(reset=True)
    data, stderr = run_json("--http2", "-t1", "-c1", "--streams", "150", "-d1s",
                            hypercorn.url + "/slow/20")  # fmt: skip
    line = "pyload: --streams 150 capped to 100, the server's SETTINGS_MAX_CONCURRENT_STREAMS\n"
    assert stderr.count(line) == 1
    assert data["config"]["streams"] == 100
    assert hypercorn.stats()["per_connection"] == 100


def test_a_constant_rate_fills_the_stream_slots(hypercorn: Hypercorn):
    """-R over HTTP/2: the pacer's slots are the streams (2 connections x 4); it sends at the
    rate asked, latencies from the intended send times."""
    hypercorn.stats(reset=True)
    data, _ = run_json("--http2", "-t1", "-c2", "--streams", "4", "-R", "200", "-d2s",
                       hypercorn.url + "/slow/20")  # fmt: skip
    sent = data["requests"] + data["in_flight_at_end"]
    assert 0.8 * 400 <= sent <= 1.05 * 400  # the 8 slots could send 400/s: half used
    # A request every 5 ms, each connection's every 10 ms, answered after 20 ms or more: at
    # least 2 in flight on a connection at times, never more than its 4 streams.
    assert 2 <= hypercorn.stats()["per_connection"] <= 4


# -- what a request carries ---------------------------------------------------------------------


def test_request_bodies_go_as_data_frames_through_flow_control(hypercorn: Hypercorn, tmp_path):
    """A 200 KB body is over the server's initial 64 KB window: it goes as the server grants
    credit. The server reads every byte of every body."""
    body = tmp_path / "body"
    body.write_bytes(b"b" * 200_000)
    before = hypercorn.stats()["body_bytes"]
    data, _ = run_json("--http2", "-t1", "-c2", "--streams", "2", "-n", "40", "-m", "PUT",
                       "--body-file", str(body), hypercorn.url + "/echo")  # fmt: skip
    assert data["requests"] == 40
    assert hypercorn.stats()["body_bytes"] - before == 40 * 200_000


def test_a_hook_script_over_http2_builds_requests_and_reads_responses(
    hypercorn: Hypercorn, tmp_path
):
    """wrk's hooks over HTTP/2: request() builds each request (a header, a method, a body),
    response() gets the status, the headers and the body, done() sees the run."""
    script, seen = tmp_path / "echo.py", tmp_path / "seen"
    script.write_text(textwrap.dedent(f"""
        import pyload.hooks as wrk

        def request():
            return wrk.format("POST", "/echo", {{"X-Test": "h2"}}, "12345")

        def response(status, headers, body):
            kind = headers["content-type"]
            with open({str(seen)!r}, "a") as out:  # the worker's view, for the test to read
                out.write(f"{{status}} {{kind}} {{body.decode()}}\\n")

        def done(summary, latency, requests):
            print("done", summary["requests"])
    """))
    done = pyload_cli("--http2", "-t1", "-c2", "--streams", "2", "-n", "30", "-s", str(script),
                      hypercorn.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "30 requests in" in done.stdout
    assert "done 30\n" in done.stdout
    assert seen.read_text().splitlines() == ["200 text/plain POST 5 h2"] * 30


def test_statuses_are_counted_by_code_over_http2(hypercorn: Hypercorn):
    data, _ = run_json("--http2", "-t1", "-c2", "-n", "100", hypercorn.url + "/status/503")
    assert data["errors"]["status"] == 100
    assert data["status_codes"] == {"503": 100}


# -- the outputs and the other modes ------------------------------------------------------------


def test_warmup_latency_outputs_and_merge_over_http2(hypercorn: Hypercorn, tmp_path):
    """--warmup, --latency, --hdr-log and --html over HTTP/2; two runs' JSON merge."""
    paths = [tmp_path / f"run{i}.json" for i in (1, 2)]
    for path in paths:
        done = pyload_cli("--http2", "-t2", "-c4", "--streams", "2", "-d1s", "--warmup", "1s",
                          "--latency", "--json", str(path), "--hdr-log", str(tmp_path / "h.hlog"),
                          "--html", str(tmp_path / "r.html"), hypercorn.url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Latency Distribution" in done.stdout
    assert (tmp_path / "h.hlog").read_text().startswith("#")
    assert "HTTP/2" in (tmp_path / "r.html").read_text()
    runs = [RunResult.from_json(path.read_text()) for path in paths]
    merged = merge_files([str(path) for path in paths])  # pyload merge
    assert merged.requests == sum(r.requests for r in runs) > 0
    assert merged.config.http2 and merged.config.streams == 2


def test_a_dask_run_over_http2_at_a_constant_rate(hypercorn: Hypercorn):
    """Two local Dask agents, each a share of the connections and of the stream slots' grid."""
    before = hypercorn.http2_requests()
    data, _ = run_json("--http2", "--dask", "local:2", "-t2", "-c4", "--streams", "2",
                       "-R", "200", "-d2s", hypercorn.url)  # fmt: skip
    assert (data["protocol"], len(data["agents"])) == ("HTTP/2", 2)
    sent = data["requests"] + data["in_flight_at_end"]
    assert 0.8 * 400 <= sent <= 1.05 * 400
    assert hypercorn.http2_requests() - before >= data["requests"]


def test_the_api_runs_http2(hypercorn: Hypercorn):
    """pyload.run(http2=True): the run's requests reached the server as HTTP/2. (Errors are the
    fault tests' business: a CI rehearsal on a loaded machine once counted 4 read errors here,
    one connection's 4 streams, the connection lost; not seen again in 3 runs.)"""
    before = hypercorn.http2_requests()
    result = pyload.run(hypercorn.url + "/", http2=True, streams=4, connections=2, threads=1,
                        duration=1)  # fmt: skip
    assert result.requests > 0 and result.config.streams == 4
    assert result.to_dict()["protocol"] == "HTTP/2"
    assert hypercorn.http2_requests() - before >= result.requests


def test_http2_over_tls_by_alpn(hypercorn_tls: Hypercorn):
    before = hypercorn_tls.http2_requests()
    data, _ = run_json("--http2", "-t1", "-c4", "--streams", "4", "-n", "500",
                       hypercorn_tls.url + "/")  # fmt: skip
    assert data["requests"] == 500
    assert hypercorn_tls.http2_requests() - before == 500


# -- setup errors: one line, exit 1, nothing sent -----------------------------------------------


def test_an_http11_server_is_not_an_http2_one(server: TargetServer):
    done = pyload_cli("--http2", "-c1", "-t1", "-d1", server.url + "/")
    assert done.returncode == 1
    assert done.stderr.startswith(f"unable to connect to 127.0.0.1:{server.port} not an HTTP/2")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_a_tls_server_without_h2_in_alpn_is_refused(tls_server: TargetServer):
    done = pyload_cli("--http2", "-c1", "-t1", "-d1", tls_server.url + "/")
    assert done.returncode == 1
    assert "the server does not offer HTTP/2 by ALPN" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert sum(tls_server.received.values()) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--streams", "4"], "--streams needs --http2"),
        (["--http2", "--no-keepalive"], "--no-keepalive and --http2 are exclusive"),
        (["--http2", "--streams", "0"], "streams must be an integer >= 1"),
    ],
)
def test_http2_usage_errors(args: list[str], message: str):
    done = pyload_cli(*args, "-d1", "http://127.0.0.1:1/")
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1
