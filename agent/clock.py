"""Injected time. Nothing in the agent calls ``datetime.now()`` directly.

``LiveClock`` reads wall time in IST; ``SimClock`` is advanced by whoever drives it (the
backtest, by replayed ticks); ``ScaledClock`` runs from a start time at a speed factor (the
simulated exchange and an agent following it).
"""

from __future__ import annotations

import time as _time
from datetime import datetime, timedelta
from typing import Protocol

from agent.timeutil import IST, to_ist


class Clock(Protocol):
    def now(self) -> datetime:
        """The current IST-aware time. Any thread may call it."""
        ...


class LiveClock:
    """Wall time in IST."""

    def now(self) -> datetime:
        return datetime.now(IST)


class SimClock:
    """A clock that moves only when told to; it never goes backwards.

    One driving thread calls ``advance_to``/``advance`` (the backtest calls it on every
    accepted tick, so it takes no lock); ``now`` may be read from any thread (a reference
    read is atomic).
    """

    def __init__(self, start: datetime) -> None:
        self._now = to_ist(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        """Move to ``when`` (IST-aware); earlier times are ignored."""
        if when > self._now:
            self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now = self._now + delta


class ScaledClock:
    """Time that runs ``speed`` times faster than the wall, from ``start``.

    Used by the simulated exchange and, in sim mode, by the agent. Any thread.
    """

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = to_ist(start)
        self._speed = speed
        self._wall0 = _time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (_time.monotonic() - self._wall0) * self._speed
        return self._start + timedelta(seconds=elapsed)

    def wall_seconds_until(self, when: datetime) -> float:
        """Real seconds until the scaled clock reaches ``when`` (0 when past)."""
        return max(0.0, (when - self.now()).total_seconds() / self._speed)
