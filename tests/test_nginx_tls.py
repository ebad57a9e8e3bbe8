"""benchmarks.nginx over TLS and with its access log: the ``ssl http2`` port chooses h2 by ALPN
(an ``h2``-library client and h2load get their answers over it), the ``ssl`` port HTTP/1.1 only,
and every request is a line of the access log naming its protocol, which is how the tests count
what pyload --http2 sent. nginx runs in a child process (``python -m benchmarks.nginx``)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import h2.connection
import h2.events
import pytest

from benchmarks.nginx import (
    ACCESS_FORMAT,
    BODY,
    LARGE_PATH,
    LARGE_SIZE,
    AccessEntry,
    NginxServer,
    nginx_config,
    parse_access_log,
)
from tests.conftest import require_tool
from tests.helpers import pyload_cli
from tests.procs import run, spawn

HANG_S = 30.0  # a deadline for a hang, never a measurement


@contextlib.contextmanager
def nginx(log: Path, *flags: str) -> Iterator[NginxServer]:
    """``python -m benchmarks.nginx FLAGS --access-log LOG`` for the block; nginx has stopped
    (every line of its log written) when the block ends."""
    require_tool("nginx")
    require_tool("openssl")
    argv = [sys.executable, "-m", "benchmarks.nginx", *flags, "--access-log", str(log)]
    with spawn(argv, stdin=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=HANG_S)
        yield NginxServer(**json.loads(line))
        proc.stdin.close()
        assert proc.wait(timeout=HANG_S) == 0, proc.stderr.read() if proc.stderr else ""


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _tls(url: str, certificate: str, alpn: list[str]) -> ssl.SSLSocket:
    """A TLS connection that verifies nginx's certificate (for 127.0.0.1), offering ``alpn``."""
    context = ssl.create_default_context(cadata=certificate)
    context.set_alpn_protocols(alpn)
    host, port = _address(url)
    raw = socket.create_connection((host, port), timeout=HANG_S)
    return context.wrap_socket(raw, server_hostname=host)


def h2_get(url: str, certificate: str, paths: list[str]) -> list[tuple[int, int]]:
    """GET each path on one TLS connection with the ``h2`` library, all at once; (status, body
    size) per path, in order. Fails unless ALPN chose h2."""
    with _tls(url, certificate, ["h2", "http/1.1"]) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        host, port = _address(url)
        streams = []
        for path in paths:
            stream = conn.get_next_available_stream_id()
            headers = [(":method", "GET"), (":path", path), (":scheme", "https"),
                       (":authority", f"{host}:{port}")]  # fmt: skip
            conn.send_headers(stream, headers, end_stream=True)
            streams.append(stream)
        sock.sendall(conn.data_to_send())
        status: dict[int, int] = {}
        size = dict.fromkeys(streams, 0)
        ended: set[int] = set()
        while len(ended) < len(streams):
            data = sock.recv(65536)
            assert data, "nginx closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    size[event.stream_id] += len(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
    return [(status[s], size[s]) for s in streams]


def protocols(log: Path) -> Counter[tuple[str, int, str]]:
    """(scheme, port, protocol) -> requests, from the access log."""
    return Counter((e.scheme, e.port, e.protocol) for e in parse_access_log(log.read_text()))


def test_the_access_log_is_read_line_by_line():
    text = (
        "https 41000 HTTP/2.0 200 7 6 /\n"
        "http 41001 HTTP/1.1 404 12 153 /missing?x=1 y\n"
        "\n"
    )  # fmt: skip
    assert parse_access_log(text) == [
        AccessEntry("https", 41000, "HTTP/2.0", 200, 7, 6, "/"),
        AccessEntry("http", 41001, "HTTP/1.1", 404, 12, 153, "/missing?x=1 y"),
    ]
    assert ACCESS_FORMAT.count("$") == 7  # one field per AccessEntry field
    with pytest.raises(ValueError, match="not an access log line"):
        parse_access_log("127.0.0.1 - - [05/Dec/2026] GET / HTTP/1.1 200\n")


def test_the_config_has_the_tls_ports_and_the_log_only_when_asked(tmp_path: Path):
    plain = nginx_config(tmp_path, 8080, http2=True)
    assert "listen 127.0.0.1:8080 backlog=4096 http2;" in plain
    assert "ssl" not in plain and "access_log off;" in plain
    tls = nginx_config(tmp_path, 8080, tls_ports=(8443, 8444), access_log=tmp_path / "a.log")
    assert "listen 127.0.0.1:8443 backlog=4096 ssl http2;" in tls
    assert "listen 127.0.0.1:8444 backlog=4096 ssl;" in tls
    assert f"ssl_certificate {tmp_path}/cert.pem;" in tls
    assert f"log_format protocol '{ACCESS_FORMAT}';" in tls
    assert f"access_log {tmp_path / 'a.log'} protocol;" in tls


def test_nginx_serves_h2_over_tls_by_alpn_and_http11_on_its_other_tls_port(tmp_path: Path):
    """The ``ssl http2`` port: ALPN h2, an h2 client's three streams (the small answer and the
    25 KB file) and h2load's 20 requests as HTTP/2.0. The ``ssl`` port: ALPN never h2, h2load
    falls back to HTTP/1.1. The h2c port: h2load with prior knowledge."""
    h2load = require_tool("h2load")
    log = tmp_path / "access.log"
    with nginx(log, "--http2", "--tls") as server:
        assert server.https_url and server.https_http1_url and server.certificate
        paths = ["/", f"/{LARGE_PATH}", "/"]
        assert h2_get(server.https_url, server.certificate, paths) == [
            (200, len(BODY)), (200, LARGE_SIZE), (200, len(BODY))
        ]  # fmt: skip
        with _tls(server.https_http1_url, server.certificate, ["http/1.1"]) as sock:
            assert sock.selected_alpn_protocol() in (None, "http/1.1")
        for url, expected in ((server.https_url, "h2"), (server.https_http1_url, "http/1.1"),
                              (server.url, "h2c")):  # fmt: skip
            done = run([h2load, "-n20", "-c2", url], timeout=HANG_S)
            assert done.returncode == 0, done.stderr
            assert f"Application protocol: {expected}" in done.stdout
            assert "20 succeeded" in done.stdout
    seen = protocols(log)
    https = _address(server.https_url)[1]
    http1 = _address(server.https_http1_url)[1]
    h2c = _address(server.url)[1]
    assert seen == {
        ("https", https, "HTTP/2.0"): 3 + 20,
        ("https", http1, "HTTP/1.1"): 20,
        ("http", h2c, "HTTP/2.0"): 20,
    }


def test_pyload_http2_sends_exactly_n_requests_as_http2_over_h2c_and_tls(tmp_path: Path):
    """Issue 22's check: ``pyload --http2 -t2 -c10 -n 1000`` against nginx's h2c port and its
    TLS port (ALPN h2): exactly 1000 requests each in nginx's log, every one as HTTP/2.0; its
    HTTP/1.1-only TLS port is refused before any load, in one line."""
    log = tmp_path / "access.log"
    with nginx(log, "--http2", "--tls") as server:
        assert server.https_url and server.https_http1_url
        for url in (server.url, server.https_url):
            done = pyload_cli("--http2", "-t2", "-c10", "-n", "1000", url)
            assert done.returncode == 0, done.stderr
            assert "1000 requests in" in done.stdout
        refused = pyload_cli("--http2", "-t1", "-c1", "-d1s", server.https_http1_url)
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "the server does not offer HTTP/2 by ALPN (it refused h2)" in refused.stderr
    assert protocols(log) == {
        ("http", _address(server.url)[1], "HTTP/2.0"): 1000,
        ("https", _address(server.https_url)[1], "HTTP/2.0"): 1000,
    }
