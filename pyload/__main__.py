"""``python -m pyload`` and the ``pyload`` command: the command line's entry point.

Spawned worker processes import this module again (as ``__mp_main__``); it imports nothing at
the top, so they do not load the CLI and its numpy-backed report code.
"""

import sys


def run() -> int:
    try:
        from pyload._cli import main

        return main()
    except KeyboardInterrupt:  # Ctrl-C before the load started (during the run it is handled)
        print("interrupted before the load started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(run())
