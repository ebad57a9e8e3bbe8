"""Each option declared once: the CLI, pyload.run() and the JSON config are views of Config."""

from __future__ import annotations

import argparse
import inspect
import json
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

import pyload
from pyload._cli import build_parser, config_from_args
from pyload._options import (
    add_arguments,
    check_count,
    keyword_signature,
    option,
    options_of,
    values_from_args,
)
from pyload.config import Config
from pyload.errors import UsageError
from tests.helpers import pyload_cli
from tests.target_server import TargetServer

# What the command line has beside the options: its own outputs and switches.
CLI_ONLY = {"help", "version", "json", "args", "hdr_log", "plot", "html", "progress", "debug"}


def cli_names(parser: argparse.ArgumentParser) -> set[str]:
    return {action.dest for action in parser._actions} - CLI_ONLY


def test_cli_api_and_json_share_one_set_of_names():
    config_fields = {f.name for f in fields(Config) if f.init}
    api = set(inspect.signature(pyload.run).parameters)
    json_keys = set(Config("http://h/").to_json())
    assert cli_names(build_parser()) == api == json_keys == config_fields
    assert {"duration", "timeout", "print_latency", "method", "body", "body_file"} <= api


def test_run_signature_shows_each_default():
    parameters = inspect.signature(pyload.run).parameters
    assert parameters["connections"].default == 10
    assert parameters["duration"].default == 10.0
    assert parameters["timeout"].default == 2.0
    assert parameters["method"].default == "GET"
    assert parameters["url"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert parameters["threads"].kind is inspect.Parameter.KEYWORD_ONLY


@dataclass(frozen=True)
class Extended(Config):
    """Config plus one throwaway option, declared the one way options are declared."""

    extra: int = option(
        7,
        "A throwaway option (default {default})",
        flags=("--extra",),
        metavar="N",
        parse=int,
        check=check_count("extra"),
    )


def test_one_new_option_spec_appears_everywhere():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Extended)
    assert cli_names(parser) == cli_names(build_parser()) | {"extra"}
    assert "A throwaway option (default 7)" in parser.format_help()
    ns = parser.parse_args(["--extra", "9", "http://h/"])
    config = Extended(**values_from_args(ns, Extended))
    assert config.extra == 9
    assert "extra" in keyword_signature(Extended, "url").parameters
    assert config.to_json()["extra"] == 9
    assert Extended.from_json(config.to_json()) == config
    with pytest.raises(UsageError, match="extra must be an integer >= 1"):
        Extended("http://h/", extra=0)


def test_help_lists_every_option_with_its_flag_and_default():
    text = build_parser().format_help()
    for _, spec in options_of(Config):
        for flag in spec.flags:
            assert flag in text, flag
    assert "(default 10)" in text and "(default 10s)" in text and "(default 2s)" in text


def test_config_json_round_trip_and_unknown_keys():
    config = Config("http://h:1/x", headers={"A": "b"}, method="POST", body="{}", duration=0.5)
    block = config.to_json()
    assert block["headers"] == [["A", "b"]] and block["duration"] == 0.5
    assert Config.from_json(block) == config
    with pytest.raises(UsageError, match="unknown option"):
        Config.from_json({**block, "bogus": 1})


def test_run_refuses_unknown_keywords_and_options_beside_a_config():
    with pytest.raises(UsageError, match=r"unknown option.*durations"):
        pyload.run("http://127.0.0.1:1/", durations=3)
    with pytest.raises(UsageError, match="options given beside a Config"):
        pyload.run(Config("http://127.0.0.1:1/"), connections=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "GE T"}, "invalid method"),
        ({"method": ""}, "invalid method"),
        ({"body": "a", "body_file": "f"}, "exclusive"),
        ({"body": b"bytes"}, "body must be text"),
        ({"print_latency": "yes"}, "print_latency must be True or False"),
    ],
)
def test_bad_request_options(kwargs: dict[str, object], message: str):
    with pytest.raises(UsageError, match=message):
        Config("http://h/", **kwargs)  # type: ignore[arg-type]


def test_method_and_body_flags_reach_the_config():
    ns = build_parser().parse_args(["-m", "PUT", "--body", "x=1", "http://h/"])
    config = config_from_args(ns)
    assert (config.method, config.body, config.body_file) == ("PUT", "x=1", None)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "BAD METHOD"], "invalid method: 'BAD METHOD'"),
        (["--body-file", "/no/such/body"], "cannot read body file /no/such/body: No such file"),
        (["--body", "x", "--body-file", "f"], "--body and --body-file are exclusive"),
    ],
)
def test_bad_request_flags_are_one_line_before_any_request(
    server: TargetServer, args: list[str], expected: str
):
    done = pyload_cli("-d1", *args, server.url + "/")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and expected in done.stderr, done.stderr
    assert server.connections == 0 and sum(server.received.values()) == 0


def test_post_with_a_body_file_reaches_the_server_byte_for_byte(
    server: TargetServer, tmp_path: Path
):
    body = bytes(range(256)) * 4 + "ünïcode\r\n\r\n".encode()  # binary, CRLFs included
    body_file = tmp_path / "body.bin"
    body_file.write_bytes(body)
    done = pyload_cli(
        "-t1", "-c2", "-d1", "-m", "POST", "--body-file", str(body_file),
        "-H", "Content-Type: application/octet-stream", server.url + "/record",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(server.recorded) > 10
    head = (
        f"POST /record HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    assert set(server.recorded) == {head + body}


def test_a_text_body_is_sent_as_utf8(server: TargetServer):
    done = pyload_cli("-t1", "-c1", "-d1", "-m", "PUT", "--body", "café=1", server.url + "/record")
    assert done.returncode == 0, done.stderr
    assert server.recorded[0].startswith(b"PUT /record HTTP/1.1\r\n")
    assert server.recorded[0].endswith(b"Content-Length: 7\r\n\r\ncaf\xc3\xa9=1")


def test_head_requests_read_no_body(server: TargetServer):
    done = pyload_cli("-t1", "-c2", "-d1", "-m", "HEAD", "--json", "-", server.url + "/record")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["requests"] > 50 and data["errors"] == dict.fromkeys(data["errors"], 0)
    assert data["config"]["method"] == "HEAD"
    assert {request.split(b" ", 1)[0] for request in server.recorded} == {b"HEAD"}
