"""The command line: wrk's grammar onto Config, and one clear line for every bad input."""

from __future__ import annotations

import json
import resource
import socket

import pytest

from pyload._cli import build_parser, config_from_args, main
from pyload.errors import UsageError
from tests.helpers import pyload_cli
from tests.target_server import TargetServer


def config_of(*argv: str):  # type: ignore[no-untyped-def]
    return config_from_args(build_parser().parse_args(list(argv)))


def test_wrk_defaults():
    config = config_of("http://127.0.0.1:1/")
    assert (config.connections, config.duration, config.threads, config.timeout) == (
        10,
        10,
        2,
        2,
    )
    assert config.print_latency is False and config.headers == ()


def test_wrk_grammar_attached_values_abbreviations_and_units():
    config = config_of(
        "-c1k",
        "--dur=1m",
        "-t4",
        "--lat",
        "-T",
        "3s",
        "-H",
        "X-A: 1",
        "-H",
        "X-B:2",
        "http://127.0.0.1:1/",
        "extra",
        "args",
    )
    assert (config.connections, config.duration, config.threads) == (1000, 60, 4)
    assert (config.timeout, config.print_latency) == (3, True)
    assert config.headers == (("X-A", "1"), ("X-B", "2"))


def test_workers_is_an_alias_of_threads():
    assert config_of("-w", "3", "-c3", "http://h/").threads == 3
    assert config_of("--workers=5", "-c5", "http://h/").threads == 5


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "1.5", "http://h/"],
        ["-d", "500ms", "http://h/"],
        ["-d", "2sec", "http://h/"],
        ["-t", "abc", "http://h/"],
        ["--bogus", "http://h/"],
        [],
        ["-t0", "http://h/"],
        ["-d0", "http://h/"],
        ["-t4", "-c2", "http://h/"],
        ["127.0.0.1:8080/"],
    ],
)
def test_bad_arguments_raise_usage_errors(argv: list[str]):
    with pytest.raises(UsageError):
        config_of(*argv)


def one_line_error(args: list[str], expected: str, status: int = 1) -> None:
    done = pyload_cli(*args)
    assert done.returncode == status, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one line, never a traceback
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-c", "x", "http://127.0.0.1:1/"], "invalid number: 'x'"),
        (["-d", "1.5s", "http://127.0.0.1:1/"], "invalid time: '1.5s'"),
        (["--nope", "http://127.0.0.1:1/"], "unrecognized arguments: --nope"),
        (["-t4", "-c2", "http://127.0.0.1:1/"], "number of connections must be >= threads"),
        (["ftp://127.0.0.1/"], "invalid URL: ftp://127.0.0.1/"),
        (["-H", "no colon", "http://127.0.0.1:1/"], "invalid header"),
        (["http://nohost.invalid/"], "unable to resolve nohost.invalid:http "),
        (["-s", "/no/such/script.py", "http://127.0.0.1:1/"], "cannot open script"),
        ([], "missing URL"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(args: list[str], expected: str):
    one_line_error(args, expected)


def test_nothing_listening_is_wrks_unable_to_connect():
    with socket.socket() as sock:  # a port that is certainly closed: bound, not listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        one_line_error(
            ["-d1", f"http://127.0.0.1:{port}/"],
            f"unable to connect to 127.0.0.1:{port} Connection refused",
        )


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/no/such/dir/x.json", "No such file or directory"), (".", "Is a directory")],
)
def test_an_unwritable_json_path_fails_before_the_load(
    server: TargetServer, path: str, reason: str
):
    one_line_error(["-t1", "-c2", "-d5", "--json", path, server.url],
                   f"cannot write {path}: {reason}")  # fmt: skip
    assert server.connections == 0  # not even the setup probe: nothing was sent


def closed_port() -> int:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_json_file_is_written_only_by_a_run_that_completed(tmp_path, server: TargetServer):
    """Opened before the load, it is neither truncated nor left behind by a failed setup."""
    kept, new = tmp_path / "kept.json", tmp_path / "new.json"
    kept.write_text("an earlier result\n")
    refused = f"http://127.0.0.1:{closed_port()}/"
    for path in (kept, new):
        one_line_error(["--json", str(path), refused], "Connection refused")
    assert kept.read_text() == "an earlier result\n"
    assert not new.exists()
    done = pyload_cli("-t1", "-c2", "-d1", "--json", str(kept), server.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(kept.read_text())["requests"] > 0


def test_version(capsys: pytest.CaptureFixture[str]):
    assert main(["-v"]) == 0
    assert capsys.readouterr().out.startswith("pyload 0.1.0 [")


def limit_fds(soft: int, hard: int):  # type: ignore[no-untyped-def]
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_too_few_file_descriptors_is_a_clear_error(server: TargetServer):
    done = pyload_cli("-t1", "-c500", "-d1", server.url, preexec_fn=limit_fds(200, 200))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "too few file descriptors: each worker process needs 564, the hard limit is 200"
        " (raise it with 'ulimit -n', or spread the connections over more worker processes"
        " with --processes)"
    ]
    assert server.received["/"] == 0


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(server: TargetServer):
    done = pyload_cli("-t1", "-c300", "-d1", server.url, preexec_fn=limit_fds(100, 4096))
    assert done.returncode == 0, done.stderr
    assert "1 threads and 300 connections" in done.stdout
    assert server.connections >= 300  # every connection really opened
