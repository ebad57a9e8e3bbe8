"""The README's Quick start: two one-line commands, the test one being exactly what CI runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.procs import run

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)


def quick_start() -> str:
    start = README.index("\n## Quick start\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def marked(name: str) -> str:
    """The one shell line in the code block between <!-- name --> and <!-- /name -->."""
    match = re.search(rf"^<!-- {name} -->\n(.*?)^<!-- /{name} -->$", quick_start(), re.S | re.M)
    assert match, f"no <!-- {name} --> markers in the Quick start"
    blocks = FENCE.findall(match.group(1))
    assert len(blocks) == 1, f"{name}: one ```sh block expected"
    lines = blocks[0].splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"{name}: one shell line expected, got {lines}"
    return lines[0]


def run_ci(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["bash", str(folder / ".ci" / "run"), *args], timeout=60)


def test_quick_start_has_exactly_the_two_commands() -> None:
    bench, test = marked("bench-command"), marked("test-command")
    assert FENCE.findall(quick_start()) == [bench + "\n", test + "\n"]  # and no other command
    assert bench == "./scripts/setup bench && .venv/bin/python -m benchmarks"
    assert test == "./scripts/setup test && .venv/bin/python -m pytest"


def test_ci_runs_the_readme_test_command() -> None:
    printed = run_ci(ROOT, "--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == marked("test-command") + "\n"
    # .ci/run holds no copy of the command that could drift: no install or test step of its own.
    code = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    for word in ("pytest", "pip", "apt-get", "scripts/setup", ".venv"):
        pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
        steps = [line for line in code if pattern.search(line) and "echo" not in line]
        assert not steps, word


def test_ci_fails_without_the_markers_and_on_pytest_exit_5(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text("# x\n\n```sh\npython -m pytest\n```\n")
    missing = run_ci(tmp_path)
    assert missing.returncode == 1
    assert "test-command" in missing.stderr

    no_tests = f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(5)'"
    (tmp_path / "README.md").write_text(
        f"<!-- test-command -->\n```sh\n{no_tests}\n```\n<!-- /test-command -->\n"
    )
    five = run_ci(tmp_path)
    assert five.returncode == 5
    assert "collected no test" in five.stderr


def test_setup_script_is_executable_and_checks_its_argument() -> None:
    script = ROOT / "scripts" / "setup"
    assert os.access(script, os.X_OK), "scripts/setup must be executable (git keeps the mode)"
    assert run(["bash", "-n", str(script)], timeout=60).returncode == 0
    bad = run([str(script), "nosuch"], timeout=60)
    assert bad.returncode == 2
    assert "unknown extra 'nosuch'" in bad.stderr
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_setup_knows_every_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    done = run([str(ROOT / "scripts" / "setup"), "--help"], timeout=60)
    assert done.returncode == 0, done.stderr
    help_text = done.stdout
    for extra in extras:
        assert extra in help_text


def test_distribution_name_is_ours_and_extras_refer_to_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = project["name"]
    assert name != "pyload"  # PyPI's pyload is an unrelated project
    assert project["scripts"] == {"pyload": "pyload.__main__:run"}
    for extra, requirements in project["optional-dependencies"].items():
        for requirement in requirements:
            base = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
            assert base != "pyload", f"[{extra}] still refers to the old name: {requirement}"
    assert project["optional-dependencies"]["bench"][0] == f"{name}[target]"
    assert project["optional-dependencies"]["test"][0] == f"{name}[bench]"
    assert f"pip install {name}" in README.replace("pip install\n", "pip install ")
