"""The portable latency histogram: HdrHistogram (1 µs .. 24 h, 3 significant figures).

The parent builds it from the exact latency counts (``RunResult.latency_hdr``) for
HdrHistogram's own tools; its encoding is in the JSON result. ``merge_encoded_hdr`` adds up
encodings exactly, for histograms that come from elsewhere. Free of numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hdrh.histogram import HdrHistogram

__all__ = [
    "HDR_HIGHEST",
    "HDR_LOWEST",
    "HDR_SIGFIGS",
    "encode_hdr",
    "hdr_from_counts",
    "merge_encoded_hdr",
    "new_hdr",
]

HDR_LOWEST = 1
HDR_HIGHEST = 86_400_000_000  # 24 h in µs, as wrk2
HDR_SIGFIGS = 3


def new_hdr() -> HdrHistogram:
    """An empty histogram: 1 µs … 24 h, 3 significant figures (wrk2's parameters)."""
    return HdrHistogram(HDR_LOWEST, HDR_HIGHEST, HDR_SIGFIGS)


def hdr_from_counts(counts: Mapping[int, int]) -> HdrHistogram:
    """A histogram of ``{value: count}``; values above HDR_HIGHEST are clamped to it.

    The same histogram as ``record_value`` for each value gives (a test checks it), at a
    twentieth of the cost: each value's cell is computed here in three integer operations
    (hdrh's ``_counts_index_for``: the bucket from the bit length, then the sub-bucket), and
    the count, min, max and total are set once. The parent does this for every second of a
    run, during the load (``_seconds``), for tens of thousands of distinct values a second.
    """
    histogram = new_hdr()
    cells = histogram.counts
    mask = histogram.sub_bucket_mask
    unit = histogram.unit_magnitude
    half = histogram.sub_bucket_half_count_magnitude
    first = half + 1 + unit  # a bucket's index: the value's bit length less this
    base = histogram.sub_bucket_half_count
    total, low, high = 0, HDR_HIGHEST + 1, -1
    for value, n in counts.items():
        if value < 0:
            raise ValueError(f"cannot record a negative value: {value}")
        if not n:
            continue
        value = min(int(value), HDR_HIGHEST)
        bucket = (value | mask).bit_length() - first
        cells[((bucket + 1) << half) + (value >> (bucket + unit)) - base] += n
        total += n
        low = min(low, value)
        high = max(high, value)
    if total:
        histogram.total_count = total
        histogram.min_value = low
        histogram.max_value = high
    return histogram


def encode_hdr(h: HdrHistogram) -> str:
    """The histogram's compressed V2 encoding, as ASCII text (base64)."""
    encoded: bytes = h.encode()
    return encoded.decode("ascii")


def merge_encoded_hdr(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding the exact sum of every encoded part.

    Empty strings and empty histograms are skipped (hdrh's ``add`` of an empty histogram
    would reset the minimum to 0).
    """
    merged = new_hdr()
    for text in encoded:
        if not text:
            continue
        part = HdrHistogram.decode(text)
        if part.get_total_count() > 0:
            merged.add(part)
    return merged
