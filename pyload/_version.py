"""The version of pyload, one place: the package, the CLI and every result's JSON read it."""

__version__ = "0.1.0"
