"""A random pause of 10 to 50 ms before each request (wrk's scripts/delay.lua): simulated
users who think between clicks.

    pyload -c20 -s examples/delay.py http://127.0.0.1:8080/

``delay()`` returns milliseconds (a float is fine); the pause is not part of the latency. The
request itself stays the static one: no ``request()`` hook, no per-request building.
"""

import random


def delay() -> float:
    return random.uniform(10, 50)
