"""``python -m pyload`` and the ``pyload`` command: the command line's entry point.

Spawned worker processes import this module again (as ``__mp_main__``); it imports nothing at
the top, so they do not load the CLI and its numpy-backed report code.
"""


def run() -> int:
    from pyload.cli import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
