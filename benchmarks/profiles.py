"""The matrix's parameters: the two profiles, the one rule that scales them, and how a command
line's overrides apply.

The rule. ``scale`` multiplies every simulated wait of the Django target (the gateway sleeps and
the upstream's delay). A profile at scale s is the published experiment (wrk -t20 -c2000 -d22s,
wrk's 2 s timeout) with its time axis multiplied by s and its offered load kept:

    threads = 20    connections = 2000 x s    cell = 22 s x s    timeout = 2 s x s
    warm-up = 3 s x s    server workers = 4 per stack, whatever the scale

A closed-loop client with C connections offers an endpoint that waits W at most C / W requests/s.
A gateway that waits W0 unscaled waits W0 x s, so it is offered (2000 x s) / (W0 x s) = 2000 / W0
requests/s at every scale, and timeout / wait = 2 / W0 and cell / wait = 22 / W0 do not depend on
s either: the 3 s gateway is later than the timeout, the 10 s one completes two rounds per cell,
and the 1 s one is offered 2,000 requests/s, as in the published run.

    scale       connections  cell    timeout  offered load (req/s) to gateway_1s / _3s / _10s
    1 (seed)    2000         22 s    2 s      2000 ÷ 1, 3, 10 s               = 2000 / 667 / 200
    0.5         1000         11 s    1 s      1000 ÷ 0.5, 1.5, 5 s            = 2000 / 667 / 200
    0.3 (quick)  600         6.6 s   0.6 s     600 ÷ 0.3, 0.9, 3 s            = 2000 / 667 / 200
    0.1          200         2.2 s   0.2 s     200 ÷ 0.1, 0.3, 1 s            = 2000 / 667 / 200

Connections are rounded to a whole number (where 2000 x s is not one, the offered load is off by
at most 0.5 ÷ wait requests/s), and the 20 threads are capped at the connections (wrk needs at
least one connection per thread). Scaling shortens the run, not the load: the gateways are asked
for the seed's requests per second, for s of its length. (The client endpoints' CPU cost does not
scale; at 0.3 and at 1 alike they are offered far more than two cores serve.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "PROFILES",
    "QUICK",
    "REFERENCE_CONNECTIONS",
    "REFERENCE_DURATION_S",
    "REFERENCE_THREADS",
    "REFERENCE_TIMEOUT_S",
    "REFERENCE_WARMUP_S",
    "SEED",
    "SERVER_WORKERS",
    "Profile",
    "resolve_profile",
    "scaled_connections",
]

#: The published experiment: wrk -t20 -c2000 -d22s, wrk's default timeout of 2 s.
REFERENCE_THREADS = 20
REFERENCE_CONNECTIONS = 2000
REFERENCE_DURATION_S = 22.0
REFERENCE_TIMEOUT_S = 2.0
#: Unrecorded load per stack before its cells, at scale 1.
REFERENCE_WARMUP_S = 3.0
#: The original's server worker count is unknown; 4 per stack gives gunicorn+gevent (1000
#: connections per worker) room for 2000 connections.
SERVER_WORKERS = 4


@dataclass(frozen=True)
class Profile:
    """One matrix configuration. ``threads`` are wrk's -t (pyload's worker groups),
    ``server_workers`` each stack's worker processes."""

    name: str
    connections: int
    threads: int
    server_workers: int
    scale: float
    duration_s: float
    timeout_s: float
    warmup_s: float

    def gateway_wait_s(self, unscaled_s: float) -> float:
        return unscaled_s * self.scale

    def offered_load_per_s(self, unscaled_s: float) -> float:
        """The most a closed loop can ask of an endpoint that waits ``unscaled_s`` x scale:
        connections ÷ wait."""
        return self.connections / self.gateway_wait_s(unscaled_s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scaled_connections(scale: float) -> int:
    """The published 2000 connections times ``scale``, rounded, at least 1."""
    return max(1, round(REFERENCE_CONNECTIONS * scale))


def _scaled(name: str, scale: float) -> Profile:
    """The published experiment at ``scale``: the rule in this module's docstring."""
    connections = scaled_connections(scale)
    return Profile(
        name=name,
        connections=connections,
        threads=min(REFERENCE_THREADS, connections),
        server_workers=SERVER_WORKERS,
        scale=scale,
        duration_s=round(REFERENCE_DURATION_S * scale, 3),
        timeout_s=round(REFERENCE_TIMEOUT_S * scale, 3),
        warmup_s=round(REFERENCE_WARMUP_S * scale, 3),
    )


#: The published experiment at full size (about 17 minutes on 2 cores).
SEED = _scaled("seed", 1.0)

#: The default, about 5 minutes on 2 cores: the time axis scaled to 0.3 (1 s gateway -> 300 ms,
#: 6.6 s cells, 0.6 s timeout) at the seed's offered load (600 connections, 20 threads).
QUICK = _scaled("quick", 0.3)

PROFILES: dict[str, Profile] = {p.name: p for p in (QUICK, SEED)}


def resolve_profile(
    name: str,
    *,
    connections: int | None = None,
    threads: int | None = None,
    server_workers: int | None = None,
    scale: float | None = None,
    duration_s: float | None = None,
    timeout_s: float | None = None,
    warmup_s: float | None = None,
) -> Profile:
    """The named profile with overrides. A new scale applies the module's rule again (the
    connections, threads, duration, timeout and warm-up follow it) except to what is given
    explicitly; connections given without threads cap the 20 threads at them. Raises
    KeyError / ValueError."""
    profile = PROFILES[name]
    if scale is not None:
        if scale <= 0:
            raise ValueError("need scale > 0")
        profile = replace(_scaled(profile.name, scale), server_workers=profile.server_workers)
    if connections is not None and threads is None:
        threads = min(REFERENCE_THREADS, connections)
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "connections": connections,
            "threads": threads,
            "server_workers": server_workers,
            "duration_s": duration_s,
            "timeout_s": timeout_s,
            "warmup_s": warmup_s,
        }.items()
        if v is not None
    }
    profile = replace(profile, **changes)
    if profile.connections < profile.threads or profile.threads < 1:
        raise ValueError(
            f"need workers >= 1 and connections >= workers "
            f"(got {profile.connections} connections, {profile.threads} workers)"
        )
    if profile.server_workers < 1 or profile.scale <= 0 or profile.duration_s <= 0:
        raise ValueError("need server workers >= 1, scale > 0 and duration > 0")
    if profile.timeout_s < 0 or profile.warmup_s < 0:
        raise ValueError("timeout and warm-up must be >= 0")
    return profile
