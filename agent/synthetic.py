"""Seeded synthetic tick sessions for backtests, tests and benchmarks.

Each instrument follows a random walk on its tick grid with regimes (trends up and down,
quiet ranges), reversals and occasional gaps, ticking about once per ``every_seconds``;
``volume_traded`` rises through the day. The same arguments always give the same ticks.
Pure generator functions, any thread.
"""

from __future__ import annotations

import csv
import gzip
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from agent.models import Instrument, Tick
from agent.timeutil import IST

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)


@dataclass(frozen=True, slots=True)
class PathShape:
    """How lively the walk is; per-second volatility and trend strengths in fractions."""

    volatility: float = 0.0004
    trend: float = 0.00012
    regime_minutes: tuple[int, int] = (10, 45)
    gap_chance: float = 0.0004  # per tick: a jump of about gap_size
    gap_size: float = 0.006


def synthetic_instruments(count: int, exchange: str = "NSE", first_token: int = 100_001,
                          lot_sizes: Sequence[int] = (1, 25, 50)) -> list[Instrument]:
    """Made-up equity instruments SYN000, SYN001, ... with tick 0.05."""
    return [Instrument(first_token + i, exchange, f"SYN{i:03d}", Decimal("0.05"),
                       lot_sizes[i % len(lot_sizes)]) for i in range(count)]


class _Walk:
    __slots__ = ("drift", "price", "regime_left", "rng", "shape", "tick", "units", "volume")

    def __init__(self, ins: Instrument, rng: random.Random, shape: PathShape,
                 start_price: float) -> None:
        self.rng = rng
        self.shape = shape
        self.tick = ins.tick_size
        self.units = max(1, round(start_price / float(ins.tick_size)))
        self.price = start_price
        self.drift = 0.0
        self.regime_left = 0
        self.volume = 0

    def step(self, seconds: float) -> tuple[Decimal, int, int]:
        rng, shape = self.rng, self.shape
        if self.regime_left <= 0:
            self.regime_left = rng.randint(*shape.regime_minutes) * 60
            self.drift = rng.choice((-1, -1, 0, 1, 1)) * shape.trend * rng.uniform(0.5, 1.5)
        self.regime_left -= seconds
        move = self.drift * seconds + rng.gauss(0.0, shape.volatility * seconds ** 0.5)
        if rng.random() < shape.gap_chance:
            move += rng.choice((-1, 1)) * shape.gap_size
        self.price = max(self.price * (1.0 + move), float(self.tick) * 20)
        self.units = max(20, round(self.price / float(self.tick)))
        qty = rng.randint(1, 40) * (1 + int(abs(move) * 2000))
        self.volume += qty
        return self.tick * self.units, qty, self.volume


def session_ticks(instruments: Sequence[Instrument], day: date, *, seed: int = 1,
                  every_seconds: int = 1, shape: PathShape | None = None,
                  start: time = SESSION_OPEN, end: time = SESSION_CLOSE,
                  ends: dict[int, time] | None = None,
                  skip_chance: float = 0.1) -> Iterator[Tick]:
    """Ticks of one session in time order; at each step every instrument ticks unless it
    skips (``skip_chance``) or its data ended (``ends``: token -> last time)."""
    shape = shape or PathShape()
    walks = []
    for ins in instruments:
        rng = random.Random(f"{seed}:{day}:{ins.token}")
        walks.append((ins.token, _Walk(ins, rng, shape, rng.uniform(80.0, 2500.0)),
                      (ends or {}).get(ins.token)))
    order_rng = random.Random(f"{seed}:{day}:skip")
    t = datetime.combine(day, start, tzinfo=IST)
    stop = datetime.combine(day, end, tzinfo=IST)
    step = timedelta(seconds=every_seconds)
    while t < stop:
        now_time = t.time()
        for token, walk, last in walks:
            if last is not None and now_time > last:
                continue
            price, qty, volume = walk.step(every_seconds)
            if order_rng.random() < skip_chance:
                continue
            yield Tick(token, price, t, None, qty, volume)
        t += step


def write_csv(ticks: Iterable[Tick], path: Path) -> int:
    """Write a backtest tick file (gzip when the name ends in .gz); returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("timestamp", "instrument_token", "last_price", "last_traded_quantity",
                         "volume_traded"))
        last_time: datetime | None = None
        stamp = ""
        for tick in ticks:
            if tick.timestamp is not last_time:
                last_time = tick.timestamp
                stamp = tick.timestamp.isoformat() if tick.timestamp else ""
            writer.writerow((stamp, tick.instrument_token, tick.last_price,
                             tick.last_traded_quantity, tick.volume_traded))
            n += 1
    return n
