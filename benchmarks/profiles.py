"""The matrix's parameters: the two profiles and how a command line's overrides apply to them.

Every simulated wait of the Django target is multiplied by ``scale`` (the gateway sleeps and the
upstream delay). The quick profile scales the published experiment's whole time axis with it,
so its shape survives: a cell lasts 22 s x scale and the timeout is 2 s x scale, hence "the 3 s
gateway is later than the 2 s timeout" holds at any scale. Concurrency is reduced separately.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "PROFILES",
    "QUICK",
    "REFERENCE_DURATION_S",
    "REFERENCE_TIMEOUT_S",
    "SEED",
    "Profile",
    "resolve_profile",
]

#: The published experiment: wrk -t20 -c2000 -d22s, wrk's default timeout of 2 s.
REFERENCE_DURATION_S = 22.0
REFERENCE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Profile:
    """One matrix configuration. ``threads`` are pyload's worker processes (wrk's -t),
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scaled(
    name: str, connections: int, threads: int, server_workers: int, scale: float, warmup_s: float
) -> Profile:
    return Profile(
        name=name,
        connections=connections,
        threads=threads,
        server_workers=server_workers,
        scale=scale,
        duration_s=round(REFERENCE_DURATION_S * scale, 3),
        timeout_s=round(REFERENCE_TIMEOUT_S * scale, 3),
        warmup_s=warmup_s,
    )


#: The published experiment at full size. The server worker count of the original is unknown;
#: 4 per stack gives gunicorn+gevent (1000 connections per worker) room for 2000 connections.
SEED = _scaled("seed", connections=2000, threads=20, server_workers=4, scale=1.0, warmup_s=3.0)

#: About 5 minutes on 2 cores: the time axis scaled to 0.3 (1 s gateway -> 300 ms, 6.6 s cells,
#: 0.6 s timeout), 100 connections, 2 pyload workers, 2 server workers per stack.
QUICK = _scaled("quick", connections=100, threads=2, server_workers=2, scale=0.3, warmup_s=1.0)

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
    """The named profile with overrides. A new scale rescales the duration and timeout too,
    unless they are given explicitly. Raises KeyError / ValueError."""
    profile = PROFILES[name]
    if scale is not None:
        rescaled = _scaled(
            profile.name,
            profile.connections,
            profile.threads,
            profile.server_workers,
            scale,
            profile.warmup_s,
        )
        profile = replace(
            profile, scale=scale, duration_s=rescaled.duration_s, timeout_s=rescaled.timeout_s
        )
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
        raise ValueError("need threads >= 1 and connections >= threads")
    if profile.server_workers < 1 or profile.scale <= 0 or profile.duration_s <= 0:
        raise ValueError("need server workers >= 1, scale > 0 and duration > 0")
    if profile.timeout_s < 0 or profile.warmup_s < 0:
        raise ValueError("timeout and warm-up must be >= 0")
    return profile
