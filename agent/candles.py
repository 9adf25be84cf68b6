"""Grid candle aggregation (docs/strategy.md section 3), one ``CandleSeries`` per instrument.

Bucket k of a day covers [open + k x interval, open + (k+1) x interval) from the session
open. A tick in a later bucket completes the current candle first; the live timer
completes a candle whose end has passed. Engine thread only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

from agent.models import Candle
from agent.timeutil import IST


class TickVerdict(Enum):
    OUTSIDE_SESSION = 1
    STALE = 2  # older than the start of the instrument's current candle


class CandleSeries:
    """The current candle and volume baseline of one instrument for one day."""

    __slots__ = (
        "_session_close",
        "_session_open",
        "_step",
        "completed",
        "current",
        "day",
        "edge",
        "floor",
        "interval",
        "last_volume",
        "token",
    )

    def __init__(self, token: int, interval_minutes: int) -> None:
        """``interval_minutes`` is fixed for a day: a new interval starts with a new day."""
        self.token = token
        self.interval = interval_minutes
        self._step = timedelta(minutes=interval_minutes)
        self.day: date | None = None
        self._session_open: datetime = datetime.min.replace(tzinfo=IST)
        self._session_close: datetime = datetime.min.replace(tzinfo=IST)
        self.current: Candle | None = None
        self.edge = self._session_close  # the current candle takes ticks before this
        self.floor: datetime | None = None  # ticks before this are stale
        self.last_volume: int | None = None  # volume_traded of the previous accepted tick
        self.completed = 0

    def start_day(self, day: date, interval_minutes: int, session_open: datetime,
                  session_close: datetime) -> None:
        """Forget the previous day: candles, volume baseline, stale floor. The grid of the
        day starts at ``session_open`` (a special session's open, if it has one)."""
        self.interval = interval_minutes
        self._step = timedelta(minutes=interval_minutes)
        self.day = day
        self._session_open = session_open
        self._session_close = session_close
        self.current = None
        self.floor = None
        self.last_volume = None

    def offer(self, t: datetime, price: Decimal, last_qty: int | None,
              volume_traded: int | None) -> Candle | TickVerdict | None:
        """Apply a tick at ``t`` (a time on this series' day: the engine starts days first).

        Returns a ``TickVerdict`` when the tick is ignored (outside the session, or older
        than the current candle's start: it then changes nothing), else the candle it
        completed, else None.
        """
        cur = self.current
        if cur is None or not cur.start <= t < self.edge:
            if not self._session_open <= t < self._session_close:
                return TickVerdict.OUTSIDE_SESSION
            floor = self.floor
            if floor is not None and t < floor:
                return TickVerdict.STALE
        # Volume (section 3): the rise of volume_traded since the previous accepted tick;
        # the first accepted tick of the day, or a feed without it: last_traded_quantity.
        prev = self.last_volume
        if volume_traded is None or prev is None:
            vol = last_qty or 0
        else:
            vol = volume_traded - prev
            if vol < 0:
                vol = 0
        if volume_traded is not None:
            self.last_volume = volume_traded
        if cur is not None and t < self.edge:
            if price > cur.high:
                cur.high = price
            elif price < cur.low:
                cur.low = price
            cur.close = price
            cur.volume += vol
            cur.ticks += 1
            return None
        done = self._complete()
        start = self._bucket_start(t)
        end = start + self._step
        self.current = Candle(self.token, start, end, price, price, price, price, vol, 1)
        # The last candle of a day may run past the close; its ticks may not.
        self.edge = end if end <= self._session_close else self._session_close
        self.floor = start
        return done

    def resume(self, candle: Candle) -> None:
        """A restart rebuilt the day's current candle (from minute candles): continue it."""
        self.current = candle
        self.floor = candle.start
        self.edge = candle.end if candle.end <= self._session_close else self._session_close

    @property
    def step(self) -> timedelta:
        return self._step

    def due(self, now: datetime) -> Candle | None:
        """Timer: complete the current candle when ``now`` is at or past its end."""
        cur = self.current
        if cur is not None and now >= cur.end:
            # Later ticks of the completed bucket are stale: once only.
            self.floor = cur.end
            return self._complete()
        return None

    def flush(self) -> Candle | None:
        """End of data: complete whatever is open."""
        return self._complete()

    def _complete(self) -> Candle | None:
        cur = self.current
        if cur is None:
            return None
        self.current = None
        self.completed += 1
        return cur

    def bucket_start(self, t: datetime) -> datetime:
        """The start of the grid bucket holding ``t`` (on this series' day)."""
        return self._bucket_start(t)

    def _bucket_start(self, t: datetime) -> datetime:
        k = (t - self._session_open) // self._step
        return self._session_open + k * self._step
