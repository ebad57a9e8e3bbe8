"""The gunicorn worker class of the gunicorn-uvicorn stack: uvicorn's worker, with gunicorn's
graceful timeout applied to uvicorn itself.

uvicorn's gunicorn worker (the ``uvicorn-worker`` package, or uvicorn's deprecated
``uvicorn.workers``) maps keep-alive, backlog and the like from gunicorn's settings, but not
``--graceful-timeout``: uvicorn's own ``timeout_graceful_shutdown`` stays None, so a worker waits
for its requests without limit, and only the master's SIGKILL at the graceful timeout ends it,
before the application's lifespan shutdown has run. This worker gives uvicorn the graceful
timeout minus ``EXIT_ALLOWANCE_S``: in-flight requests get that long, are then cancelled, the
lifespan shutdown closes the upstream clients, and the worker exits before the master's SIGKILL.

Imported by gunicorn in the server processes only (``--worker-class
django_target.workers.UvicornWorker``), never by the launcher.
"""

from __future__ import annotations

from typing import Any

try:
    from uvicorn_worker import UvicornWorker as _UvicornWorker
except ImportError:  # pragma: no cover - uvicorn-worker missing: uvicorn's own (deprecated)
    from uvicorn.workers import UvicornWorker as _UvicornWorker

__all__ = ["EXIT_ALLOWANCE_S", "UvicornWorker"]

#: Seconds of gunicorn's graceful timeout a uvicorn worker keeps for cancelling what is still in
#: flight, its lifespan shutdown and its exit, before the master's SIGKILL.
EXIT_ALLOWANCE_S = 0.5


class UvicornWorker(_UvicornWorker):
    """uvicorn's worker, bounded by gunicorn's ``--graceful-timeout`` on its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        graceful = float(self.cfg.graceful_timeout)
        self.config.timeout_graceful_shutdown = max(0.0, graceful - EXIT_ALLOWANCE_S)
