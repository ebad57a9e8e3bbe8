"""What crosses between the client, the Dask task and the agent process, as typed events.

    client -> agent     AgentSpec       its stdin's first line: its Config, share and start time
    agent -> task       AgentStarted    its stdout's JSON lines: it started at the agreed time
                        AgentProgress   every second: its counters so far
                        AgentResult     at the end: its result document (docs/json.md)
                        AgentError      it raised: a pyload error's class name and message
    task -> client      AgentStarted, AgentProgress     relayed (Dask's event topic), each
                                                        with the agent's index (``agent``)
                        Finished | Failed | Lost        the task's outcome (its return value)

Each agent message has ``to_json()`` (a mapping with its ``kind``: a JSON line, an event) and
``agent_message()`` reads any of them back (other keys ignored); the outcomes travel as
objects (Dask pickles a task's return value). The client (``_client._Collector._dispatch``) and
the task (``_relay._agent_process``) each dispatch on the type in one place. No I/O here.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pyload._counters import Counters
from pyload.config import Config

__all__ = [
    "AgentError",
    "AgentMessage",
    "AgentProgress",
    "AgentResult",
    "AgentSpec",
    "AgentStarted",
    "Failed",
    "Finished",
    "Lost",
    "Outcome",
    "agent_message",
]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What an agent runs: its own Config (its share of the run's), its first connection slot
    and the whole run's pacing grid (``rate`` over ``slots``), the agreed start and the latest
    one in its own clock, the body file's bytes (the client's file: its machine has none)."""

    index: int
    config: Config
    first_slot: int
    rate: float | None  # the whole run's: ConstantRate(rate, slots); None: the closed loop
    slots: int
    start_at: float
    latest_start: float  # after this the run is over: an agent ready later does not start
    body_file: bytes | None

    def to_json(self) -> dict[str, Any]:
        body = None if self.body_file is None else base64.b64encode(self.body_file).decode()
        return {
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
            "config": self.config.to_json(),
            "body_file": body,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentSpec:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        body = values["body_file"]
        values["config"] = Config.from_json(values["config"])
        values["body_file"] = None if body is None else base64.b64decode(body)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AgentStarted:
    """The agent's workers were ready and it started its load (at the agreed time, or late)."""

    KIND: ClassVar[str] = "started"
    host: str
    pid: int
    ready_margin_ms: float  # how long before the agreed start its workers were ready
    start_late_ms: float  # how late it started (0: ready in time)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentStarted:
        return cls(str(data["host"]), int(data["pid"]), float(data["ready_margin_ms"]),
                   float(data["start_late_ms"]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgentProgress:
    """The agent's second (its local run's ``RunProgress``): its counters so far."""

    KIND: ClassVar[str] = "progress"
    elapsed_s: float
    counters: Counters
    workers: int
    last_second_requests: int
    p99_us: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            **dataclasses.asdict(self),
            "counters": self.counters.counters_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentProgress:
        p99 = data["p99_us"]
        return cls(
            elapsed_s=float(data["elapsed_s"]),
            counters=Counters(**Counters.counters_from_json(data["counters"])),
            workers=int(data["workers"]),
            last_second_requests=int(data["last_second_requests"]),
            p99_us=None if p99 is None else int(p99),
        )


@dataclass(frozen=True, slots=True)
class AgentResult:
    """The agent's result as its JSON document, its seconds included (read by the client: the
    task needs no numpy)."""

    KIND: ClassVar[str] = "result"
    result: Mapping[str, Any]  # RunResult.to_dict()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "result": self.result}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentResult:
        return cls(data["result"])


@dataclass(frozen=True, slots=True)
class AgentError:
    """The agent raised: the pyload error's class name (``ConnectError``; None: no class, a
    refusal of the task's own) and its message (``_errors.pyload_error`` raises it again)."""

    KIND: ClassVar[str] = "error"
    type: str | None
    message: str

    @property
    def line(self) -> str:
        """``ConnectError: unable to connect to ...``"""
        return self.message if self.type is None else f"{self.type}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentError:
        kind = data["type"]
        return cls(None if kind is None else str(kind), str(data["message"]))


AgentMessage = AgentStarted | AgentProgress | AgentResult | AgentError
_KINDS: dict[str, type[AgentMessage]] = {
    cls.KIND: cls for cls in (AgentStarted, AgentProgress, AgentResult, AgentError)
}


def agent_message(data: Mapping[str, Any]) -> AgentMessage:
    """The message a ``to_json()`` mapping describes (KeyError: not one)."""
    return _KINDS[str(data["kind"])].from_json(data)


# -- the task's outcome: its return value ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    """The agent sent its result."""

    result: AgentResult
    started: AgentStarted | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The agent raised (before its start, or during its run), or its task refused to start it."""

    error: AgentError
    started: AgentStarted | None


@dataclass(frozen=True, slots=True)
class Lost:
    """The agent ended without a result (``died before sending its result (...)``); the
    client makes one too, for an agent whose Dask worker or task was lost."""

    reason: str
    started: AgentStarted | None = None


Outcome = Finished | Failed | Lost
