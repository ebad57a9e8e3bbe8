"""``pyload compare``: the Mann-Whitney U test checked against brute force and published values,
the verdict rules on constructed samples, and real runs against the test server compared by the
command line."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import pyload
from pyload._cli import EXIT_THRESHOLD, main
from pyload._mann_whitney import EXACT_MAX, mann_whitney, smallest_p, u_distribution
from pyload.compare import (
    ALPHA,
    FASTER,
    FEWER,
    METRICS,
    MIN_CHANGE,
    MIN_SECONDS,
    MORE,
    NO_CHANGE,
    SLOWER,
    TOO_FEW,
    RunSamples,
    compare,
    compare_samples,
    per_second_samples,
)
from pyload.result import Second
from tests.browser import network_references, open_page
from tests.helpers import CLI_HANG_S, pyload_cli
from tests.procs import spawn
from tests.target_server import running

# -- the test itself, against brute force ---------------------------------------------------


def brute_force(first: Sequence[float], second: Sequence[float]) -> tuple[float, float, float]:
    """U of ``first``, its two-sided p-value and the variance of U, by enumerating every split
    of the pooled values into groups of the two sizes (each equally likely under the null
    hypothesis): p is the share of splits whose U is at least as far from the mean."""
    pooled = [*first, *second]
    n1 = len(first)

    def u_of(group: Sequence[float], rest: Sequence[float]) -> float:
        return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in group for b in rest)

    observed = u_of(first, second)
    mean = n1 * len(second) / 2
    us = []
    for chosen in itertools.combinations(range(len(pooled)), n1):
        picked = set(chosen)
        group = [pooled[i] for i in chosen]
        rest = [pooled[i] for i in range(len(pooled)) if i not in picked]
        us.append(u_of(group, rest))
    far = sum(1 for u in us if abs(u - mean) >= abs(observed - mean) - 1e-9)
    variance = sum((u - mean) ** 2 for u in us) / len(us)
    return observed, far / len(us), variance


@pytest.mark.parametrize("seed", range(12))
def test_the_exact_p_value_is_the_share_of_splits_as_extreme(seed: int):
    rng = random.Random(seed)
    n1, n2 = rng.randint(1, 7), rng.randint(1, 7)
    values = rng.sample(range(1000), n1 + n2)  # distinct: no ties
    first, second = values[:n1], values[n1:]
    test = mann_whitney(first, second)
    u, p, _ = brute_force(first, second)
    assert test.exact
    assert test.u == u
    assert test.p == pytest.approx(p, rel=1e-12)
    tied = [value % 5 for value in values]  # the same sizes, with ties: counted group by group
    test = mann_whitney(tied[:n1], tied[n1:])
    u, p, _ = brute_force(tied[:n1], tied[n1:])
    assert (test.exact, test.u) == (True, u)
    assert test.p == pytest.approx(p, rel=1e-12)


def test_the_u_distribution_counts_every_split():
    for n1, n2 in ((1, 1), (2, 3), (4, 4), (5, 3), (6, 7)):
        counts = u_distribution(n1, n2)
        assert sum(counts) == math.comb(n1 + n2, n1)
        assert counts == counts[::-1]  # symmetric about n1 n2 / 2
        by_brute = [0] * (n1 * n2 + 1)
        for chosen in itertools.combinations(range(n1 + n2), n1):
            # the ranks are 0..N-1: U counts the pairs where the chosen rank is above
            rest = set(range(n1 + n2)) - set(chosen)
            by_brute[sum(1 for a in chosen for b in rest if a > b)] += 1
        assert list(counts) == by_brute


@pytest.mark.parametrize(
    "first, second",
    [
        ([1, 2, 2], [2, 3, 4]),
        ([5, 5, 5, 7], [5, 6, 6, 7, 7]),
        ([0, 0, 0, 0, 1], [0, 0, 1, 1, 2]),  # per-second error counts look like this
        ([3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5]),
    ],
)
def test_the_tie_corrected_variance_is_the_variance_over_all_splits(
    first: list[float], second: list[float]
):
    """With ties, the exact p-value is the brute force's share of splits (tied values sharing
    their average rank); and the normal approximation's variance with the tie term is exact
    too: it is the variance of U over every split, so its z (before the continuity
    correction of 1/2) is the brute force's."""
    u, p, variance = brute_force(first, second)
    exact = mann_whitney(first, second)
    assert exact.exact and exact.u == u
    assert exact.p == pytest.approx(p, rel=1e-12)
    normal = mann_whitney(first, second, exact=False)
    mean = len(first) * len(second) / 2
    z = max(0.0, abs(u - mean) - 0.5) / math.sqrt(variance)
    assert normal.p == pytest.approx(min(1.0, math.erfc(z / math.sqrt(2))), rel=1e-12)


def test_published_values():
    # scipy.stats.mannwhitneyu's documentation (the example of Mann and Whitney's reference):
    # U1 = 17, exact p = 0.1111111111111111, asymptotic p = 0.11134688653314041.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    exact = mann_whitney(males, females)
    assert (exact.u, exact.exact) == (17.0, True)
    assert exact.p == pytest.approx(0.1111111111111111, rel=1e-12)
    normal = mann_whitney(males, females, exact=False)
    assert normal.p == pytest.approx(0.11134688653314041, rel=1e-9)
    # By hand, with a tie group of 3: U = 1, variance 9/12 (7 - 24/30) = 4.65, z = 3 / 2.1564;
    # exactly, 6 of the 20 splits have a U as far from 4.5 (0, 0.5 or 1, and their mirrors).
    tied = mann_whitney([1, 2, 2], [2, 3, 4], exact=False)
    assert tied.u == 1.0
    assert tied.p == pytest.approx(math.erfc(3 / math.sqrt(4.65) / math.sqrt(2)), rel=1e-12)
    assert tied.p == pytest.approx(0.16416, abs=1e-5)
    assert mann_whitney([1, 2, 2], [2, 3, 4]).p == pytest.approx(6 / 20)


def test_identical_samples_and_a_complete_separation():
    assert mann_whitney([7.0] * 6, [7.0] * 6).p == 1.0  # every value tied: variance 0
    same = [20100.0, 20300.0, 20200.0, 20500.0, 20400.0]
    assert mann_whitney(same, list(same)).p == 1.0
    low, high = [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]
    assert mann_whitney(high, low).p == pytest.approx(2 / 252) == smallest_p(5, 5)
    assert mann_whitney(high, low).u == 25 and mann_whitney(low, high).u == 0
    # Two equal seconds in one run change nothing of that: still 1 split of 252 (and its
    # mirror), where the normal approximation would say 0.012 and miss ALPHA.
    tied = mann_whitney([6, 7, 7, 9, 10], low)
    assert tied.exact and tied.p == pytest.approx(2 / 252)
    assert mann_whitney([6, 7, 7, 9, 10], low, exact=False).p > ALPHA


def test_the_minimum_seconds_is_the_smallest_size_that_can_reach_alpha():
    assert (
        smallest_p(MIN_SECONDS, MIN_SECONDS) < ALPHA <= smallest_p(MIN_SECONDS - 1, MIN_SECONDS - 1)
    )


def test_large_samples_use_the_normal_approximation_and_agree():
    rng = random.Random(7)
    first = [rng.gauss(0, 1) for _ in range(EXACT_MAX)]
    second = [rng.gauss(0.5, 1) for _ in range(EXACT_MAX)]
    exact = mann_whitney(first, second)
    normal = mann_whitney(first, second, exact=False)
    assert exact.exact and not normal.exact
    assert normal.p == pytest.approx(exact.p, rel=0.1)  # 0.0042 against 0.0039 here
    assert not mann_whitney(first, [*second, 1.0]).exact  # one sample over EXACT_MAX
    rounded = [round(x, 1) for x in first], [round(x, 1) for x in second]  # ties
    assert mann_whitney(*rounded, exact=True).p == pytest.approx(
        mann_whitney(*rounded, exact=False).p, rel=0.1
    )
    with pytest.raises(ValueError, match="a value in each"):
        mann_whitney([], [1])


# -- the verdict rules, on constructed samples ----------------------------------------------


def samples(
    name: str,
    seconds: int = 6,
    latency_us: float = 20_000.0,
    rps: float = 200.0,
    errors: Sequence[float] | None = None,
    jitter: float = 0.01,
    seed: int = 0,
    settings: dict[str, object] | None = None,
) -> RunSamples:
    """A run of ``seconds`` full seconds whose every latency is about ``latency_us`` and whose
    rate is about ``rps`` (each sample within ``jitter`` of it)."""
    rng = random.Random(seed)

    def around(value: float) -> list[float]:
        return [value * (1 + jitter * (rng.random() - 0.5)) for _ in range(seconds)]

    per_second: dict[str, list[float]] = {"req/s": around(rps)}
    per_second.update({m.name: around(latency_us) for m in METRICS if m.unit == "us"})
    per_second["errors"] = list(errors) if errors is not None else [0.0] * seconds
    per_second["timeouts"] = [0.0] * seconds
    totals = {name: sorted(values)[len(values) // 2] for name, values in per_second.items()}
    totals["errors"], totals["timeouts"] = float(sum(per_second["errors"])), 0.0
    return RunSamples(name, totals, per_second, settings or {"url": "http://x/", "threads": 1})


def test_a_clear_shift_is_slower_and_back_is_faster():
    base = samples("base", latency_us=20_000, rps=200, seed=1)
    new = samples("new", latency_us=40_000, rps=100, seed=2)
    slower = compare_samples(base, new)
    assert slower.verdicts() == {
        "req/s": SLOWER, "p50": SLOWER, "p90": SLOWER, "p99": SLOWER, "p99.9": SLOWER,
        "max": SLOWER, "errors": NO_CHANGE, "timeouts": NO_CHANGE,
    }  # fmt: skip
    assert slower.row("p50").relative_change == pytest.approx(1.0, abs=0.03)
    assert slower.row("p50").p == pytest.approx(2 / math.comb(12, 6))
    faster = compare_samples(new, base)
    assert {faster.row(m.name).verdict for m in METRICS[:6]} == {FASTER}
    assert slower.warnings == ()


def test_the_same_numbers_are_no_detectable_change():
    base, new = samples("base", seed=3), samples("new", seed=4)
    assert set(compare_samples(base, new).verdicts().values()) == {NO_CHANGE}
    assert set(compare_samples(base, base).verdicts().values()) == {NO_CHANGE}


def test_a_significant_change_under_the_floor_is_no_detectable_change():
    """Every second 2 % slower, with no overlap: the test is as sure as 6 seconds allow, but
    2 % is under MIN_CHANGE, the difference two runs of one server make on a shared machine."""
    base = samples("base", latency_us=20_000, jitter=0.001, seed=5)
    new = samples("new", latency_us=20_400, jitter=0.001, seed=6)
    row = compare_samples(base, new).row("p50")
    assert row.p is not None and row.p < ALPHA
    assert abs(row.relative_change or 0) < MIN_CHANGE
    assert row.verdict == NO_CHANGE
    bigger = compare_samples(base, samples("new", latency_us=21_100, jitter=0.001, seed=6))
    assert bigger.row("p50").verdict == SLOWER  # 5.5 %


def test_a_large_change_the_seconds_do_not_support_is_no_detectable_change():
    """One slow second makes the whole run's max jump, but one second of six is chance."""
    base = samples("base", seed=7)
    spiky = dict(samples("new", seed=8).samples)
    spiky["max"] = [*spiky["max"][:-1], 200_000.0]
    new = RunSamples("new", {**samples("new", seed=8).totals, "max": 200_000.0}, spiky)
    row = compare_samples(base, new).row("max")
    assert row.relative_change is not None and row.relative_change > 5
    assert row.p is not None and row.p > ALPHA
    assert row.verdict == NO_CHANGE


def test_a_whole_run_value_that_moved_against_its_seconds_is_no_detectable_change():
    """Every second's p99 lower, yet the whole run's p99 higher (the seconds with more requests
    weigh more in the run's): the evidence disagrees, so no verdict either way."""
    base = samples("base", latency_us=30_000, seed=10)
    new = samples("new", latency_us=20_000, seed=11)
    against = RunSamples("new", {**new.totals, "p99": 33_000.0}, new.samples, new.settings)
    row = compare_samples(base, against).row("p99")
    assert row.p is not None and row.p < ALPHA and row.change > 0
    assert row.verdict == NO_CHANGE
    assert compare_samples(base, new).row("p99").verdict == FASTER


def test_too_few_seconds():
    short = samples("base", seconds=MIN_SECONDS - 1, latency_us=20_000)
    long = samples("new", seconds=30, latency_us=80_000)
    comparison = compare_samples(short, long)
    assert set(comparison.verdicts().values()) == {TOO_FEW}
    assert comparison.warnings == (
        f"base has 4 full seconds: a verdict needs {MIN_SECONDS} in each run (the last is left "
        f"out: runs of {MIN_SECONDS + 1} s or longer)",
    )
    assert comparison.row("p99").p is None
    assert comparison.row("p99").samples == (MIN_SECONDS - 1, 30)
    text = comparison.to_text()
    assert f"too few samples (4 and 30 s; {MIN_SECONDS} needed)" in text
    enough = compare_samples(samples("base", seconds=MIN_SECONDS), long)
    assert enough.row("p99").verdict == SLOWER


def test_errors_say_more_and_fewer():
    base = samples("base", errors=[0, 0, 0, 0, 0, 0])
    new = samples("new", errors=[3, 5, 2, 4, 6, 3], seed=9)
    assert compare_samples(base, new).row("errors").verdict == MORE
    assert compare_samples(new, base).row("errors").verdict == FEWER
    few = samples("new", errors=[0, 1, 0, 0, 0, 0], seed=9)  # one error in one second
    assert compare_samples(base, few).row("errors").verdict == NO_CHANGE
    assert compare_samples(base, few).row("errors").relative_change is None  # from 0


def test_differing_settings_are_warned_about_not_refused():
    base = samples("a.json", settings={"url": "http://x/", "connections": 4, "thresholds": []})
    new = samples(
        "b.json", seed=1,
        settings={"url": "http://y/", "connections": 8, "thresholds": ["p99<1s"]},
    )  # fmt: skip
    comparison = compare_samples(base, new)
    assert comparison.warnings == (
        "the runs differ in connections: 4 in a.json, 8 in b.json",
        "the runs differ in url: http://x/ in a.json, http://y/ in b.json",
    )
    assert len(comparison.rows) == len(METRICS)


def test_the_last_second_is_left_out():
    """Seconds as the JSON documents them (docs/json.md, ``seconds``): the last one, the
    part-second the stop cut, gives no sample; a second with no latency no latency sample."""

    def second(start: float, end: float, requests: int, latency: int | None) -> Second:
        summary = None
        if latency is not None:
            percentiles = {key: latency for key in ("p50", "p90", "p99", "p99.9", "max")}
            summary = {"count": requests, **percentiles}
        return Second.from_json(
            {
                "start_s": start, "end_s": end, "requests": requests,
                "status_classes": {"2xx": requests}, "open_connections": 4,
                "errors": {"timeout": 7 if latency == 99_000 else 0},
                "latency_us": summary,
            }
        )  # fmt: skip

    seconds = [second(i, i + 1.0, 200, 20_000 + i) for i in range(5)]
    seconds.append(second(5.0, 5.5, 90, 99_000))  # the part-second the stop cut
    found = per_second_samples(seconds)
    assert found["req/s"] == [200.0] * 5
    assert found["p99"] == [20_000.0, 20_001.0, 20_002.0, 20_003.0, 20_004.0]
    assert found["timeouts"] == [0.0] * 5
    empty = per_second_samples([*seconds[:2], second(2.0, 3.0, 0, None), seconds[3]])
    assert len(empty["req/s"]) == 3 and len(empty["p50"]) == 2  # no latency: no sample


# -- real runs, compared by the command line ------------------------------------------------

RUN_S = 6  # -d6s: 6 seconds, the last left out, so MIN_SECONDS = 5 each
SAME_MS, LATER_MS = 20, 40  # /slow/N: the server answers N ms after the request


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Three real runs of the command line against one test server, all at the same time: two
    of /slow/20 ("base", "same") and one of /slow/40 ("later"), -t1 -c4 -d6s each.

    Why /slow/20: a fixed 20 ms sleep in the server dominates the latency, so the scheduling
    jitter of a loaded 2-core machine moves the p50 of a second by well under MIN_CHANGE;
    the tail rows (p99.9, max) move by more than that from second to second, and the test of
    the seconds is what keeps them at "no detectable change".

    Why at the same time: compare measures the machine as well as the server. One run after
    the other, a neighbour's burst of CPU during one of them (another test suite, the stress
    burners starting) makes that run's seconds slower, a real difference the test rightly
    reports; at the same time, the three runs share whatever the machine does, and differ only
    by the server's answer (docs/compare.md, "What the test cannot tell")."""
    folder = tmp_path_factory.mktemp("compare")
    paths = {name: folder / f"{name}.json" for name in ("base", "same", "later")}
    delays = {"base": SAME_MS, "same": SAME_MS, "later": LATER_MS}
    with running() as server, contextlib.ExitStack() as stack:
        started = {}
        for name, path in paths.items():
            url = f"{server.url}/slow/{delays[name]}"
            args = ["-t1", "-c4", f"-d{RUN_S}s", "--json", str(path), url]
            started[name] = stack.enter_context(spawn([sys.executable, "-m", "pyload", *args]))
        for name, proc in started.items():
            out, err = proc.communicate(timeout=CLI_HANG_S)
            assert proc.returncode == 0, f"{name}: {err}"
            assert "Requests/sec" in out
    yield paths


def compare_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["compare", *args])
    out, err = capsys.readouterr()
    return status, out, err


def verdicts_in(text: str) -> dict[str, str]:
    """The verdict column of the printed table, by row."""
    found = {}
    for line in text.splitlines():
        for metric in METRICS:
            if line.strip().startswith(metric.name + " "):
                verdict = next(
                    v for v in (NO_CHANGE, TOO_FEW, SLOWER, FASTER, MORE, FEWER) if v in line
                )
                found[metric.name] = verdict
    return found


def test_two_runs_of_the_same_server_show_no_detectable_change(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
):
    status, out, err = compare_cli(
        capsys, str(runs["base"]), str(runs["same"]), "--fail-on", "slower"
    )
    assert verdicts_in(out) == {m.name: NO_CHANGE for m in METRICS}, out
    assert (status, err) == (0, "")
    assert "Per-second samples: 5 and 5" in out


def test_a_server_20ms_later_is_slower(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]):
    """20 ms more per request doubles the median: every second of one run beyond every second
    of the other, p = 2/252, the smallest 5 seconds a side can give. The other rows may say
    "no detectable change", never "faster": under CPU burners (scripts/stress-tests) a stall
    of 100-300 ms can take a second of the base run down to the new run's rate or up to its
    p90, and one second out of order is p = 0.016 with 5 a side (docs/compare.md: longer runs
    tolerate more)."""
    status, out, err = compare_cli(capsys, str(runs["base"]), str(runs["later"]))
    verdicts = verdicts_in(out)
    assert verdicts["p50"] == SLOWER, out
    others = ("req/s", "p90", "p99", "p99.9", "max")
    assert {verdicts[name] for name in others} <= {SLOWER, NO_CHANGE}, out
    assert (verdicts["errors"], verdicts["timeouts"]) == (NO_CHANGE, NO_CHANGE)
    base_url, later_url = _url(runs["base"]), _url(runs["later"])
    assert status == 0
    assert err.splitlines() == [
        f"warning: the runs differ in url: {base_url} in {runs['base']}, "
        f"{later_url} in {runs['later']}"
    ]
    results = [pyload.RunResult.from_json(runs[name].read_text()) for name in ("base", "later")]
    p50 = compare(*results).row("p50")
    later_us = (LATER_MS - SAME_MS) * 1000  # the table's change is the server's 20 ms, give
    assert 0.75 * later_us <= p50.change <= 2 * later_us  # or take what CPU burners add


def _url(path: Path) -> str:
    return str(json.loads(path.read_text())["config"]["url"])


def test_fail_on_slower_exits_4_from_the_command_line(runs: dict[str, Path]):
    failed = pyload_cli("compare", str(runs["base"]), str(runs["later"]), "--fail-on", "slower")
    assert failed.returncode == EXIT_THRESHOLD, failed.stderr
    assert "--fail-on slower: p50 slower: " in failed.stderr
    assert "slower" in failed.stdout
    passed = pyload_cli("compare", str(runs["base"]), str(runs["same"]), "--fail-on", "slower")
    assert (passed.returncode, passed.stderr) == (0, ""), passed.stdout


def test_runs_with_other_settings_are_compared_with_a_warning(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    document = json.loads(runs["same"].read_text())
    document["config"]["connections"] = 8
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    status, out, err = compare_cli(capsys, str(runs["base"]), str(other))
    assert status == 0
    assert err == f"warning: the runs differ in connections: 4 in {runs['base']}, 8 in {other}\n"
    assert len(verdicts_in(out)) == len(METRICS)


def test_the_html_page_of_a_comparison_renders_offline(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """``-o FILE.html``: the page of both runs (pyload.htmlreport), written beside the table:
    in headless Chromium with the network off, no console error, every chart drawn, no network
    reference, and each row's verdict as the text table says it."""
    page_path = tmp_path / "compare.html"
    status, out, _ = compare_cli(
        capsys, str(runs["base"]), str(runs["later"]), "-o", str(page_path)
    )
    assert status == 0
    html = page_path.read_text(encoding="utf-8")
    assert network_references(html) == []
    page = open_page(page_path)
    assert not page.errors, page.errors
    assert page.charts and all(chart.drawn for chart in page.charts), page.charts
    shown = [line.split("\t") for line in page.text.splitlines() if "\t" in line]
    verdicts = {cells[0].strip(): cells[4].strip() for cells in shown if len(cells) >= 5}
    assert {name: verdicts.get(name) for name in verdicts_in(out)} == verdicts_in(out)
    bad = tmp_path / "missing" / "compare.html"
    status, _, err = compare_cli(capsys, str(runs["base"]), str(runs["later"]), "-o", str(bad))
    assert status == 1
    assert err.splitlines()[-1] == f"cannot write {bad}: No such file or directory"


def test_bad_files_are_one_line_and_exit_1(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    missing = tmp_path / "missing.json"
    status, out, err = compare_cli(capsys, str(runs["base"]), str(missing))
    assert (status, out) == (1, "")
    assert err == f"cannot read {missing}: No such file or directory\n"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    status, out, err = compare_cli(capsys, str(garbage), str(runs["base"]))
    assert (status, out, len(err.splitlines())) == (1, "", 1)
    assert err.startswith(f"{garbage}: not a pyload result")
    status, out, err = compare_cli(capsys, str(runs["base"]))
    assert (status, out, len(err.splitlines())) == (1, "", 1)
    assert err.startswith("pyload compare: ")
    status, _, err = compare_cli(capsys, str(runs["base"]), str(runs["same"]), "--fail-on", "x")
    assert status == 1 and "invalid choice: 'x'" in err


def test_a_document_without_seconds_gives_no_verdicts(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    document = json.loads(runs["same"].read_text())
    del document["seconds"]  # a document written before pyload kept its seconds
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    status, out, err = compare_cli(capsys, str(old), str(runs["base"]), "--fail-on", "slower")
    assert status == 0
    assert set(verdicts_in(out).values()) == {TOO_FEW}
    assert f"warning: {old} has no per-second data" in err
