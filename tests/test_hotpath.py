"""benchmarks/hotpath.py, the in-process profile of one response: it runs, measures pyload's
fast path (every response fed is counted), and refuses bad arguments."""

from __future__ import annotations

import json

import pytest

from benchmarks import hotpath


def test_every_subject_is_measured_and_pyloads_responses_are_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert hotpath.main(["--responses", "2000", "--rounds", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = {"pyload", "floor", "httptools", "on_response"}
    assert set(result["ns_per_response"]) == names
    assert all(len(result["rounds"][name]) == 2 for name in names)
    assert all(value > 0 for value in result["ns_per_response"].values())
    # data_received and on_response alone, 2 rounds of 2000 each: all counted as requests.
    assert result["counted"] == 2 * 2 * 2000


def test_the_table_names_what_pyload_adds(capsys: pytest.CaptureFixture[str]) -> None:
    assert hotpath.main(["--responses", "500", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "pyload-floor" in out and "glue" in out and "ns/response" in out


def test_bad_arguments_are_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        hotpath.main(["--rounds", "0"])
    assert exit_info.value.code == 2
