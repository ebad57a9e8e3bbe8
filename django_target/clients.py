"""The HTTP clients the client endpoints reach the upstream with, each used as its documentation
recommends for a server, and the one place their errors are mapped to UpstreamFailure.

    requests.Session      one per process, created lazily, shared by all threads/greenlets
    httpx.Client          one per process, created lazily, shared by all threads/greenlets
    httpx.AsyncClient     one per event loop, created lazily inside the loop, reused
    aiohttp.ClientSession one per event loop, created lazily inside the running loop, reused

Each worker process of gunicorn+uvicorn or hypercorn runs its own loop, so each gets its own
async clients; aclose_loop_clients() closes the running loop's clients at ASGI lifespan shutdown.
All clients ignore proxy environment variables (trust_env=False): traffic stays on loopback.
"""

from __future__ import annotations

import asyncio
import select
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import aiohttp
import httpx
import requests
import requests.adapters
from django.conf import settings

__all__ = [
    "UpstreamFailure",
    "aclose_loop_clients",
    "fetch_aiohttp",
    "fetch_httpx",
    "fetch_httpx_async",
    "fetch_requests",
]

T = TypeVar("T")


def _hide_trio_under_gevent() -> None:
    """Let httpx work in gevent workers when an old trio is installed.

    httpcore imports trio when it is installed; trio < 0.26 fails on import with AttributeError
    once gevent's monkey-patching has removed select.epoll (python-trio/trio#2848), which made
    every sync/httpx request a 500. trio cannot run under gevent anyway, so hide it there.
    """
    if "gevent" in sys.modules and "trio" not in sys.modules and not hasattr(select, "epoll"):
        sys.modules["trio"] = None  # type: ignore[assignment]  # `import trio` fails cleanly


_hide_trio_under_gevent()


class UpstreamFailure(Exception):
    """The upstream could not be reached or answered badly; carries the HTTP status to return."""

    def __init__(self, status: int, client: str, detail: str) -> None:
        super().__init__(f"{client}: {detail}")
        self.status = status
        self.client = client
        self.detail = detail


def _detail(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:300]


# -- sync clients: one per process ---------------------------------------------------------

_lock = threading.Lock()
_requests_session: requests.Session | None = None
_httpx_client: httpx.Client | None = None


def requests_session() -> requests.Session:
    """The process's requests.Session; its adapter keeps UPSTREAM_POOL_SIZE connections."""
    global _requests_session
    if _requests_session is None:
        with _lock:
            if _requests_session is None:
                session = requests.Session()
                session.trust_env = False
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=1, pool_maxsize=settings.UPSTREAM_POOL_SIZE
                )
                session.mount("http://", adapter)
                _requests_session = session
    return _requests_session


def _httpx_limits() -> httpx.Limits:
    size = settings.UPSTREAM_POOL_SIZE
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def httpx_client() -> httpx.Client:
    """The process's httpx.Client (at most UPSTREAM_POOL_SIZE connections, then it queues)."""
    global _httpx_client
    if _httpx_client is None:
        with _lock:
            if _httpx_client is None:
                _httpx_client = httpx.Client(
                    timeout=settings.UPSTREAM_TIMEOUT, limits=_httpx_limits(), trust_env=False
                )
    return _httpx_client


def fetch_requests() -> Any:
    """GET the upstream document with requests and return the decoded JSON."""
    try:
        response = requests_session().get(settings.UPSTREAM_URL, timeout=settings.UPSTREAM_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except requests.Timeout as exc:
        raise UpstreamFailure(504, "requests", _detail(exc)) from exc
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamFailure(502, "requests", _detail(exc)) from exc


def fetch_httpx() -> Any:
    """GET the upstream document with the shared httpx.Client and return the decoded JSON."""
    try:
        response = httpx_client().get(settings.UPSTREAM_URL)
        response.raise_for_status()
        return response.json()
    except httpx.TimeoutException as exc:
        raise UpstreamFailure(504, "httpx", _detail(exc)) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise UpstreamFailure(502, "httpx", _detail(exc)) from exc


# -- async clients: one per event loop -----------------------------------------------------


class _PerLoop(Generic[T]):
    """One client per running event loop, created on first use inside that loop."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:  # no await between the check and the store: no race in one loop
            client = self._factory()
            self._clients[loop] = client
        return client

    def pop(self) -> T | None:
        return self._clients.pop(asyncio.get_running_loop(), None)


def _new_httpx_async() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.UPSTREAM_TIMEOUT, limits=_httpx_limits(), trust_env=False
    )


def _new_aiohttp() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.UPSTREAM_POOL_SIZE),
        timeout=aiohttp.ClientTimeout(total=settings.UPSTREAM_TIMEOUT),
    )


_httpx_async = _PerLoop(_new_httpx_async)
_aiohttp = _PerLoop(_new_aiohttp)


async def fetch_httpx_async() -> Any:
    """GET the upstream document with this loop's httpx.AsyncClient; return the decoded JSON."""
    try:
        response = await _httpx_async.get().get(settings.UPSTREAM_URL)
        response.raise_for_status()
        return response.json()
    except httpx.TimeoutException as exc:
        raise UpstreamFailure(504, "httpx", _detail(exc)) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise UpstreamFailure(502, "httpx", _detail(exc)) from exc


async def fetch_aiohttp() -> Any:
    """GET the upstream document with this loop's aiohttp.ClientSession; return the JSON."""
    try:
        async with _aiohttp.get().get(settings.UPSTREAM_URL) as response:
            response.raise_for_status()
            return await response.json()
    except TimeoutError as exc:  # aiohttp's timeouts derive from it (asyncio's is an alias)
        raise UpstreamFailure(504, "aiohttp", _detail(exc)) from exc
    except (aiohttp.ClientError, ValueError) as exc:
        raise UpstreamFailure(502, "aiohttp", _detail(exc)) from exc


async def aclose_loop_clients() -> None:
    """Close the running loop's async clients (called at ASGI lifespan shutdown)."""
    httpx_client = _httpx_async.pop()
    if httpx_client is not None:
        await httpx_client.aclose()
    session = _aiohttp.pop()
    if session is not None:
        await session.close()
