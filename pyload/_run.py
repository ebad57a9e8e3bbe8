"""One run's life, and the one place where a run's way is chosen: local processes or Dask agents.

    Run(config, command)        the -s script loaded first (a missing file: before anything);
                                the command line (the CLI's argv) for the result's ``meta``
    Run.execute(...)            make_plan(config) -> the executor, chosen here:
                                  config.dask is None -> _local.run_local(plan)
                                  else                -> _dask.run_dask(plan) (each agent runs
                                                         _local.run_local on its share)
    Run.done(result)            the script's done(), after the caller's report

The API (``pyload.run``) and the CLI (``_cli``) drive a run through this object alone, so the
script's life cycle (load, setup per thread, finish, done) is driven in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pyload._counters import RunProgress
from pyload._local import run_local
from pyload._plan import make_plan
from pyload.config import Config

if TYPE_CHECKING:
    from pyload._script import MainScript
    from pyload.result import RunResult

__all__ = ["Run"]


class Run:
    """A run of ``config``: ``execute()`` once, then ``done(result)`` after the report."""

    def __init__(self, config: Config, command: Sequence[str] | None = None) -> None:
        self.config = config
        self.command = None if command is None else tuple(command)  # the CLI's argv: meta
        # -s: read, compiled and run once here (ScriptError, HookError) before anything else.
        self.script: MainScript | None = None
        if config.script is not None:
            # The hooks machinery only for a run with a script: a run's start imports only
            # what the load needs (docs/architecture.md, "What a run imports").
            from pyload._script import MainScript

            self.script = MainScript(config)

    def execute(
        self,
        on_start: Callable[[], None] | None = None,
        on_progress: Callable[[RunProgress], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> RunResult:
        """The load, and its result; setup errors raise (``pyload.errors``).

        ``on_start``: once setup has succeeded, just before the load; ``on_progress``: about
        once a second with the counters so far; ``on_notice``: a line about a setting the
        server made the run change (``--streams`` capped at its limit). The result's
        ``meta`` has the command line this run was made with (None: the library's).
        """
        plan = make_plan(self.config)
        if self.config.dask is not None:  # -- a distributed run (_dask) --
            from pyload._dask import run_dask  # Dask: an optional dependency, loaded on use

            result = run_dask(plan, on_start, on_progress, self.script)
        else:
            result = run_local(plan, on_start, on_progress, self.script, on_notice)
        if result.meta is None or self.command is None:
            return result
        return dataclasses.replace(result, meta=result.meta.with_command(self.command))

    def done(self, result: RunResult) -> None:
        """The script's ``done(summary, latency, requests)``, if it has one (HookError)."""
        if self.script is not None:
            self.script.done(result)
