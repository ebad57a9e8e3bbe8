"""Run ``MODULE.main(ARGS)`` with DIR first on sys.path: the same command for a module's
interpreted source and its mypyc build (a folder holding the compiled ``.so``).

    python -P benchmarks/floor_trials/launch.py DIR MODULE ARGS...
"""

import importlib
import sys

sys.path.insert(0, sys.argv[1])
module = importlib.import_module(sys.argv[2])
print(f"{module.__name__}: {module.__file__}", file=sys.stderr)
raise SystemExit(module.main(sys.argv[3:]))
