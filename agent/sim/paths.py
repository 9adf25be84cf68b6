"""Seeded, reproducible intraday price paths: one value per simulated second of the session.

A path depends only on its key (seed, instrument, date) and its start price, so two runs
with the same seed see the same market. Prices move in log space through trend regimes
(random direction, length and size), reversals (the next regime), noise and occasional
gaps, and are reported on the instrument's tick grid. Paths are generated lazily, as far as
someone has asked. Not thread-safe: owned by the simulator's loop thread.
"""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass

SESSION_SECONDS = 22_500  # 09:15:00 .. 15:29:59, one value per second


@dataclass(frozen=True, slots=True)
class PathStyle:
    """How lively the market is. Defaults make a 0.5% band breakout on 5-minute candles
    trigger several times a session on most instruments."""

    day_volatility: tuple[float, float] = (0.006, 0.012)  # noise only, sd over the day
    trend_minutes: tuple[float, float] = (10.0, 45.0)
    trend_move: tuple[float, float] = (0.003, 0.01)  # log move over one trend regime
    flat_probability: float = 0.2
    gaps_per_day: float = 2.0
    gap_size: tuple[float, float] = (0.002, 0.006)
    mean_trade_value: float = 40_000.0  # rupees traded per second, on average


DEFAULT_STYLE = PathStyle()


class PricePath:
    """The second-by-second path of one instrument on one date."""

    def __init__(self, key: str, start_price: float, tick: float, lot_size: int = 1,
                 style: PathStyle = DEFAULT_STYLE) -> None:
        if start_price <= 0 or tick <= 0:
            raise ValueError(f"{key}: start price and tick must be > 0")
        self._rng = random.Random(key)
        self._style = style
        self._tick = tick
        self._x = math.log(start_price)
        self._sigma = self._rng.uniform(*style.day_volatility) / math.sqrt(SESSION_SECONDS)
        self._jump_p = style.gaps_per_day / SESSION_SECONDS
        self._mu = 0.0
        self._regime_left = 0
        self._mean_qty = max(1.0, style.mean_trade_value / start_price / max(lot_size, 1))
        self._lot = max(lot_size, 1)
        self.ticks = array("q")  # last price, in ticks
        self.qty = array("q")  # quantity traded in the second
        self.volume = array("q")  # cumulative
        self.turnover = array("d")  # cumulative rupees
        self.high = array("q")  # running, in ticks
        self.low = array("q")
        self._logs = array("d")  # log prices before rounding (for tilting)

    def __len__(self) -> int:
        return len(self.ticks)

    def extend_to(self, k: int) -> None:
        """Generate seconds up to and including ``k`` (clamped to the session)."""
        k = min(k, SESSION_SECONDS - 1)
        start = len(self._logs)
        if k < start:
            return
        self._generate(k + 1 - start)
        self._derive(start)

    def tilt_to_close(self, close_price: float) -> None:
        """Generate the whole day and bend it (linearly in log space) to end at a price."""
        missing = SESSION_SECONDS - len(self._logs)
        if missing:
            self._generate(missing)
        shift = math.log(close_price) - self._logs[-1]
        n = len(self._logs)
        for i in range(n):
            self._logs[i] += shift * (i + 1) / n
        for arr in (self.ticks, self.volume, self.turnover, self.high, self.low):
            del arr[:]
        self._derive(0)

    def _new_regime(self) -> None:
        style, rng = self._style, self._rng
        seconds = int(rng.uniform(*style.trend_minutes) * 60)
        self._regime_left = seconds
        if rng.random() < style.flat_probability:
            self._mu = 0.0
        else:
            self._mu = rng.choice((-1.0, 1.0)) * rng.uniform(*style.trend_move) / seconds

    def _generate(self, count: int) -> None:
        rng, style, logs, qty = self._rng, self._style, self._logs, self.qty
        rand, log = rng.random, math.log
        x, jump_p, lot = self._x, self._jump_p, self._lot
        # A sum of three uniforms is a cheap, bounded stand-in for a normal draw:
        # (u1 + u2 + u3 - 1.5) has variance 1/4, hence the factor 2.
        noise = 2.0 * self._sigma
        mean_qty = self._mean_qty
        for _ in range(count):
            if self._regime_left <= 0:
                self._new_regime()
            self._regime_left -= 1
            if logs:  # the first second is the open itself
                x += self._mu + noise * (rand() + rand() + rand() - 1.5)
                if rand() < jump_p:
                    x += rng.choice((-1.0, 1.0)) * rng.uniform(*style.gap_size)
            logs.append(x)
            qty.append((int(-log(1.0 - rand()) * mean_qty) + 1) * lot)
        self._x = x

    def _derive(self, start: int) -> None:
        tick, exp = self._tick, math.exp
        if start == 0:
            vol, turn, hi, lo = 0, 0.0, 0, 1 << 62
        else:
            vol, turn = self.volume[-1], self.turnover[-1]
            hi, lo = self.high[-1], self.low[-1]
        ticks, volume, turnover = [], [], []
        highs, lows = [], []
        for x, q in zip(self._logs[start:], self.qty[start:], strict=True):
            t = round(exp(x) / tick) or 1
            vol += q
            turn += q * t * tick
            if t > hi:
                hi = t
            if t < lo:
                lo = t
            ticks.append(t)
            volume.append(vol)
            turnover.append(turn)
            highs.append(hi)
            lows.append(lo)
        self.ticks.extend(ticks)
        self.volume.extend(volume)
        self.turnover.extend(turnover)
        self.high.extend(highs)
        self.low.extend(lows)
