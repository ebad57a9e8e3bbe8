"""benchmarks.builds: pyload builds side by side against a real nginx, each run importing its own
build."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import PROJECT_ROOT, builds
from tests.conftest import IN_CI
from tests.procs import run


def test_shapes_are_threads_x_connections() -> None:
    assert builds.parse_shapes("1x100,20x2000") == [(1, 100), (20, 2000)]
    for bad in ("1x", "x100", "0x10", "4x2", "1x100,", "ax1"):
        with pytest.raises(ValueError):
            builds.parse_shapes(bad)


def test_a_revision_runs_its_own_pyload(tmp_path: Path) -> None:
    # The exported folder holds the revision's pyload/, and a python started there imports it,
    # not this checkout's (nor the editable install's).
    folder = builds.export_build("HEAD", tmp_path)
    assert folder != PROJECT_ROOT and (folder / "pyload" / "__init__.py").is_file()
    done = run([sys.executable, "-c", "import pyload; print(pyload.__file__)"], cwd=folder,
               timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == str(folder / "pyload" / "__init__.py")
    assert builds.export_build(".", tmp_path) == PROJECT_ROOT


def test_an_unknown_revision_is_one_line_and_exit_1() -> None:
    done = run([sys.executable, "-m", "benchmarks.builds", "no-such-revision", "."],
               cwd=PROJECT_ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("builds: unknown revision 'no-such-revision'")


def test_two_builds_and_the_floor_side_by_side(tmp_path: Path) -> None:
    """HEAD and the working tree, one round of 1 s at -t2 -c10, and the floor: a row each, with
    every figure measured, the first build's ratios 1.000x."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if IN_CI:
            pytest.fail("nginx is not installed")
        pytest.skip("nginx is not installed")
    out = tmp_path / "rows.json"
    argv = ["HEAD", ".", "--shapes", "2x10", "--rounds", "1", "--duration", "1", "--floor",
            "--json", str(out)]  # fmt: skip
    assert builds.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [row["build"] for row in rows] == ["HEAD", ".", "floor"]
    for row in rows:
        assert row["shape"] == "-t2 -c10" and len(row["runs"]) == 1
        assert row["requests_per_s"] > 0 and row["load_us"] > 0 and row["tree_us"] > 0
    assert "| `-t2 -c10` | HEAD |" in builds.table(rows)
    assert "1.000x, 1.000x, 1.000x" in builds.table(rows).splitlines()[2]
