"""Restart recovery: the candles the agent missed while it was down.

The saved state restores alerts, stops and VWAP exactly as they were when it was written;
the candles after that (the agent was down, or started late) are rebuilt from Kite's
historical minute candles: each completed bucket goes through the strategy as a candle
would have (VWAP, alerts, trailing), in time order, and the bucket in progress becomes the
current candle. Minute candles are the exchange's, not our ticks, so a rebuilt candle can
differ slightly from one the agent would have built itself.

Called by the composition root on its thread before the engine's runner starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.engine import Engine
from agent.models import Candle
from agent.timeutil import to_ist

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MinuteBar:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def bars_from_kite(rows: Iterable[dict[str, Any]]) -> list[MinuteBar]:
    """``KiteConnect.historical_data(...)`` rows (floats, aware dates) as exact bars."""
    return [MinuteBar(to_ist(r["date"]), Decimal(str(r["open"])), Decimal(str(r["high"])),
                      Decimal(str(r["low"])), Decimal(str(r["close"])), int(r["volume"]))
            for r in rows]


def fill_gaps(engine: Engine, fetch: Callable[[int, datetime, datetime], list[MinuteBar]],
              last_end: Callable[[int], datetime | None], now: datetime) -> dict[str, int]:
    """Rebuild each instrument's missing candles of today up to ``now``.

    ``fetch(token, start, end)``: minute bars in [start, end); ``last_end(token)``: the end
    of the last candle already completed today (None: none, so from the session open).
    Returns the number of candles rebuilt per symbol.
    """
    day = now.date()
    if engine.day != day:
        engine.start_day(day)
    rebuilt: dict[str, int] = {}
    for rt in list(engine.runtimes.values()):
        opens, closes = engine.session_hours(day, rt.instrument.exchange)
        start = max(last_end(rt.token) or opens, opens)
        stop = min(now, closes)
        if start >= stop or (rt.series.current is not None and rt.series.current.end > start):
            continue
        try:
            bars = [b for b in fetch(rt.token, start, stop) if start <= b.start < stop]
        except Exception as exc:  # the broker may refuse: trading goes on without them
            log.warning("%s: no minute candles for %s-%s (%s): the gap stays", rt.symbol,
                        f"{start:%H:%M}", f"{stop:%H:%M}", exc)
            continue
        count = 0
        for candle in _buckets(rt.token, bars, rt.series.bucket_start, rt.series.step):
            if candle.end <= now:
                engine._candle_done(rt, candle, candle.end)  # the strategy, then storage
                count += 1
            else:
                rt.series.resume(candle)  # the bucket in progress
            rt.last_price = candle.close
        if count:
            rebuilt[rt.symbol] = count
            log.info("%s: %d candle(s) of %s-%s rebuilt from minute candles", rt.symbol,
                     count, f"{start:%H:%M}", f"{stop:%H:%M}")
    engine.dirty = True
    return rebuilt


def _buckets(token: int, bars: list[MinuteBar], bucket_of: Callable[[datetime], datetime],
             step: Any) -> list[Candle]:
    out: list[Candle] = []
    for bar in sorted(bars, key=lambda b: b.start):
        start = bucket_of(bar.start)
        last = out[-1] if out else None
        if last is not None and last.start == start:
            last.high = max(last.high, bar.high)
            last.low = min(last.low, bar.low)
            last.close = bar.close
            last.volume += bar.volume
            last.ticks += 1
        else:
            out.append(Candle(token, start, start + step, bar.open, bar.high, bar.low, bar.close,
                              bar.volume, 1))
    return out
