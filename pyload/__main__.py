"""``python -m pyload``: the command line."""

from pyload.cli import main

if __name__ == "__main__":  # spawned workers import this module too: they must not run main()
    raise SystemExit(main())
