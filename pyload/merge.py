"""``pyload merge``: results of runs started anywhere (SSH, Kubernetes jobs, cron), merged exactly.

Reads each run's JSON (schema ``pyload.result/2``, docs/json.md), checks that the runs' settings
agree (``result.check_mergeable``: apart from those that add up or do not matter)
and merges them with ``RunResult.combine``: counters summed, the exact latency counts added, so
the merged report is the one a single run with all their threads would have printed. The result
keeps one ``agents`` entry per file (``result.AgentSummary``). Raises UsageError; prints
nothing: the CLI (``cli.main``) prints the report.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pyload.errors import UsageError

if TYPE_CHECKING:
    from pyload.result import RunResult

__all__ = ["build_parser", "check_settings", "merge_files", "part_summary", "read_result"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"pyload merge: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pyload merge",
        usage="pyload merge <result.json> <result.json> ... [--json PATH]",
        description=(
            "Merge the JSON results (--json) of runs that loaded the same target at the same"
            " time, from any machines, into one exact report."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a run's --json result")
    parser.add_argument(
        "--json", metavar="PATH", help="Write the merged result as JSON to PATH ('-': stdout)"
    )
    return parser


def read_result(path: str) -> RunResult:
    """The result in the file ``path``; UsageError naming the file when it cannot be read or is
    not a complete pyload result."""
    from pyload.result import RunResult

    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a pyload result (not UTF-8 text)") from None
    try:
        return RunResult.from_json(text)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def check_settings(runs: Sequence[tuple[str, RunResult]]) -> None:
    """Raise UsageError (one line naming the files, the settings and their values) unless the
    runs may be merged (``result.check_mergeable``: the rule ``RunResult.combine`` applies)."""
    from pyload.result import check_mergeable

    check_mergeable([run.config for _, run in runs], [path for path, _ in runs])


def merge_files(paths: Sequence[str]) -> RunResult:
    """The merged result of the runs in ``paths`` (at least one), with an ``agents`` entry per
    file: its name, its threads' numbers in the merged result, its own counters."""
    from pyload.result import AgentSummary, PartMeasured, RunResult

    runs = [(path, read_result(path)) for path in paths]
    check_settings(runs)
    merged = RunResult.combine([run for _, run in runs])
    parts, first_thread = [], 0
    for index, (path, run) in enumerate(runs):
        threads = tuple(range(first_thread, first_thread + len(run.workers)))
        first_thread += len(run.workers)
        parts.append(
            AgentSummary(
                index=index,
                name=path,
                status="ok",
                threads=threads,
                connections=run.config.connections,
                rate=run.config.rate,
                measured=PartMeasured.of(run),
            )
        )
    return dataclasses.replace(merged, agents=tuple(parts))


def part_summary(run: RunResult) -> dict[str, Any]:
    """What one part of a merged run did, as its ``agents`` entry has it (docs/json.md;
    ``result.PartMeasured``)."""
    from pyload.result import PartMeasured

    return PartMeasured.of(run).to_json()
