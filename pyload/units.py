"""wrk's unit formatting (units.c): the report's numbers, byte for byte. Public: tools that print
like wrk use it (``pyload.units.format_time_us``). Parsing wrk's number grammar is ``_grammar``.

Formatting follows wrk byte for byte (units.c format_units()): every division is done in x87
80-bit ``long double`` (``numpy.longdouble`` on x86-64) and the result is rounded the way glibc's
``printf("%.*Lf")`` does it, i.e. round-half-even on the *exact* binary value. NaN prints as
``-nan`` (glibc x86-64 rendering of the 0/0 NaN) and infinity as ``inf``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyload._grammar import METRIC_UNITS, TIME_S_UNITS

__all__ = [
    "LONGDOUBLE_IS_X87",
    "Real",
    "format_binary",
    "format_fixed",
    "format_metric",
    "format_percent",
    "format_time_s",
    "format_time_us",
    "print_units",
    "to_longdouble",
]

Real = int | float | np.longdouble
"""Anything wrk would hand to a ``long double`` parameter."""

LONGDOUBLE_IS_X87: bool = np.finfo(np.longdouble).nmant == 63
"""True where numpy.longdouble is the 80-bit x87 type wrk uses (x86-64 Linux/BSD)."""

_U64 = 1 << 64


# ---------------------------------------------------------------------------------------------
# long double helpers


def to_longdouble(value: Real | np.integer | np.floating) -> np.longdouble:
    """Convert like C's implicit conversion to long double (integers below 2**64 are exact)."""
    if isinstance(value, np.longdouble):
        return value
    if isinstance(value, int | np.integer):
        number = int(value)
        magnitude = abs(number)
        if magnitude < _U64:
            high, low = divmod(magnitude, 1 << 32)
            exact = np.longdouble(high) * np.longdouble(1 << 32) + np.longdouble(low)
            return np.longdouble(-exact if number < 0 else exact)
        return np.longdouble(str(number))
    return np.longdouble(value)


def format_fixed(value: Real, decimals: int = 2) -> str:
    """glibc ``printf("%.{decimals}Lf", value)``: round-half-even on the exact binary value."""
    x = to_longdouble(value)
    if np.isnan(x):
        return "-nan"
    if np.isinf(x):
        return "-inf" if x < 0 else "inf"
    numerator, denominator = x.as_integer_ratio()
    quotient, remainder = divmod(abs(numerator) * 10**decimals, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    digits = str(quotient).rjust(decimals + 1, "0")
    sign = "-" if np.signbit(x) else ""
    if decimals == 0:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def _format_units(
    value: np.longdouble, scale: int, base: str, units: tuple[str, ...], decimals: int
) -> str:
    """units.c format_units(): divide while >= 0.85 x scale; the last listed unit is unreachable."""
    amount = value
    unit = base
    threshold = np.longdouble(scale * 0.85)  # int * double in C: a double, then widened
    divisor = np.longdouble(scale)
    index = 0
    while index + 1 < len(units) and amount >= threshold:
        amount = np.longdouble(amount / divisor)
        unit = units[index]
        index += 1
    return format_fixed(amount, decimals) + unit


_TIME_US = (1000, "us", ("ms", "s"))
_BINARY = (1024, "", ("K", "M", "G", "T", "P"))


# ---------------------------------------------------------------------------------------------
# formatting


def format_time_us(value: Real) -> str:
    """A duration in microseconds: ``us``/``ms`` below one second, else ``s``/``m`` (2 decimals)."""
    amount = to_longdouble(value)
    if amount >= np.longdouble(1_000_000.0):
        amount = np.longdouble(amount / np.longdouble(1_000_000.0))
        return _format_units(amount, *TIME_S_UNITS, 2)
    return _format_units(amount, *_TIME_US, 2)


def format_time_s(value: Real) -> str:
    """A duration in seconds with 0 decimals: ``3s``, ``1m`` (51 s and up), never ``h``."""
    return _format_units(to_longdouble(value), *TIME_S_UNITS, 0)


def format_metric(value: Real) -> str:
    """A count with SI units (1000): ``850`` -> ``0.85k``."""
    return _format_units(to_longdouble(value), *METRIC_UNITS, 2)


def format_binary(value: Real) -> str:
    """A byte count with binary units (1024): ``870.4`` -> ``0.85K`` (caller appends ``B``)."""
    return _format_units(to_longdouble(value), *_BINARY, 2)


def format_percent(value: Real) -> str:
    """wrk's ``%8.2Lf%%`` column: ``96.91`` -> ``'  96.91%'``, NaN -> ``'    -nan%'``."""
    return format_fixed(value, 2).rjust(8) + "%"


def _c_isalpha(char: str) -> bool:
    return char.isascii() and char.isalpha()


def print_units(value: Real, formatter: Callable[[Real], str], width: int) -> str:
    """wrk.c print_units(): right-align and truncate to width - pad, then pad spaces.

    pad starts at 2 and loses one for each of the last two characters that is a letter, so a
    value ending in a two-letter unit fills the field and a unit-less value gets two trailing
    spaces. Truncation keeps the leftmost characters (C ``%*.*s``).
    """
    text = formatter(value)
    pad = 2
    if text and _c_isalpha(text[-1]):
        pad -= 1
    if len(text) >= 2 and _c_isalpha(text[-2]):
        pad -= 1
    field = width - pad
    return text[:field].rjust(field) + " " * pad
