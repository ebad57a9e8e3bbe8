"""wrk's number grammar (units.c scan_units()): option values from the command line. No numpy,
no I/O: Config parses its flags with it in every process.
"""

from __future__ import annotations

__all__ = ["METRIC_UNITS", "TIME_S_UNITS", "parse_metric", "parse_time_s"]

_U64 = 1 << 64
_C_SPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale
TIME_S_UNITS = (60, "s", ("m", "h"))  # scale, base unit, units: wrk.c time_units_s
METRIC_UNITS = (1000, "", ("k", "M", "G", "T", "P"))  # units_metric (units.c)


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
    return _scan_units(text, METRIC_UNITS[1], METRIC_UNITS[2], METRIC_UNITS[0], "number")


def parse_time_s(text: str) -> int:
    """The -d/--timeout grammar, in whole seconds: ``2``, ``2s``, ``1m`` (60), ``1h`` (3600)."""
    return _scan_units(text, TIME_S_UNITS[1], TIME_S_UNITS[2], TIME_S_UNITS[0], "time")
