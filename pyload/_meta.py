"""The facts of a run that are not its config: the command line, when the measurement began, the
version, the host and the Python that ran it (``RunResult.meta``, the JSON's ``meta``). Plain
data; ``RunMeta.here`` asks this process for its host and Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyload._version import __version__

__all__ = ["RunMeta", "iso_utc"]


def iso_utc(timestamp: float) -> str:
    """``2026-12-05T19:30:01.123Z``: a wall-clock time in UTC, to the millisecond."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class RunMeta:
    """Who ran the result, where and when. ``command`` is the command line as typed (``pyload``
    and its arguments; None from the library); ``started_at`` when the measurement began
    (after ``--warmup``), UTC ISO 8601. A merged result (``pyload merge``, ``--dask``) has
    its earliest part's start, and the merging process's version, host and Python."""

    command: tuple[str, ...] | None
    started_at: str
    version: str
    host: str
    python: str

    @classmethod
    def here(cls, started_at: float | str, command: Sequence[str] | None = None) -> RunMeta:
        """This process's facts; ``started_at`` a ``time.time()`` or an ``iso_utc`` text."""
        when = started_at if isinstance(started_at, str) else iso_utc(started_at)
        return cls(
            command=None if command is None else tuple(command),
            started_at=when,
            version=__version__,
            host=socket.gethostname(),
            python=platform.python_version(),
        )

    def with_command(self, command: Sequence[str] | None) -> RunMeta:
        return dataclasses.replace(self, command=None if command is None else tuple(command))

    def to_json(self) -> dict[str, Any]:
        return {
            "command": None if self.command is None else list(self.command),
            "started_at": self.started_at,
            "version": self.version,
            "host": self.host,
            "python": self.python,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RunMeta | None:
        if data is None:
            return None
        command = data.get("command")
        return cls(
            command=None if command is None else tuple(str(arg) for arg in command),
            started_at=str(data["started_at"]),
            version=str(data["version"]),
            host=str(data["host"]),
            python=str(data["python"]),
        )
