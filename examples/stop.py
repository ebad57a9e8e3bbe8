"""Each thread stops after N responses (wrk's scripts/stop.lua): ``current_thread().stop()``.

    pyload -t2 -s examples/stop.py http://127.0.0.1:8080/ 500

N is the first argument after the URL (default 100). A stopped thread ends its own load at
once (its requests in flight are dropped, not counted); the others go on, and the run ends
when every thread has stopped or the duration is over. For one exact total over all threads,
use ``-n N`` instead: no script needed.
"""

from pyload.hooks import current_thread

limit = 100
responses = 0


def init(args: list[str]) -> None:
    global limit
    if args:
        limit = int(args[0])


def response(status: int, headers: dict[str, str], body: bytes) -> None:
    global responses
    responses += 1
    if responses == limit:
        current_thread().stop()
