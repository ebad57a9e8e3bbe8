"""The exception tree of django_target: every error the launcher raises is a TargetError.

    TargetError                  base class; the CLI prints its message on one line, exit 1
    ├── ConfigError              a bad setting: unknown server name, bad number, non-loopback URL
    ├── PortInUseError           the requested port on 127.0.0.1 is already taken
    ├── UpstreamError            the upstream service is down or does not answer in time
    ├── StartupError             a server process exited, or did not answer before the deadline
    └── StopError                a process survived SIGKILL when stopping (should never happen)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "PortInUseError",
    "StartupError",
    "StopError",
    "TargetError",
    "UpstreamError",
]


class TargetError(Exception):
    """Base class of every error raised by django_target's launcher."""


class ConfigError(TargetError):
    """A setting is invalid (unknown server, out-of-range number, non-loopback address)."""


class PortInUseError(TargetError):
    """The port asked for is already bound on 127.0.0.1."""


class UpstreamError(TargetError):
    """The upstream service is down, answers with an error, or does not start in time."""


class StartupError(TargetError):
    """A server process exited early or did not answer HTTP before the startup deadline."""


class StopError(TargetError):
    """Some processes of a stack were still alive after SIGTERM, SIGKILL and the stop deadline."""
