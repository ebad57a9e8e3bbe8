"""Every server stack for real, on 127.0.0.1: each endpoint it serves, the gateway waits, the
overlap of concurrent waits, the blocking client, and 502s when the upstream is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from django_target import SERVERS, Endpoint, endpoints_for, serve, serve_upstream
from django_target.catalog import ENDPOINTS
from django_target.config import DEFAULT_UPSTREAM_SIZE
from django_target.upstream import make_document
from tests.django_target_helpers import concurrent_gets, http_get

#: 1 s gateway -> 20 ms, 10 s gateway -> 200 ms.
SCALE = 0.02
#: The upstream waits 2.5 x SCALE = 50 ms: 20 blocked calls take at least 1 s.
UPSTREAM_DELAY = 2.5
UPSTREAM_WAIT = UPSTREAM_DELAY * SCALE
#: Simultaneous requests in the overlap tests.
CONCURRENCY = 20
#: uvloop's timers have millisecond resolution: a sleep may end up to 1 ms "early".
TIMER_SLACK = 0.001

DOCUMENT = json.loads(make_document(DEFAULT_UPSTREAM_SIZE))


@dataclass(frozen=True)
class Running:
    server: str
    url: str


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Running]:
    server: str = request.param
    with serve(server, port=0, workers=1, scale=SCALE, upstream_delay=UPSTREAM_DELAY) as url:
        yield Running(server, url)


def _ids(endpoint: Endpoint) -> str:
    return endpoint.path


EVERY_STACK = pytest.mark.parametrize("stack", SERVERS, indirect=True, scope="module")


@EVERY_STACK
def test_index_lists_what_the_stack_serves(stack: Running) -> None:
    reply = http_get(stack.url + "/")
    assert reply.status == 200
    index = reply.json()
    assert index["interface"] == ("wsgi" if stack.server == "gunicorn-gevent" else "asgi")
    assert index["scale"] == SCALE
    assert index["endpoints"] == [e.path for e in endpoints_for(stack.server)]


@EVERY_STACK
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_endpoint_answers(stack: Running, endpoint: Endpoint) -> None:
    """Served endpoints answer their JSON after their wait; WSGI answers 404 for async ones."""
    reply = http_get(stack.url + endpoint.path)
    assert reply.content_type == "application/json"
    body = reply.json()
    if endpoint not in endpoints_for(stack.server):
        assert (reply.status, body["error"]) == (404, "not found")
        return
    assert reply.status == 200, reply.body[:300]
    if endpoint.gateway_seconds is not None:
        wait = endpoint.gateway_seconds * SCALE
        assert body == {"kind": endpoint.kind, "scenario": endpoint.scenario, "waited": wait}
        assert reply.elapsed >= wait - TIMER_SLACK
    else:
        assert body == DOCUMENT  # the upstream's document, decoded and re-encoded by Django
        assert reply.elapsed >= UPSTREAM_WAIT - TIMER_SLACK


@EVERY_STACK
def test_concurrent_gateway_waits_overlap(stack: Running) -> None:
    """20 waits of 200 ms finish in about one wait, not 20: async views on every ASGI stack,
    sync views under gevent (time.sleep is monkey-patched) and under ASGI (Django gives each
    request its own thread)."""
    wait = 10.0 * SCALE
    for endpoint in endpoints_for(stack.server):
        if endpoint.scenario != "gateway_10s":
            continue
        replies, elapsed = concurrent_gets(stack.url + endpoint.path, CONCURRENCY)
        assert [r.status for r in replies] == [200] * CONCURRENCY
        assert elapsed >= wait - TIMER_SLACK
        assert elapsed < CONCURRENCY * wait / 4, f"{endpoint.path}: {elapsed:.2f} s, no overlap"


@EVERY_STACK
def test_blocking_and_cooperative_upstream_calls(stack: Running) -> None:
    """Under ASGI, async/requests blocks the worker's only event loop, so N calls take at least
    N upstream waits, while async/aiohttp overlaps them. Under gevent, requests is made
    cooperative by monkey-patching, so sync/requests overlaps."""
    serial_floor = CONCURRENCY * UPSTREAM_WAIT
    if stack.server == "gunicorn-gevent":
        replies, elapsed = concurrent_gets(stack.url + "/myapp/sync/requests", CONCURRENCY)
        assert [r.status for r in replies] == [200] * CONCURRENCY
        assert elapsed < serial_floor
        return
    blocked, blocked_elapsed = concurrent_gets(stack.url + "/myapp/async/requests", CONCURRENCY)
    assert [r.status for r in blocked] == [200] * CONCURRENCY
    assert blocked_elapsed >= serial_floor
    overlapped, overlapped_elapsed = concurrent_gets(
        stack.url + "/myapp/async/aiohttp", CONCURRENCY
    )
    assert [r.status for r in overlapped] == [200] * CONCURRENCY
    assert overlapped_elapsed < serial_floor


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
