"""Transports beyond plain IPv4: TLS with SNI and no verification (as wrk), and IPv6 loopback."""

from __future__ import annotations

import dataclasses

import pytest

import pyload
from pyload._engine import run_thread
from pyload._local import prepare
from pyload._process import new_event_loop
from tests.helpers import assert_accounted, pyload_cli
from tests.target_server import OK, TargetServer, running


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_https_with_a_self_signed_certificate(tls_server: TargetServer, loop: str):
    assert tls_server.url.startswith("https://127.0.0.1:")
    result = pyload.run(tls_server.url + "/", connections=4, threads=2, duration=0.5, loop=loop)
    assert result.requests > 50
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    assert_accounted(result.requests, result.in_flight, tls_server.received["/"])
    # Decrypted bytes are counted, as wrk does.
    assert result.bytes_read >= result.requests * len(OK)


# A plain-HTTP server's answer to a TLS ClientHello: what gunicorn or uvicorn send to https://.
PLAIN_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def test_https_to_a_plain_port_fails_before_the_load():
    """Unlike wrk, which runs the whole load as connect errors: the setup probe's handshake
    fails, one line, nothing loaded (the probe's connection is the only one)."""
    with running(greeting=PLAIN_ANSWER) as plain:
        url = plain.url.replace("http://", "https://") + "/"
        with pytest.raises(pyload.ConnectError) as raised:
            pyload.run(url, connections=4, threads=2, duration=1)
        assert plain.connections == 1
    assert str(raised.value) == (
        f"unable to connect to 127.0.0.1:{plain.port} TLS handshake failed: "
        "[SSL: WRONG_VERSION_NUMBER] wrong version number"
    )


def test_https_to_a_plain_port_is_one_line_and_exit_1_on_the_command_line(
    server: TargetServer,
):
    """The plain server never answers the ClientHello: the handshake times out (5 s)."""
    done = pyload_cli("-t1", "-c2", "-d1", server.url.replace("http://", "https://") + "/")
    assert done.returncode == 1
    assert done.stdout == ""  # not even wrk's "Running ..." header: the load never started
    assert done.stderr.splitlines() == [
        f"unable to connect to 127.0.0.1:{server.port} TLS handshake failed: timed out"
    ]
    assert server.connections == 1 and sum(server.received.values()) == 0


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_handshake_that_fails_during_the_run_is_a_connect_error(
    tls_server: TargetServer, loop: str
):
    """Past the probe (a TLS server), a worker sent to a plain port counts every failed
    handshake as a connect error and retries, as wrk does."""
    spec = prepare(pyload.Config(tls_server.url + "/", connections=2, threads=1, duration=0.3))[0]
    with running(greeting=PLAIN_ANSWER) as plain:
        spec = dataclasses.replace(spec, address=("127.0.0.1", plain.port))
        event_loop = new_event_loop(loop)
        try:
            result = event_loop.run_until_complete(run_thread(spec, lambda m: None, lambda: False))
        finally:
            event_loop.close()
    assert result.stats.requests == 0
    assert result.stats.errors["connect"] > 2  # every attempt failed and was retried
    assert result.stats.errors["read"] == result.stats.errors["write"] == 0


def test_ipv6_loopback():
    with running(host="::1") as state:
        assert state.url.startswith("http://[::1]:")
        result = pyload.run(state.url + "/", connections=2, threads=1, duration=0.3)
    assert result.requests > 10 and result.read_errors == 0
    assert_accounted(result.requests, result.in_flight, state.received["/"])
