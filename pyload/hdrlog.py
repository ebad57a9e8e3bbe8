"""The HdrHistogram interval log (``--hdr-log``): one encoded histogram per second of the run.

The standard text format of HdrHistogram's HistogramLogWriter (log format 1.3), which its log
readers read (HdrHistogram_py's ``hdrh.log.HistogramLogReader``, Java's HistogramLogProcessor
and HdrHistogram's plotters): comment lines, a legend, then one line per interval:
``start_s,length_s,max_ms,HISTF...``, start relative to the start of measurement. Values are
µs, as in every pyload histogram (1 µs .. 24 h, 3 significant figures); the max column is in ms
(a unit ratio of 1000). The intervals are the run's seconds (``RunResult.seconds``, from its
progress tally): at a constant rate they hold the latencies from the intended send times, else
as measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from hdrh.histogram import HdrHistogram

from pyload._seconds import Second

__all__ = ["HDR_LOG_FORMAT_VERSION", "MAX_VALUE_UNIT_RATIO", "write_hdr_log"]

HDR_LOG_FORMAT_VERSION = "1.3"
MAX_VALUE_UNIT_RATIO = 1000.0  # the max column in ms, from µs values
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'


def write_hdr_log(out: TextIO, intervals: Iterable[Second], comment: str = "") -> None:
    """Write ``intervals`` as an interval log to ``out`` (raises OSError as the file does, and
    ValueError for seconds without their latencies: ``to_dict(raw=False)`` leaves them out)."""
    out.write(f"#[Histogram log format version {HDR_LOG_FORMAT_VERSION}]\n")
    if comment:
        out.write(f"#[{comment}]\n")
    out.write("#[values in microseconds; Interval_Max in milliseconds]\n")
    out.write(LEGEND + "\n")
    for interval in intervals:
        if not interval.latency_encoded:
            raise ValueError("the run's seconds have no latency histograms")
        histogram = HdrHistogram.decode(interval.latency_encoded)
        top = histogram.get_max_value() if interval.latency_count else 0
        out.write(
            f"{interval.start_s:.3f},{interval.end_s - interval.start_s:.3f},"
            f"{top / MAX_VALUE_UNIT_RATIO:.3f},{interval.latency_encoded}\n"
        )
