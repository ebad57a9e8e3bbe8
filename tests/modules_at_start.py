"""``python tests/modules_at_start.py DIR pyload-arguments...``: the real command line
(``pyload.__main__.run``), which writes the names in ``sys.modules`` at the START, in the parent
(``DIR/parent``: as it says START to its workers) and in each worker process
(``DIR/worker-PID``: as it begins its load). For tests/test_startup.py.

It wraps two private functions and nothing else; importing them first imports only what the
command line imports before any START anyway (``_local`` and, through it, ``_process``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyload._local
import pyload._process
from pyload.__main__ import run

OUT = Path(sys.argv.pop(1))


def _write(name: str) -> None:
    names = sorted(sys.modules)  # first: writing imports nothing, but take them before it
    (OUT / name).write_text("\n".join(names) + "\n", encoding="utf-8")


def _tell(pipes: Any, word: bytes, tell: Any = pyload._local._tell) -> None:
    if word == pyload._local.START:
        _write("parent")
    tell(pipes, word)


def _run_threads(*args: Any, run_threads: Any = pyload._process.run_threads) -> Any:
    _write(f"worker-{os.getpid()}")
    return run_threads(*args)


pyload._local._tell = _tell  # type: ignore[assignment]
pyload._process.run_threads = _run_threads  # type: ignore[assignment]

if __name__ == "__main__":
    raise SystemExit(run())
