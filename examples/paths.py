"""Several paths in turn, each request to the next (round-robin).

    pyload -s examples/paths.py http://127.0.0.1:8080/ /api/users /api/items /health

The paths are the arguments after the URL (wrk passes them to ``init`` too); without any, the
URL's own path. Every request is built once, in ``init``; ``request()`` only hands out the
next one, which keeps the per-request cost of the hook to a function call.
"""

import itertools
from collections.abc import Iterator

import pyload

requests: Iterator[bytes] = iter(())


def init(args: list[str]) -> None:
    global requests
    built = [pyload.format(path=path) for path in args] or [pyload.format()]
    requests = itertools.cycle(built)


def request() -> bytes:
    return next(requests)
