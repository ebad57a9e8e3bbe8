"""A tiny ASGI app for hypercorn in the HTTP/2 tests: `/status/N` answers N, `/bytes/N` N bytes,
`/slow/MS` after MS milliseconds, `/echo` the request's method, body size and a header; `/stats`
says what the app saw (not counted itself): requests by HTTP version, body bytes, and the most
requests in flight at once, on the whole and on one connection (`/stats/reset`: those two start
again)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

versions: Counter[str] = Counter()  # requests by scope["http_version"]: "1.1", "2"
in_flight: Counter[tuple[str, int]] = Counter()  # by connection (the client's address)
most = {"in_flight": 0, "per_connection": 0, "body_bytes": 0}


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] in ("/stats", "/stats/reset"):
        stats = {"versions": dict(versions), **most}
        if scope["path"] == "/stats/reset":  # the maxima start again (a connection closed
            most["in_flight"] = most["per_connection"] = 0  # before has no more requests)
        await _answer(send, 200, json.dumps(stats).encode())
        return
    client = tuple(scope["client"] or ("", 0))
    versions[scope["http_version"]] += 1
    in_flight[client] += 1
    most["in_flight"] = max(most["in_flight"], sum(in_flight.values()))
    most["per_connection"] = max(most["per_connection"], in_flight[client])
    try:
        await _serve(scope, receive, send)
    finally:
        in_flight[client] -= 1
        if not in_flight[client]:
            del in_flight[client]


async def _serve(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    most["body_bytes"] += size
    parts = scope["path"].strip("/").split("/")
    status, body = 200, b"hello\n"
    if len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
        status = int(parts[1])
    elif len(parts) == 2 and parts[0] == "bytes" and parts[1].isdigit():
        body = b"x" * int(parts[1])
    elif len(parts) == 2 and parts[0] == "slow" and parts[1].isdigit():
        await asyncio.sleep(int(parts[1]) / 1000)
    elif parts == ["echo"]:
        header = dict(scope["headers"]).get(b"x-test", b"").decode()
        body = f"{scope['method']} {size} {header}".encode()
    await _answer(send, status, body)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
