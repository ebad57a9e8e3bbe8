"""The catalogue of what can be served: server stack names, their interface, and the endpoints.

Pure data, no Django import, so a benchmark can iterate it cheaply:

    for server in SERVERS:
        for endpoint in endpoints_for(server):
            ...  # endpoint.path, endpoint.kind ("sync"/"async"), endpoint.scenario
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from django_target.errors import ConfigError

__all__ = [
    "ENDPOINTS",
    "GATEWAY_SECONDS",
    "INTERFACES",
    "SERVERS",
    "Endpoint",
    "endpoints_for",
    "endpoints_for_interface",
    "interface_of",
]

Kind = Literal["sync", "async"]
Interface = Literal["wsgi", "asgi"]

#: Server stack name -> the interface Django is served through.
INTERFACES: dict[str, Interface] = {
    "gunicorn-gevent": "wsgi",
    "gunicorn-uvicorn": "asgi",
    "hypercorn-asyncio": "asgi",
    "hypercorn-uvloop": "asgi",
}

#: The four server stacks, in the order of the reference experiment.
SERVERS: tuple[str, ...] = tuple(INTERFACES)

#: Gateway scenario -> how long the simulated gateway blocks, in unscaled seconds.
GATEWAY_SECONDS: dict[str, float] = {"gateway_1s": 1.0, "gateway_3s": 3.0, "gateway_10s": 10.0}


class Endpoint(NamedTuple):
    """One benchmark endpoint: its URL path, its view kind and its scenario name."""

    path: str
    kind: Kind
    scenario: str

    @property
    def is_gateway(self) -> bool:
        """True for the simulated slow gateway views, False for the upstream client views."""
        return self.scenario in GATEWAY_SECONDS

    @property
    def gateway_seconds(self) -> float | None:
        """The unscaled wait of a gateway endpoint; None for a client endpoint."""
        return GATEWAY_SECONDS.get(self.scenario)


def _endpoint(kind: Kind, scenario: str) -> Endpoint:
    return Endpoint(f"/myapp/{kind}/{scenario}", kind, scenario)


#: Every endpoint, sync before async within a scenario (the order of the reference report).
ENDPOINTS: tuple[Endpoint, ...] = (
    _endpoint("sync", "gateway_1s"),
    _endpoint("async", "gateway_1s"),
    _endpoint("sync", "gateway_3s"),
    _endpoint("async", "gateway_3s"),
    _endpoint("sync", "gateway_10s"),
    _endpoint("async", "gateway_10s"),
    _endpoint("sync", "requests"),
    _endpoint("async", "requests"),
    _endpoint("sync", "httpx"),
    _endpoint("async", "httpx"),
    _endpoint("async", "aiohttp"),
)


def interface_of(server: str) -> Interface:
    """The interface ("wsgi" or "asgi") a server stack serves Django through.

    Raises ConfigError for an unknown server name.
    """
    try:
        return INTERFACES[server]
    except KeyError:
        raise ConfigError(
            f"unknown server {server!r}: choose one of {', '.join(SERVERS)}"
        ) from None


def endpoints_for_interface(interface: str) -> tuple[Endpoint, ...]:
    """The endpoints served through an interface: WSGI serves the sync ones only, ASGI all."""
    if interface == "wsgi":
        return tuple(e for e in ENDPOINTS if e.kind == "sync")
    return ENDPOINTS


def endpoints_for(server: str) -> tuple[Endpoint, ...]:
    """The endpoints a server stack serves (see endpoints_for_interface); ConfigError if unknown."""
    return endpoints_for_interface(interface_of(server))
