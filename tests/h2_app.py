"""A tiny ASGI app for hypercorn in the HTTP/2 tests: `/status/N` answers N, `/bytes/N` N bytes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    parts = scope["path"].strip("/").split("/")
    status, body = 200, b"hello\n"
    if len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
        status = int(parts[1])
    elif len(parts) == 2 and parts[0] == "bytes" and parts[1].isdigit():
        body = b"x" * int(parts[1])
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
