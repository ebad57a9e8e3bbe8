"""Hook scripts (-s), -n and --no-keepalive: what the server receives, what the script sees,
and one clear line when a script fails. Real servers on 127.0.0.1, real worker processes; the
error lines through the real command line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pyload
from pyload._cli import build_parser, config_from_args
from pyload._http11 import FullResponseParser, ResponseParser, build_request, parser_class
from pyload._script import MainScript
from pyload.errors import HookError, ScriptError
from pyload.hooks import Address
from tests.helpers import pyload_cli
from tests.procs import run
from tests.target_server import TargetServer

LOOPBACK = Address(socket.AF_INET, ("127.0.0.1", 1))
BOUND_S = 5.0  # every run here is bounded by this; -n and failures end them far sooner


def script(tmp_path: Path, text: str, name: str = "hooks.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def started(config: pyload.Config, index: int = 0, body: bytes = b""):  # type: ignore[no-untyped-def]
    """A thread's request source as its worker process makes it: setup in the parent, then
    start() (init) as the worker does before the common start."""
    source = MainScript(config).setup(index, LOOPBACK, body)
    source.start()
    return source


# -- what a script costs, and what it builds (no network) ------------------------------------


def test_without_request_or_response_hooks_the_request_stays_static(tmp_path: Path):
    path = script(
        tmp_path,
        "method = 'PUT'\nbody = 'x=1'\nheaders = {'X-A': 'a'}\n"
        "def setup(thread):\n    thread.set('n', 1)\n"
        "def init(args):\n    global path\n    path = '/from-init'\n"
        "def done(summary, latency, requests):\n    pass\n",
    )
    config = pyload.Config("http://127.0.0.1:1/", script=path, headers=["X-H: h"])
    source = started(config)
    # The fast path's conditions (worker.Connection.at_once) and the plain parser.
    assert source.static is not None and not source.wants_responses and not source.delays
    assert parser_class(config.method, source.wants_responses) is ResponseParser
    assert source.static == (
        b"PUT /from-init HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-H: h\r\nX-A: a\r\n"
        b"Content-Length: 3\r\n\r\nx=1"
    )


def test_only_a_response_hook_makes_the_parser_keep_headers_and_bodies(tmp_path: Path):
    config = pyload.Config(
        "http://127.0.0.1:1/",
        script=script(tmp_path, "def response(status, headers, body):\n    pass\n"),
    )
    source = started(config)
    assert source.static is not None and source.wants_responses
    assert parser_class("GET", source.wants_responses) is FullResponseParser


def test_format_builds_from_the_run_and_the_scripts_globals(tmp_path: Path):
    path = script(tmp_path, "headers = {'X-Script': 's'}\n")
    config = pyload.Config(
        "http://127.0.0.1:1/base?q=1", script=path, headers=["X-H: h"], keepalive=False
    )
    source = started(config, body=b"file")
    assert source.format(None, None, None, None) == build_request(
        config.target, [("X-H", "h"), ("X-Script", "s")], "GET", b"file", close=True
    )
    assert source.format("POST", "/p", {"x-h": "over"}, "é") == (
        b"POST /p HTTP/1.1\r\nHost: 127.0.0.1:1\r\nx-h: over\r\nX-Script: s\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n\xc3\xa9"
    )


def test_format_outside_a_script_says_so():
    code = "import pyload\ntry:\n    pyload.format()\nexcept pyload.ScriptError as e:\n    print(e)"
    done = run([sys.executable, "-c", code], timeout=90)
    assert "call it in the script" in done.stdout, done


def test_a_pipelined_batch_is_counted_and_a_bad_one_is_a_hook_error(tmp_path: Path):
    batch = script(tmp_path, "import pyload\ndef request():\n    return pyload.format() * 3\n")
    source = started(pyload.Config("http://127.0.0.1:1/", script=batch))
    source.next_request()
    assert source.pipelined == 3
    garbage = script(tmp_path, "def request():\n    return b'hello'\n", "garbage.py")
    source = started(pyload.Config("http://127.0.0.1:1/", script=garbage))
    with pytest.raises(HookError, match=r"garbage\.py: request\(\) raised ValueError: it returned"):
        source.next_request()


def test_thread_values_must_be_plain_data_and_addr_numeric(tmp_path: Path):
    config = pyload.Config(
        "http://127.0.0.1:1/",
        script=script(tmp_path, "def setup(thread):\n    thread.set('f', print)\n"),
    )
    with pytest.raises(HookError, match=r"hooks\.py:2: setup\(\) raised .*cannot transfer"):
        MainScript(config).setup(0, LOOPBACK, b"")
    config = pyload.Config(
        "http://127.0.0.1:1/",
        script=script(tmp_path, "def setup(thread):\n    thread.addr = ('localhost', 80)\n"),
    )
    with pytest.raises(HookError, match="not a numeric address"):
        MainScript(config).setup(0, LOOPBACK, b"")


def test_delay_is_refused_beside_a_constant_rate(tmp_path: Path):
    path = script(tmp_path, "def delay():\n    return 10\n")
    with pytest.raises(ScriptError, match="delay\\(\\) cannot be combined with -R"):
        MainScript(pyload.Config("http://127.0.0.1:1/", script=path, rate=100))


def test_the_arguments_after_the_url_are_the_scripts():
    ns = build_parser().parse_args(["-s", "x.py", "-c2", "http://h:1/", "a", "--", "-b"])
    assert config_from_args(ns).script_args == ("a", "-b")


# -- the life cycle over real worker processes -----------------------------------------------

LIFE_CYCLE = """
import json
import pyload

threads = []
sent = answered = 0
statuses = set()


def setup(thread):
    thread.set("tag", f"t{thread.index}")
    threads.append(thread)


def init(args):
    global prefix
    prefix = "/record/" + args[0] + "/" + tag


def request():
    global sent
    sent += 1
    return pyload.format(path=f"{prefix}/{sent}")


def response(status, headers, body):
    global answered
    answered += 1
    statuses.add((status, headers.get("content-length"), body))


def done(summary, latency, requests):
    with open(threads[0].args[1], "w") as out:
        json.dump({
            "summary": summary,
            "p50": latency.percentile(50),
            "threads": [
                [t.get("tag"), t.get("sent"), t.get("answered"), t.get("statuses") is None]
                for t in threads
            ],
        }, out)
"""


def test_setup_init_request_response_done_across_processes(server: TargetServer, tmp_path: Path):
    out = tmp_path / "done.json"
    result = pyload.run(
        server.url + "/", script=script(tmp_path, LIFE_CYCLE), script_args=["arg", str(out)],
        threads=2, processes=2, connections=4, requests=60, duration=BOUND_S,
    )  # fmt: skip
    assert result.requests == 60
    heads = [request.split(b"\r\n", 1)[0].decode() for request in server.recorded]
    paths = sorted(head.split()[1] for head in heads)
    assert {path.rsplit("/", 1)[0] for path in paths} == {"/record/arg/t0", "/record/arg/t1"}
    done = json.loads(out.read_text())
    assert done["summary"]["requests"] == 60 and done["summary"]["errors"]["read"] == 0
    assert done["p50"] > 0
    # thread.get() in done(): each thread's globals as its load left them; a set is not plain.
    assert [row[0] for row in done["threads"]] == ["t0", "t1"]
    assert sum(row[2] for row in done["threads"]) == 60  # answered: one call per response
    assert sum(row[1] for row in done["threads"]) == len(paths)  # sent: what the server got
    assert all(row[3] for row in done["threads"])


def test_a_delay_hook_paces_each_connection(server: TargetServer, tmp_path: Path):
    path = script(tmp_path, "def delay():\n    return 100\n")
    result = pyload.run(server.url + "/", script=path, threads=1, connections=1, duration=0.5)
    assert 1 <= result.requests <= 6  # one request per 100 ms at most; thousands without
    assert server.received["/"] <= result.requests + result.in_flight


def test_a_failing_hook_ends_every_worker_at_once(server: TargetServer, tmp_path: Path):
    path = script(tmp_path, "def response(status, headers, body):\n    raise KeyError('x')\n")
    began = time.monotonic()
    with pytest.raises(HookError, match=r"hooks\.py:2: response\(\) raised KeyError: 'x'"):
        pyload.run(
            server.url + "/", script=path, threads=2, processes=2, connections=2, duration=10
        )
    assert time.monotonic() - began < 5  # not the 10 s of the run: stopped as it failed


# -- -n and --no-keepalive: what the server receives -----------------------------------------


def test_requests_flag_stops_after_exactly_n_across_threads_and_processes(server: TargetServer):
    result = pyload.run(
        server.url + "/record", requests=157, threads=3, processes=2, connections=7,
        duration=BOUND_S,
    )  # fmt: skip
    assert result.requests == 157 == server.received["/record"]
    assert result.runtime_s < BOUND_S - 1  # stopped by -n, not by -d


def test_requests_flag_below_the_thread_count(server: TargetServer):
    result = pyload.run(server.url + "/", requests=1, threads=2, connections=2, duration=BOUND_S)
    assert result.requests == 1 == server.received["/"]


def test_requests_flag_counts_lost_requests_towards_n(server: TargetServer):
    """ab and hey count a failed request towards -n: a server that drops every request gets
    exactly N, and the run ends once all are lost, not at -d."""
    result = pyload.run(
        server.url + "/drop", requests=12, threads=1, connections=3, duration=BOUND_S
    )
    assert server.received["/drop"] == 12
    assert result.requests == 0 and result.read_errors == 12
    assert result.runtime_s < BOUND_S - 1


def test_no_keepalive_opens_one_connection_per_request(server: TargetServer):
    result = pyload.run(
        server.url + "/record", keepalive=False, requests=40, threads=2, connections=4,
        duration=BOUND_S,
    )  # fmt: skip
    assert result.requests == 40 == server.received["/record"]
    carried = [n for n in server.requests_per_connection if n]
    assert carried == [1] * 40  # the server kept each open: pyload closed it
    assert all(b"\r\nConnection: close\r\n" in head for head in server.recorded)
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}


def test_no_keepalive_against_a_server_that_closes_counts_no_error(server: TargetServer):
    result = pyload.run(server.url + "/close", keepalive=False, connections=2, duration=0.5)
    assert result.requests > 0
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    assert server.connections >= result.requests  # one connection each, and the probe


# -- one clear line, through the real command line -------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "def response(status, headers, body):\n    return 1 / 0\n",
            ":2: response() raised ZeroDivisionError: division by zero",
        ),
        ("def init(args):\n    args[5]\n", ":2: init() raised IndexError: list index out of range"),
        ("def setup(thread):\n    thread.nope()\n", ":2: setup() raised AttributeError"),
        ("def request(:\n    pass\n", ":1: syntax error: "),
        ("def request():\n    return 'GET / HTTP/1.1'\n", "request() raised TypeError: it"),
    ],
)
def test_a_failing_script_is_one_line_and_exit_1(
    server: TargetServer, tmp_path: Path, text: str, expected: str
):
    path = script(tmp_path, text)
    done = pyload_cli("-d5", "-c2", "-s", path, server.url + "/")
    assert done.returncode == 1, done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(path) and expected in lines[0], done.stderr
    assert "requests in" not in done.stdout  # no report: the run was called off
    if "response()" not in expected and "request()" not in expected:
        assert sum(server.received.values()) == 0  # found before the load


def test_a_missing_script_is_one_line_before_anything_is_sent(server: TargetServer):
    done = pyload_cli("-s", "/no/such/hooks.py", server.url + "/")
    assert done.returncode == 1
    assert done.stderr == "cannot open script /no/such/hooks.py: No such file or directory\n"
    assert server.connections == 0  # not even the probe


def test_debug_prints_the_traceback_then_the_line(server: TargetServer, tmp_path: Path):
    path = script(tmp_path, "def helper():\n    raise ValueError('bad')\n"
                  "def request():\n    helper()\n")  # fmt: skip
    done = pyload_cli("--debug", "-d5", "-c1", "-t1", "-s", path, server.url + "/")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert f'File "{path}", line 4, in request' in done.stderr
    assert "pyload/hooks.py" not in done.stderr  # the script's frames only
    assert lines[-1] == f"{path}:2: request() raised ValueError: bad"


# -- both sides of the differences from wrk (the real wrk) -----------------------------------


def run_wrk(wrk_path: str, lua: str, url: str) -> subprocess.CompletedProcess[str]:
    return run([wrk_path, "-t1", "-c1", "-d1s", "-s", lua, url], timeout=60)


def test_wrk_goes_on_without_a_script_that_does_not_compile(
    wrk_path: str, server: TargetServer, tmp_path: Path
):
    lua = script(tmp_path, "request = function(:\n", "bad.lua")
    done = run_wrk(wrk_path, lua, server.url + "/")
    assert done.returncode == 0 and "requests in" in done.stdout  # pyload: one line, exit 1
    assert "bad.lua" in done.stderr


def test_wrk_aborts_on_a_hook_error(wrk_path: str, server: TargetServer, tmp_path: Path):
    lua = script(tmp_path, 'response = function(status, headers, body)\n  error("boom")\nend\n',
                 "boom.lua")  # fmt: skip
    done = run_wrk(wrk_path, lua, server.url + "/")
    assert done.returncode != 0 and "PANIC" in done.stderr  # pyload: the hook's line, exit 1


def test_response_header_names_as_received_by_wrk_lower_cased_by_pyload(
    wrk_path: str, server: TargetServer, tmp_path: Path
):
    out = tmp_path / "names"
    lua = script(tmp_path, f"""
written = false
response = function(status, headers, body)
  if not written then
    local f = io.open("{out}.lua", "w")
    for name, _ in pairs(headers) do f:write(name, "\\n") end
    f:close()
    written = true
  end
end
""", "names.lua")  # fmt: skip
    python = script(tmp_path, f"""
def response(status, headers, body):
    with open("{out}.py", "w") as f:
        f.write("\\n".join(headers))
""")  # fmt: skip
    assert run_wrk(wrk_path, lua, server.url + "/").returncode == 0
    pyload.run(server.url + "/", script=python, requests=1, threads=1, connections=1)
    assert set(Path(f"{out}.lua").read_text().split()) == {"Content-Length", "Content-Type"}
    assert set(Path(f"{out}.py").read_text().split()) == {"content-length", "content-type"}


def test_a_hook_that_is_not_a_function_is_refused_before_the_load(tmp_path: Path):
    path = script(tmp_path, "request = 5\n")
    with pytest.raises(ScriptError, match=r"hooks\.py: request must be a function, not int"):
        MainScript(pyload.Config("http://127.0.0.1:1/", script=path))
