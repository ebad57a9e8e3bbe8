"""``python -m benchmarks``: the Django server-stack matrix (see benchmarks.cli).

pyload's worker processes are spawned and import this module again (as ``__mp_main__``): it
imports nothing at the top, or every worker would load matplotlib and the rest (0.3 s each).
"""

from __future__ import annotations

if __name__ == "__main__":
    from benchmarks.cli import main

    raise SystemExit(main())
