"""The ASGI entry point (uvicorn and hypercorn workers): Django's ASGI handler behind a small
lifespan handler that sizes the loop's default executor (ASGI_THREADS) at startup and closes
the loop's upstream clients at shutdown. Django itself does not speak the lifespan protocol.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.asgi import get_asgi_application

os.environ["DJANGO_TARGET_INTERFACE"] = "asgi"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_target.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 - after Django is set up

from django_target.clients import aclose_loop_clients  # noqa: E402

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["application", "django_application"]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.ASGI_THREADS:
                executor = ThreadPoolExecutor(settings.ASGI_THREADS, thread_name_prefix="asgi")
                asyncio.get_running_loop().set_default_executor(executor)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await aclose_loop_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application the servers load: lifespan here, HTTP to Django."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await django_application(scope, receive, send)
