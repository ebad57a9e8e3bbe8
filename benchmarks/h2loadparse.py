"""h2load's text report to numbers (pure: regexes over the text, no I/O).

Reads the lines h2load (nghttp2's load generator, src/h2load.cc print_stats()) prints at the end
of a run: ``finished in 5.00s, 88267.50 req/s, 6.06MB/s``; ``requests: N total, N started, N
done, N succeeded, N failed, N errored, N timeout``; ``status codes: N 2xx, N 3xx, N 4xx, N
5xx``; the byte count in parentheses on the ``traffic:`` line; the mean of the ``time for
request:`` row; and ``Application protocol: h2c`` (or h2, http/1.1). With ``-D`` h2load's
req/s is over the main duration (its warm-up left out), as is the requests count.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["H2loadParseError", "H2loadText", "parse_h2load", "parse_h2load_time_us"]

_TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_FINISHED = re.compile(
    r"^finished in (?P<runtime>\S+), (?P<rps>[0-9.]+) req/s, (?P<rate>\S+)/s\s*$", re.M
)
_REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout\s*$",
    re.M,
)
_STATUS = re.compile(
    r"^status codes: (?P<s2xx>\d+) 2xx, (?P<s3xx>\d+) 3xx, (?P<s4xx>\d+) 4xx, (?P<s5xx>\d+) 5xx",
    re.M,
)
_TRAFFIC = re.compile(r"^traffic: \S+ \((?P<bytes>\d+)\) total", re.M)
_REQUEST_TIME = re.compile(
    r"^time for request:\s+(?P<min>\S+)\s+(?P<max>\S+)\s+(?P<mean>\S+)\s+(?P<sd>\S+)", re.M
)
_PROTOCOL = re.compile(r"^Application protocol: (?P<protocol>\S+)\s*$", re.M)


class H2loadParseError(ValueError):
    """The text is not an h2load report (its ``finished in`` or ``requests:`` line is missing,
    or a number is malformed)."""


def parse_h2load_time_us(text: str) -> float:
    """h2load's durations (util::format_duration): ``"80us"`` -> 80.0, ``"9.95ms"`` -> 9950.0,
    ``"2.01s"`` -> 2010000.0."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise H2loadParseError(f"not an h2load duration: {text!r}")
    return float(match.group(1)) * _TIME_US[match.group(2)]


@dataclass(frozen=True)
class H2loadText:
    """What an h2load report says. ``requests`` are the requests done (succeeded or not);
    ``runtime_s`` is the ``finished in`` time; the mean request time is None when h2load did
    not print its row (no request done)."""

    requests: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    runtime_s: float
    requests_per_s: float
    status_2xx: int
    status_3xx: int
    status_4xx: int
    status_5xx: int
    bytes_total: int | None
    mean_request_us: float | None
    protocol: str | None

    @property
    def errors(self) -> dict[str, int]:
        """The failures as counters, as the selfbench records them for every tool."""
        return {
            "failed": self.failed,
            "errored": self.errored,
            "timeout": self.timeout,
            "non_2xx": self.status_3xx + self.status_4xx + self.status_5xx,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_h2load(text: str) -> H2loadText:
    """h2load's report (stdout) to numbers. Raises H2loadParseError if it is not one."""
    finished = _FINISHED.search(text)
    requests = _REQUESTS.search(text)
    if finished is None or requests is None:
        raise H2loadParseError("no 'finished in' and 'requests:' lines: not an h2load report")
    status = _STATUS.search(text)
    traffic = _TRAFFIC.search(text)
    request_time = _REQUEST_TIME.search(text)
    protocol = _PROTOCOL.search(text)
    statuses = [int(status.group(k)) if status else 0 for k in ("s2xx", "s3xx", "s4xx", "s5xx")]
    return H2loadText(
        requests=int(requests.group("done")),
        succeeded=int(requests.group("succeeded")),
        failed=int(requests.group("failed")),
        errored=int(requests.group("errored")),
        timeout=int(requests.group("timeout")),
        runtime_s=parse_h2load_time_us(finished.group("runtime")) / 1e6,
        requests_per_s=float(finished.group("rps")),
        status_2xx=statuses[0],
        status_3xx=statuses[1],
        status_4xx=statuses[2],
        status_5xx=statuses[3],
        bytes_total=int(traffic.group("bytes")) if traffic else None,
        mean_request_us=(
            parse_h2load_time_us(request_time.group("mean")) if request_time else None
        ),
        protocol=protocol.group("protocol") if protocol else None,
    )
