"""The simulated market: every instrument's price path on the session's second grid.

``Market`` answers "what did instrument X look like at second k of the session" (a
``Quote``: LTP, OHLC of the day, volume, depth ...) and minute candles of any weekday, from
seeded paths (``agent.sim.paths``). It knows nothing of clocks or sockets: callers turn
datetimes into session seconds with ``second_of``. Not thread-safe: owned by the simulator's
loop thread (tests may drive one directly).

Orders fill from the depth (``agent.sim.matching``): five levels a side a tick apart, fresh
every second, each of 1 to 2 x ``depth_lots`` lots (five seconds of the instrument's mean
trading at its base price). Circuits: +/- 20 % of the close, futures +/- 10 % (NSE's
operating range), options a tick to 3 x the close (NSE's are wide, contract-specific).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from agent.instruments import InstrumentIndex
from agent.models import DepthLevel, Instrument
from agent.sim.paths import DEFAULT_STYLE, SESSION_SECONDS, PathStyle, PricePath
from agent.timeutil import IST, ist, to_ist

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
DERIVATIVE_SEGMENTS = ("NFO", "BFO", "MCX", "CDS", "BCD")


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument at one second of the session. Prices are Decimal rupees."""

    instrument: Instrument
    second: int  # -1: before the open (the previous close is shown)
    time: datetime
    last_price: Decimal
    last_quantity: int
    volume: int
    average_price: Decimal
    buy_quantity: int
    sell_quantity: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal  # the previous session's close
    oi: int
    oi_day_high: int
    oi_day_low: int
    depth_buy: tuple[DepthLevel, ...]
    depth_sell: tuple[DepthLevel, ...]
    lower_circuit: Decimal
    upper_circuit: Decimal

    @property
    def bid(self) -> Decimal:
        return self.depth_buy[0].price

    @property
    def ask(self) -> Decimal:
        return self.depth_sell[0].price


@dataclass(frozen=True, slots=True)
class MinuteCandle:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    oi: int


@dataclass(frozen=True, slots=True)
class _Static:
    """What does not change during the day for one instrument."""

    instrument: Instrument
    close: Decimal
    lower_circuit: Decimal
    upper_circuit: Decimal
    oi: int  # open interest base (0: not a derivative)
    depth_lots: int  # the mean size of a depth level, in lots


def previous_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


class Market:
    """Seeded prices of a set of instruments for one trading date (and its history)."""

    def __init__(self, instruments: Iterable[Instrument], trading_date: date, seed: int = 7,
                 style: PathStyle = DEFAULT_STYLE, spread_ticks: int = 1,
                 base_prices: Mapping[int, Decimal] | None = None) -> None:
        self.index = InstrumentIndex(instruments)
        if not len(self.index):
            raise ValueError("the simulated market needs at least one instrument")
        self.trading_date = trading_date
        self.seed = seed
        self.style = style
        self.spread_ticks = spread_ticks
        self._base = dict(base_prices or {})
        self._paths: dict[tuple[int, date], PricePath] = {}
        self._closes: dict[tuple[int, date], float] = {}
        self._statics: dict[int, _Static] = {}

    # ----- time -----
    def open_time(self, d: date | None = None) -> datetime:
        return ist(d or self.trading_date, SESSION_OPEN)

    def second_of(self, when: datetime) -> int:
        """The session second of a time on the trading date: -1 before the open, clamped to
        the last second after the close."""
        offset = (to_ist(when) - self.open_time()).total_seconds()
        if offset < 0:
            return -1
        return min(int(offset), SESSION_SECONDS - 1)

    def is_open(self, when: datetime) -> bool:
        offset = (to_ist(when) - self.open_time()).total_seconds()
        return 0 <= offset < SESSION_SECONDS

    # ----- prices -----
    def instrument(self, token: int) -> Instrument:
        ins = self.index.by_token(token)
        if ins is None:
            raise KeyError(f"instrument token {token} is not in the simulated market")
        return ins

    def base_price(self, ins: Instrument) -> float:
        if ins.token in self._base:
            return float(self._base[ins.token])
        rng = random.Random(f"{self.seed}:{ins.token}:base")
        if ins.segment == "INDICES":
            low, high = 5_000.0, 50_000.0
        elif ins.instrument_type in ("CE", "PE"):
            low, high = 20.0, 400.0
        else:
            low, high = 50.0, 3_000.0
        return low * (high / low) ** rng.random()

    def _start_price(self, ins: Instrument, d: date) -> float:
        rng = random.Random(f"{self.seed}:{ins.token}:{d.isoformat()}:start")
        return self.base_price(ins) * (1.0 + rng.gauss(0.0, 0.02))

    def close_of(self, ins: Instrument, d: date) -> float:
        """The close of day ``d``: the next day's start moved by an overnight gap."""
        key = (ins.token, d)
        if key not in self._closes:
            rng = random.Random(f"{self.seed}:{ins.token}:{d.isoformat()}:close")
            nxt = d + timedelta(days=1)
            self._closes[key] = self._start_price(ins, nxt) * (1.0 + rng.gauss(0.0, 0.006))
        return self._closes[key]

    def path(self, token: int, d: date | None = None) -> PricePath:
        """The path of a day: today's grows lazily; earlier days end at their close."""
        d = d or self.trading_date
        key = (token, d)
        found = self._paths.get(key)
        if found is None:
            ins = self.instrument(token)
            found = PricePath(f"{self.seed}:{token}:{d.isoformat()}",
                              self._start_price(ins, d), float(ins.tick_size), ins.lot_size,
                              self.style)
            if d < self.trading_date:
                found.tilt_to_close(self.close_of(ins, d))
            self._paths[key] = found
        return found

    def prev_close(self, token: int) -> Decimal:
        ins = self.instrument(token)
        return self._on_grid(ins, self.close_of(ins, previous_weekday(self.trading_date)))

    def ltp(self, token: int, second: int) -> Decimal:
        if second < 0:
            return self.prev_close(token)
        path = self.path(token)
        path.extend_to(second)
        return path.ticks[min(second, len(path) - 1)] * self.instrument(token).tick_size

    def _static(self, token: int) -> _Static:
        found = self._statics.get(token)
        if found is None:
            ins = self.instrument(token)
            close = self.prev_close(token)
            oi = 0
            if ins.exchange in DERIVATIVE_SEGMENTS:
                oi = random.Random(f"{self.seed}:{ins.token}:oi").randint(1_000, 200_000)
            lower, upper = self._circuits(ins, float(close))
            lots_a_second = self.style.mean_trade_value / self.base_price(ins) \
                / max(ins.lot_size, 1)
            found = self._statics[token] = _Static(
                ins, close, lower, upper, oi * ins.lot_size, max(1, round(5 * lots_a_second)))
        return found

    def _circuits(self, ins: Instrument, close: float) -> tuple[Decimal, Decimal]:
        if ins.instrument_type in ("CE", "PE") or ins.segment.endswith("-OPT"):
            return max(ins.tick_size, Decimal("0.05")), self._on_grid(ins, close * 3)
        band = 0.1 if ins.instrument_type == "FUT" or ins.segment.endswith("-FUT") else 0.2
        return self._on_grid(ins, close * (1 - band)), self._on_grid(ins, close * (1 + band))

    def quote(self, token: int, second: int) -> Quote:
        """The state of an instrument at a session second (-1: before the open)."""
        static = self._static(token)
        ins, close = static.instrument, static.close
        tick = ins.tick_size
        when = self.open_time() + timedelta(seconds=max(second, 0))
        if second < 0:
            ltp_t, up_move = int(close / tick), True
            ltq = volume = 0
            avg = close
            o = h = lo = close
        else:
            path = self.path(token)
            path.extend_to(second)
            k = min(second, len(path) - 1)
            ltp_t = path.ticks[k]
            up_move = k == 0 or ltp_t >= path.ticks[k - 1]
            ltq, volume = path.qty[k], path.volume[k]
            avg = Decimal(str(round(path.turnover[k] / volume, 2)))
            o, h, lo = (path.ticks[0] * tick, path.high[k] * tick, path.low[k] * tick)
        spread = self.spread_ticks
        ask_t, bid_t = (ltp_t, ltp_t - spread) if up_move else (ltp_t + spread, ltp_t)
        bid_t = max(bid_t, 1)
        mix = _mix(ins.token, second)
        lot, span = ins.lot_size, 2 * static.depth_lots
        depth_buy = tuple(DepthLevel((bid_t - i) * tick, (1 + (mix >> (3 * i)) % span) * lot,
                                     1 + (mix >> (2 * i)) % 12) for i in range(5))
        depth_sell = tuple(DepthLevel((ask_t + i) * tick,
                                      (1 + (mix >> (3 * i + 1)) % span) * lot,
                                      1 + (mix >> (2 * i + 1)) % 12) for i in range(5))
        oi = static.oi + (mix % 1_000) * ins.lot_size if static.oi else 0
        return Quote(
            instrument=ins, second=second, time=when, last_price=ltp_t * tick,
            last_quantity=ltq, volume=volume, average_price=avg,
            buy_quantity=sum(d.quantity for d in depth_buy) * 20 + mix % 997,
            sell_quantity=sum(d.quantity for d in depth_sell) * 20 + (mix >> 5) % 997,
            open=o, high=h, low=lo, close=close, oi=oi,
            oi_day_high=oi + oi // 50 if oi else 0, oi_day_low=oi - oi // 40 if oi else 0,
            depth_buy=depth_buy, depth_sell=depth_sell,
            lower_circuit=static.lower_circuit, upper_circuit=static.upper_circuit,
        )

    @staticmethod
    def _on_grid(ins: Instrument, price: float) -> Decimal:
        tick = ins.tick_size
        return max(tick, (Decimal(str(price)) / tick).quantize(Decimal(1)) * tick)

    # ----- history -----
    def minute_candles(self, token: int, start: datetime, end: datetime,
                       now: datetime) -> list[MinuteCandle]:
        """Minute candles with start in [start, end] on weekdays up to ``now`` (the current
        minute's candle is partial, as Kite's is)."""
        ins = self.instrument(token)
        start, end, now = to_ist(start), min(to_ist(end), to_ist(now)), to_ist(now)
        out: list[MinuteCandle] = []
        d = start.date()
        while d <= end.date() and d <= self.trading_date:
            if d.weekday() < 5:
                out.extend(self._day_minutes(ins, d, start, end, now))
            d += timedelta(days=1)
        return out

    def _day_minutes(self, ins: Instrument, d: date, start: datetime, end: datetime,
                     now: datetime) -> list[MinuteCandle]:
        path = self.path(ins.token, d)
        opened = self.open_time(d)
        last = SESSION_SECONDS - 1
        if d == self.trading_date:
            last = self.second_of(now)
            if last < 0:
                return []
        path.extend_to(last)
        tick = ins.tick_size
        oi = self._static(ins.token).oi
        out = []
        for m in range(0, last + 1, 60):
            t0 = opened + timedelta(seconds=m)
            if t0 < start.replace(second=0, microsecond=0) or t0 > end:
                continue
            seg = path.ticks[m:min(m + 60, last + 1)]
            vol = path.qty[m:min(m + 60, last + 1)]
            out.append(MinuteCandle(t0, seg[0] * tick, max(seg) * tick, min(seg) * tick,
                                    seg[-1] * tick, sum(vol), oi))
        return out


def _mix(token: int, second: int) -> int:
    """A cheap deterministic pseudo-random 32-bit number for depth and book sizes."""
    h = (token * 2654435761 + (second + 7) * 40503) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    return h ^ (h >> 13)


def at_open(d: date) -> datetime:
    """09:15 IST of a date."""
    return datetime.combine(d, SESSION_OPEN, tzinfo=IST)
