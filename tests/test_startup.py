"""A start that costs nothing (issue 20): from launch to the first request, pyload imports only
what the load needs, and its worker processes, forked from the parent, import nothing more.

tests/modules_at_start.py runs the real command line and writes ``sys.modules`` at the START:
the parent's as it says START, each worker's as it begins its load.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import CLI_HANG_S, pyload_cli
from tests.procs import ROOT, run
from tests.target_server import TargetServer

#: What the load does not need, so what no process of a run has imported at its START: numpy
#: and everything on it (the statistics, the report, wrk's units, the seconds), the result, the
#: hooks machinery (-s only), the thresholds (--threshold only), the HTML, compare and plot
#: code, HdrHistogram, HPACK (--http2 only), Dask, matplotlib.
NOT_BEFORE_THE_LOAD = (
    "numpy", "matplotlib", "distributed", "dask", "hdrh", "hpack",
    "pyload._stats", "pyload._report", "pyload.units", "pyload._seconds", "pyload._hdr",
    "pyload.result", "pyload.hooks", "pyload._script", "pyload.thresholds",
    "pyload.htmlreport", "pyload.compare", "pyload._plot", "pyload._dask",
)  # fmt: skip


def modules_at_start(tmp_path: Path, *args: str) -> tuple[set[str], list[set[str]]]:
    """Run ``pyload ARGS`` through tests/modules_at_start.py; the parent's modules at the START
    and each worker's."""
    script = ROOT / "tests" / "modules_at_start.py"
    done = run([sys.executable, "-P", str(script), str(tmp_path), *args], timeout=CLI_HANG_S)
    assert done.returncode == 0, done.stderr
    assert "requests in" in done.stdout  # the load ran, and its report was printed

    def read(path: Path) -> set[str]:
        return set(path.read_text(encoding="utf-8").split())

    workers = [read(path) for path in sorted(tmp_path.glob("worker-*"))]
    return read(tmp_path / "parent"), workers


def test_nothing_but_the_engine_is_imported_before_the_load(
    server: TargetServer, tmp_path: Path
) -> None:
    parent, workers = modules_at_start(
        tmp_path, "-t2", "-c4", "-d1", "--processes", "2", "--latency", server.url
    )
    assert len(workers) == 2
    assert {"pyload._engine", "pyload._process", "httptools"} <= parent
    for modules in (parent, *workers):
        loaded = sorted(name for name in modules if name.split(".")[0] in NOT_BEFORE_THE_LOAD
                        or name in NOT_BEFORE_THE_LOAD)  # fmt: skip
        assert loaded == []
    for modules in workers:  # forked from the parent: nothing imported again, nothing new
        assert modules - parent <= {"__mp_main__"}, sorted(modules - parent)
        assert "uvloop" in modules  # imported once, by the parent, before the fork


def test_what_an_option_needs_comes_with_the_option(server: TargetServer, tmp_path: Path) -> None:
    """--threshold checks its expressions before the load: their grammar is imported, and still
    nothing of numpy or the report."""
    parent, _ = modules_at_start(
        tmp_path, "-t1", "-c1", "-d1", "--threshold", "p99<10s", server.url
    )
    assert "pyload.thresholds" in parent
    assert not {"numpy", "pyload.result", "pyload._report"} & parent


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import pyload", ("pyload.hooks", "pyload.thresholds", "numpy", "pyload._run")),
        ("import pyload.__main__", ("pyload._cli", "pyload._local", "numpy")),
    ],
)
def test_importing_the_package_imports_little(statement: str, absent: tuple[str, ...]) -> None:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = run([sys.executable, "-c", code], timeout=CLI_HANG_S)
    assert done.returncode == 0, done.stderr
    assert not set(absent) & set(done.stdout.split())


def test_the_public_names_still_load_on_use() -> None:
    code = (
        "import pyload, pyload.hooks, pyload.result\n"
        "assert pyload.format is pyload.hooks.format\n"
        "assert pyload.RunResult is pyload.result.RunResult\n"
        "from pyload import format, RunResult\n"
        "print(format.__module__, RunResult.__name__)"
    )
    done = run([sys.executable, "-c", code], timeout=CLI_HANG_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pyload.hooks RunResult\n"


BLAS_THREADS = "OPENBLAS_NUM_THREADS"
SAY_BLAS_THREADS = f"""\
import os

def done(summary, latency, requests):
    print("{BLAS_THREADS}=" + str(os.environ.get("{BLAS_THREADS}")))
"""


def test_the_command_asks_numpy_for_one_blas_thread_and_the_library_leaves_it_alone(
    server: TargetServer, tmp_path: Path
) -> None:
    """numpy, imported after the load for the report, starts an OpenBLAS thread per CPU unless
    told otherwise (about 50 ms of CPU on 2 cores): the command, which owns its process, tells
    it one, unless the caller chose; ``pyload.run()`` leaves its caller's process as it is."""
    script = tmp_path / "say.py"
    script.write_text(SAY_BLAS_THREADS, encoding="utf-8")
    unset = {name: value for name, value in os.environ.items() if name != BLAS_THREADS}
    for env, expected in ((unset, "1"), ({**unset, BLAS_THREADS: "3"}, "3")):
        done = pyload_cli("-t1", "-c1", "-d1s", "-s", str(script), server.url, env=env)
        assert done.returncode == 0, done.stderr
        assert f"{BLAS_THREADS}={expected}\n" in done.stdout
    code = (
        "import os, sys, pyload\n"
        "pyload.run(sys.argv[1], connections=1, threads=1, duration=0.2)\n"
        f"print(os.environ.get({BLAS_THREADS!r}))"
    )
    done = run([sys.executable, "-c", code, server.url], timeout=CLI_HANG_S, env=unset)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "None\n"
