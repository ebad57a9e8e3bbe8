"""The URLconf: "/" (an index, also the launcher's readiness probe) and the /myapp/ endpoints of
the catalogue; under WSGI only the sync ones exist (the async paths answer a JSON 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.urls import URLPattern, path

from django_target import views
from django_target.catalog import Endpoint, endpoints_for_interface

handler404 = "django_target.views.not_found"
handler500 = "django_target.views.server_error"

_CLIENT_VIEWS: dict[tuple[str, str], Callable[..., Any]] = {
    ("sync", "requests"): views.sync_requests,
    ("sync", "httpx"): views.sync_httpx,
    ("async", "requests"): views.async_requests,
    ("async", "httpx"): views.async_httpx,
    ("async", "aiohttp"): views.async_aiohttp,
}


def _pattern(endpoint: Endpoint) -> URLPattern:
    route = endpoint.path.lstrip("/")
    seconds = endpoint.gateway_seconds
    if seconds is not None:
        view = views.sync_gateway if endpoint.kind == "sync" else views.async_gateway
        return path(route, view, {"scenario": endpoint.scenario, "seconds": seconds})
    return path(route, _CLIENT_VIEWS[(endpoint.kind, endpoint.scenario)])


urlpatterns: list[URLPattern] = [path("", views.index)] + [
    _pattern(endpoint) for endpoint in endpoints_for_interface(settings.TARGET_INTERFACE)
]
