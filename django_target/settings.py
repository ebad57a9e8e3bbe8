"""Django settings of the load-test target: no database, no apps, no middleware, no per-request
logging; the knobs that shape the experiment are read from the environment.

Environment (the launcher sets all of these for the server processes):
    GATEWAY_SCALE       multiplies every gateway wait (default 1.0; 0.01 turns 1 s into 10 ms)
    UPSTREAM_URL        the upstream document the client endpoints fetch
                        (default http://127.0.0.1:8001/)
    UPSTREAM_TIMEOUT    total seconds each upstream client waits (default 5.0)
    UPSTREAM_POOL_SIZE  upstream connections per pool (default 100)
    ASGI_THREADS        size of the event loop's default executor under ASGI (default: unset,
                        asyncio's min(32, CPUs + 4)); sync views do not run there, see the docs
    DJANGO_TARGET_INTERFACE  "wsgi" or "asgi", set by wsgi.py / asgi.py
"""

from __future__ import annotations

import math
import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_target.config import (
    DEFAULT_SCALE,
    DEFAULT_UPSTREAM_POOL_SIZE,
    DEFAULT_UPSTREAM_TIMEOUT,
    HOST,
)


def _env_number(name: str, default: float, *, integer: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ImproperlyConfigured(f"{name} must be > 0, not {raw!r}")
    return value


SECRET_KEY = "django-target-load-test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS: list[str] = []
# No middleware on purpose: under ASGI every MiddlewareMixin with process_request/response hops
# through sync_to_async(thread_sensitive=True) on every request, async views included.
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "django_target.urls"
DATABASES: dict[str, Any] = {}
TEMPLATES: list[dict[str, Any]] = []
USE_I18N = False
USE_TZ = True
# Django sets TZ (and calls tzset) from TIME_ZONE in every worker, so the workers' log times
# follow it; its default, "America/Chicago", made them read -0600 beside the masters' +0000.
TIME_ZONE = "UTC"

# Nothing is logged per request: Django's django.request logger would log every 404/502/504,
# and urllib3 warns "Connection pool is full, discarding connection" under heavy concurrency.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {
        "django.request": {"handlers": ["null"], "level": "CRITICAL", "propagate": False},
        "urllib3": {"handlers": ["null"], "level": "ERROR", "propagate": False},
        "httpx": {"handlers": ["null"], "level": "WARNING", "propagate": False},
    },
}

TARGET_INTERFACE = os.environ.get("DJANGO_TARGET_INTERFACE", "asgi")
if TARGET_INTERFACE not in ("wsgi", "asgi"):
    raise ImproperlyConfigured(
        f"DJANGO_TARGET_INTERFACE must be wsgi or asgi, not {TARGET_INTERFACE!r}"
    )

GATEWAY_SCALE = _env_number("GATEWAY_SCALE", DEFAULT_SCALE)
UPSTREAM_URL = os.environ.get("UPSTREAM_URL") or f"http://{HOST}:8001/"
UPSTREAM_TIMEOUT = _env_number("UPSTREAM_TIMEOUT", DEFAULT_UPSTREAM_TIMEOUT)
UPSTREAM_POOL_SIZE = int(
    _env_number("UPSTREAM_POOL_SIZE", DEFAULT_UPSTREAM_POOL_SIZE, integer=True)
)
ASGI_THREADS: int | None = (
    int(_env_number("ASGI_THREADS", 1, integer=True)) if os.environ.get("ASGI_THREADS") else None
)
