"""The benchmark views: simulated slow gateways (sync and async) and upstream client calls.

    sync  gateway_Ns  time.sleep(N x GATEWAY_SCALE), then a small JSON document
    async gateway_Ns  await asyncio.sleep(N x GATEWAY_SCALE), then the same document
    sync  requests    the upstream document via the process's requests.Session
    sync  httpx       the upstream document via the process's httpx.Client
    async requests    requests.Session called straight from the coroutine: it blocks the event
                      loop for the whole upstream call, on purpose (the anti-pattern measured)
    async httpx       the upstream document via the loop's httpx.AsyncClient
    async aiohttp     the upstream document via the loop's aiohttp.ClientSession

Client views decode the upstream JSON and re-encode it with JsonResponse, as a gateway would.
When the upstream is down or fails they answer 502 (504 on a client timeout) with a JSON body
{"error", "client", "detail"} instead of Django's error page.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from django_target import clients
from django_target.catalog import endpoints_for_interface

__all__ = [
    "async_aiohttp",
    "async_gateway",
    "async_httpx",
    "async_requests",
    "index",
    "not_found",
    "server_error",
    "sync_gateway",
    "sync_httpx",
    "sync_requests",
]


def _gateway_document(kind: str, scenario: str, seconds: float) -> dict[str, Any]:
    return {"kind": kind, "scenario": scenario, "waited": seconds * settings.GATEWAY_SCALE}


def _failure(failure: clients.UpstreamFailure) -> JsonResponse:
    return JsonResponse(
        {"error": "upstream unavailable", "client": failure.client, "detail": failure.detail},
        status=failure.status,
    )


def sync_gateway(request: HttpRequest, scenario: str, seconds: float) -> JsonResponse:
    """Block the worker (thread or greenlet) for seconds x GATEWAY_SCALE, then answer."""
    time.sleep(seconds * settings.GATEWAY_SCALE)
    return JsonResponse(_gateway_document("sync", scenario, seconds))


async def async_gateway(request: HttpRequest, scenario: str, seconds: float) -> JsonResponse:
    """Await seconds x GATEWAY_SCALE without blocking the event loop, then answer."""
    await asyncio.sleep(seconds * settings.GATEWAY_SCALE)
    return JsonResponse(_gateway_document("async", scenario, seconds))


def sync_requests(request: HttpRequest) -> JsonResponse:
    """The upstream document, fetched with the process-wide requests.Session."""
    try:
        return JsonResponse(clients.fetch_requests(), safe=False)
    except clients.UpstreamFailure as failure:
        return _failure(failure)


def sync_httpx(request: HttpRequest) -> JsonResponse:
    """The upstream document, fetched with the process-wide httpx.Client."""
    try:
        return JsonResponse(clients.fetch_httpx(), safe=False)
    except clients.UpstreamFailure as failure:
        return _failure(failure)


async def async_requests(request: HttpRequest) -> JsonResponse:
    """The upstream document via blocking requests inside the event loop (deliberately wrong)."""
    try:
        return JsonResponse(clients.fetch_requests(), safe=False)
    except clients.UpstreamFailure as failure:
        return _failure(failure)


async def async_httpx(request: HttpRequest) -> JsonResponse:
    """The upstream document, fetched with this event loop's httpx.AsyncClient."""
    try:
        return JsonResponse(await clients.fetch_httpx_async(), safe=False)
    except clients.UpstreamFailure as failure:
        return _failure(failure)


async def async_aiohttp(request: HttpRequest) -> JsonResponse:
    """The upstream document, fetched with this event loop's aiohttp.ClientSession."""
    try:
        return JsonResponse(await clients.fetch_aiohttp(), safe=False)
    except clients.UpstreamFailure as failure:
        return _failure(failure)


def index(request: HttpRequest) -> JsonResponse:
    """What this process serves: interface, scale, upstream URL and endpoint paths."""
    served = endpoints_for_interface(settings.TARGET_INTERFACE)
    return JsonResponse(
        {
            "interface": settings.TARGET_INTERFACE,
            "scale": settings.GATEWAY_SCALE,
            "upstream_url": settings.UPSTREAM_URL,
            "endpoints": [endpoint.path for endpoint in served],
        }
    )


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """JSON 404 (an async endpoint under WSGI lands here)."""
    return JsonResponse({"error": "not found", "path": request.path}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """JSON 500 without a traceback page."""
    return JsonResponse({"error": "internal server error"}, status=500)
