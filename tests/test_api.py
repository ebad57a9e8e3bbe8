"""The public API: an explicit, sorted __all__, errors as exceptions, never an exit."""

from __future__ import annotations

import gc

import pytest

import pyload
from pyload.errors import PyloadError
from tests.target_server import TargetServer

EXPECTED = [
    "Config",
    "ConnectError",
    "Counters",
    "ERROR_NAMES",
    "HookError",
    "PyloadError",
    "ResolveError",
    "ResourceError",
    "RunProgress",
    "RunResult",
    "ScriptError",
    "UsageError",
    "WorkerError",
    "__version__",
    "format",
    "run",
]


def test_all_is_explicit_sorted_and_importable():
    assert pyload.__all__ == EXPECTED == sorted(EXPECTED)
    for name in pyload.__all__:
        assert getattr(pyload, name) is not None
    with pytest.raises(AttributeError):
        _ = pyload.not_a_name  # type: ignore[attr-defined]


def test_every_error_is_a_pyload_error():
    for name in EXPECTED:
        value = getattr(pyload, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, PyloadError)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"url": "nope"}, pyload.UsageError),
        ({"url": "http://127.0.0.1:1/", "connections": 1, "threads": 2}, pyload.UsageError),
        ({"url": "http://nohost.invalid/"}, pyload.ResolveError),
        ({"url": "http://127.0.0.1:1/"}, pyload.ConnectError),
    ],
)
def test_errors_raise_and_never_exit(kwargs: dict, error: type[Exception]):
    with pytest.raises(error) as raised:
        pyload.run(**kwargs)
    assert "\n" not in str(raised.value)


def test_run_accepts_a_config_and_header_forms(server: TargetServer):
    config = pyload.Config(
        server.url + "/", connections=2, threads=1, duration=0.2, headers=["X-A: 1"]
    )
    result = pyload.run(config)
    assert result.config is config
    assert result.requests > 0
    mapping = pyload.run(server.url + "/", connections=2, threads=1, duration=0.2,
                         headers={"X-B": "2"})  # fmt: skip
    assert mapping.config.headers == (("X-B", "2"),)


def test_a_run_leaves_the_callers_frozen_objects_as_it_found_them(server: TargetServer):
    # The run freezes this process's objects while it forks its workers (they never walk
    # them), then unfreezes them, unless the caller had frozen objects itself: gc cannot
    # unfreeze only the run's, and unfreezing all would undo the caller's freeze.
    gc.unfreeze()
    result = pyload.run(server.url + "/", connections=1, threads=1, duration=0.2)
    assert result.requests > 0 and gc.get_freeze_count() == 0
    gc.freeze()
    frozen = gc.get_freeze_count()
    result = pyload.run(server.url + "/", connections=1, threads=1, duration=0.2)
    # Still frozen (a few frozen objects may have been freed since: their count can drop).
    assert result.requests > 0 and gc.get_freeze_count() > frozen // 2 > 0
