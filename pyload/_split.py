"""Counts split into parts: the even split (connections over threads, threads over processes and
agents) and the proportional one (``-n`` over agents). Pure arithmetic, no I/O."""

from __future__ import annotations

import itertools

__all__ = ["even_split", "proportional_split"]


def even_split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` whole parts as even as can be, the larger ones first: 10 over 3 ->
    [4, 3, 3]. (wrk gives every thread ``c // t`` connections and drops the rest, wg/wrk#157.)"""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def proportional_split(total: int, weights: list[int]) -> list[int]:
    """``total`` in whole parts proportional to ``weights``, each at least 1 (the largest
    remainders get the rest)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [max(1, int(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in itertools.islice(itertools.cycle(order), max(0, total - sum(parts))):
        parts[i] += 1
    return parts
