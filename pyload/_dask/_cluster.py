"""The cluster connection: a scheduler reached within bounds, or a local:N cluster started; the
workers' clock offsets."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from pyload._dask._errors import pyload_error
from pyload._net import CONNECT_TIMEOUT_S
from pyload.errors import ConnectError, UsageError

__all__ = ["CLOCK_ROUNDS", "clock_offsets", "cluster", "parse_address"]

CLOCK_ROUNDS = 5  # time.time() round trips per agent; the one with the shortest wait counts


def parse_address(address: str) -> int | None:
    """The N of ``local:N`` (a local cluster of N workers), or None for a scheduler address.

    Raises UsageError for a ``local:`` without a whole number >= 1.
    """
    if not address.startswith("local:") and address != "local":
        return None
    count = address.partition(":")[2]
    if not count.isdigit() or int(count) < 1:
        raise UsageError(f"--dask {address}: local:N needs a number of workers N >= 1")
    return int(count)


@contextlib.contextmanager
def cluster(address: str) -> Iterator[Any]:
    """A Dask client of the scheduler at ``address``, or of a new local cluster (``local:N``),
    closed (and the local cluster stopped) on the way out.

    Raises UsageError without Dask, ConnectError when the scheduler cannot be reached within
    CONNECT_TIMEOUT_S, WorkerError when it has no worker within that time.
    """
    workers = parse_address(address)
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise pyload_error(exc, "connect", address) from None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask_logs())
        if workers is not None:
            # Ctrl-C in a terminal reaches the whole process group: the local cluster's
            # processes start with SIGINT ignored (inherited), so only this process sees it
            # and stops the agents. The price: a Ctrl-C during these seconds of start-up is
            # ignored (SIG_IGN is the one disposition that survives the spawn).
            with _sigint_ignored():
                local = stack.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # no fixed port (8787 may be taken)
                        silence_logs=logging.ERROR,
                    )
                )
            client = stack.enter_context(Client(local, set_as_default=False))
        else:
            _probe_scheduler(address)
            client = stack.enter_context(_connect(Client, address))
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError as exc:
                raise pyload_error(exc, "workers", address) from None
        yield client


def _connect(client_class: Any, address: str) -> Any:
    """A Dask client of the scheduler at ``address``, within CONNECT_TIMEOUT_S (twice, for the
    connection and the handshake).

    Dask's client bounds the connection but not the handshake that follows: a peer that accepts
    and never answers would hang it for ever. So it is made in a thread of its own and waited
    for; on a timeout that thread is left behind (a daemon, it holds one socket).
    """
    made: list[Any] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            made.append(client_class(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False))
        except BaseException as exc:  # reported in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=make, name="pyload-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * CONNECT_TIMEOUT_S)
    if made:
        return made[0]
    if not failed:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: no Dask handshake within"
            f" {2 * CONNECT_TIMEOUT_S:.0f}s"
        )
    raise pyload_error(failed[0], "connect", address)


def _probe_scheduler(address: str) -> None:
    """A TCP connect to a ``tcp://`` or ``tls://`` scheduler first: a refused connection is
    one clear line at once (Dask's client retries until its timeout). A ``tcp://`` scheduler
    greets first (its side of Dask's handshake): a peer that sends nothing is no scheduler.

    pyload's own probe, as ``_net.probe_connect``: its socket errors are named here."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise UsageError(f"--dask {address}: expected a scheduler address such as tcp://host:8786")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as sock:
            if scheme == "tcp" and not sock.recv(1):
                raise ConnectError(
                    f"unable to reach the Dask scheduler at {address}: it closed the connection"
                )
    except socket.gaierror as exc:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: {exc.strerror}"
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: no Dask answer within"
            f" {CONNECT_TIMEOUT_S:.0f}s (is it a Dask scheduler?)"
        ) from None
    except OSError as exc:
        raise ConnectError(
            f"unable to reach the Dask scheduler at {address}: {exc.strerror or exc}"
        ) from None


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Dask's own log lines (a worker lost, a connection closed) would interleave with the
    report: the run reports those itself, so only Dask's errors are shown during it."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def clock_offsets(
    client: Any, addresses: list[str], rounds: int = CLOCK_ROUNDS
) -> dict[str, tuple[float, float]]:
    """Each worker's wall clock minus this one's, and the uncertainty (half the round trip),
    both in seconds: of ``rounds`` round trips, the shortest (NTP's idea)."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        sent = time.time()
        remote = client.run(time.time, workers=addresses)
        back = time.time()
        half = (back - sent) / 2
        for address, then in remote.items():
            if address not in best or half < best[address][1]:
                best[address] = (then - (sent + back) / 2, half)
    return best
