"""The Config: URL rules, headers, validation order and the split of connections (no I/O)."""

from __future__ import annotations

import pickle

import pytest

from pyload.config import Config, Target, parse_header
from pyload.errors import UsageError


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://h:1/a?x=1#frag", "/a?x=1#frag"),  # wrk sends query and fragment
        ("http://h:1?x=1", "/"),  # no path: the query is dropped, as wrk does
        ("http://h", "/"),
        ("https://h/", "/"),
    ],
)
def test_request_path_is_wrks(url: str, path: str):
    assert Target.parse(url).path == path


def test_service_and_port_follow_the_scheme_unless_explicit():
    assert (Target.parse("http://h/").port, Target.parse("http://h/").service) == (80, "http")
    assert (Target.parse("https://h/").port, Target.parse("https://h/").tls) == (443, True)
    assert Target.parse("http://h:8080/").service == "8080"


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8080/", "http://", "ftp://h/", "http://h:99999/", "http://h:x/", "h", ""]
)
def test_invalid_urls_are_rejected_with_wrks_message(url: str):
    with pytest.raises(UsageError) as raised:
        Config(url)
    assert str(raised.value) == f"invalid URL: {url}"


def test_header_parsing_accepts_what_wrk_silently_ignores():
    assert parse_header("X-A: b") == ("X-A", "b")
    assert parse_header("X-A:b") == ("X-A", "b")  # wrk drops this one (wg/wrk#404)
    assert parse_header("X-A: b: c") == ("X-A", "b: c")
    for bad in ("no colon", ": empty name", "bad name: v"):
        with pytest.raises(UsageError):
            parse_header(bad)


def test_validation_order_and_messages():
    with pytest.raises(UsageError, match="threads"):
        Config("not a url", threads=0)  # counts before the URL, as wrk
    with pytest.raises(UsageError, match="invalid URL"):
        Config("not a url", connections=1, threads=2)  # the URL before connections
    with pytest.raises(UsageError, match=r"^number of connections must be >= threads$"):
        Config("http://h/", connections=1, threads=2)
    with pytest.raises(UsageError, match="duration"):
        Config("http://h/", duration=0)
    with pytest.raises(UsageError, match="timeout"):
        Config("http://h/", timeout=-1)
    with pytest.raises(UsageError, match="event loop"):
        Config("http://h/", loop="trio")
    with pytest.raises(UsageError, match="connections"):
        Config("http://h/", connections=True)  # type: ignore[arg-type]


def test_connections_remainder_is_spread_not_dropped():
    # wrk -t3 -c10 opens 9 connections; pyload opens all 10.
    assert Config("http://h/", connections=10, threads=3).connections_per_thread() == [4, 3, 3]
    assert sum(Config("http://h/", connections=2000, threads=20).connections_per_thread()) == 2000


def test_config_is_frozen_picklable_and_normalises_headers():
    config = Config("http://h:1/", headers={"X-A": "1"})  # type: ignore[arg-type]
    assert config.headers == (("X-A", "1"),)
    assert pickle.loads(pickle.dumps(config)) == config
    assert pickle.loads(pickle.dumps(config)).target == config.target
    with pytest.raises(AttributeError):
        config.connections = 5  # type: ignore[misc]
    assert config.timeout_us == 2_000_000
