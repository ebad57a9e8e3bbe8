"""A private nginx for the selfbench: generated config in a temp dir, one worker, 127.0.0.1 only.

    with running_nginx(cpu=1) as url:   # "http://127.0.0.1:PORT/", answers 200 "hello\\n"
    with running_nginx(http2=True) as url:   # the same over h2c (HTTP/2 with prior knowledge)
        ...
    with running_nginx_server(tls=True, access_log=path) as server:   # an NginxServer
        server.url, server.https_url, server.https_http1_url

``tls``: two more ports with a self-signed certificate that openssl makes at start, one
``ssl http2`` (ALPN offers h2, then http/1.1) and one ``ssl`` alone (HTTP/1.1: ALPN never
chooses h2). ``access_log``: nginx writes one line per request to that file, in ACCESS_FORMAT,
which names the protocol (``HTTP/2.0``, ``HTTP/1.1``); ``parse_access_log`` reads it. A line is
written as nginx finishes a request, which may be just after the client has the response: read
the file after the ``with`` block (nginx has stopped; the file stays) to see every request.
``python -m benchmarks.nginx [--http2] [--tls] [--access-log PATH]`` runs one for another
process (the tests): it prints the server as one JSON line and serves until its stdin ends.

Besides ``/``: ``/`` + LARGE_PATH serves a static file of LARGE_SIZE bytes, and ``/`` +
STATUS_PATH is nginx's ``stub_status`` (its request counter tells when a client's first request
arrived: benchmarks.watch).

nginx runs in the foreground (``daemon off; master_process off``) as our child, in its own
process group, pinned to ``cpu`` when given; it is stopped with SIGQUIT then SIGKILL by its pid.
A single process owned by a ``with`` block, it gets SIGTERM when the thread that started it ends
(``PR_SET_PDEATHSIG``), so a benchmark killed with SIGKILL leaves no nginx behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.stopping import sigterm_as_ctrl_c, stop_process
from django_target.guard import parent_death_signal

__all__ = [
    "ACCESS_FORMAT",
    "BODY",
    "LARGE_PATH",
    "LARGE_SIZE",
    "STATUS_PATH",
    "AccessEntry",
    "NginxError",
    "NginxServer",
    "main",
    "nginx_config",
    "parse_access_log",
    "running_nginx",
    "running_nginx_server",
]

BODY = "hello\n"
LARGE_PATH = "25k.bin"  # a static file, served with sendfile
LARGE_SIZE = 25_000
STATUS_PATH = "nginx_status"
WORKER_CONNECTIONS = 8192  # above the selfbench's largest connection count (2000)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02
PORT_ATTEMPTS = 3  # a free port found by bind(0) can be taken before nginx binds it
CERT_TIMEOUT_S = 60.0
#: The access log's line: the request's scheme, the port it came to, its protocol as nginx
#: names it (HTTP/1.1, HTTP/2.0), status, nginx's connection serial number, body bytes, URI.
ACCESS_FORMAT = (
    "$scheme $server_port $server_protocol $status $connection $body_bytes_sent $request_uri"
)

CONFIG = """\
worker_processes 1;
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile {nofile};
events {{
    worker_connections {worker_connections};
    multi_accept on;
}}
http {{
{access_log}
    default_type text/plain;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    sendfile on;
    open_file_cache max=16 inactive=600s;
    server {{
        listen 127.0.0.1:{port} backlog=4096{http2};
{tls}        location / {{
            return 200 "{body}";
        }}
        location = /{large_path} {{
            root {tmp}/www;
            default_type application/octet-stream;
        }}
        location = /{status_path} {{
            stub_status;
        }}
    }}
}}
"""


TLS_LINES = """\
        listen 127.0.0.1:{h2_port} backlog=4096 ssl http2;
        listen 127.0.0.1:{http1_port} backlog=4096 ssl;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
"""


class NginxError(RuntimeError):
    """nginx is missing, failed to start, or did not listen in time."""


@dataclass(frozen=True)
class NginxServer:
    """A running nginx's addresses: ``url`` (HTTP/1.1, or h2c with ``http2``); with ``tls``,
    ``https_url`` (ALPN h2) and ``https_http1_url`` (HTTP/1.1 only) and the self-signed
    ``certificate`` (PEM); ``access_log``, the file its access log goes to, if any."""

    url: str
    https_url: str | None = None
    https_http1_url: str | None = None
    certificate: str | None = None  # its PEM text
    access_log: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class AccessEntry:
    """One line of the access log (ACCESS_FORMAT)."""

    scheme: str
    port: int
    protocol: str
    status: int
    connection: int
    body_bytes: int
    uri: str


def parse_access_log(text: str) -> list[AccessEntry]:
    """The access log's lines (ACCESS_FORMAT) as entries. Raises ValueError on a line in
    another format."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(" ", 6)
        if len(fields) != 7:
            raise ValueError(f"not an access log line in ACCESS_FORMAT: {line!r}")
        scheme, port, protocol, status, connection, body_bytes, uri = fields
        try:
            entries.append(
                AccessEntry(scheme, int(port), protocol, int(status), int(connection),
                            int(body_bytes), uri)
            )  # fmt: skip
        except ValueError:
            raise ValueError(f"not an access log line in ACCESS_FORMAT: {line!r}") from None
    return entries


def nginx_config(
    tmp: Path,
    port: int,
    http2: bool = False,
    tls_ports: tuple[int, int] | None = None,
    access_log: Path | None = None,
) -> str:
    """The nginx.conf text for a temp dir and a port; ``http2``: the port speaks HTTP/2 with
    prior knowledge (h2c) instead of HTTP/1.1; ``tls_ports``: (h2, http1) two ports more, TLS
    with the certificate and key in the temp dir, the first with ALPN h2; ``access_log``: a
    line per request there (ACCESS_FORMAT), else none."""
    body = BODY.replace("\n", "\\n")
    if access_log is None:
        log = "    access_log off;"
    else:
        log = f"    log_format protocol '{ACCESS_FORMAT}';\n    access_log {access_log} protocol;"
    tls = ""
    if tls_ports is not None:
        tls = TLS_LINES.format(h2_port=tls_ports[0], http1_port=tls_ports[1], tmp=tmp)
    return CONFIG.format(
        tmp=tmp,
        port=port,
        body=body,
        large_path=LARGE_PATH,
        status_path=STATUS_PATH,
        worker_connections=WORKER_CONNECTIONS,
        nofile=WORKER_CONNECTIONS * 2,
        http2=" http2" if http2 else "",
        access_log=log,
        tls=tls,
    )


def _large_body() -> bytes:
    """LARGE_SIZE bytes of text: lines of 99 letters and a newline."""
    line = b"x" * 99 + b"\n"
    return (line * (LARGE_SIZE // len(line) + 1))[:LARGE_SIZE]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _preexec(cpu: int | None) -> Callable[[], None]:
    """In the child before exec: pin it to ``cpu``; SIGTERM when this thread ends."""
    die_with_parent = parent_death_signal(signal.SIGTERM)

    def preexec() -> None:
        if die_with_parent is not None:
            die_with_parent()
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    return preexec


def _self_signed(tmp: Path) -> None:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost (an EC key: made in
    milliseconds), as cert.pem and key.pem in ``tmp``. Raises NginxError."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise NginxError("openssl is not installed (it makes nginx's TLS certificate)")
    argv = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=CERT_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise NginxError(f"openssl made no certificate in {CERT_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise NginxError(f"openssl made no certificate: {' '.join(tail)}")


def _start(
    binary: str,
    tmp: Path,
    cpu: int | None,
    http2: bool,
    tls: bool,
    access_log: Path | None,
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """Start nginx on free ports (one, three with ``tls``); return it and its ports."""
    error = "no attempt"
    for _ in range(PORT_ATTEMPTS):
        ports = [_free_port() for _ in range(3 if tls else 1)]
        tls_ports = (ports[1], ports[2]) if tls else None
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_config(tmp, ports[0], http2, tls_ports, access_log))
        process = subprocess.Popen(
            [binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_preexec(cpu),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if all(_listening(port) for port in ports):
                    return process, ports
                time.sleep(POLL_S)  # polling a socket, not synchronising on time
        except BaseException:  # a stop signal while it starts
            stop_process(process)
            raise
        stop_process(process, signal.SIGQUIT, STOP_TIMEOUT_S)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        error = stderr.strip() or f"did not listen on ports {ports} in {START_TIMEOUT_S:.0f}s"
    raise NginxError(f"nginx failed to start: {error}")


@contextlib.contextmanager
def running_nginx_server(
    cpu: int | None = None,
    binary: str | None = None,
    http2: bool = False,
    tls: bool = False,
    access_log: Path | None = None,
) -> Iterator[NginxServer]:
    """Run nginx for the with block; yield its addresses. Raises NginxError if it cannot start.
    ``http2``: the plain port speaks h2c (HTTP/2 with prior knowledge) only; ``tls``: two TLS
    ports more, ALPN h2 and HTTP/1.1 only; ``access_log``: a line per request to that file."""
    path = (
        binary
        or shutil.which("nginx")
        or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    )
    if path is None:
        raise NginxError("nginx is not installed")
    log = access_log.resolve() if access_log is not None else None
    with tempfile.TemporaryDirectory(prefix="pyload-nginx-") as name:
        tmp = Path(name)
        www = tmp / "www"
        www.mkdir()
        (www / LARGE_PATH).write_bytes(_large_body())
        if tls:
            _self_signed(tmp)
        process, ports = _start(path, tmp, cpu, http2, tls, log)
        server = NginxServer(
            url=f"http://127.0.0.1:{ports[0]}/",
            https_url=f"https://127.0.0.1:{ports[1]}/" if tls else None,
            https_http1_url=f"https://127.0.0.1:{ports[2]}/" if tls else None,
            # nginx read the files at start: the certificate's text outlives the temp dir.
            certificate=(tmp / "cert.pem").read_text() if tls else None,
            access_log=str(log) if log is not None else None,
        )
        try:
            yield server
        finally:
            stop_process(process, signal.SIGQUIT, STOP_TIMEOUT_S)  # SIGQUIT: graceful shutdown
            if process.stderr is not None:
                process.stderr.close()


@contextlib.contextmanager
def running_nginx(
    cpu: int | None = None, binary: str | None = None, http2: bool = False
) -> Iterator[str]:
    """Run nginx for the with block; yield its URL. Raises NginxError if it cannot start.
    ``http2``: the port speaks h2c (HTTP/2 with prior knowledge) only."""
    with running_nginx_server(cpu, binary, http2) as server:
        yield server.url


@sigterm_as_ctrl_c()
def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stdin ends (or a stop signal), the server's addresses printed first as one
    JSON line (NginxServer's fields)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nginx", description=__doc__)
    parser.add_argument("--http2", action="store_true", help="the plain port speaks h2c")
    parser.add_argument("--tls", action="store_true", help="two TLS ports: ALPN h2, HTTP/1.1")
    parser.add_argument("--access-log", type=Path, help="a line per request to this file")
    parser.add_argument("--cpu", type=int, help="pin nginx to this CPU")
    ns = parser.parse_args(argv)
    try:
        with running_nginx_server(ns.cpu, None, ns.http2, ns.tls, ns.access_log) as server:
            print(json.dumps(server.to_dict()), flush=True)
            sys.stdin.read()
    except NginxError as exc:
        print(f"nginx: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
