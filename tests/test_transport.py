"""Transports beyond plain IPv4: TLS with SNI and no verification (as wrk), and IPv6 loopback."""

from __future__ import annotations

import pytest

import pyload
from tests.target_server import OK, TargetServer, running


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_https_with_a_self_signed_certificate(tls_server: TargetServer, loop: str):
    assert tls_server.url.startswith("https://127.0.0.1:")
    result = pyload.run(tls_server.url + "/", connections=4, threads=2, duration=0.5, loop=loop)
    assert result.requests > 50
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    assert result.requests + result.in_flight == tls_server.received["/"]
    # Decrypted bytes are counted, as wrk does.
    assert result.bytes_read >= result.requests * len(OK)


def test_a_failed_tls_handshake_is_a_connect_error():
    with running(greeting=b"HTTP/1.1 400 Bad Request\r\n\r\n") as plain:
        url = plain.url.replace("http://", "https://") + "/"
        result = pyload.run(url, connections=2, threads=1, duration=0.3)
    assert result.requests == 0
    assert result.connect_errors > 2  # every attempt failed and was retried
    assert result.read_errors == result.write_errors == 0


def test_ipv6_loopback():
    with running(host="::1") as state:
        assert state.url.startswith("http://[::1]:")
        result = pyload.run(state.url + "/", connections=2, threads=1, duration=0.3)
    assert result.requests > 10 and result.read_errors == 0
    assert result.requests + result.in_flight == state.received["/"]
