"""Kite's request rates and historical range caps, as the simulated exchange enforces them.

Kite limits requests per API key (orders per account) and answers the excess with HTTP 429
NetworkException "Too many requests" until the window refreshes (KITE_2026 §1.4-1.5; Zerodha
staff, kite.trade/forum comment/52882 and discussion/11404):

- orders (place, modify, cancel): 10 a second, 400 a minute, 5,000 a day
  (``KITE_ORDER_LIMITS`` in ``agent.sim.server``; ``SimExchange(order_rate_limits=...)``
  replaces them, and ``core.order_limiter`` is consulted by the order handlers);
- quotes (``/quote``, ``/quote/ltp``, ``/quote/ohlc``): 1 a second;
- historical candles: 3 a second;
- everything else: 10 a second.

Windows run on WALL time (``time.time``), never on the exchange's scaled clock: a rate limit
is a fact of Kite's servers, not of the market. A one-second window counts per calendar
second, as Kite's does (Zerodha staff, tradingqna.com/t/181989?page=3): ten orders at
x.99 s and ten more at (x+1).01 s all pass. Longer windows (the minute, the day) slide: how
Kite counts them is not documented, and a sliding window is the stricter reading.

Historical requests are capped per interval (``HISTORICAL_DAYS``: minute 60 days, 3/5/10
minute 100, 15/30 minute 200, 60 minute 400, day 2000; third-party figures, KITE_2026 §1.7).

All of it is the realism rule ``rate_limits``: switched off, nothing is limited or capped.
Loop thread only (tests may pass their own ``now``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from agent.sim import errors

IST_OFFSET = 19_800.0  # seconds: calendar windows are aligned on IST wall time
QUOTE_LIMITS = ((1, 1.0),)
HISTORICAL_LIMITS = ((3, 1.0),)
OTHER_LIMITS = ((10, 1.0),)
HISTORICAL_DAYS = {"minute": 60, "3minute": 100, "5minute": 100, "10minute": 100,
                   "15minute": 200, "30minute": 200, "60minute": 400, "day": 2000}
ORDERS, QUOTE, HISTORICAL, OTHER = "orders", "quote", "historical", "other"
_UNLIMITED = ("/sim/", "/ws", "/connect/")  # the exchange's own routes and the login page


class RateLimiter:
    """At most ``limit`` events per ``seconds`` for each ``(limit, seconds)`` window: a
    window of a second or less counts per calendar window (aligned on IST), a longer one
    slides. ``allow`` counts an event only when every window has room."""

    def __init__(self, limits: tuple[tuple[int, float], ...] = ((10, 1.0), (400, 60.0)),
                 now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._calendar = [(limit, seconds) for limit, seconds in limits if seconds <= 1.0]
        self._sliding = [(limit, seconds) for limit, seconds in limits if seconds > 1.0]
        self._slots: list[tuple[int, int]] = [(-1, 0)] * len(self._calendar)  # (window, n)
        self._events: list[deque[float]] = [deque() for _ in self._sliding]

    def allow(self) -> bool:
        t = self._now()
        slots = []
        for (limit, seconds), (window, count) in zip(self._calendar, self._slots, strict=True):
            current = math.floor((t + IST_OFFSET) / seconds)
            count = count if current == window else 0
            if count >= limit:
                return False
            slots.append((current, count + 1))
        for (limit, seconds), events in zip(self._sliding, self._events, strict=True):
            while events and t - events[0] >= seconds:
                events.popleft()
            if len(events) >= limit:
                return False
        self._slots = slots
        for events in self._events:
            events.append(t)
        return True


class Rates:
    """The limiters of the route families other than orders (which ``core.order_limiter``
    counts): quotes, historical candles and everything else."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._limiters = {QUOTE: RateLimiter(QUOTE_LIMITS, now),
                          HISTORICAL: RateLimiter(HISTORICAL_LIMITS, now),
                          OTHER: RateLimiter(OTHER_LIMITS, now)}

    def check(self, family: str | None) -> None:
        """Count one request of ``family``; raises 429 "Too many requests" past its limit.
        ``None`` and ``orders`` are not counted here."""
        limiter = self._limiters.get(family or "")
        if limiter is not None and not limiter.allow():
            raise too_many_requests()


def family(method: str, path: str) -> str | None:
    """The rate family of a request (None: not limited: the exchange's own routes)."""
    if path.startswith(_UNLIMITED):
        return None
    if path.startswith("/orders/") and method in ("POST", "PUT", "DELETE"):
        return ORDERS  # place, modify, cancel
    if path == "/quote" or path.startswith("/quote/"):
        return QUOTE
    if path.startswith("/instruments/historical/"):
        return HISTORICAL
    return OTHER


def too_many_requests() -> errors.KiteError:
    return errors.network_error(errors.TOO_MANY_REQUESTS, 429)


def check_historical_range(interval: str, start: datetime, end: datetime) -> None:
    """Refuse a candle request whose range exceeds the interval's cap (400 InputException)."""
    days = HISTORICAL_DAYS.get(interval)
    if days is not None and (end - start).days > days:
        raise errors.input_error(errors.HISTORICAL_RANGE.format(days=days))
