"""Injected time. Nothing in the agent calls ``datetime.now()`` directly.

``LiveClock`` reads wall time in IST; ``SimClock`` is advanced by whoever drives it (the
backtest, by replayed ticks); ``ScaledClock`` runs from a start time at a speed factor (the
simulated exchange and an agent following it). ``exchange_clock`` reads a standalone
simulated exchange's clock (``GET /sim/clock``) into a ``ScaledClock`` that runs with it
(``clock: exchange``).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from agent.timeutil import IST, to_ist

EXCHANGE_CLOCK_PATH = "/sim/clock"


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

    Used by the simulated exchange and by an agent on it (``feed: sim``, or ``clock:
    exchange`` through ``exchange_clock``). Any thread.
    """

    def __init__(self, start: datetime, speed: float = 1.0, *,
                 wall0: float | None = None, rate_scale: float = 1.0) -> None:
        """``wall0``: the ``time.monotonic()`` instant at which the clock read ``start``
        (default: now). ``rate_scale``: exchange seconds per second of a broker rate
        window (``speed`` when the exchange counts its rate windows on its own clock, as
        ``bot.py exchange --rate-clock exchange`` does; 1: real seconds)."""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = to_ist(start)
        self._speed = speed
        self._wall0 = _time.monotonic() if wall0 is None else wall0
        self.rate_scale = rate_scale

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (_time.monotonic() - self._wall0) * self._speed
        return self._start + timedelta(seconds=elapsed)

    def wall_seconds_until(self, when: datetime) -> float:
        """Real seconds until the scaled clock reaches ``when`` (0 when past)."""
        return max(0.0, (when - self.now()).total_seconds() / self._speed)


class ExchangeClockError(Exception):
    """The exchange's clock could not be read; the message names the URL and what to do."""


def exchange_clock(root: str, *, timeout: float = 5.0,
                   get: Callable[..., Any] | None = None) -> ScaledClock:
    """A ``ScaledClock`` that runs with the simulated exchange at ``root`` (``bot.py
    exchange``): its ``GET /sim/clock`` answers ``{"status": "success", "data": {"now": ISO
    time, "speed": N}}``. The answer is taken to be the time half-way through the request.
    Raises ``ExchangeClockError`` naming the URL when it does not answer or answers
    anything else. ``get``: ``requests.get`` (tests may pass another). Start-up code."""
    url = root.rstrip("/") + EXCHANGE_CLOCK_PATH
    if get is None:
        import requests

        get = requests.get
    sent = _time.monotonic()
    try:
        answer = get(url, timeout=timeout)
        status = answer.status_code
        body = answer.json() if status == 200 else None
    except ValueError:
        raise ExchangeClockError(f"clock: exchange: {url} answered something that is not "
                                 "JSON: is kite.root the rest_root of `bot.py exchange`?") \
            from None
    except Exception as exc:  # requests' connection errors and timeouts
        raise ExchangeClockError(f"clock: exchange: {url} does not answer "
                                 f"({type(exc).__name__}): start `python bot.py exchange` "
                                 "and set kite.root to the rest_root it prints") from None
    got = _clock_reading(body)
    if status != 200 or got is None:
        shown = f"HTTP {status}" if status != 200 else f"{str(body)[:80]!r}"
        raise ExchangeClockError(f"clock: exchange: {url} answered {shown}, not the "
                                 'exchange\'s clock ({"status": "success", "data": {"now": '
                                 'ISO time, "speed": N}}): is kite.root the rest_root of '
                                 "`bot.py exchange`?")
    now, speed = got
    counts_own_seconds = isinstance(body, dict) and isinstance(body.get("data"), dict) \
        and body["data"].get("rate_clock") == "exchange"
    return ScaledClock(now, speed, wall0=(sent + _time.monotonic()) / 2,
                       rate_scale=speed if counts_own_seconds else 1.0)


def _clock_reading(body: Any) -> tuple[datetime, float] | None:
    """(now, speed) from the answer of ``/sim/clock``, or None when it is anything else."""
    if not isinstance(body, dict) or body.get("status") != "success":
        return None
    data = body.get("data")
    if not isinstance(data, dict):
        return None
    now, speed = data.get("now"), data.get("speed")
    if not isinstance(now, str) or isinstance(speed, bool) \
            or not isinstance(speed, int | float):
        return None
    if not math.isfinite(speed) or speed <= 0:
        return None
    try:
        when = datetime.fromisoformat(now)
    except ValueError:
        return None
    return to_ist(when), float(speed)
