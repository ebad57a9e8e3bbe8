"""The exception tree of pyload: every error the library raises on purpose.

    PyloadError                 base class; ``str(exc)`` is the one-line message the CLI prints
    ├── UsageError              bad arguments: numbers, URL, connections < threads, flags
    ├── ScriptError             a script that is missing or that pyload cannot use
    │   └── HookError           a hook of the script raised (``.traceback``: the whole of it)
    ├── ResolveError            ``unable to resolve <host>:<service> <reason>`` (as wrk)
    ├── ConnectError            ``unable to connect to <host>:<service> <reason>`` (as wrk)
    ├── ResourceError           too few file descriptors, or processes that cannot be started
    └── WorkerError             a worker process failed before it could start the load

Failures *during* a run (resets, timeouts, bad responses, a worker that dies mid-run) are not
exceptions: they are counters and notes in the result, as wrk counts them (src/wrk.c,
``thread->errors``).
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "HookError",
    "PyloadError",
    "ResolveError",
    "ResourceError",
    "ScriptError",
    "UsageError",
    "WorkerError",
]


class PyloadError(Exception):
    """Base of every error pyload raises on purpose; the message is one line."""


class UsageError(PyloadError):
    """The arguments cannot describe a run (wrk's usage errors, exit status 1)."""


class ScriptError(PyloadError):
    """The ``-s`` script is missing or cannot be used."""


class HookError(ScriptError):
    """A hook of the ``-s`` script raised: the message names the file, the line and the hook;
    ``traceback`` holds the whole traceback (printed with ``--debug``)."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback

    def __reduce__(self) -> tuple[type[HookError], tuple[str, str]]:
        return type(self), (str(self), self.traceback)  # the traceback survives pickling


class ResolveError(PyloadError):
    """The target host name does not resolve."""


class ConnectError(PyloadError):
    """No resolved address of the target accepts a connection before the run."""


class ResourceError(PyloadError):
    """The machine cannot give the run what it needs (file descriptors, processes)."""


class WorkerError(PyloadError):
    """A worker process failed before the load started."""
