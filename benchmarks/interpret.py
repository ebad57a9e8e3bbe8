"""The report's interpretation: short sentences derived from the results, never fixed prose.

Each rule looks at the cells and says something only when the data shows it: which gateway
cells reach the closed-loop ceiling (connections ÷ wait), which are all timeouts and why, which
completed nothing, what blocking ``requests`` in an async view cost against the async clients,
where sync and async views differ, which cells had errors, which failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.numbers import CellNumbers, cell_numbers, fmt_latency

__all__ = ["AT_CEILING", "BLOCKING_PENALTY", "KIND_GAP", "interpret"]

AT_CEILING = 0.9  # a gateway cell at >= 90 % of connections ÷ wait is "at the ceiling"
BLOCKING_PENALTY = 0.5  # async/requests below half the best async client shows the anti-pattern
KIND_GAP = 1.5  # sync and async differing by this factor or more are worth a sentence
CLIENT_SCENARIOS = ("requests", "httpx", "aiohttp")


def _s(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def _join(items: Sequence[str]) -> str:
    return "; ".join(items)


def _ok(cells: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], CellNumbers]]:
    out = []
    for cell in cells:
        numbers = cell_numbers(cell)
        if cell["status"] == "ok" and numbers is not None:
            out.append((cell, numbers))
    return out


def _name(cell: dict[str, Any]) -> str:
    return f"{cell['server']} {cell['label']}"


def _gateways(doc: dict[str, Any], ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    """Closed loop: C connections each waiting W complete at most C x (ceil(T / W) - 1)
    responses in a T-second cell (a response takes a little more than W), i.e. C / W req/s in
    the long run."""
    profile = doc["profile"]
    connections, timeout = profile["connections"], profile["timeout_s"]
    duration = profile["duration_s"]
    bullets = []
    scenarios = list(dict.fromkeys(c["scenario"] for c, _ in ok if c["gateway_wait_s"]))
    for scenario in scenarios:
        group = [(c, n) for c, n in ok if c["scenario"] == scenario]
        wait = group[0][0]["gateway_wait_s"]
        ceiling = connections / wait
        rounds = max(0, math.ceil(duration / wait - 1e-6) - 1)
        cell_ceiling = connections * rounds / duration
        text = (
            f"**{scenario}** waits {_s(wait)}; with {connections} connections the "
            f"closed-loop ceiling is {connections} ÷ {_s(wait)} = {ceiling:.0f} req/s"
        )
        if rounds == 0:
            bullets.append(
                text + f". The wait is not shorter than the {duration:g} s cell, so no response "
                "can complete within it: these cells show 0 requests and 0 timeouts, whatever "
                "the stack."
            )
            continue
        if cell_ceiling < 0.98 * ceiling:
            text += (
                f" (in a {duration:g} s cell only {rounds} rounds of {_s(wait)} fit: "
                f"{cell_ceiling:.0f} req/s)"
            )
        text += ". "
        at = [_name(c) for c, n in group if n.requests_per_s >= AT_CEILING * cell_ceiling]
        below = [
            f"{_name(c)} {n.requests_per_s:.0f} ({int(100 * n.requests_per_s / cell_ceiling)}%)"
            for c, n in group
            if n.requests_per_s < AT_CEILING * cell_ceiling
        ]
        if at:
            text += f"At the ceiling (≥ {AT_CEILING:.0%}): {len(at)} of {len(group)} cells" + (
                f" ({_join(at)}). " if below else ". "
            )
        if below:
            text += f"Below it (req/s, share of the ceiling): {_join(below)}. "
        if wait > timeout:
            all_to = [_name(c) for c, n in group if n.requests and n.timeouts == n.requests]
            text += (
                f"The wait is longer than the {_s(timeout)} timeout, so every response "
                f"counts as a request and a timeout and no latency is recorded (wrk "
                f"prints 0.00us and -nan%): {len(all_to)} of {len(group)} cells are all "
                "timeouts."
            )
        else:
            slow = [
                f"{_name(c)} p99 {fmt_latency(n.p99_us)}"
                for c, n in group
                if n.timeouts and n.requests
            ]
            if slow:
                text += (
                    f"Cells with some responses later than the {_s(timeout)} timeout "
                    f"(queueing beyond the wait): {_join(slow)}."
                )
        bullets.append(text.strip())
    return bullets


def _nothing(doc: dict[str, Any], ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    empty = [
        f"{_name(c)} ({n.in_flight} requests unanswered at the end)"
        for c, n in ok
        if n.requests == 0
    ]
    if not empty:
        return []
    return [
        f"**No response at all** within the {doc['profile']['duration_s']:g} s cell: "
        f"{_join(empty)}. wrk and pyload print 0 requests and no timeouts for these "
        "(a timeout is only counted when a late response arrives)."
    ]


def _blocking(doc: dict[str, Any], ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    by = {(c["server"], c["label"]): n for c, n in ok}
    servers = list(dict.fromkeys(c["server"] for c, _ in ok))
    shown, missed = [], []
    for server in servers:
        blocking = by.get((server, "async/requests"))
        clients = {
            label: by[(server, label)]
            for label in ("async/httpx", "async/aiohttp")
            if (server, label) in by
        }
        if blocking is None or not clients:
            continue
        best_label, best = max(clients.items(), key=lambda kv: kv[1].requests_per_s)
        text = (
            f"{server} {blocking.requests_per_s:.1f} vs {best.requests_per_s:.1f} req/s "
            f"({best_label})"
        )
        if blocking.requests_per_s < BLOCKING_PENALTY * best.requests_per_s:
            shown.append(text)
        else:
            missed.append(text)
    bullets = []
    if shown:
        bullets.append(
            "**Blocking `requests` inside an async view** (the anti-pattern): "
            f"{_join(shown)}. The synchronous call holds the event loop for the whole upstream "
            "request, so each worker serves one upstream call at a time while the other "
            "connections wait."
        )
    if missed:
        bullets.append(
            f"async/requests was not clearly slower than the async clients here: {_join(missed)}."
        )
    return bullets


def _kinds(ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    by = {(c["server"], c["kind"], c["scenario"]): n for c, n in ok}
    notes = []
    for (server, kind, scenario), n in by.items():
        if kind != "sync":
            continue
        other = by.get((server, "async", scenario))
        if other is None or scenario not in (
            "gateway_1s",
            "gateway_3s",
            "gateway_10s",
            "requests",
            "httpx",
        ):
            continue
        lo, hi = sorted((n.requests_per_s, other.requests_per_s))
        if hi > 0 and (lo == 0 or hi / lo >= KIND_GAP):
            faster = "sync" if n.requests_per_s > other.requests_per_s else "async"
            notes.append(
                f"{server} {scenario}: {faster} faster ({n.requests_per_s:.1f} sync vs "
                f"{other.requests_per_s:.1f} async req/s)"
            )
    if not notes:
        return []
    return [f"**Sync vs async views** differing by {KIND_GAP:g}x or more: {_join(notes)}."]


def _clients(ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    best: dict[str, tuple[str, float]] = {}
    for c, n in ok:
        if c["scenario"] in CLIENT_SCENARIOS and (
            c["server"] not in best or n.requests_per_s > best[c["server"]][1]
        ):
            best[c["server"]] = (c["label"], n.requests_per_s)
    if not best:
        return []
    parts = [f"{server}: {label} {rate:.1f} req/s" for server, (label, rate) in best.items()]
    return [f"**Fastest upstream client** per stack: {_join(parts)}."]


def _errors(ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    items = []
    for c, n in ok:
        if n.errors:
            parts = [f"{k} {v}" for k, v in n.breakdown.items() if v]
            items.append(f"{_name(c)} ({', '.join(parts)})")
    if not items:
        return ["No connect, read, write or non-2xx errors in any cell."]
    return [f"**Errors** (status = non-2xx responses): {_join(items)}."]


def _leaders(ok: list[tuple[dict[str, Any], CellNumbers]]) -> list[str]:
    servers = {c["server"] for c, _ in ok}
    if len(servers) < 2:
        return []
    best: dict[str, tuple[str, float]] = {}
    for c, n in ok:
        label = c["label"]
        if label not in best or n.requests_per_s > best[label][1]:
            best[label] = (c["server"], n.requests_per_s)
    wins: dict[str, int] = {}
    for server, _ in best.values():
        wins[server] = wins.get(server, 0) + 1
    ranking = ", ".join(f"{s} {k}" for s, k in sorted(wins.items(), key=lambda kv: -kv[1]))
    return [f"**Highest requests/s per endpoint** (endpoints won): {ranking}."]


def interpret(doc: dict[str, Any]) -> list[str]:
    """Markdown bullet texts (without the leading dash) describing the results."""
    cells = doc["cells"]
    ok = _ok(cells)
    bullets: list[str] = []
    bullets += _gateways(doc, ok)
    bullets += _nothing(doc, ok)
    bullets += _blocking(doc, ok)
    bullets += _kinds(ok)
    bullets += _clients(ok)
    bullets += _leaders(ok)
    bullets += _errors(ok)
    failed = [f"{_name(c)}: {c['error']}" for c in cells if c["status"] != "ok"]
    if failed:
        bullets.append(f"**Failed or not run** ({len(failed)}): {_join(failed)}.")
    return bullets
