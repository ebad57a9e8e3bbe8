"""One run's life, and the one place where a run's way is chosen: local processes or Dask agents.

    Run(config)                 the -s script loaded first (a missing file: before anything)
    Run.execute(...)            make_plan(config) -> the executor, chosen here:
                                  config.dask is None -> _local.run_local(plan)
                                  else                -> _dask.run_dask(plan) (each agent runs
                                                         _local.run_local on its share)
    Run.done(result)            the script's done(), after the caller's report

The API (``pyload.run``) and the CLI (``_cli``) drive a run through this object alone, so the
script's life cycle (load, setup per thread, finish, done) is driven in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyload._counters import RunProgress
from pyload._local import run_local
from pyload._plan import make_plan
from pyload._script import MainScript
from pyload.config import Config

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["Run"]


class Run:
    """A run of ``config``: ``execute()`` once, then ``done(result)`` after the report."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # -s: read, compiled and run once here (ScriptError, HookError) before anything else.
        self.script = MainScript(config) if config.script is not None else None

    def execute(
        self,
        on_start: Callable[[], None] | None = None,
        on_progress: Callable[[RunProgress], None] | None = None,
        keep_latency_intervals: bool = False,
    ) -> RunResult:
        """The load, and its result; setup errors raise (``pyload.errors``).

        ``on_start``: once setup has succeeded, just before the load; ``on_progress``: about
        once a second with the counters so far; ``keep_latency_intervals``: each second's
        latencies kept in ``result.intervals`` (for ``--hdr-log``).
        """
        plan = make_plan(self.config)
        if self.config.dask is not None:  # -- a distributed run (_dask) --
            from pyload._dask import run_dask  # Dask: an optional dependency, loaded on use

            return run_dask(plan, on_start, on_progress, keep_latency_intervals, self.script)
        return run_local(plan, on_start, on_progress, self.script, keep_latency_intervals)

    def done(self, result: RunResult) -> None:
        """The script's ``done(summary, latency, requests)``, if it has one (HookError)."""
        if self.script is not None:
            self.script.done(result)
