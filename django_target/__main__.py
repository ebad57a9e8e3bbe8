"""``python -m django_target``: hands over to the CLI."""

from __future__ import annotations

import sys

from django_target.cli import main

if __name__ == "__main__":
    sys.exit(main())
