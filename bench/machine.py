"""The machine a benchmark ran on, recorded with every result. Any thread."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.timeutil import IST


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` of /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _commit() -> str | None:
    """The checked-out commit (read only), or None outside a git work tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def describe() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "date": datetime.now(IST).isoformat(timespec="seconds"),
        "commit": _commit(),
        "load_average": load_average(),
    }


def load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews the figures."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def one_line(machine: dict[str, Any]) -> str:
    """``AMD EPYC, 2 cores, Linux-..., Python 3.11.7, 2025-01-01`` for the table header."""
    return (f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, "
            f"{machine.get('platform', '?')}, Python {machine.get('python', '?')}, "
            f"{str(machine.get('date', '?'))[:10]}"
            + (f", commit {machine['commit']}" if machine.get("commit") else "")
            + (f", load {machine['load_average']} at start"
               if machine.get("load_average") is not None else ""))
