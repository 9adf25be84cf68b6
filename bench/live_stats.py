"""Percentiles for the live benchmarks. Pure functions, any thread."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between the closest ranks (NaN if empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50, p99 and max of durations given in seconds, in milliseconds (None if empty)."""
    if not seconds:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"count": len(seconds),
            "p50_ms": round(percentile(seconds, 50) * 1e3, 2),
            "p99_ms": round(percentile(seconds, 99) * 1e3, 2),
            "max_ms": round(max(seconds) * 1e3, 2)}
