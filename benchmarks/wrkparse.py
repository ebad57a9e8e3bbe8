"""wrk's text report to numbers (pure: regexes over the text, no I/O).

Reads the lines wrk prints (wrk.c main(), print_stats(), print_stats_latency()): the latency and
Req/Sec rows, the optional latency distribution, the requests line, socket errors, non-2xx
responses and the two rates. Units are undone with the factors wrk divides by (µs/ms/s/m for time,
k/M/G/T for counts, K/M/G/T by 1024 for bytes; units.c format_units()), so the numbers are as exact
as the two printed decimals allow. ``-nan`` becomes None.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WrkParseError", "WrkText", "parse_binary", "parse_metric", "parse_time_us", "parse_wrk"]

# A width-8 field truncates "1000.00ms" to "1000.00m" and "1440.00m" to "1440.00" (wrk.c
# print_units()): an "m" value of 1000 or more is milliseconds, a unitless time is minutes.
_TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "": 60e6}
_TRUNCATED_MS = 1000.0
_METRIC = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BINARY = {"": 1.0, "K": 1024.0, "M": 1024.0**2, "G": 1024.0**3, "T": 1024.0**4}

_NUM = r"(-?nan|-?inf|[0-9]+(?:\.[0-9]+)?)"
_HEADER = re.compile(r"^Running (?P<duration>\S+) test @ (?P<url>\S+)\s*$", re.M)
_THREADS = re.compile(r"^\s+(?P<threads>\d+) threads and (?P<connections>\d+) connections", re.M)
_ROW = r"^\s+{name}\s+(?P<avg>\S+)\s+(?P<stdev>\S+)\s+(?P<max>\S+)\s+(?P<pct>\S+)%\s*$"
_LATENCY_ROW = re.compile(_ROW.format(name="Latency"), re.M)
_RATE_ROW = re.compile(_ROW.format(name=r"Req/Sec"), re.M)
_PERCENTILE = re.compile(r"^\s*(?P<p>[0-9.]+)%\s+(?P<value>\S+)\s*$", re.M)
_REQUESTS = re.compile(
    r"^\s+(?P<requests>\d+) requests in (?P<runtime>\S+), (?P<bytes>\S+)B read\s*$", re.M
)
_SOCKET = re.compile(
    r"^\s+Socket errors: connect (?P<connect>\d+), read (?P<read>\d+), "
    r"write (?P<write>\d+), timeout (?P<timeout>\d+)\s*$",
    re.M,
)
_STATUS = re.compile(r"^\s+Non-2xx or 3xx responses: (?P<status>\d+)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+(?P<rps>\S+)\s*$", re.M)
_TPS = re.compile(r"^Transfer/sec:\s+(?P<tps>\S+)B\s*$", re.M)


class WrkParseError(ValueError):
    """The text is not a wrk report (a mandatory line is missing or a number is malformed)."""


def _split(text: str, units: dict[str, float], what: str) -> float:
    match = re.fullmatch(_NUM + r"([A-Za-z]*)", text.strip())
    if match is None or match.group(2) not in units:
        raise WrkParseError(f"not a {what}: {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    if units is _TIME_US and unit == "m" and value >= _TRUNCATED_MS:
        unit = "ms"
    return value * units[unit]


def parse_time_us(text: str) -> float:
    """``"203.95us"`` -> 203.95, ``"4.44ms"`` -> 4440.0, ``"1.20s"`` -> 1.2e6 (NaN for -nan)."""
    return _split(text, _TIME_US, "time")


def parse_metric(text: str) -> float:
    """``"29.29k"`` -> 29290.0, ``"611.62"`` -> 611.62."""
    return _split(text, _METRIC, "metric number")


def parse_binary(text: str) -> float:
    """``"13.22M"`` -> 13.22 x 1024², ``"312.00"`` -> 312.0 (the caller strips the ``B``)."""
    return _split(text, _BINARY, "byte count")


def _number_or_none(value: float) -> float | None:
    return None if value != value else value  # NaN -> None


@dataclass(frozen=True)
class WrkText:
    """The numbers of one wrk report. Times are µs, rates per second, ``None`` for ``-nan``."""

    requests: int
    runtime_us: float
    bytes_read: float
    requests_per_s: float
    transfer_per_s: float
    latency_avg_us: float
    latency_stdev_us: float
    latency_max_us: float
    latency_within_stdev_pct: float | None
    rate_avg: float
    rate_stdev: float
    rate_max: float
    rate_within_stdev_pct: float | None
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    status_errors: int = 0
    percentiles_us: dict[str, float] = field(default_factory=dict)
    duration: str | None = None
    url: str | None = None
    threads: int | None = None
    connections: int | None = None

    @property
    def errors(self) -> dict[str, int]:
        """The same keys as pyload's ``RunResult.errors``."""
        return {
            "connect": self.connect_errors,
            "read": self.read_errors,
            "write": self.write_errors,
            "timeout": self.timeouts,
            "status": self.status_errors,
        }

    def percentile(self, p: float) -> float | None:
        """A printed percentile (50, 75, 90, 99) in µs, None when --latency was not given."""
        return self.percentiles_us.get(f"{p:g}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = self.errors
        return data


def _row(pattern: re.Pattern[str], text: str, parse: Any, name: str) -> tuple[Any, ...]:
    match = pattern.search(text)
    if match is None:
        raise WrkParseError(f"no {name} row")
    pct = float(match["pct"])
    return (parse(match["avg"]), parse(match["stdev"]), parse(match["max"]), _number_or_none(pct))


def parse_wrk(text: str) -> WrkText:
    """Parse wrk's report text (the header lines are optional). Raises WrkParseError."""
    requests = _REQUESTS.search(text)
    rps = _RPS.search(text)
    tps = _TPS.search(text)
    if requests is None or rps is None or tps is None:
        raise WrkParseError("not a wrk report: no 'requests in', Requests/sec or Transfer/sec line")
    lat = _row(_LATENCY_ROW, text, parse_time_us, "Latency")
    rate = _row(_RATE_ROW, text, parse_metric, "Req/Sec")
    percentiles: dict[str, float] = {}
    distribution = text.find("Latency Distribution")
    if distribution >= 0:
        block = text[distribution : requests.start()]
        for match in _PERCENTILE.finditer(block):
            percentiles[f"{float(match['p']):g}"] = parse_time_us(match["value"])
    socket = _SOCKET.search(text)
    status = _STATUS.search(text)
    header = _HEADER.search(text)
    threads = _THREADS.search(text)
    return WrkText(
        requests=int(requests["requests"]),
        runtime_us=parse_time_us(requests["runtime"]),
        bytes_read=parse_binary(requests["bytes"]),
        requests_per_s=float(rps["rps"]),
        transfer_per_s=parse_binary(tps["tps"]),
        latency_avg_us=lat[0],
        latency_stdev_us=lat[1],
        latency_max_us=lat[2],
        latency_within_stdev_pct=lat[3],
        rate_avg=rate[0],
        rate_stdev=rate[1],
        rate_max=rate[2],
        rate_within_stdev_pct=rate[3],
        connect_errors=int(socket["connect"]) if socket else 0,
        read_errors=int(socket["read"]) if socket else 0,
        write_errors=int(socket["write"]) if socket else 0,
        timeouts=int(socket["timeout"]) if socket else 0,
        status_errors=int(status["status"]) if status else 0,
        percentiles_us=percentiles,
        duration=header["duration"] if header else None,
        url=header["url"] if header else None,
        threads=int(threads["threads"]) if threads else None,
        connections=int(threads["connections"]) if threads else None,
    )
