"""A private nginx for the selfbench: generated config in a temp dir, one worker, 127.0.0.1 only.

    with running_nginx(cpu=1) as url:   # "http://127.0.0.1:PORT/", answers 200 "hello\\n"
    with running_nginx(http2=True) as url:   # the same over h2c (HTTP/2 with prior knowledge)
        ...

Besides ``/``: ``/`` + LARGE_PATH serves a static file of LARGE_SIZE bytes, and ``/`` +
STATUS_PATH is nginx's ``stub_status`` (its request counter tells when a client's first request
arrived: benchmarks.watch).

nginx runs in the foreground (``daemon off; master_process off``) as our child, in its own
process group, pinned to ``cpu`` when given; it is stopped with SIGQUIT then SIGKILL by its pid.
A single process owned by a ``with`` block, it gets SIGTERM when the thread that started it ends
(``PR_SET_PDEATHSIG``), so a benchmark killed with SIGKILL leaves no nginx behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.stopping import stop_process
from django_target.guard import parent_death_signal

__all__ = [
    "BODY",
    "LARGE_PATH",
    "LARGE_SIZE",
    "STATUS_PATH",
    "NginxError",
    "nginx_config",
    "running_nginx",
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
    access_log off;
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
        location / {{
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


class NginxError(RuntimeError):
    """nginx is missing, failed to start, or did not listen in time."""


def nginx_config(tmp: Path, port: int, http2: bool = False) -> str:
    """The nginx.conf text for a temp dir and a port; ``http2``: the port speaks HTTP/2 with
    prior knowledge (h2c) instead of HTTP/1.1."""
    body = BODY.replace("\n", "\\n")
    return CONFIG.format(
        tmp=tmp,
        port=port,
        body=body,
        large_path=LARGE_PATH,
        status_path=STATUS_PATH,
        worker_connections=WORKER_CONNECTIONS,
        nofile=WORKER_CONNECTIONS * 2,
        http2=" http2" if http2 else "",
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


def _start(
    binary: str, tmp: Path, cpu: int | None, http2: bool
) -> tuple[subprocess.Popen[bytes], int]:
    error = "no attempt"
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_config(tmp, port, http2))
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
                if _listening(port):
                    return process, port
                time.sleep(POLL_S)  # polling a socket, not synchronising on time
        except BaseException:  # a stop signal while it starts
            stop_process(process)
            raise
        stop_process(process, signal.SIGQUIT, STOP_TIMEOUT_S)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        error = stderr.strip() or f"did not listen on port {port} in {START_TIMEOUT_S:.0f}s"
    raise NginxError(f"nginx failed to start: {error}")


@contextlib.contextmanager
def running_nginx(
    cpu: int | None = None, binary: str | None = None, http2: bool = False
) -> Iterator[str]:
    """Run nginx for the with block; yield its URL. Raises NginxError if it cannot start.
    ``http2``: the port speaks h2c (HTTP/2 with prior knowledge) only."""
    path = (
        binary
        or shutil.which("nginx")
        or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    )
    if path is None:
        raise NginxError("nginx is not installed")
    with tempfile.TemporaryDirectory(prefix="pyload-nginx-") as name:
        www = Path(name) / "www"
        www.mkdir()
        (www / LARGE_PATH).write_bytes(_large_body())
        process, port = _start(path, Path(name), cpu, http2)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            stop_process(process, signal.SIGQUIT, STOP_TIMEOUT_S)  # SIGQUIT: graceful shutdown
            if process.stderr is not None:
                process.stderr.close()
