"""Every server stack for real, on 127.0.0.1: each endpoint it serves, the gateway waits, the
overlap of concurrent waits, the blocking client, and 502s when the upstream is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from _pytest.mark.structures import ParameterSet

from django_target import SERVERS, Endpoint, endpoints_for, serve, serve_upstream
from django_target.catalog import ENDPOINTS
from django_target.config import DEFAULT_UPSTREAM_SIZE
from django_target.upstream import make_document
from tests.django_target_helpers import concurrent_gets, http_get

#: 1 s gateway -> 20 ms, 10 s gateway -> 200 ms.
SCALE = 0.02
#: The upstream waits 1.0 x SCALE = 20 ms, long enough to see the event loop blocked.
UPSTREAM_DELAY = 1.0
UPSTREAM_WAIT = UPSTREAM_DELAY * SCALE
#: Simultaneous requests in the overlap tests.
CONCURRENCY = 20
#: uvloop's timers have millisecond resolution: a sleep may end up to 1 ms "early".
TIMER_SLACK = 0.001

DOCUMENT = json.loads(make_document(DEFAULT_UPSTREAM_SIZE))
GATEWAY_10S = {e for e in ENDPOINTS if e.scenario == "gateway_10s"}


@dataclass(frozen=True)
class Running:
    server: str
    url: str


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Running]:
    server: str = request.param
    with serve(server, port=0, workers=1, scale=SCALE, upstream_delay=UPSTREAM_DELAY) as url:
        yield Running(server, url)


def _served(only: set[Endpoint] | None = None) -> list[ParameterSet]:
    """(server, endpoint) pairs for every endpoint each stack serves (optionally a subset)."""
    return [
        pytest.param(server, endpoint, id=f"{server}:{endpoint.path}")
        for server in SERVERS
        for endpoint in endpoints_for(server)
        if only is None or endpoint in only
    ]


@pytest.mark.parametrize("stack", SERVERS, indirect=True, scope="module")
def test_index_lists_what_the_stack_serves(stack: Running) -> None:
    reply = http_get(stack.url + "/")
    assert reply.status == 200
    index = reply.json()
    assert index["interface"] == ("wsgi" if stack.server == "gunicorn-gevent" else "asgi")
    assert index["scale"] == SCALE
    assert index["endpoints"] == [e.path for e in endpoints_for(stack.server)]


@pytest.mark.parametrize(("stack", "endpoint"), _served(), indirect=["stack"], scope="module")
def test_endpoint_answers(stack: Running, endpoint: Endpoint) -> None:
    reply = http_get(stack.url + endpoint.path)
    assert reply.status == 200, reply.body[:300]
    assert reply.content_type == "application/json"
    body = reply.json()
    if endpoint.gateway_seconds is not None:
        wait = endpoint.gateway_seconds * SCALE
        assert body == {"kind": endpoint.kind, "scenario": endpoint.scenario, "waited": wait}
        assert reply.elapsed >= wait - TIMER_SLACK
    else:
        assert body == DOCUMENT  # the upstream's document, decoded and re-encoded by Django
        assert reply.elapsed >= UPSTREAM_WAIT - TIMER_SLACK


@pytest.mark.parametrize("stack", ["gunicorn-gevent"], indirect=True, scope="module")
def test_wsgi_does_not_serve_async_endpoints(stack: Running) -> None:
    for endpoint in ENDPOINTS:
        if endpoint.kind == "async":
            reply = http_get(stack.url + endpoint.path)
            assert reply.status == 404
            assert reply.json()["error"] == "not found"


@pytest.mark.parametrize(
    ("stack", "endpoint"), _served(GATEWAY_10S), indirect=["stack"], scope="module"
)
def test_concurrent_gateway_waits_overlap(stack: Running, endpoint: Endpoint) -> None:
    """20 waits of 200 ms finish in about one wait: async views on every ASGI stack, sync views
    on gevent (time.sleep is monkey-patched) and under ASGI (one thread per request)."""
    wait = 10.0 * SCALE
    replies, elapsed = concurrent_gets(stack.url + endpoint.path, CONCURRENCY)
    assert [r.status for r in replies] == [200] * CONCURRENCY
    assert elapsed >= wait - TIMER_SLACK
    assert elapsed < CONCURRENCY * wait / 4, f"{elapsed:.2f} s: the waits did not overlap"


@pytest.mark.parametrize(
    "stack", [s for s in SERVERS if s != "gunicorn-gevent"], indirect=True, scope="module"
)
def test_blocking_client_in_the_event_loop_serialises(stack: Running) -> None:
    """async/requests blocks the worker's only event loop: N calls take at least N upstream
    waits, while async/aiohttp overlaps them (the contrast the benchmark measures)."""
    blocked, blocked_elapsed = concurrent_gets(stack.url + "/myapp/async/requests", CONCURRENCY)
    assert [r.status for r in blocked] == [200] * CONCURRENCY
    assert blocked_elapsed >= CONCURRENCY * UPSTREAM_WAIT
    overlapped, overlapped_elapsed = concurrent_gets(
        stack.url + "/myapp/async/aiohttp", CONCURRENCY
    )
    assert [r.status for r in overlapped] == [200] * CONCURRENCY
    assert overlapped_elapsed < blocked_elapsed


@pytest.mark.parametrize("server", ["gunicorn-gevent", "hypercorn-asyncio"])
def test_client_endpoints_answer_502_when_the_upstream_is_down(server: str) -> None:
    clients = [e for e in endpoints_for(server) if e.gateway_seconds is None]
    with ExitStack() as scope:
        upstream = ExitStack()
        upstream_url = upstream.enter_context(serve_upstream(scale=SCALE))
        scope.push(upstream)
        base_url = scope.enter_context(
            serve(server, port=0, workers=1, scale=SCALE, upstream_url=upstream_url)
        )
        upstream.close()  # the upstream goes down; the server keeps running
        for endpoint in clients:
            reply = http_get(base_url + endpoint.path)
            assert reply.status == 502, (endpoint.path, reply.body[:300])
            assert reply.content_type == "application/json"
            body = reply.json()
            assert body["error"] == "upstream unavailable"
            assert body["client"] == endpoint.scenario
            assert body["detail"]
