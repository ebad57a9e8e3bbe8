"""Pipelining: several requests in one write, sent before any answer (wrk's
scripts/pipeline.lua).

    pyload -s examples/pipeline.py http://127.0.0.1:8080/ / /about /health

``request()`` may return several requests back to back: pyload counts them in the first batch
(as wrk does), writes the whole batch at once, and counts every response. The paths are the
arguments after the URL (default: the URL's path three times).
"""

import pyload

batch = b""


def init(args: list[str]) -> None:
    global batch
    paths: list[str | None] = list(args) or [None, None, None]  # None: the URL's path
    batch = b"".join(pyload.format(path=path) for path in paths)


def request() -> bytes:
    return batch
