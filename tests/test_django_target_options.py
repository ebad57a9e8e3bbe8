"""django_target's options are declared once: the CLI's ``serve`` flags are ServerConfig's fields,
and every value given on the command line reaches ServerConfig."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from django_target import ServerConfig
from django_target.cli import _config, _parser
from django_target.launcher import LOG_TO_STDERR

# A non-default command-line value for every option but --server, and the value it must become.
CLI_VALUES: dict[str, tuple[str, Any]] = {
    "port": ("0", 0),
    "workers": ("3", 3),
    "scale": ("0.5", 0.5),
    "worker_connections": ("50", 50),
    "backlog": ("64", 64),
    "keep_alive": ("0", 0),
    "graceful_timeout": ("1", 1),
    "asgi_threads": ("4", 4),
    "upstream_url": ("http://127.0.0.1:9/", "http://127.0.0.1:9/"),
    "upstream_size": ("1000", 1000),
    "upstream_delay": ("0", 0.0),
    "upstream_timeout": ("2.5", 2.5),
    "upstream_pool_size": ("7", 7),
    "startup_timeout": ("5", 5.0),
    "stop_timeout": ("1.5", 1.5),
    "log_path": ("/tmp/servers.log", "/tmp/servers.log"),
}


def _serve_actions() -> dict[str, argparse.Action]:
    """The ``serve`` subcommand's arguments, by dest (without --help)."""
    parser = _parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    return {a.dest: a for a in serve._actions if not isinstance(a, argparse._HelpAction)}


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(ServerConfig)}


def test_serve_flags_are_the_server_config_fields() -> None:
    actions = _serve_actions()
    assert set(actions) == _field_names()
    assert set(CLI_VALUES) | {"server"} == _field_names()
    assert actions["server"].required
    assert actions["server"].option_strings == ["--server"]
    assert actions["log_path"].option_strings == ["--log"]
    assert actions["worker_connections"].option_strings == ["--worker-connections"]


def test_upstream_pool_size_reaches_the_config() -> None:
    args = _parser().parse_args(
        ["serve", "--server", "gunicorn-gevent", "--upstream-pool-size", "7"]
    )
    config = _config(args)
    assert config.upstream_pool_size == 7
    assert config == ServerConfig("gunicorn-gevent", upstream_pool_size=7, log_path=LOG_TO_STDERR)


def test_every_command_line_value_reaches_the_config() -> None:
    actions = _serve_actions()
    argv = ["serve", "--server", "hypercorn-uvloop"]
    for name, (text, _) in CLI_VALUES.items():
        argv += [actions[name].option_strings[0], text]
    config = _config(_parser().parse_args(argv))
    assert config.server == "hypercorn-uvloop"
    for name, (_, expected) in CLI_VALUES.items():
        assert getattr(config, name) == expected, name
        assert getattr(config, name) != getattr(ServerConfig("hypercorn-uvloop"), name), name


def test_defaults_on_the_command_line_are_the_config_defaults() -> None:
    """All but one: the command line shows the servers' output on stderr, serve() discards it."""
    args = _parser().parse_args(["serve", "--server", "gunicorn-uvicorn"])
    assert ServerConfig("gunicorn-uvicorn").log_path is None
    assert _config(args) == ServerConfig("gunicorn-uvicorn", log_path=LOG_TO_STDERR)


def test_serve_without_server_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["serve", "--workers", "2"])
    assert exc.value.code == 2
    assert "--server" in capsys.readouterr().err
