"""The progress tally: threads' seconds merged into the run's, the live numbers, the seconds."""

from __future__ import annotations

import dataclasses

from hdrh.histogram import HdrHistogram

from pyload._counters import Counters, LostPart, RunProgress
from pyload._messages import Progress
from pyload._progress import UNBUILT_SECONDS, ProgressTally
from pyload._seconds import SecondLatency

SECOND = 1_000_000_000


def test_each_second_is_reported_once_every_thread_has_sent_it():
    reports: list[RunProgress] = []
    tally = ProgressTally(2, reports.append)
    tally.add(Progress(0, SECOND, Counters(requests=10), {100: 10}))
    assert reports == []  # thread 1 has not sent its first second yet
    tally.add(Progress(1, SECOND + 10_000_000, Counters(requests=5, read_errors=1), {300: 5},
                       status_counts={404: 2, 503: 1}, open_connections=3))  # fmt: skip
    assert [
        (r.elapsed_s, r.counters.requests, r.workers, r.last_second_requests, r.p99_us)
        for r in reports
    ] == [(1.01, 15, 2, 15, 300)]
    tally.add(Progress(0, 2 * SECOND, Counters(requests=30), {100: 19, 5000: 1}))
    tally.finished(1, None)  # thread 1 is lost: its last progress still counts
    assert [(r.elapsed_s, r.counters.requests, r.last_second_requests) for r in reports][1:] == [
        (2.0, 35, 20)
    ]
    # The part-second at the end completes a second but is no second of progress.
    tally.add(Progress(0, 2 * SECOND + 400_000_000, Counters(requests=34), {90: 4}, final=True))
    tally.finished(0, Counters(requests=34))
    seconds = tally.flush()
    assert len(reports) == 2
    assert [(s.start_s, s.end_s, s.requests, s.error_count, s.latency_count) for s in seconds] == [
        (0.0, 1.01, 15, 1, 15),
        (1.01, 2.0, 20, 0, 20),
        (2.0, 2.4, 4, 0, 4),
    ]
    assert seconds[0].errors == {"connect": 0, "read": 1, "write": 0, "timeout": 0, "status": 0}
    # The 200s are the rest of the responses; the open connections, the threads' summed.
    assert seconds[0].status_classes == {"2xx": 12, "3xx": 0, "4xx": 2, "5xx": 1, "other": 0}
    assert [s.open_connections for s in seconds] == [3, 0, 0]
    assert [s.latency and (s.latency.p50, s.latency.p99, s.latency.max) for s in seconds] == [
        (100, 300, 300), (100, 5000, 5000), (90, 90, 90)
    ]  # fmt: skip
    total = HdrHistogram(1, 86_400_000_000, 3)
    for second in seconds:
        total.add(HdrHistogram.decode(second.latency_encoded))
    assert total.get_total_count() == 39 and total.get_max_value() == 5003  # 5000's cell


def test_without_a_live_consumer_the_seconds_are_built_after_the_load_or_ten_at_a_time():
    # No on_progress: nothing needs a second at once, so a short run's seconds are built at
    # flush (the parent imports numpy after the load); a long run's, UNBUILT_SECONDS at a time.
    # Either way they are the very seconds an on_progress run builds one by one.
    def feed(tally: ProgressTally, seconds: int) -> None:
        for n in range(1, seconds + 1):
            for thread in (0, 1):
                counts = {100 * n + thread: n, 7: 1}
                tally.add(Progress(thread, n * SECOND, Counters(requests=(n + 1) * n // 2 + n),
                                   counts))  # fmt: skip

    live = ProgressTally(2, lambda progress: None)
    quiet = ProgressTally(2, None)
    feed(live, UNBUILT_SECONDS - 1)
    feed(quiet, UNBUILT_SECONDS - 1)
    assert len(live.seconds) == UNBUILT_SECONDS - 1 and quiet.seconds == []
    feed_more = Progress(0, UNBUILT_SECONDS * SECOND, Counters(requests=1000), {5: 1})
    for tally in (live, quiet):
        tally.add(feed_more)
        tally.add(dataclasses.replace(feed_more, index=1))
    assert len(quiet.seconds) == UNBUILT_SECONDS  # the tenth complete second built them all
    for tally in (live, quiet):
        tally.finished(0, None)
        tally.finished(1, None)
    assert quiet.flush() == live.flush()
    assert [s.requests for s in quiet.seconds][:3] == [4, 6, 8]


def test_what_lost_threads_had_done():
    tally = ProgressTally(2, None)
    assert tally.last_words([0]) == (None, None)
    tally.add(Progress(0, SECOND, Counters(requests=10, timeouts=2)))
    tally.add(Progress(1, SECOND, Counters(requests=5)))
    done, when = tally.last_words([0, 1])
    assert (done, when) == (Counters(requests=15, timeouts=2), 1.0)
    lost = LostPart(1, (0, 1), "died before sending its result", done, when)
    assert str(lost) == (
        "worker process 1 (threads 0-1) died before sending its result "
        "(by 1.0 s: 15 requests, 2 errors)"
    )
    assert LostPart.from_json(lost.to_json()) == lost
    assert str(dataclasses.replace(lost, threads=(3,), last_progress=None)) == (
        "worker process 1 (thread 3) died before sending its result (it sent no progress)"
    )


def test_a_seconds_percentiles_are_wrks_rank():
    assert SecondLatency.of_counts({}) is None
    latency = SecondLatency.of_counts({value: 1 for value in range(1, 101)})
    assert latency is not None
    assert latency.p50 == 51  # rank floor(50) + 1, as stats_percentile()
    assert (latency.p99, latency.p99_9, latency.max) == (100, 100, 100)
    assert SecondLatency.of_counts({7: 3}) == SecondLatency(3, 7, 7, 7, 7, 7)


def test_a_second_without_latencies_has_none_and_the_p99_is_kept_only_for_a_callback():
    quiet = ProgressTally(1, None)  # no progress callback: no p99 of every latency so far
    quiet.add(Progress(0, SECOND, Counters(requests=3), {100: 2, 200: 1}))
    quiet.add(Progress(0, SECOND + 5, Counters(requests=3), {}, final=True))
    (first, last) = quiet.flush()
    assert (first.requests, first.latency_count, first.latency.p50) == (3, 3, 100)
    assert HdrHistogram.decode(first.latency_encoded).get_total_count() == 3
    assert quiet.cumulative is None and last.requests == 0 and last.latency is None
