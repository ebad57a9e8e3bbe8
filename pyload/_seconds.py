"""The run's seconds: one record per second of measurement, its JSON form and the exact merge of
the seconds of several parts. Plain data and arithmetic; no I/O.

A ``Second`` is what the run did in one second, all threads together (the progress tally,
``_progress``, builds them as the threads' Progress messages arrive): the responses and their
status classes, the errors by wrk's kinds, the connections open at its end, and its latencies,
both as a summary (count, p50, p90, p99, p99.9 by wrk's rank rule, and the max) and as an
encoded HdrHistogram, so that the seconds of several runs (``pyload merge``) or agents
(``--dask``) add up exactly. At a constant rate (-R) the latencies are those from the intended
send times (the printed kind); in the closed loop, as measured (wrk's post-run correction is
per run, not per second).

The 200s are not counted on their own: the engine counts every other status code (a rare
branch of the hot path), and the 200s of a second are its responses less those.

The parent builds a second while the load runs, from tens of thousands of distinct latencies a
second at -t20 -c2000: the threads' counts are added, the percentiles taken and the histogram
filled with numpy (``latency_arrays``, ``hdr_of_arrays``), a few milliseconds a second where
a value at a time cost ten times that. numpy is imported on first use: the parent loads it
once its workers exist, and they need none of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram

from pyload._counters import ERROR_NAMES
from pyload._hdr import HDR_HIGHEST, encode_hdr, merge_encoded_hdr, new_hdr

if TYPE_CHECKING:
    import numpy as np

    Arrays = tuple[np.ndarray, np.ndarray]  # sorted distinct µs, and their counts

__all__ = [
    "SECOND_PERCENTILES",
    "STATUS_CLASSES",
    "Second",
    "SecondLatency",
    "hdr_of_arrays",
    "latency_arrays",
    "merge_seconds",
    "status_class",
    "status_classes",
    "status_codes",
]

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "other")
SECOND_PERCENTILES = (50.0, 90.0, 99.0, 99.9)  # and the max: what each second summarises
_KEYS = ("p50", "p90", "p99", "p99.9")


def status_class(code: int) -> str:
    """``2xx`` .. ``5xx``, or ``other`` (1xx: 101 Switching Protocols; anything off the scale)."""
    return f"{code // 100}xx" if 200 <= code < 600 else "other"


def status_codes(requests: int, others: Mapping[int, int]) -> dict[int, int]:
    """Every response by status code, in code order: ``others`` (every code but 200, as the
    engine counts them) and the 200s, the rest of the ``requests`` (left out when none)."""
    codes = {code: n for code, n in others.items() if n}
    ok = requests - sum(codes.values())
    if ok:
        codes[200] = ok
    return dict(sorted(codes.items()))


def status_classes(requests: int, others: Mapping[int, int]) -> dict[str, int]:
    """The responses by status class (every class present, 0 when none)."""
    classes = dict.fromkeys(STATUS_CLASSES, 0)
    for code, n in status_codes(requests, others).items():
        classes[status_class(code)] += n
    return classes


def latency_arrays(parts: Iterable[Mapping[int, int]]) -> Arrays:
    """``{µs: count}`` mappings added up: the sorted distinct values and their counts (none 0)."""
    import numpy as np

    parts = list(parts)
    size = sum(len(part) for part in parts)
    values = np.fromiter(itertools.chain.from_iterable(parts), np.int64, size)
    counts = np.fromiter(
        itertools.chain.from_iterable(part.values() for part in parts), np.int64, size
    )
    return added((values, counts))


def added(*parts: Arrays) -> Arrays:
    """Arrays of values and counts added up: sorted distinct values and their counts (none 0)."""
    import numpy as np

    values = np.concatenate([v for v, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    keep = counts != 0
    values, counts = values[keep], counts[keep]
    if not values.size:
        return values, counts
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.add.reduceat(counts, starts)


def hdr_of_arrays(values: np.ndarray, counts: np.ndarray) -> HdrHistogram:
    """The HdrHistogram of sorted distinct ``values`` (µs) and their ``counts``: the one
    ``_hdr.hdr_from_counts`` gives (a test checks it), each value's cell computed for all of
    them at once (hdrh's ``_counts_index_for``: the bucket from the bit length of the value
    with the sub-bucket mask set, then the sub-bucket)."""
    import numpy as np

    histogram = new_hdr()
    if not values.size:
        return histogram
    if int(values[0]) < 0:
        raise ValueError(f"cannot record a negative value: {int(values[0])}")
    clamped = np.minimum(values, HDR_HIGHEST)
    unit, half = histogram.unit_magnitude, histogram.sub_bucket_half_count_magnitude
    # frexp's exponent is the bit length (the values are far below 2**53).
    bits = np.frexp((clamped | histogram.sub_bucket_mask).astype(np.float64))[1]
    bucket = bits.astype(np.int64) - (half + 1 + unit)
    cells = ((bucket + 1) << half) + (clamped >> (bucket + unit))
    cells -= histogram.sub_bucket_half_count
    np.add.at(np.ctypeslib.as_array(histogram.counts), cells, counts.astype(np.uint64))
    histogram.total_count = int(counts.sum())
    histogram.min_value = int(clamped[0])
    histogram.max_value = int(clamped[-1])
    return histogram


@dataclass(frozen=True)
class SecondLatency:
    """A second's latencies in µs: how many, four percentiles by wrk's rank rule (stats.c
    stats_percentile()) and the max."""

    count: int
    p50: int
    p90: int
    p99: int
    p99_9: int
    max: int

    @classmethod
    def of_arrays(cls, values: np.ndarray, counts: np.ndarray) -> SecondLatency | None:
        """Exact, from sorted distinct values and their counts; None when there is none."""
        from pyload._stats import rank_percentiles

        total = int(counts.sum())
        if not total:
            return None
        p50, p90, p99, p99_9 = rank_percentiles(values, counts, total, SECOND_PERCENTILES)
        return cls(total, p50, p90, p99, p99_9, int(values[-1]))

    @classmethod
    def of_counts(cls, counts: Mapping[int, int]) -> SecondLatency | None:
        """Exact, from ``{µs: count}``; None when there is none."""
        return cls.of_arrays(*latency_arrays([counts]))

    @classmethod
    def of_hdr(cls, histogram: HdrHistogram, top: int) -> SecondLatency | None:
        """From a merged HdrHistogram: the same rank rule over its cells (each at its highest
        equivalent value: 3 significant figures, exact below 2048 µs), none above ``top``,
        the exact max of the parts."""
        counts: dict[int, int] = {}
        for cell in histogram.get_recorded_iterator():
            value = min(int(cell.value_iterated_to), top)
            counts[value] = counts.get(value, 0) + int(cell.count_at_value_iterated_to)
        summary = cls.of_counts(counts)
        return None if summary is None else _replace_max(summary, top)

    def to_json(self) -> dict[str, int]:
        values = (self.p50, self.p90, self.p99, self.p99_9)
        return {"count": self.count, **dict(zip(_KEYS, values, strict=True)), "max": self.max}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SecondLatency | None:
        if data is None:
            return None
        p50, p90, p99, p99_9 = (int(data[key]) for key in _KEYS)
        return cls(int(data["count"]), p50, p90, p99, p99_9, int(data["max"]))


def _replace_max(summary: SecondLatency, top: int) -> SecondLatency:
    return SecondLatency(summary.count, summary.p50, summary.p90, summary.p99, summary.p99_9, top)


@dataclass(frozen=True)
class Second:
    """One second of the run (the last may be shorter), all threads together."""

    start_s: float  # since the start of measurement
    end_s: float
    requests: int  # responses counted in it, whatever their status
    status_classes: Mapping[str, int]  # those by class: 2xx, 3xx, 4xx, 5xx, other
    errors: Mapping[str, int]  # by wrk's names: connect, read, write, timeout, status
    open_connections: int  # at its end
    latency: SecondLatency | None  # None: no latency recorded in it
    latency_encoded: str  # its latencies as a compressed HdrHistogram (hdr.encode_hdr)

    @property
    def latency_count(self) -> int:
        return 0 if self.latency is None else self.latency.count

    @property
    def error_count(self) -> int:
        """Errors of every kind."""
        return sum(self.errors.values())

    @classmethod
    def of(
        cls,
        start_s: float,
        end_s: float,
        requests: int,
        other_codes: Mapping[int, int],
        errors: Mapping[str, int],
        open_connections: int,
        latencies: Arrays,
    ) -> Second:
        """A second from what the threads counted in it (``other_codes``: every status code
        but 200; ``latencies``: its latencies, exact, as ``latency_arrays`` adds them)."""
        return cls(
            start_s,
            end_s,
            requests,
            status_classes(requests, other_codes),
            {name: int(errors.get(name, 0)) for name in ERROR_NAMES},
            open_connections,
            SecondLatency.of_arrays(*latencies),
            encode_hdr(hdr_of_arrays(*latencies)),
        )

    def to_json(self, hdr: bool = True) -> dict[str, Any]:
        """The ``seconds[]`` entry of the JSON result (docs/json.md); ``hdr=False`` leaves out
        ``latency_hdr``, the bulk of it."""
        data: dict[str, Any] = {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "requests": self.requests,
            "status_classes": dict(self.status_classes),
            "errors": dict(self.errors),
            "open_connections": self.open_connections,
            "latency_us": None if self.latency is None else self.latency.to_json(),
        }
        if hdr:
            data["latency_hdr"] = self.latency_encoded
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Second:
        classes = data["status_classes"]
        errors = data["errors"]
        return cls(
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            requests=int(data["requests"]),
            status_classes={name: int(classes.get(name, 0)) for name in STATUS_CLASSES},
            errors={name: int(errors.get(name, 0)) for name in ERROR_NAMES},
            open_connections=int(data["open_connections"]),
            latency=SecondLatency.from_json(data["latency_us"]),
            latency_encoded=str(data.get("latency_hdr", "")),
        )


def merge_seconds(parts: Sequence[Sequence[Second]]) -> tuple[Second, ...]:
    """The seconds of parts that ran at the same time (a distributed run's agents, the files of
    ``pyload merge``), second by second: the n-th of each added up, their latencies exactly
    (HdrHistogram encodings added; the percentiles then to its 3 significant figures, the max
    exact). A part that ended earlier simply has fewer seconds; a second present in one part
    only is kept as it is. A part without seconds (a result from before they were kept) makes
    the merge have none: () rather than seconds that leave a part out."""
    if not parts or any(not seconds for seconds in parts):
        return ()
    merged: list[Second] = []
    for number, seconds in enumerate(itertools.zip_longest(*parts)):
        present = [s for s in seconds if s is not None]
        start_s = merged[number - 1].end_s if number else min(s.start_s for s in present)
        if len(present) == 1:
            only = present[0]
            merged.append(
                Second(start_s, max(start_s, only.end_s), only.requests, only.status_classes,
                       only.errors, only.open_connections, only.latency, only.latency_encoded)
            )  # fmt: skip
            continue
        kept = all(s.latency_encoded for s in present)
        histogram = merge_encoded_hdr(s.latency_encoded for s in present) if kept else None
        latencies = [s.latency for s in present if s.latency is not None]
        latency = None
        if histogram is not None and latencies:
            latency = SecondLatency.of_hdr(histogram, max(lat.max for lat in latencies))
        merged.append(
            Second(
                start_s=start_s,
                end_s=max(start_s, max(s.end_s for s in present)),
                requests=sum(s.requests for s in present),
                status_classes=_sum(s.status_classes for s in present),
                errors=_sum(s.errors for s in present),
                open_connections=sum(s.open_connections for s in present),
                latency=latency,
                latency_encoded="" if histogram is None else encode_hdr(histogram),
            )
        )
    return tuple(merged)


def _sum(mappings: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for mapping in mappings:
        for key, n in mapping.items():
            total[key] = total.get(key, 0) + n
    return total
