"""wrk's two lines before the load (wrk.c main), without numpy: printed before the load starts,
when nothing of the report (``_report``, ``units``: numpy's long double) has been imported.

The duration is the one number in them, and ``units.format_time_s`` prints it with no decimals
after at most one division by 60 (units.c format_units()). Done here on the exact rational
value, it gives the same text: the x87 quotient rounds a double's or an integer's value by far
less than the distance from the exact quotient to a half (tests/test_header.py checks the two
against each other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyload.config import Config

__all__ = ["duration_text", "wrk_header"]

_MINUTE = 60  # units.c time_units_s: scale 60, "s", then "m" (its "h" is never reached)
_IN_MINUTES_FROM = (_MINUTE * 0.85).as_integer_ratio()  # units.c: scale * 0.85 in double (51)


def duration_text(seconds: float) -> str:
    """``units.format_time_s(seconds)``: ``3s``, ``50s``, ``1m`` (from 51 s), ``2m`` (150 s:
    2.5 rounded half to even, as glibc's ``%.0Lf``)."""
    numerator, denominator = seconds.as_integer_ratio()  # exact, for an int or a float
    unit = "s"
    at_least, over = _IN_MINUTES_FROM
    if numerator * over >= at_least * denominator:
        denominator, unit = denominator * _MINUTE, "m"
    whole, rest = divmod(numerator, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and whole % 2 == 1):
        whole += 1  # half to even, on the exact value (units.format_fixed)
    return f"{whole}{unit}"


def wrk_header(config: Config) -> str:
    """The two lines wrk prints before the run starts (they need only the settings)."""
    return (
        f"Running {duration_text(config.duration)} test @ {config.url}\n"
        f"  {config.threads} threads and {config.connections} connections\n"
    )
