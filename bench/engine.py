"""Benchmark: ticks/s through the engine against the original bot's JSON candle files.

``run(quick)`` measures, for 50, 500, 3,000 and 9,000 instruments (quick: 50 and 500):

- ``ticks_per_s``: ``Engine.on_tick`` over pre-built ticks (``agent.synthetic``: seeded,
  every instrument ticking, none skipped) through candles, strategy, risk and the paper
  broker, as ``agent.backtest.make_engine`` builds it; best of a few repetitions, each on a
  fresh engine. Building the ticks is outside the timed region, and they are frozen out of
  the garbage collector's sight (a live feed never holds a million ticks);
- ``baseline_ticks_per_s``: the original bot's way of keeping candles (``JsonCandleFiles``):
  for every tick, read the instrument's whole candle JSON file, update the current candle,
  write the whole file back. It runs on a seeded random sample (in time order) of the same
  ticks, since it is far slower, from empty files each repetition, interleaved with the
  engine's (best of each); it does candles only, no strategy, risk or broker, so the
  ``ratio`` (ours / baseline) understates the difference;
- ``profile``: the top costs of the engine at 500 instruments under cProfile, on the same
  ticks (the timed figures never run under the profiler).

Every size covers the same stretch of a session from the open (30 minutes; quick: 10), so
candles complete and the strategy trades at every size; larger universes tick less often
per instrument (``seconds_between_ticks``) to keep the tick count within budget, which
means more candle completions per tick than a live one-tick-a-second feed: conservative.
The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import gc
import json
import math
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.backtest import make_engine
from agent.engine import Engine
from agent.models import Instrument, Tick
from agent.settings import Settings, StrategyParams
from agent.synthetic import SESSION_OPEN, session_ticks, synthetic_instruments
from agent.timeutil import IST
from bench.profiling import profile, top_costs

DAY = date(2024, 1, 15)  # a Monday
GOAL_SIZE = 500


@dataclass(frozen=True, slots=True)
class Plan:
    sizes: tuple[int, ...]
    window_minutes: int  # the stretch of the session every size covers, from the open
    tick_budget: int  # at most this many ticks per size
    repeats: int  # best of this many timed runs of the engine
    baseline_ticks: int  # the baseline's sample of the same ticks


FULL = Plan((50, 500, 3_000, 9_000), 30, 900_000, 3, 4_000)
QUICK = Plan((50, 500), 10, 30_000, 1, 1_000)


class JsonCandleFiles:
    """The baseline: candles kept the way the original bot kept them. Every tick reads the
    instrument's day file (a JSON list of candles), updates the current candle or starts
    the next one on the grid from the session open, and rewrites the whole file. Volume is
    the sum of last traded quantities. Single-threaded."""

    def __init__(self, root: Path, interval_minutes: int, session_open: datetime) -> None:
        self.root = root
        self.step = timedelta(minutes=interval_minutes)
        self.session_open = session_open

    def path(self, token: int) -> Path:
        return self.root / f"{token}.json"

    def on_tick(self, tick: Tick) -> None:
        path = self.path(tick.instrument_token)
        try:
            with open(path, encoding="utf-8") as fh:
                candles: list[dict[str, Any]] = json.load(fh)
        except FileNotFoundError:
            candles = []
        t = tick.timestamp or tick.received_at
        assert t is not None, "baseline ticks carry a time"
        start = (self.session_open + (t - self.session_open) // self.step * self.step
                 ).isoformat()
        price = float(tick.last_price)
        qty = tick.last_traded_quantity or 0
        last = candles[-1] if candles else None
        if last is not None and last["start"] == start:
            last["high"] = max(last["high"], price)
            last["low"] = min(last["low"], price)
            last["close"] = price
            last["volume"] += qty
            last["ticks"] += 1
        else:
            candles.append({"token": tick.instrument_token, "start": start, "open": price,
                            "high": price, "low": price, "close": price, "volume": qty,
                            "ticks": 1})
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(candles, fh)

    def candles(self, token: int) -> list[dict[str, Any]]:
        try:
            with open(self.path(token), encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return []


def build_ticks(instruments: Sequence[Instrument], window_minutes: int,
                every_seconds: int) -> list[Tick]:
    open_at = datetime.combine(DAY, SESSION_OPEN)
    end = (open_at + timedelta(minutes=window_minutes)).time()
    return list(session_ticks(instruments, DAY, seed=6, every_seconds=every_seconds,
                              end=end, skip_chance=0.0))


def _engine(instruments: Sequence[Instrument]) -> Engine:
    return make_engine(Settings(), instruments)


def _timed_engine_run(instruments: Sequence[Instrument], ticks: list[Tick]
                      ) -> tuple[float, Engine]:
    engine = _engine(instruments)
    on_tick = engine.on_tick
    gc.collect()
    start = time.perf_counter()
    for tick in ticks:
        on_tick(tick)
    return time.perf_counter() - start, engine


def _baseline_rate(ticks: list[Tick], sample: int, seed: int) -> tuple[int, float]:
    picked = sorted(random.Random(seed).sample(range(len(ticks)), min(sample, len(ticks))))
    chosen = [ticks[i] for i in picked]
    open_at = datetime.combine(DAY, SESSION_OPEN, tzinfo=IST)
    with tempfile.TemporaryDirectory(prefix="bench-json-candles-") as tmp:
        files = JsonCandleFiles(Path(tmp), StrategyParams().interval, open_at)
        on_tick = files.on_tick
        gc.collect()
        start = time.perf_counter()
        for tick in chosen:
            on_tick(tick)
        seconds = time.perf_counter() - start
    return len(chosen), len(chosen) / seconds


def _size(count: int, plan: Plan) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The figures of one universe size, and at GOAL_SIZE the profile of the same ticks."""
    instruments = synthetic_instruments(count)
    every = max(1, math.ceil(count * plan.window_minutes * 60 / plan.tick_budget))
    ticks = build_ticks(instruments, plan.window_minutes, every)
    gc.collect()
    gc.freeze()  # the pre-built ticks are the benchmark's, not the engine's garbage
    try:
        best, baseline = math.inf, 0.0
        engine: Engine | None = None
        for _ in range(plan.repeats):  # interleaved: a busy spell slows both alike
            seconds, engine = _timed_engine_run(instruments, ticks)
            best = min(best, seconds)
            sampled, rate = _baseline_rate(ticks, plan.baseline_ticks, seed=count)
            baseline = max(baseline, rate)
        assert engine is not None
        profiled = _profile(instruments, ticks) if count == GOAL_SIZE else None
    finally:
        gc.unfreeze()
    ours = len(ticks) / best
    return {
        "instruments": count,
        "ticks": len(ticks),
        "window_minutes": plan.window_minutes,
        "seconds_between_ticks": every,
        "ticks_per_s": round(ours),
        "candles_completed": sum(rt.series.completed for rt in engine.runtimes.values()),
        "orders": len(engine.book.orders),
        "trades": len(engine.all_trades),
        "open_positions_at_end": sum(1 for rt in engine.runtimes.values()
                                     if rt.book.quantity),
        "baseline_ticks": sampled,
        "baseline_ticks_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 1),
    }, profiled


def _profile(instruments: Sequence[Instrument], ticks: list[Tick]) -> dict[str, Any]:
    engine = _engine(instruments)

    def feed_ticks() -> None:
        on_tick = engine.on_tick
        for tick in ticks:
            on_tick(tick)

    return {"instruments": len(instruments), "ticks": len(ticks),
            "top": top_costs(profile(feed_ticks), 12)}


def run(quick: bool) -> dict[str, Any]:
    """Ticks/s of the engine and of the JSON-file baseline per universe size."""
    plan = QUICK if quick else FULL
    sizes: dict[str, Any] = {}
    profiled: dict[str, Any] | None = None
    for n in plan.sizes:
        sizes[str(n)], found = _size(n, plan)
        profiled = profiled or found
    return {
        "day": DAY.isoformat(),
        "window": f"{SESSION_OPEN:%H:%M} + {plan.window_minutes} min",
        "repeats": plan.repeats,
        "goal_size": GOAL_SIZE,
        "sizes": sizes,
        "profile": profiled,
    }

