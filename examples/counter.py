"""A new path for every request: /0, /1, /2... (wrk's scripts/counter.lua).

    pyload -s examples/counter.py http://127.0.0.1:8080/

Each thread runs this file in a namespace of its own, so each counts from 0 (as each wrk
thread has its own Lua state). ``pyload.format()`` builds the request's bytes; what it is not
given (method, headers, body) comes from the command line.
"""

import pyload

counter = 0


def request() -> bytes:
    global counter
    path = f"/{counter}"
    counter += 1
    return pyload.format(path=path, headers={"X-Counter": str(counter - 1)})
