"""The network before the load: resolving, the probe connection, TLS as wrk does it, and the one
timeout all of them share. Blocking socket calls, made in the parent (and by a script's
``lookup``/``connect``); never on the load's hot path, which only takes ``client_tls_context``.
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any

from pyload.config import Target
from pyload.errors import ConnectError, ResolveError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "can_connect",
    "client_tls_context",
    "probe_connect",
    "probe_http2",
    "probe_tls",
    "resolve",
    "resolve_target",
]

CONNECT_TIMEOUT_S = 5.0
"""Every blocking connect or handshake before the load: the probe, a script's ``connect()``,
reaching a Dask scheduler."""

Address = tuple[int, tuple[Any, ...]]  # (family, sockaddr)


def resolve(host: str, port: int | str, shown: str | None = None) -> list[Address]:
    """getaddrinfo as wrk calls it (TCP, any family); ResolveError ``unable to resolve
    host:port reason`` (``shown`` instead of the port where given: the URL's service).

    Made in the calling thread on purpose: a helper thread would make the next fork of worker
    processes unsafe (a child forked while that thread ends inherited a lock it held, and
    hung). A stop signal is handled when getaddrinfo returns: at once for a numeric address or
    /etc/hosts, within the resolver's own timeout (resolv.conf) for a DNS name."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        where = f"{host}:{port if shown is None else shown}"
        raise ResolveError(f"unable to resolve {where} {exc.strerror}") from None
    return [(family, tuple(sockaddr)) for family, _, _, _, sockaddr in infos]


def resolve_target(target: Target) -> list[Address]:
    """The URL's addresses; the error names its service as wrk does (``host:http``)."""
    return resolve(target.host, target.port, target.service)


def client_tls_context(http2: bool = False) -> ssl.SSLContext:
    """TLS as wrk does it: SNI (the caller passes the host), no certificate verification; with
    ``http2``, ALPN offers ``h2`` alone (RFC 9113, 3.2)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if http2:
        context.set_alpn_protocols(["h2"])
    return context


def can_connect(family: int, sockaddr: tuple[Any, ...]) -> bool:
    """True if the address accepts a TCP connection within CONNECT_TIMEOUT_S (closed at once)."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(sockaddr)
        except OSError:
            return False
    return True


def probe_connect(target: Target, addresses: list[Address]) -> Address:
    """Return the first address that accepts a connection (wrk probes each one the same way)
    and, for an https target, completes a TLS handshake as the threads do it.

    Unlike wrk, a failed handshake is a setup error (``unable to connect to host:port TLS
    handshake failed: reason``): https to a plain-HTTP port would otherwise run the whole
    load as connect errors. Nothing is sent but the handshake: no request reaches the target.
    """
    reason = "no address"
    for family, sockaddr in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(sockaddr)
            except TimeoutError:
                reason = "Connection timed out"
            except OSError as exc:
                reason = exc.strerror or str(exc)
            else:
                failure = probe_tls(sock, target.host) if target.tls else None
                if failure is None:
                    return family, sockaddr
                reason = f"TLS handshake failed: {failure}"
    raise ConnectError(f"unable to connect to {target.host}:{target.service} {reason}")


def probe_tls(sock: socket.socket, host: str) -> str | None:
    """Do a TLS handshake on a connected socket as the threads do, then close it; None, or why
    it failed, in one line (OpenSSL's ``[LIB: CODE] text`` without its ``(_ssl.c:NNN)``)."""
    try:
        with client_tls_context().wrap_socket(
            sock, server_hostname=host, do_handshake_on_connect=False
        ) as tls:
            tls.settimeout(CONNECT_TIMEOUT_S)
            tls.do_handshake()  # then closed: unwrap() could wait for the server's close_notify
    except TimeoutError:
        return "timed out"
    except ssl.SSLError as exc:
        return _ssl_text(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _ssl_text(exc: ssl.SSLError) -> str:
    """OpenSSL's ``[LIB: CODE] text`` without its ``(_ssl.c:NNN)``."""
    text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)


class _NoStreams:
    """The probe's StreamEvents: it opens no stream, so none can end."""

    def response(self, stream_id: int, status: int, body_size: int) -> None:
        raise AssertionError("the probe opens no stream")

    reset = goaway = response


def probe_http2(target: Target, family: int, sockaddr: tuple[Any, ...]) -> int:
    """Open one HTTP/2 connection as the threads will (h2c with prior knowledge, or TLS with
    ALPN ``h2``), read the server's SETTINGS, close it; return its SETTINGS_MAX_CONCURRENT_STREAMS
    (2**31 - 1 when it sets none). ConnectError in one line if the server does not speak HTTP/2.
    Nothing is sent but the preface and SETTINGS: no request reaches the target."""
    from pyload._http2 import ClientConnection, ProtocolError  # only a --http2 run needs it

    where = f"unable to connect to {target.host}:{target.service}"
    codec = ClientConnection(b"", _NoStreams())  # type: ignore[arg-type]
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(CONNECT_TIMEOUT_S)
        try:
            raw.connect(sockaddr)
            sock: socket.socket = raw
            if target.tls:
                context = client_tls_context(http2=True)
                sock = context.wrap_socket(raw, server_hostname=target.host)
                chosen = sock.selected_alpn_protocol()
                if chosen != "h2":
                    offered = f"it chose {chosen}" if chosen else "it chose no protocol"
                    raise ConnectError(
                        f"{where} the server does not offer HTTP/2 by ALPN ({offered})"
                    )
            sock.sendall(codec.data_to_send())
            while not codec.settings_received:
                data = sock.recv(65536)
                if not data:
                    raise ConnectError(f"{where} not an HTTP/2 server: it closed the connection")
                codec.feed(data)
        except ProtocolError as exc:
            raise ConnectError(f"{where} {exc}") from None
        except TimeoutError:
            raise ConnectError(
                f"{where} no HTTP/2 SETTINGS within {CONNECT_TIMEOUT_S:g} s"
            ) from None
        except ssl.SSLError as exc:
            if "no application protocol" in str(exc).lower():  # h2 is all pyload offers
                raise ConnectError(
                    f"{where} the server does not offer HTTP/2 by ALPN (it refused h2)"
                ) from None
            raise ConnectError(f"{where} TLS handshake failed: {_ssl_text(exc)}") from None
        except OSError as exc:
            raise ConnectError(f"{where} {exc.strerror or exc}") from None
    return codec.max_concurrent_streams
