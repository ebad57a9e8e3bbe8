"""wrk's number grammar and unit formatting (units.c): option values in, report fields out.

Formatting follows wrk byte for byte (units.c format_units()): every division is done in x87
80-bit ``long double`` (``numpy.longdouble`` on x86-64) and the result is rounded the way glibc's
``printf("%.*Lf")`` does it, i.e. round-half-even on the *exact* binary value. NaN prints as
``-nan`` (glibc x86-64 rendering of the 0/0 NaN) and infinity as ``inf``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "LONGDOUBLE_IS_X87",
    "Real",
    "format_binary",
    "format_fixed",
    "format_metric",
    "format_percent",
    "format_time_s",
    "format_time_us",
    "parse_metric",
    "parse_time_s",
    "print_units",
    "to_longdouble",
]

Real = int | float | np.longdouble
"""Anything wrk would hand to a ``long double`` parameter."""

LONGDOUBLE_IS_X87: bool = np.finfo(np.longdouble).nmant == 63
"""True where numpy.longdouble is the 80-bit x87 type wrk uses (x86-64 Linux/BSD)."""

_U64 = 1 << 64
_C_SPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale


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
_TIME_S = (60, "s", ("m", "h"))
_BINARY = (1024, "", ("K", "M", "G", "T", "P"))
_METRIC = (1000, "", ("k", "M", "G", "T", "P"))


# ---------------------------------------------------------------------------------------------
# formatting


def format_time_us(value: Real) -> str:
    """A duration in microseconds: ``us``/``ms`` below one second, else ``s``/``m`` (2 decimals)."""
    amount = to_longdouble(value)
    if amount >= np.longdouble(1_000_000.0):
        amount = np.longdouble(amount / np.longdouble(1_000_000.0))
        return _format_units(amount, *_TIME_S, 2)
    return _format_units(amount, *_TIME_US, 2)


def format_time_s(value: Real) -> str:
    """A duration in seconds with 0 decimals: ``3s``, ``1m`` (51 s and up), never ``h``."""
    return _format_units(to_longdouble(value), *_TIME_S, 0)


def format_metric(value: Real) -> str:
    """A count with SI units (1000): ``850`` -> ``0.85k``."""
    return _format_units(to_longdouble(value), *_METRIC, 2)


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


# ---------------------------------------------------------------------------------------------
# parsing


def _scan_units(text: str, base: str, units: tuple[str, ...], scale: int, what: str) -> int:
    """units.c scan_units(): ``sscanf(s, "%lu%2s")`` then a case-insensitive unit walk."""
    rest = text.lstrip(_C_SPACE)
    if rest[:1] == "+":  # %lu accepts a sign; negatives (which wrap in C) are refused here
        rest = rest[1:]
    digits_end = 0
    while digits_end < len(rest) and rest[digits_end] in "0123456789":
        digits_end += 1
    if digits_end == 0:
        raise ValueError(f"invalid {what}: {text!r}")
    number = min(int(rest[:digits_end]), _U64 - 1)  # strtoull saturates on overflow
    rest = rest[digits_end:].lstrip(_C_SPACE)
    unit = ""
    while len(unit) < 2 and len(unit) < len(rest) and rest[len(unit)] not in _C_SPACE:
        unit += rest[len(unit)]
    # anything after the (at most two-character) unit is never looked at by sscanf
    multiplier = 1
    if unit and unit.lower() != base.lower():
        for candidate in units:
            multiplier *= scale
            if unit.lower() == candidate.lower():
                break
        else:
            raise ValueError(f"invalid {what}: {text!r}")
    return (number * multiplier) % _U64  # uint64 arithmetic, no overflow check


def parse_metric(text: str) -> int:
    """The -c/-t/-R grammar: ``10``, ``1k``/``1K`` (1000), ``1m``/``1M`` (10**6), ``1 k``."""
    return _scan_units(text, _METRIC[1], _METRIC[2], _METRIC[0], "number")


def parse_time_s(text: str) -> int:
    """The -d/--timeout grammar, in whole seconds: ``2``, ``2s``, ``1m`` (60), ``1h`` (3600)."""
    return _scan_units(text, _TIME_S[1], _TIME_S[2], _TIME_S[0], "time")
