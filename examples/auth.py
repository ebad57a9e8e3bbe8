"""Log in once, then send the token the server gave in every later request (wrk's
scripts/auth.lua).

    pyload -s examples/auth.py http://127.0.0.1:8080/ /login /api/items

Until a response to the login path brings an ``X-Token`` header, each request goes to the
login path (the first argument after the URL, default ``/login``); from then on, to the
second (default: the URL's path) with ``X-Token: <token>``. The ``response`` hook makes pyload
hand over each response's headers and body, which costs: a script without it gets none.
Header names arrive lower-cased.
"""

import pyload

login = b""
after_login: str | None = None
authorized: bytes | None = None  # the request with the token, built once it is known


def init(args: list[str]) -> None:
    global login, after_login
    login = pyload.format(path=args[0] if args else "/login")
    after_login = args[1] if len(args) > 1 else None


def request() -> bytes:
    return authorized if authorized is not None else login


def response(status: int, headers: dict[str, str], body: bytes) -> None:
    global authorized
    token = headers.get("x-token")
    if authorized is None and status == 200 and token:
        authorized = pyload.format(path=after_login, headers={"X-Token": token})
