"""What a run ran on: cores, CPU model, memory, OS, Python, tool and package versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import PROJECT_ROOT

__all__ = ["PACKAGES", "machine_info", "machine_markdown", "tool_version"]

#: Distributions whose versions are recorded: pyload's own deps, then the stacks', then tools.
PACKAGES = (
    "httptools",
    "hdrhistogram",
    "numpy",
    "uvloop",
    "django",
    "gunicorn",
    "gevent",
    "uvicorn",
    "uvicorn-worker",
    "hypercorn",
    "aiohttp",
    "httpx",
    "requests",
    "asgiref",
    "greenlet",
    "matplotlib",
    "locust",
)
TOOL_TIMEOUT_S = 10.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def tool_version(argv: list[str]) -> str | None:
    """First output line of ``argv`` (e.g. ``wrk -v``), or None when the tool is missing."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info() -> dict[str, Any]:
    """A JSON-able description of this machine and software."""
    import pyload

    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = None
    return {
        "cores": os.cpu_count(),
        "affinity": affinity,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "pyload": pyload.__version__,
        "git_commit": _git_commit(),
        "packages": _versions(),
        "tools": {
            "wrk": tool_version(["wrk", "-v"]),
            "nginx": tool_version(["nginx", "-v"]),
        },
    }


def machine_markdown(info: dict[str, Any]) -> str:
    """The machine section of a report, as a Markdown bullet list."""
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v is not None)
    missing = [k for k, v in info["packages"].items() if v is None]
    tools = ", ".join(f"{v}" for v in info["tools"].values() if v) or "none"
    lines = [
        f"- CPU: {info['cpu_model']}, {info['cores']} cores"
        + (f" (affinity {info['affinity']})" if info.get("affinity") else ""),
        f"- memory: {info['memory_gib']} GiB" if info.get("memory_gib") else "- memory: unknown",
        f"- OS: {info['os']}; {info['python']}",
        f"- pyload {info['pyload']}"
        + (f" (commit {info['git_commit']})" if info.get("git_commit") else " (no commit)"),
        f"- packages: {packages}",
        f"- tools: {tools}",
    ]
    if missing:
        lines.append(f"- not installed: {', '.join(missing)}")
    return "\n".join(lines) + "\n"
