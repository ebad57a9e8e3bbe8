"""The report's interpretation: short sentences derived from the results, never fixed prose.

Each rule looks at the cells and says something only when the data shows it: which gateway
cells reach the closed-loop ceiling (connections ÷ wait), which are all timeouts and why, which
completed nothing, what blocking ``requests`` in an async view cost against the async clients,
where sync and async views differ, which cells had errors, how much repeated runs of a cell
vary (``--repeat``), which cells were cut short by Ctrl-C or SIGTERM, which failed; and, shape by
shape, which effects of the published experiment (its table is in reference-experiment.md) this
run shows, and for those it does not, the numbers that say why.

The rules compare medians (a cell's only run without ``--repeat``); a cell cut short is left
out of them, since its numbers cover only part of the cell, and named in a sentence of its own.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from benchmarks.formatting import DASH, fmt_latency, fmt_range, fmt_rate, fmt_seconds
from benchmarks.profiles import Profile
from benchmarks.results import FAILED, CellResult, CellSummary, MatrixResult
from django_target import GATEWAY_SECONDS, interface_of
from django_target.config import DEFAULT_UPSTREAM_DELAY

__all__ = [
    "AT_CEILING",
    "BLOCKING_PENALTY",
    "KIND_GAP",
    "MOSTLY_LATE",
    "SPREAD_SHOWN",
    "interpret",
    "published_shapes",
]

AT_CEILING = 0.9  # a gateway cell at >= 90 % of connections ÷ wait is "at the ceiling"
BLOCKING_PENALTY = 0.5  # async/requests below half the best async client shows the anti-pattern
KIND_GAP = 1.5  # sync and async differing by this factor or more are worth a sentence
SPREAD_SHOWN = 3  # the cells with the widest spread named in the spread sentence
MOSTLY_LATE = 0.5  # a cell with at least this share of its responses late "mostly times out"
CLIENT_SCENARIOS = ("requests", "httpx", "aiohttp")

Measured = list[tuple[CellResult, CellSummary]]

_s = fmt_seconds


def _join(items: Sequence[str]) -> str:
    return "; ".join(items)


def _measured(doc: MatrixResult) -> Measured:
    """The cells with a result of the whole cell (not cut short), with their summary."""
    out = []
    for cell in doc.cells:
        summary = cell.summary
        if summary is not None and not summary.partial:
            out.append((cell, summary))
    return out


def _rounds(profile: Profile, wait: float) -> int:
    """Closed loop: C connections each waiting W complete at most C x (ceil(T / W) - 1)
    responses in a T-second cell (a response takes a little more than W), i.e. C / W req/s in
    the long run."""
    return max(0, math.ceil(profile.duration_s / wait - 1e-6) - 1)


def _cell_ceiling(profile: Profile, wait: float) -> float:
    """The most requests/s a cell of the profile can show on an endpoint that waits ``wait``."""
    return profile.connections * _rounds(profile, wait) / profile.duration_s


def _gateways(doc: MatrixResult, ok: Measured) -> list[str]:
    profile = doc.profile
    connections, timeout = profile.connections, profile.timeout_s
    duration = profile.duration_s
    bullets = []
    scenarios = list(dict.fromkeys(c.scenario for c, _ in ok if c.gateway_wait_s))
    for scenario in scenarios:
        group = [(c, n) for c, n in ok if c.scenario == scenario]
        wait = group[0][0].gateway_wait_s
        assert wait is not None
        ceiling = connections / wait
        rounds = _rounds(profile, wait)
        cell_ceiling = _cell_ceiling(profile, wait)
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
        at = [c.name for c, n in group if n.requests_per_s >= AT_CEILING * cell_ceiling]
        below = [
            f"{c.name} {n.requests_per_s:.0f} ({int(100 * n.requests_per_s / cell_ceiling)}%)"
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
            all_to = [c.name for c, n in group if n.all_timeouts]
            text += (
                f"The wait is longer than the {_s(timeout)} timeout, so every response "
                f"counts as a request and a timeout and no latency is recorded (wrk "
                f"prints 0.00us and -nan%): {len(all_to)} of {len(group)} cells are all "
                "timeouts."
            )
        else:
            slow = [
                f"{c.name} p99 {fmt_latency(n.p99_us)}"
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


def _nothing(doc: MatrixResult, ok: Measured) -> list[str]:
    empty = [
        f"{c.name} ({n.in_flight} requests unanswered at the end)" for c, n in ok if n.requests == 0
    ]
    if not empty:
        return []
    return [
        f"**No response at all** within the {doc.profile.duration_s:g} s cell: "
        f"{_join(empty)}. wrk and pyload print 0 requests and no timeouts for these "
        "(a timeout is only counted when a late response arrives)."
    ]


def _blocking(ok: Measured) -> list[str]:
    by = {(c.server, c.label): n for c, n in ok}
    servers = list(dict.fromkeys(c.server for c, _ in ok))
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


def _kinds(ok: Measured) -> list[str]:
    by = {(c.server, c.kind, c.scenario): n for c, n in ok}
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


def _clients(ok: Measured) -> list[str]:
    best: dict[str, tuple[str, float]] = {}
    for c, n in ok:
        if c.scenario in CLIENT_SCENARIOS and (
            c.server not in best or n.requests_per_s > best[c.server][1]
        ):
            best[c.server] = (c.label, n.requests_per_s)
    if not best:
        return []
    parts = [f"{server}: {label} {rate:.1f} req/s" for server, (label, rate) in best.items()]
    return [f"**Fastest upstream client** per stack: {_join(parts)}."]


def _leaders(doc: MatrixResult, ok: Measured) -> list[str]:
    """The stack with the highest requests/s per endpoint. With repeated runs an endpoint is
    won only when the best stack's slowest run beats the runner-up's fastest."""
    if len({c.server for c, _ in ok}) < 2:
        return []
    by_label: dict[str, list[tuple[CellResult, CellSummary]]] = {}
    for c, n in ok:
        by_label.setdefault(c.label, []).append((c, n))
    wins: dict[str, int] = {}
    ties = []
    for label, group in by_label.items():
        ranked = sorted(group, key=lambda cn: -cn[1].requests_per_s)
        (best, b), rest = ranked[0], ranked[1:]
        if doc.repeat > 1 and rest and b.rate.low <= rest[0][1].rate.high:
            second, s = rest[0]
            ties.append(
                f"{label} ({best.server} {fmt_range(b.rate, fmt_rate)}, "
                f"{second.server} {fmt_range(s.rate, fmt_rate)})"
            )
            continue
        wins[best.server] = wins.get(best.server, 0) + 1
    text = "**Highest requests/s per endpoint** (endpoints won)"
    if doc.repeat > 1:
        text += (
            ", counting an endpoint only when the best stack's slowest run beat the next "
            "one's fastest"
        )
    ranking = ", ".join(f"{s} {k}" for s, k in sorted(wins.items(), key=lambda kv: -kv[1]))
    text += f": {ranking or 'none'}."
    if ties:
        text += f" No clear winner, the ranges overlap: {_join(ties)}."
    return [text]


def _spread(doc: MatrixResult, ok: Measured) -> list[str]:
    """How much the runs of a cell differ, as (max - min) / median of requests/s."""
    if doc.repeat < 2:
        return []
    shares = [
        (c, (n.rate.high - n.rate.low) / n.rate.median)
        for c, n in ok
        if n.rate.runs > 1 and n.rate.median > 0
    ]
    if not shares:
        return []
    widest = sorted(shares, key=lambda cs: -cs[1])[:SPREAD_SHOWN]
    return [
        f"**Spread over the {doc.repeat} runs** of each cell (max - min of requests/s, as a "
        f"share of the median): {statistics.median(s for _, s in shares):.1%} in the median "
        f"cell; widest: {_join([f'{c.name} {s:.1%}' for c, s in widest])}. A difference "
        "between two stacks smaller than their ranges is noise, not a result."
    ]


def _errors(ok: Measured) -> list[str]:
    items = []
    for c, n in ok:
        if n.errors:
            parts = [f"{k} {v}" for k, v in n.breakdown.items() if v]
            items.append(f"{c.name} ({', '.join(parts)})")
    if not items:
        return ["No connect, read, write or non-2xx errors in any cell."]
    return [f"**Errors** (status = non-2xx responses): {_join(items)}."]


# -- the published experiment's shapes ---------------------------------------------------------

#: A shape of the published table: its name (with the published figures), whether this run shows
#: it (None: its cells were not measured) and the numbers that say so.
Shape = tuple[str, bool | None, str]


def _most(part: int, whole: int) -> bool:
    return part > 0 and 2 * part >= whole


def _span(values: Sequence[float], fmt: str) -> str:
    """``low-high`` over the values, or the one value when they print the same."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}{DASH}{high}"


def _share(rate: float, ceiling: float) -> str:
    return f"{rate / ceiling:.0%}" if ceiling > 0 else "-"


def _gateway_1s(ok: Measured, interface: str) -> Measured:
    return [
        (c, n)
        for c, n in ok
        if c.scenario == "gateway_1s" and c.gateway_wait_s and interface_of(c.server) == interface
    ]


def _wsgi_at_ceiling(doc: MatrixResult, ok: Measured) -> Shape:
    name = "gunicorn + gevent (WSGI) at the ceiling on the 1 s gateway (published: 1,862 req/s)"
    group = _gateway_1s(ok, "wsgi")
    if not group:
        return name, None, "its cell was not measured"
    parts, below = [], []
    for c, n in group:
        assert c.gateway_wait_s is not None
        ceiling = _cell_ceiling(doc.profile, c.gateway_wait_s)
        text = (
            f"{c.name} {n.requests_per_s:.0f} req/s, {_share(n.requests_per_s, ceiling)} of "
            f"the {ceiling:.0f} a {doc.profile.duration_s:g} s cell allows"
        )
        if n.requests_per_s >= AT_CEILING * ceiling > 0:
            parts.append(text)
        else:
            below.append(
                text + f", p50 {fmt_latency(n.p50_us)} for a {_s(c.gateway_wait_s)} wait"
                f" and {n.timeouts} responses later than the {_s(doc.profile.timeout_s)} timeout"
                " (the responses queued behind the wait)"
            )
    if below:
        return name, False, _join(below)
    return name, True, _join(parts)


def _asgi_below_ceiling(doc: MatrixResult, ok: Measured) -> Shape:
    name = (
        "the ASGI stacks below the ceiling on the 1 s gateway, with responses later than the "
        f"timeout (published: 1,676{DASH}1,820 req/s, up to 1,565 timeouts)"
    )
    group = _gateway_1s(ok, "asgi")
    if not group:
        return name, None, "its cells were not measured"
    timeout = _s(doc.profile.timeout_s)
    shown, kept_up, in_time = [], [], []
    for c, n in group:
        assert c.gateway_wait_s is not None
        ceiling = _cell_ceiling(doc.profile, c.gateway_wait_s)
        share = _share(n.requests_per_s, ceiling)
        if n.requests_per_s >= AT_CEILING * ceiling:
            kept_up.append(f"{c.name} {share}")
        elif n.timeouts == 0:
            in_time.append(f"{c.name} {share}, p99 {fmt_latency(n.p99_us)}")
        else:
            shown.append(f"{c.name} {n.requests_per_s:.0f} req/s ({share}, {n.timeouts} late)")
    text = f"{len(shown)} of {len(group)} cells" + (f": {_join(shown)}" if shown else "")
    if kept_up:
        wait = group[0][0].gateway_wait_s or 1.0
        offered = f"{doc.profile.connections} ÷ {_s(wait)} = {doc.profile.connections / wait:.0f}"
        text += (
            f"; at the ceiling (≥ {AT_CEILING:.0%}) of the offered {offered} req/s, so the stack "
            f"kept up: {_join(kept_up)}"
        )
    if in_time:
        text += f"; below it but every response within the {timeout} timeout: {_join(in_time)}"
    return name, _most(len(shown), len(group)), text


def _late_gateways(doc: MatrixResult, ok: Measured) -> Shape:
    name = (
        "every response a timeout on the 3 s and 10 s gateways (published: 14,000 and 4,000 "
        "requests on gunicorn + gevent, all timeouts)"
    )
    timeout = doc.profile.timeout_s
    longest = max(doc.profile.gateway_wait_s(w) for w in GATEWAY_SECONDS.values())
    if longest <= timeout:
        return (
            name,
            False,
            f"no gateway waits longer than the {_s(timeout)} timeout here (the longest waits "
            f"{_s(longest)}), so their responses are in time",
        )
    late = [(c, n) for c, n in ok if c.gateway_wait_s and c.gateway_wait_s > timeout]
    if not late:
        return name, None, "no gateway cell waiting longer than the timeout was measured"
    scenarios = ", ".join(dict.fromkeys(c.scenario for c, _ in late))
    others = [
        f"{c.name} {n.requests - n.timeouts} of {n.requests} within the timeout"
        if n.requests
        else f"{c.name} no response in the {doc.profile.duration_s:g} s cell"
        for c, n in late
        if not n.all_timeouts
    ]
    text = (
        f"{len(late) - len(others)} of {len(late)} cells of {scenarios} (waits longer than the "
        f"{_s(timeout)} timeout) are all timeouts"
    )
    if others:
        text += f"; not: {_join(others)}"
    return name, not others, text


def _blocking_starves(ok: Measured) -> Shape:
    name = (
        "the blocking `requests` client starving its async view (published: async/requests "
        "0 req/s on every ASGI stack)"
    )
    by = {(c.server, c.label): n for c, n in ok}
    shown: list[str] = []
    missed: list[str] = []
    for server in dict.fromkeys(c.server for c, _ in ok):
        blocking = by.get((server, "async/requests"))
        clients = [by[(server, x)] for x in ("async/httpx", "async/aiohttp") if (server, x) in by]
        if blocking is None or not clients:
            continue
        best = max(clients, key=lambda n: n.requests_per_s)
        text = f"{server} {blocking.requests_per_s:.1f} vs {best.requests_per_s:.1f} req/s"
        if blocking.requests_per_s < BLOCKING_PENALTY * best.requests_per_s:
            shown.append(text)
        elif best.requests and best.timeouts >= MOSTLY_LATE * best.requests:
            missed.append(
                f"{text}, where the best async client was itself starved: "
                f"{best.timeouts} of its {best.requests} responses later than the timeout"
            )
        else:
            missed.append(text)
    if not shown and not missed:
        return name, None, "its cells were not measured"
    text = (
        f"on {len(shown)} of {len(shown) + len(missed)} ASGI stacks async/requests serves less "
        f"than {BLOCKING_PENALTY:.0%} of the best async client"
    )
    if shown:
        text += f" ({_join(shown)})"
    if missed:
        text += f"; not on {_join(missed)}"
    return name, _most(len(shown), len(shown) + len(missed)), text


def _hypercorn_read_errors(doc: MatrixResult, ok: Measured) -> Shape:
    name = "read errors on hypercorn (published: in 6 of its 22 cells, 5 of them on uvloop)"
    group = [(c, n) for c, n in ok if c.server.startswith("hypercorn")]
    if not group:
        return name, None, "no hypercorn cell was measured"
    hit = [f"{c.name} {n.breakdown['read']}" for c, n in group if n.breakdown.get("read")]
    if hit:
        return name, True, f"{len(hit)} of {len(group)} hypercorn cells: {_join(hit)}"
    late = sum(1 for _, n in group if n.timeouts)
    text = (
        f"0 read errors in the {len(group)} hypercorn cells, though {late} of them had responses "
        "later than the timeout: the overload was there, but no hypercorn worker closed or "
        "reset a connection before its response was complete"
    )
    if doc.profile.scale < 1:
        text += (
            f". What differs from the published run is what the time scale does not shrink: "
            f"each connection's life ({doc.profile.duration_s:g} s cells against 22 s) and the "
            "servers' own timers and limits"
        )
    return name, False, text


def _clients_late(doc: MatrixResult, ok: Measured) -> Shape:
    name = (
        "the upstream-calling cells answering mostly after the timeout or not at all "
        "(published: 15 of 17 cells, at most 45 req/s)"
    )
    group = [(c, n) for c, n in ok if c.scenario in CLIENT_SCENARIOS]
    if not group:
        return name, None, "no upstream-calling cell was measured"
    late = [n for _, n in group if n.requests == 0 or n.timeouts >= MOSTLY_LATE * n.requests]
    rest = [n for _, n in group if n.requests and n.timeouts < MOSTLY_LATE * n.requests]
    text = f"{len(late)} of {len(group)} cells"
    if late:
        text += f" ({_span([n.requests_per_s for n in late], '{:.0f}')} req/s)"
    if rest:
        rates = _span([n.requests_per_s for n in rest], "{:.0f}")
        shares = _span([n.timeouts / n.requests for n in rest], "{:.0%}")
        upstream = _s(doc.profile.gateway_wait_s(DEFAULT_UPSTREAM_DELAY))
        text += (
            f"; the other {len(rest)} served {rates} req/s with "
            f"{shares} of their responses later than the "
            f"{_s(doc.profile.timeout_s)} timeout: the local upstream, answering in {upstream}, "
            "kept them busy but answering"
        )
    return name, _most(len(late), len(group)), text


def published_shapes(doc: MatrixResult) -> list[Shape]:
    """The published table's effects, each with whether this run shows it and the numbers."""
    ok = _measured(doc)
    return [
        _wsgi_at_ceiling(doc, ok),
        _asgi_below_ceiling(doc, ok),
        _late_gateways(doc, ok),
        _blocking_starves(ok),
        _hypercorn_read_errors(doc, ok),
        _clients_late(doc, ok),
    ]


def _published(doc: MatrixResult) -> list[str]:
    shapes = [s for s in published_shapes(doc) if s[1] is not None]
    if not shapes:
        return []
    appear = sum(1 for _, yes, _ in shapes if yes)
    head = (
        f"**The published experiment's shapes** (wrk -t20 -c2000 -d22s, "
        f"reference-experiment.md): {appear} of {len(shapes)} appear in this run."
    )
    return [head] + [
        f"{'Appears' if yes else '**Does not appear**'}: {name}. Here: {evidence}."
        for name, yes, evidence in shapes
    ]


def _interrupted(doc: MatrixResult) -> list[str]:
    cut = []
    for c in doc.cells:
        n = c.summary
        if n is not None and n.partial:
            cut.append(
                f"{c.name} after {n.runtime_s:.2f} s of the {doc.profile.duration_s:g} s cell"
            )
    if not cut:
        return []
    return [
        f"**Interrupted** (Ctrl-C or SIGTERM) while loading: {_join(cut)}. Its numbers cover "
        "only that part of the cell, so it is left out of the sentences above."
    ]


def _failed(doc: MatrixResult) -> list[str]:
    failed = [
        f"{c.name}: {c.error}" if c.status == FAILED else f"{c.name}: {c.status}: {c.error}"
        for c in doc.cells
        if c.summary is None
    ]
    if not failed:
        return []
    return [f"**Failed or not run** ({len(failed)}): {_join(failed)}."]


def interpret(doc: MatrixResult) -> list[str]:
    """Markdown bullet texts (without the leading dash) describing the results."""
    ok = _measured(doc)
    bullets: list[str] = []
    bullets += _gateways(doc, ok)
    bullets += _nothing(doc, ok)
    bullets += _blocking(ok)
    bullets += _kinds(ok)
    bullets += _clients(ok)
    bullets += _leaders(doc, ok)
    bullets += _spread(doc, ok)
    bullets += _errors(ok)
    bullets += _published(doc)
    bullets += _interrupted(doc)
    bullets += _failed(doc)
    return bullets
