"""The cells of a matrix: which (server stack, endpoint) pairs run, in the reference order, and
which of them also run over HTTP/2 (``--http2``: the cells of the stacks that serve h2c)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.profiles import Profile
from benchmarks.stacks import serves_h2c
from django_target import SERVERS, Endpoint, endpoints_for

__all__ = ["Cell", "cell_label", "default_servers", "matches", "plan"]


@dataclass(frozen=True)
class Cell:
    """One measurement: a server stack and one of its endpoints; ``http2``: loaded over HTTP/1.1
    and over HTTP/2 (h2c), side by side."""

    server: str
    endpoint: Endpoint
    http2: bool = False

    @property
    def label(self) -> str:
        return cell_label(self.endpoint)

    def gateway_wait_s(self, profile: Profile) -> float | None:
        """How long the endpoint's gateway waits at the profile's scale (None: a client view)."""
        wait = self.endpoint.gateway_seconds
        return profile.gateway_wait_s(wait) if wait is not None else None

    def drain_s(self, profile: Profile) -> float:
        """How long this cell's last requests may still be running in the stack after it."""
        return self.gateway_wait_s(profile) or 0.0


def cell_label(endpoint: Endpoint) -> str:
    """``sync/gateway_1s``: the endpoint as the reference experiment names it."""
    return f"{endpoint.kind}/{endpoint.scenario}"


def matches(endpoint: Endpoint, filters: Sequence[str]) -> bool:
    """An endpoint matches a filter equal to its scenario, kind or kind/scenario, or a filter
    starting with "/" that begins its path. No filters match everything."""
    if not filters:
        return True
    for f in filters:
        if f in (endpoint.scenario, endpoint.kind, cell_label(endpoint)):
            return True
        if f.startswith("/") and endpoint.path.startswith(f):
            return True
    return False


def default_servers(http2: bool = False) -> list[str]:
    """The stacks run when ``--servers`` is not given: all four, or with ``--http2`` those that
    serve h2c (the others are listed as not serving HTTP/2, benchmarks.stacks)."""
    return [s for s in SERVERS if not http2 or serves_h2c(s)]


def plan(
    servers: Sequence[str] = SERVERS, filters: Sequence[str] = (), http2: bool = False
) -> list[Cell]:
    """The cells in the reference order (stack by stack, endpoints as the catalogue lists).
    ``http2``: the cells of a stack that serves h2c run over HTTP/2 too; a stack that does not
    is run over HTTP/1.1 only."""
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}: choose from {', '.join(SERVERS)}")
    return [
        Cell(s, e, http2=http2 and serves_h2c(s))
        for s in servers
        for e in endpoints_for(s)
        if matches(e, filters)
    ]
