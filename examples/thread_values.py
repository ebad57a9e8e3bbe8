"""Values to and from each thread (wrk's scripts/setup.lua): ``thread.set`` in ``setup``
gives a thread's globals their first values; ``thread.get`` in ``done`` reads them back as the
thread's load left them.

    pyload -t4 -s examples/thread_values.py http://127.0.0.1:8080/

Prints one line per thread after the report: how many requests it sent and responses it got.
"""

from typing import Any

import pyload
from pyload.hooks import Stats, Thread

threads: list[Thread] = []  # the parent's: one Thread per thread, in order
name = "?"  # set per thread by setup()
sent = 0
answered = 0


def setup(thread: Thread) -> None:
    thread.set("name", f"thread-{thread.index + 1}")
    threads.append(thread)


def request() -> bytes:
    global sent
    sent += 1
    return pyload.format()


def response(status: int, headers: dict[str, str], body: bytes) -> None:
    global answered
    answered += 1


def done(summary: dict[str, Any], latency: Stats, requests: Stats) -> None:
    for thread in threads:
        print(
            f"{thread.get('name')} sent {thread.get('sent')} requests"
            f" and got {thread.get('answered')} responses"
        )
