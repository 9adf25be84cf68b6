"""cProfile helpers for the benchmarks: the top costs of a run, and the share of a
function's cumulative time. Profiles run on a slice of the data (profiling slows Python
code several times); the timed figures never run under the profiler. Any one thread."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def profile(action: Callable[[], object]) -> pstats.Stats:
    prof = cProfile.Profile()
    prof.runcall(action)
    return pstats.Stats(prof)


def _name(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":  # a builtin: func is like "<method 'append' of 'list' objects>"
        return func
    short = filename.removeprefix(_ROOT)
    if "/lib/python" in short:
        short = "stdlib/" + short.rsplit("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{short}:{line}({func})"


def total_seconds(stats: pstats.Stats) -> float:
    return stats.total_tt  # type: ignore[attr-defined]


def top_costs(stats: pstats.Stats, n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` functions with the most own time, with their share of the profile."""
    total = total_seconds(stats) or 1.0
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    return [{"function": _name(key), "calls": nc, "own_share": round(tt / total, 3),
             "cumulative_share": round(ct / total, 3)}
            for key, (_cc, nc, tt, ct, _callers) in rows[:n]]


def cumulative_share(stats: pstats.Stats, file_suffix: str, func: str) -> float:
    """The share of the profile spent in ``func`` of a file ending in ``file_suffix``,
    callees included (0.0 when it never ran)."""
    total = total_seconds(stats) or 1.0
    spent = sum(ct for (filename, _line, name), (_cc, _nc, _tt, ct, _callers)
                in stats.stats.items()  # type: ignore[attr-defined]
                if name == func and filename.endswith(file_suffix))
    return round(spent / total, 3)
