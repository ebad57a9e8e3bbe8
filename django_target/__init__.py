"""django_target: the Django service pyload's benchmarks load, its upstream, and the launcher
that runs it under four server stacks (gunicorn+gevent, gunicorn+uvicorn, hypercorn asyncio and
uvloop). Importing this package does not import Django.

    from django_target import serve, SERVERS, endpoints_for
    with serve("hypercorn-uvloop", port=0, workers=1, scale=0.01) as base_url:
        for endpoint in endpoints_for("hypercorn-uvloop"):
            ...  # GET base_url + endpoint.path
"""

from __future__ import annotations

from django_target.catalog import (
    ENDPOINTS,
    GATEWAY_SECONDS,
    SERVERS,
    Endpoint,
    endpoints_for,
    interface_of,
)
from django_target.config import ServerConfig
from django_target.errors import (
    ConfigError,
    PortInUseError,
    StartupError,
    StopError,
    TargetError,
    UpstreamError,
)
from django_target.launcher import Stack, serve, serve_upstream, start

__all__ = [
    "ENDPOINTS",
    "GATEWAY_SECONDS",
    "SERVERS",
    "ConfigError",
    "Endpoint",
    "PortInUseError",
    "ServerConfig",
    "Stack",
    "StartupError",
    "StopError",
    "TargetError",
    "UpstreamError",
    "endpoints_for",
    "interface_of",
    "serve",
    "serve_upstream",
    "start",
]
