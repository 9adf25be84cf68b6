"""Restart recovery: the candles the agent missed while it was down.

The saved state restores alerts, stops and VWAP exactly as they were when it was written;
the candles after that (the agent was down, or started late) are rebuilt from Kite's
historical minute candles: each completed bucket goes through the strategy as a candle
would have (VWAP, alerts, trailing), in time order, and the bucket in progress becomes the
current candle. Minute candles are the exchange's, not our ticks, so a rebuilt candle can
differ slightly from one the agent would have built itself.

At start-up the composition root calls ``fill_gaps`` on its thread before the engine's runner
starts. After a late login (the agent ran without a token since the open) the same happens
in three steps, so no HTTP runs on the engine thread: ``CandleGaps`` asks the engine what is
missing, the login's thread fetches the minute candles (``fetch_bars``), ``RebuildCandles``
puts them through the strategy, queued before the feed brings the new login's ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.engine import Engine
from agent.events import Command
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


@dataclass(frozen=True, slots=True)
class Gap:
    """An instrument's stretch of today without candles: [start, stop)."""

    token: int
    symbol: str
    start: datetime
    stop: datetime


@dataclass(frozen=True, slots=True)
class CandleGaps(Command):
    """Which instruments miss candles of today up to ``now`` (after a late login); the
    reply's data: the ``Gap`` list (none before the day's session started)."""

    now: datetime


@dataclass(frozen=True, slots=True)
class RebuildCandles(Command):
    """The minute bars fetched for those gaps (off the engine thread), to put through the
    strategy; a gap a tick has meanwhile started to fill is left alone."""

    bars: tuple[tuple[Gap, tuple[MinuteBar, ...]], ...]
    now: datetime


def gaps(engine: Engine, now: datetime,
         last_end: Callable[[int], datetime | None] | None = None) -> list[Gap]:
    """Each instrument's missing stretch of today up to ``now`` (engine state: its thread,
    or before the runner starts). ``last_end(token)``: the end of the last candle completed
    today (default: the engine's own; None: none, so from the session open)."""
    day = now.date()
    out: list[Gap] = []
    for rt in engine.runtimes.values():
        opens, closes = engine.session_hours(day, rt.instrument.exchange)
        ended = rt.last_candle_end if last_end is None else last_end(rt.token)
        start = max(ended or opens, opens)
        stop = min(now, closes)
        if start >= stop or (rt.series.current is not None and rt.series.current.end > start):
            continue
        out.append(Gap(rt.token, rt.symbol, start, stop))
    return out


def fetch_bars(fetch: Callable[[int, datetime, datetime], list[MinuteBar]],
               missing: list[Gap]) -> list[tuple[Gap, tuple[MinuteBar, ...]]]:
    """Each gap's minute bars in [start, stop) (``fetch`` does HTTP: never on the engine
    thread); a gap whose fetch fails stays (logged)."""
    out: list[tuple[Gap, tuple[MinuteBar, ...]]] = []
    for gap in missing:
        try:
            bars = fetch(gap.token, gap.start, gap.stop)
        except Exception as exc:  # the broker may refuse: trading goes on without them
            log.warning("%s: no minute candles for %s-%s (%s): the gap stays", gap.symbol,
                        f"{gap.start:%H:%M}", f"{gap.stop:%H:%M}", exc)
            continue
        out.append((gap, tuple(b for b in bars if gap.start <= b.start < gap.stop)))
    return out


def rebuild(engine: Engine, gap: Gap, bars: tuple[MinuteBar, ...] | list[MinuteBar],
            now: datetime) -> int:
    """Put one gap's bars through the strategy as candles (engine state); the bucket in
    progress at ``now`` becomes the current candle. Nothing when the instrument is gone or
    its candles moved past the gap's start since it was found. Returns the candles done."""
    rt = engine.runtimes.get(gap.token)
    if rt is None or (rt.last_candle_end is not None and rt.last_candle_end > gap.start) or (
            rt.series.current is not None and rt.series.current.end > gap.start):
        return 0
    count = 0
    for candle in _buckets(rt.token, list(bars), rt.series.bucket_start, rt.series.step):
        if candle.end <= now:
            engine._candle_done(rt, candle, candle.end)  # the strategy, then storage
            count += 1
        else:
            rt.series.resume(candle)  # the bucket in progress
        rt.last_price = candle.close
    if count:
        log.info("%s: %d candle(s) of %s-%s rebuilt from minute candles", rt.symbol,
                 count, f"{gap.start:%H:%M}", f"{gap.stop:%H:%M}")
    engine.dirty = True
    return count


def rebuild_all(engine: Engine, cmd: RebuildCandles) -> dict[str, int]:
    """``RebuildCandles`` on the engine thread: candles rebuilt per symbol."""
    done = {gap.symbol: rebuild(engine, gap, bars, cmd.now) for gap, bars in cmd.bars}
    return {symbol: n for symbol, n in done.items() if n}


def day_gaps(engine: Engine, cmd: CandleGaps) -> list[Gap]:
    """``CandleGaps`` on the engine thread: none before the day's session started."""
    return gaps(engine, cmd.now) if engine.day == cmd.now.date() else []


def fill_gaps(engine: Engine, fetch: Callable[[int, datetime, datetime], list[MinuteBar]],
              last_end: Callable[[int], datetime | None], now: datetime) -> dict[str, int]:
    """Rebuild each instrument's missing candles of today up to ``now`` (at start-up,
    before the runner starts: ``gaps``, ``fetch_bars``, ``rebuild`` in one go).

    ``fetch(token, start, end)``: minute bars in [start, end); ``last_end(token)``: the end
    of the last candle already completed today (None: none, so from the session open).
    Returns the number of candles rebuilt per symbol.
    """
    day = now.date()
    if engine.day != day:
        engine.start_day(day)
    rebuilt: dict[str, int] = {}
    for gap, bars in fetch_bars(fetch, gaps(engine, now, last_end)):
        count = rebuild(engine, gap, bars, now)
        if count:
            rebuilt[gap.symbol] = count
    engine.dirty = True
    return rebuilt


def recover_late(call: Callable[[Command], Any], submit: Callable[[Command], Any],
                 fetch: Callable[[int, datetime, datetime], list[MinuteBar]],
                 now: datetime) -> int:
    """After a late login (its thread, never the engine's): ``call`` the engine for its
    gaps, fetch their minute bars, ``submit`` the rebuild (queued before any tick the new
    login brings). Returns the gaps asked for."""
    missing = call(CandleGaps(now)).data
    if missing:
        submit(RebuildCandles(tuple(fetch_bars(fetch, missing)), now))
    return len(missing)


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
