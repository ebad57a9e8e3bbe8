"""``python -m benchmarks``: the Django server-stack matrix (see benchmarks.cli)."""

from __future__ import annotations

from benchmarks.cli import main

if __name__ == "__main__":  # pyload's worker processes are spawned and import this module
    raise SystemExit(main())
