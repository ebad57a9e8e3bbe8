"""Foreign errors (Dask's exceptions, the agents' reports) mapped to pyload's error tree, in one
function."""

from __future__ import annotations

from typing import Literal

from pyload import errors
from pyload._dask._messages import AgentError
from pyload._net import CONNECT_TIMEOUT_S
from pyload.errors import ConnectError, PyloadError, UsageError, WorkerError

__all__ = ["NO_DASK", "Stage", "one_line", "pyload_error"]

NO_DASK = "--dask needs the 'distributed' package (Dask): pip install 'pyload-wrk[dask]'"

Stage = Literal["connect", "workers", "task", "agent"]
"""What pyload was doing: reaching the scheduler, waiting for its first worker, waiting for an
agent's Dask task, running an agent."""


def pyload_error(
    failure: BaseException | AgentError, stage: Stage, where: str | None
) -> PyloadError:
    """The pyload error (``pyload.errors``) for a failure from outside pyload.

        stage     failure                   becomes
        task      any exception             WorkerError: failed in its Dask task: TYPE: line
        any other a PyloadError             itself
        connect   ImportError               UsageError: --dask needs the 'distributed' package
        connect   OSError, TimeoutError     ConnectError: unable to reach the Dask scheduler at
                                            ``where``: (Dask's first line)
        connect   ValueError                UsageError: --dask ``where``: (a malformed address)
        workers   TimeoutError              WorkerError: the Dask scheduler at ``where`` has no
                                            worker
        agent     AgentError (its report)   its class (ConnectError, ...) where pyload has one,
                                            else WorkerError; ``where`` names the agent in the
                                            message (None: the message alone)

    Anything else (a bug, not a failure pyload names) is raised as it is.
    """
    match stage, failure:
        case "task", Exception():  # whatever it is (a PyloadError too): the task broke
            return WorkerError(
                f"failed in its Dask task: {type(failure).__name__}: {one_line(failure)}"
            )
        case _, PyloadError():
            return failure
        case "connect", ImportError():
            return UsageError(NO_DASK)
        case "connect", OSError():  # TimeoutError is one
            return ConnectError(
                f"unable to reach the Dask scheduler at {where}: {one_line(failure)}"
            )
        case "connect", ValueError():
            return UsageError(f"--dask {where}: {one_line(failure)}")
        case "workers", TimeoutError():
            return WorkerError(
                f"the Dask scheduler at {where} has no worker (waited {CONNECT_TIMEOUT_S:.0f}s)"
            )
        case "agent", AgentError(type=name, message=message):
            kind = getattr(errors, str(name), None)
            if not (isinstance(kind, type) and issubclass(kind, PyloadError)):
                kind = WorkerError
            return kind(message if where is None else f"agent {where}: {message}")
    if isinstance(failure, BaseException):
        raise failure
    raise TypeError(f"no pyload error for {failure!r} while {stage}")


def one_line(exc: BaseException) -> str:
    """An exception's first line (its class name if it has no text)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
