"""The launcher and its CLI: public API, validation, one-line errors, clean stops with no process
left behind, and the upstream service on its own."""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import django_target
from django_target import (
    ENDPOINTS,
    SERVERS,
    ConfigError,
    PortInUseError,
    ServerConfig,
    TargetError,
    UpstreamError,
    endpoints_for,
    serve,
    serve_upstream,
    start,
)
from django_target.config import DEFAULT_GRACEFUL_TIMEOUT, KILL_MARGIN
from django_target.upstream import make_document
from tests.django_target_helpers import (
    REPO_ROOT,
    alive,
    cli_env,
    closed_port,
    descendants,
    group_members,
    groups_of,
    http_get,
    launched,
    listening_socket,
    parent_of,
    pending_signals,
    run_cli,
)
from tests.procs import freeze

SCALE = 0.01


# -- public API and catalogue --------------------------------------------------------------


def test_public_api_is_explicit_and_sorted() -> None:
    names = django_target.__all__

    def isort_style(name: str) -> tuple[int, str]:  # CONSTANTS, Classes, functions (RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style)
    for name in names:
        assert hasattr(django_target, name), name
    for name in ("serve", "serve_upstream", "SERVERS", "ENDPOINTS", "TargetError"):
        assert name in names


def test_importing_the_package_does_not_import_django() -> None:
    code = "import sys, django_target; print('django' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO_ROOT,
        check=True,
    )
    assert result.stdout.strip() == "False"


def _pyload_imports(source: str) -> list[str]:
    """The modules of pyload that source imports (import, from-import, import_module())."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found += [name for name in names if name == "pyload" or name.startswith("pyload.")]
    return found


def test_the_import_check_sees_every_form() -> None:
    assert _pyload_imports("import pyload") == ["pyload"]
    assert _pyload_imports("import os, pyload._options as o") == ["pyload._options"]
    assert _pyload_imports("def f():\n    from pyload.config import Config") == ["pyload.config"]
    assert _pyload_imports("importlib.import_module('pyload.units')") == ["pyload.units"]
    assert _pyload_imports("import pyloadx\nfrom . import pyload\nimport django_target") == []


def test_django_target_imports_nothing_of_pyload() -> None:
    """django_target stands on its own: no module of it imports pyload, even lazily."""
    modules = sorted((REPO_ROOT / "django_target").rglob("*.py"))
    assert len(modules) >= 10, modules
    imports = {
        str(path.relative_to(REPO_ROOT)): found
        for path in modules
        if (found := _pyload_imports(path.read_text(encoding="utf-8")))
    }
    assert imports == {}


def test_servers_and_endpoints() -> None:
    assert SERVERS == (
        "gunicorn-gevent",
        "gunicorn-uvicorn",
        "hypercorn-asyncio",
        "hypercorn-uvloop",
    )
    assert sorted(e.path for e in ENDPOINTS) == sorted(
        [f"/myapp/{kind}/gateway_{n}s" for kind in ("sync", "async") for n in (1, 3, 10)]
        + [
            "/myapp/sync/requests",
            "/myapp/sync/httpx",
            "/myapp/async/requests",
            "/myapp/async/httpx",
            "/myapp/async/aiohttp",
        ]
    )
    for endpoint in ENDPOINTS:
        assert endpoint.path == f"/myapp/{endpoint.kind}/{endpoint.scenario}"
    assert all(e.kind == "sync" for e in endpoints_for("gunicorn-gevent"))
    assert len(endpoints_for("gunicorn-gevent")) == 5
    for server in SERVERS[1:]:
        assert endpoints_for(server) == ENDPOINTS


def test_error_tree() -> None:
    for name in ("ConfigError", "PortInUseError", "UpstreamError", "StartupError", "StopError"):
        assert issubclass(getattr(django_target, name), TargetError)


@pytest.mark.parametrize(
    "overrides",
    [
        {"server": "nginx"},
        {"port": -1},
        {"port": 70000},
        {"workers": 0},
        {"scale": 0},
        {"scale": float("nan")},
        {"worker_connections": 0},
        {"backlog": 0},
        {"keep_alive": -1},
        {"asgi_threads": 0},
        {"upstream_url": "http://example.com/"},
        {"upstream_url": "http://10.1.2.3:80/"},
        {"upstream_url": "ftp://127.0.0.1/"},
        {"upstream_size": 10},
        {"upstream_delay": -1},
        {"startup_timeout": 0},
    ],
    ids=lambda overrides: "-".join(f"{k}={v}" for k, v in overrides.items()),
)
def test_server_config_rejects_bad_settings(overrides: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"server": "hypercorn-uvloop", **overrides}
    with pytest.raises(ConfigError):
        ServerConfig(**settings)


def test_server_config_accepts_loopback_upstreams() -> None:
    for url in ("http://127.0.0.1:8001/", "http://localhost:1/", "http://[::1]:2/x"):
        assert ServerConfig("gunicorn-gevent", upstream_url=url).upstream_url == url


# -- library errors ------------------------------------------------------------------------


def test_serve_rejects_an_unknown_server() -> None:
    with pytest.raises(ConfigError, match="unknown server 'nope'"), serve("nope", port=0):
        pass


def test_serve_reports_a_port_in_use_and_starts_nothing() -> None:
    before = descendants(os.getpid())
    with (
        listening_socket() as port,
        pytest.raises(PortInUseError, match=f"port {port}"),
        serve("hypercorn-uvloop", port=port),
    ):
        pass
    assert descendants(os.getpid()) == before


def test_serve_reports_an_upstream_that_is_down() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    before = descendants(os.getpid())
    with (
        pytest.raises(UpstreamError, match="connection refused"),
        serve("gunicorn-uvicorn", port=0, upstream_url=url),
    ):
        pass
    assert descendants(os.getpid()) == before


# -- CLI errors: one line on stderr, non-zero exit -----------------------------------------


def _assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, fragment: str
) -> None:
    assert result.returncode == code
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("django_target: error: ")
    assert fragment in lines[0]
    assert result.stdout == ""


def test_cli_unknown_server() -> None:
    result = run_cli("serve", "--server", "nope", "--port", "0")
    _assert_one_line_error(result, 1, "unknown server 'nope'")


def test_cli_port_in_use() -> None:
    with listening_socket() as port:
        result = run_cli("serve", "--server", "gunicorn-gevent", "--port", str(port))
    _assert_one_line_error(result, 1, f"port {port} on 127.0.0.1 is already in use")


def test_cli_upstream_down() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run_cli("serve", "--server", "hypercorn-asyncio", "--port", "0", "--upstream-url", url)
    _assert_one_line_error(result, 1, f"upstream {url} is down")


def test_cli_usage_error_is_one_line() -> None:
    _assert_one_line_error(run_cli("serve", "--workers", "2"), 2, "--server")
    _assert_one_line_error(
        run_cli("serve", "--server", "gunicorn-gevent", "--port", "x"), 2, "invalid int value"
    )


def test_cli_lists_endpoints() -> None:
    result = run_cli("endpoints", "--server", "gunicorn-gevent")
    assert result.returncode == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        e.path for e in endpoints_for("gunicorn-gevent")
    ]


# -- stopping: nothing left behind ---------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_leaving_serve_stops_every_process(server: str) -> None:
    before = descendants(os.getpid())
    with serve(server, port=0, workers=2, scale=SCALE) as url:
        assert http_get(url + "/myapp/sync/gateway_1s").status == 200
        started = descendants(os.getpid()) - before
        # upstream + server master/arbiter + 2 workers (hypercorn adds a resource tracker)
        assert len(started) >= 4, started
    assert alive(started) == set()


@pytest.mark.parametrize("server", ["gunicorn-gevent", "gunicorn-uvicorn", "hypercorn-asyncio"])
def test_stop_is_bounded_with_a_request_in_flight(server: str) -> None:
    """A 10 s gateway call in flight does not hold the stop past the graceful timeout (1 s):
    the server closes the connection instead of answering."""
    before = descendants(os.getpid())
    with ThreadPoolExecutor(1) as pool:
        with serve(server, port=0, scale=1.0, graceful_timeout=1) as url:
            started = descendants(os.getpid()) - before
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
            conn.request("GET", "/myapp/sync/gateway_10s")  # sent before the next request
            in_flight = pool.submit(conn.getresponse)
            assert http_get(url + "/").status == 200
            stop_started = time.perf_counter()
        stop_took = time.perf_counter() - stop_started
        with pytest.raises((http.client.HTTPException, OSError)):
            in_flight.result(timeout=30).read()
        conn.close()
    assert stop_took < 8.0
    assert alive(started) == set()


#: The bound of a stop (launcher: everything has had SIGKILL by then), and the deadline of the
#: tests that wait for a stop: a hang, never a measurement.
STOP_BOUND_S = DEFAULT_GRACEFUL_TIMEOUT + KILL_MARGIN
HANG_S = STOP_BOUND_S + 20


def _serve_args(*args: str, scale: float = SCALE) -> tuple[str, ...]:
    return ("--port", "0", "--scale", str(scale), *args)


_SIGNAL_CASES = [
    *[(server, signal.SIGINT, False) for server in SERVERS],
    # A shell without job control starts background jobs with SIGINT ignored: an explicit
    # SIGINT must still stop the launcher (it used to run on, its servers with it).
    *[(server, signal.SIGINT, True) for server in SERVERS],
    ("gunicorn-gevent", signal.SIGTERM, False),
    ("hypercorn-uvloop", signal.SIGTERM, False),
]


@pytest.mark.parametrize(
    ("server", "signum", "sigint_ignored"),
    _SIGNAL_CASES,
    ids=[
        f"{server}-{signal.Signals(signum).name}" + ("-ignored-at-start" if ignored else "")
        for server, signum, ignored in _SIGNAL_CASES
    ],
)
def test_cli_stops_cleanly_on_a_signal(
    server: str, signum: int, sigint_ignored: bool, request: pytest.FixtureRequest
) -> None:
    """The servers' output is on the CLI's stderr by default (the servers hold that pipe too:
    communicate() returns once all of them have closed it). Nothing of the launcher's process
    groups may be left, and the CLI has ended within its bound (STOP_BOUND_S: by then it has
    SIGKILLed what was left), plus a second for the kernel to close the killed processes'
    pipes on a loaded machine. ``stop_s`` is recorded for scripts/stress-tests."""
    with launched(
        *_serve_args("--server", server, "--workers", "2"), sigint_ignored=sigint_ignored
    ) as cli:
        proc, url = cli.proc, cli.url
        assert url.startswith("http://127.0.0.1:")
        assert http_get(url + "/myapp/sync/gateway_1s").status == 200
        started = descendants(proc.pid)
        assert len(started) >= 4, started  # upstream, master, 2 workers
        groups = groups_of(started) - {os.getpgrp()}
        assert len(groups) == 2, groups  # the guards' groups: the upstream's, the server's
        began = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=HANG_S)
        took = time.monotonic() - began
        request.node.user_properties.append(("stop_s", round(took, 3)))
        left = group_members(groups)
    assert proc.returncode == 0, err.decode()
    assert took <= STOP_BOUND_S + 1.0, err.decode()
    log = err.decode()
    assert f"[INFO] {'Running on' if 'hypercorn' in server else 'Listening at:'} {url}" in log
    assert "Traceback" not in log and "django_target: error" not in log
    assert alive(started) == set()
    assert left == set()


@pytest.mark.parametrize("server", SERVERS)
def test_a_second_signal_kills_everything_at_once(server: str) -> None:
    """Every process the CLI started is stopped (SIGSTOP), so the stop the first signal begins
    cannot end before its bound (graceful timeout 120 s); once that stop has sent its SIGTERM
    (pending at the server's master), a second signal SIGKILLs everything: the CLI exits 0
    long before the bound, and nothing of its process groups is left."""
    with launched(*_serve_args("--server", server, "--graceful-timeout", "120")) as cli:
        proc = cli.proc
        started = descendants(proc.pid)
        groups = groups_of(started) - {os.getpgrp()}
        masters = {pid for pid in started if parent_of(pid) in groups}  # server and upstream
        assert len(groups) == 2 and len(masters) == 2, (groups, masters)
        freeze(started)  # stopped before the SIGTERM comes, or it is taken (procs.freeze)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + HANG_S
        while not any(signal.SIGTERM in pending_signals(pid) for pid in masters):
            assert time.monotonic() < deadline, "the stop sent no SIGTERM"
            time.sleep(0.02)  # polling /proc: a pending signal has nothing to wait on
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=HANG_S)
        left = group_members(groups)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert alive(started) == set()
    assert left == set()


@pytest.mark.parametrize("server", ["gunicorn-uvicorn", "hypercorn-uvloop"])
def test_stop_kills_a_stack_deaf_to_sigterm(server: str) -> None:
    """Every process of the stack stopped (SIGSTOP: SIGTERM stays pending, only SIGKILL ends
    them): stop() SIGKILLs them at its bound and returns, with nothing left."""
    stack = start(ServerConfig(server, port=0, scale=SCALE, graceful_timeout=0))
    pids = set(stack.pids())
    try:
        assert len(pids) >= 5, pids  # 2 guards, upstream, master, worker
        freeze(pids)
        stack.stop()  # a hang here is pytest-timeout's to report
    finally:
        for pid in alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(TargetError):
            stack.stop()
    assert alive(pids) == set()


def test_uvicorn_workers_honour_the_graceful_timeout(tmp_path: Path) -> None:
    """gunicorn-uvicorn: uvicorn itself cancels the request still in flight at the graceful
    timeout, runs the lifespan shutdown and exits, before its master would SIGKILL it."""
    log = tmp_path / "servers.log"
    with ThreadPoolExecutor(1) as pool:
        with serve(
            "gunicorn-uvicorn", port=0, scale=1.0, graceful_timeout=1, log_path=str(log)
        ) as url:
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=HANG_S)
            conn.request("GET", "/myapp/async/gateway_10s")
            in_flight = pool.submit(conn.getresponse)
            assert http_get(url + "/").status == 200
        with pytest.raises((http.client.HTTPException, OSError)):
            in_flight.result(timeout=HANG_S).read()
        conn.close()
    text = log.read_text()
    assert "timeout graceful shutdown exceeded" in text, text
    assert "Application shutdown complete" in text, text
    assert "SIGKILL" not in text, text


def test_cli_log_option_sends_the_servers_output_to_a_file(tmp_path: Path) -> None:
    """--log FILE instead of stderr; every log line in UTC whatever the launcher's zone
    (Django's TIME_ZONE for the workers, TZ for the master)."""
    log = tmp_path / "servers.log"
    env = cli_env()
    env["TZ"] = "JST-9"
    with launched(*_serve_args("--server", "gunicorn-uvicorn", "--log", str(log)), env=env) as cli:
        proc, url = cli.proc, cli.url
        assert http_get(url + "/myapp/async/gateway_1s").status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 0
    assert err == b""
    lines = log.read_text().splitlines()
    assert any(f"Listening at: {url}" in line for line in lines)  # the master
    assert any("Application startup complete" in line for line in lines)  # a uvicorn worker
    stamped = [line for line in lines if line.startswith("[")]
    assert len(stamped) >= 5
    assert all(" +0000] " in line for line in stamped), stamped


# -- the upstream on its own ---------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 1000, 25_000, 100_001])
def test_document_has_the_exact_size_and_is_json(size: int) -> None:
    document = make_document(size)
    assert len(document) == size
    assert json.loads(document)["size"] == size
    assert make_document(size) == document


def test_upstream_serves_the_document_after_its_delay() -> None:
    with serve_upstream(size=5000, delay=0.05) as url:
        reply = http_get(url)
    assert reply.status == 200
    assert reply.content_type == "application/json"
    assert reply.body == make_document(5000)
    assert reply.elapsed >= 0.05


def test_serve_upstream_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="upstream size"), serve_upstream(size=10):
        pass
    with pytest.raises(ConfigError, match="upstream delay"), serve_upstream(delay=-1):
        pass


def test_upstream_cli_port_in_use() -> None:
    with listening_socket() as port:
        result = subprocess.run(
            [sys.executable, "-m", "django_target.upstream", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env=cli_env(),
            cwd=REPO_ROOT,
        )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "cannot listen on 127.0.0.1" in result.stderr
