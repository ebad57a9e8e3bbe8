"""``pyload merge``: real runs' JSON merged into one exact report, or refused in one line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pyload
from pyload._cli import EXIT_PARTIAL, main
from pyload._counters import ThreadStats
from pyload._stats import RATE_LIMIT, ExactHistogram
from pyload.config import Config
from pyload.result import RunResult
from tests.target_server import running


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The JSON of two real runs against one loopback server, as two machines would write."""
    folder = tmp_path_factory.mktemp("merge")
    with running() as server:
        paths = []
        for name, threads in (("a.json", 2), ("b.json", 1)):
            result = pyload.run(server.url, connections=4, threads=threads, duration=0.5)
            path = folder / name
            path.write_text(result.to_json())
            paths.append(path)
    yield paths[0], paths[1]


def merge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["merge", *args])
    out, err = capsys.readouterr()
    return status, out, err


def expected_from_data(documents: list[dict[str, Any]]) -> RunResult:
    """The result of both runs computed from their documents' measured data alone: counts and
    samples added, threads and connections summed, workers and processes numbered on."""
    counts: Counter[int] = Counter()
    samples: Counter[int] = Counter()
    workers: list[ThreadStats] = []
    for document in documents:
        counts.update({value: n for value, n in document["latency_counts_us"]})
        samples.update({value: n for value, n in document["req_per_s_samples"]})
        base = len({w.process for w in workers})
        for worker in document["workers"]:
            stats = ThreadStats.from_json(worker)
            stats.index, stats.process = len(workers), base + stats.process
            workers.append(stats)
    config = Config.from_json(
        {
            **documents[0]["config"],
            "connections": sum(d["config"]["connections"] for d in documents),
            "threads": sum(d["config"]["threads"] for d in documents),
        }
    )
    return RunResult(
        config=config,
        runtime_us=max(d["runtime_us"] for d in documents),
        workers=tuple(workers),
        latency_uncorrected=ExactHistogram.from_counts(dict(counts), config.timeout_us + 1),
        rate=ExactHistogram.from_counts(dict(samples), RATE_LIMIT),
    )


def test_merge_prints_the_report_computed_from_both_runs_data(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    a, b = two_runs
    out_path = tmp_path / "merged.json"
    status, out, err = merge(capsys, str(a), str(b), "--json", str(out_path))
    assert (status, err) == (0, "")
    documents = [json.loads(a.read_text()), json.loads(b.read_text())]
    expected = expected_from_data(documents)
    assert out == expected.to_wrk_text()
    assert out.splitlines()[1] == "  3 threads and 8 connections"
    merged = json.loads(out_path.read_text())
    summed = Counter[int]()
    for document in documents:
        summed.update({value: n for value, n in document["latency_counts_us"]})
    assert merged["latency_counts_us"] == sorted([v, n] for v, n in summed.items())
    assert merged["requests"] == sum(d["requests"] for d in documents) > 0
    assert merged["wrk_text"] == out
    # One entry per file: its name, its threads in the merged result, its own counters.
    parts = [(p["name"], p["threads"]) for p in merged["agents"]]
    assert parts == [(str(a), [0, 1]), (str(b), [2])]
    assert [p["requests"] for p in merged["agents"]] == [d["requests"] for d in documents]


def test_merge_json_to_stdout_puts_the_text_on_stderr(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    a, b = two_runs
    status, out, err = merge(capsys, str(a), str(b), "--json", "-")
    assert status == 0
    document = json.loads(out)
    assert document["schema"] == "pyload.result/2"
    assert err == document["wrk_text"]
    assert RunResult.from_json(out).to_wrk_text() == err


def test_runs_with_other_settings_are_refused_naming_them(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    a, b = two_runs
    document = json.loads(b.read_text())
    document["config"].update(duration=2.0, method="POST")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    status, out, err = merge(capsys, str(a), str(other))
    assert (status, out) == (1, "")
    assert err == (
        f"cannot merge {other} with {a}: different duration (0.5 vs 2.0), method (GET vs POST)\n"
    )
    # A constant-rate run and a closed-loop run measure different things.
    document = json.loads(b.read_text())
    document["config"]["rate"] = 100.0
    other.write_text(json.dumps(document))
    status, out, err = merge(capsys, str(a), str(other))
    assert status == 1
    assert err == f"cannot merge {other} with {a}: different rate (none vs 100.0)\n"


def test_what_merges_regardless_adds_up(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """The loop and the Dask address of the runs may differ; connections and threads add up."""
    a, b = two_runs
    document = json.loads(b.read_text())
    document["config"].update(loop="asyncio", dask="tcp://10.0.0.1:8786")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    status, out, _ = merge(capsys, str(a), str(other))
    assert status == 0
    assert "  3 threads and 8 connections\n" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("not json", "{path}: not a pyload result: Expecting value: line 1 column 1 (char 0)"),
        ('{"schema": "other"}', "{path}: not a pyload result of schema pyload.result/2"
                                " (found 'other')"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_result_is_one_line(
    two_runs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    message: str,
):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    status, out, err = merge(capsys, str(two_runs[0]), str(path))
    assert (status, out) == (1, "")
    assert err == message.format(path=path) + "\n"


def test_a_summary_without_the_exact_counts_cannot_be_merged(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(RunResult.from_json(two_runs[0].read_text()).to_dict(raw=False)))
    status, _, err = merge(capsys, str(summary), str(two_runs[1]))
    assert status == 1
    assert err.startswith(f"{summary}: malformed pyload result: KeyError")
    assert err.count("\n") == 1


def test_merge_needs_files(capsys: pytest.CaptureFixture[str]):
    status, out, err = merge(capsys)
    assert (status, out) == (1, "")
    assert err == "pyload merge: the following arguments are required: FILE\n"


def test_a_partial_run_stays_partial(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    """A run that lost a worker process merges, and the merged report says it is partial."""
    document = json.loads(two_runs[1].read_text())
    document["lost_workers"] = [
        {"process": 1, "threads": [1], "reason": "died before sending its result",
         "last_progress_s": None, "last_progress": None}
    ]  # fmt: skip
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(document))
    status, out, err = merge(capsys, str(two_runs[0]), str(partial))
    assert status == EXIT_PARTIAL
    assert "  Partial result: worker process 1 (thread 1) died before sending its result" in out
    assert err.startswith("pyload: partial result: 1 worker process lost")
