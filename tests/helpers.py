"""Shared builders for the strategy-rule tests: settings, instruments, ticks and candles.

A scenario is written as candles (``Feed.candle``) and single ticks (``Feed.tick``) fed
through the real engine with the paper broker (``Run``). Single-threaded test code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from agent.backtest import make_engine
from agent.engine import Engine
from agent.events import Notification, OrderUpdate
from agent.models import Candle, Instrument, Order, OrderStatus, Tick
from agent.settings import (
    Defaults,
    GroupConfig,
    InstrumentConfig,
    RiskConfig,
    ScheduleConfig,
    SessionHours,
    Settings,
    StrategyParams,
)
from agent.strategy.base import PositionView
from agent.timeutil import IST

DAY = date(2024, 1, 15)  # a Monday
DAY2 = date(2024, 1, 16)


def d(x: Any) -> Decimal:
    """A Decimal from an int, a str or a float literal written in a test (via its str)."""
    return x if isinstance(x, Decimal) else Decimal(str(x))


def at(hh: int, mm: int, ss: int = 0, day: date = DAY, us: int = 0) -> datetime:
    """An IST-aware datetime on ``day``."""
    return datetime.combine(day, time(hh, mm, ss, us), tzinfo=IST)


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Sym:
    """One test instrument: symbol, token, tick size, lot size and param overrides."""

    symbol: str = "NSE:AAA"
    token: int = 1
    tick: str = "0.05"
    lot: int = 50
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def instrument(self) -> Instrument:
        exchange, name = self.symbol.split(":", 1)
        return Instrument(token=self.token, exchange=exchange, tradingsymbol=name,
                          tick_size=Decimal(self.tick), lot_size=self.lot, segment=exchange)

    def config(self) -> InstrumentConfig:
        return InstrumentConfig(self.symbol, token=self.token, tick_size=Decimal(self.tick),
                                lot_size=self.lot, overrides=MappingProxyType(dict(self.overrides)))


AAA = Sym("NSE:AAA", 1)
BBB = Sym("NSE:BBB", 2)
CCC = Sym("NSE:CCC", 3)


def make_settings(syms: Iterable[Sym] = (AAA,), *, slippage_ticks: int = 0,
                  groups: Iterable[GroupConfig] = (), risk: RiskConfig | None = None,
                  jobs: Mapping[str, time] | None = None,
                  sessions: Mapping[str, SessionHours] | None = None,
                  **params: Any) -> Settings:
    """Settings with default params replaced by ``params`` (e.g. target_multiple=d(2));
    ``jobs`` / ``sessions`` are added to (override) the default schedule's."""
    base = ScheduleConfig()
    schedule = ScheduleConfig(
        jobs=MappingProxyType({**base.jobs, **(jobs or {})}),
        sessions=MappingProxyType({**base.sessions, **(sessions or {})}),
    )
    return Settings(
        defaults=Defaults(params=StrategyParams().with_overrides(params),
                          slippage_ticks=slippage_ticks),
        instruments=tuple(s.config() for s in syms),
        groups=tuple(groups),
        risk=risk or RiskConfig(),
        schedule=schedule,
    )


# ------------------------------------------------------------------ ticks and candles


class Feed:
    """Ticks of one instrument with a consistent, rising day ``volume_traded``.

    Each tick carries ``last_traded_quantity = volume`` and ``volume_traded`` raised by
    ``volume``, so its volume is ``volume`` both as the first tick of the day (which uses
    last_traded_quantity) and later (the rise of volume_traded).
    """

    def __init__(self, token: int = 1) -> None:
        self.token = token
        self.cum = 0

    def tick(self, t: datetime, price: Any, volume: int = 0) -> Tick:
        self.cum += volume
        return Tick(self.token, d(price), t, last_traded_quantity=volume,
                    volume_traded=self.cum)

    def candle(self, start: datetime, o: Any, h: Any, low: Any, c: Any, v: int = 0,
               step: int = 10) -> list[Tick]:
        """Four ticks (O, H, L, C) ``step`` seconds apart from ``start``; all of the
        candle's volume ``v`` on the first tick."""
        prices = (o, h, low, c)
        return [self.tick(start + timedelta(seconds=i * step), p, v if i == 0 else 0)
                for i, p in enumerate(prices)]

    def new_day(self) -> None:
        self.cum = 0


def flatten(items: Iterable[Tick | Iterable[Tick]]) -> list[Tick]:
    out: list[Tick] = []
    for item in items:
        if isinstance(item, Tick):
            out.append(item)
        else:
            out.extend(item)
    return out


# The worked example of docs/strategy.md section 7: c0 09:15 (H 105, L 95, C 100, V 100) and
# c1 09:20 (H 112, L 100, C 109, V 300); once c1 completes, buy alert c1 with band
# 99.50 - 112.60 (VWAP 105.25).
def worked_candles(feed: Feed, day: date = DAY, start: time = time(9, 15)) -> list[Tick]:
    t0 = datetime.combine(day, start, tzinfo=IST)
    return (feed.candle(t0, 100, 105, 95, 100, 100)
            + feed.candle(t0 + timedelta(minutes=5), 101, 112, 100, 109, 300))


def worked_long(feed: Feed, day: date = DAY) -> list[Tick]:
    """The worked example up to its entry: c0, c1, then 112.60 at 09:25:00 (completes c1,
    no entry) and 112.65 at 09:25:10: long 50 at 112.65, stop 99.50."""
    return [*worked_candles(feed, day), feed.tick(at(9, 25, day=day), "112.60"),
            feed.tick(at(9, 25, 10, day=day), "112.65")]


# The mirror image: c0 (H 105, L 95, C 100, V 100), c1 09:20 (H 100, L 88, C 91, V 300);
# VWAP (10000 + 93 x 300) / 400 = 94.75, 91 < 94.75: sell alert c1, lower
# down(88 x 0.995 = 87.56) = 87.55, upper up(100 x 1.005) = 100.50.
def sell_candles(feed: Feed, day: date = DAY) -> list[Tick]:
    return (feed.candle(at(9, 15, day=day), 100, 105, 95, 100, 100)
            + feed.candle(at(9, 20, day=day), 99, 100, 88, 91, 300))


def sell_short(feed: Feed, day: date = DAY) -> list[Tick]:
    """sell_candles, then 87.60 at 09:25:00 (completes c1, no entry) and 87.50 at 09:25:10:
    short 50 at 87.50, stop 100.50."""
    return [*sell_candles(feed, day), feed.tick(at(9, 25, day=day), "87.60"),
            feed.tick(at(9, 25, 10, day=day), "87.50")]


def by_time(*streams: Iterable[Tick]) -> list[Tick]:
    """Several instruments' ticks merged in time order (stable for equal times)."""
    merged = [t for stream in streams for t in stream]
    merged.sort(key=lambda t: t.timestamp or t.received_at)  # type: ignore[arg-type,return-value]
    return merged


# ------------------------------------------------------------------ running the engine


@dataclass
class Run:
    """An engine on a SimClock with the paper broker, plus what it told us."""

    engine: Engine
    notes: list[Notification]
    candles: list[Candle]

    def feed(self, *items: Tick | Iterable[Tick]) -> Run:
        on_tick = self.engine.on_tick
        for tick in flatten(items):
            on_tick(tick)
        return self

    def end(self) -> Run:
        self.engine.end_of_data()
        return self

    def rt(self, token: int = 1) -> Any:
        return self.engine.runtimes[token]

    def state(self, token: int = 1) -> Any:
        return self.engine.runtimes[token].state

    def position(self, token: int = 1) -> PositionView | None:
        return self.engine.runtimes[token].strategy.position(self.state(token))

    def quantity(self, token: int = 1) -> int:
        """The signed open quantity in the P&L book."""
        return self.engine.pnl.books[token].quantity

    def orders(self, token: int | None = None) -> list[Order]:
        return [o for o in self.engine.book.orders.values()
                if token is None or o.instrument_token == token]

    def order_rows(self, token: int | None = None) -> list[tuple[str, int, str, Decimal | None,
                                                                     str]]:
        """(side, quantity, reason, fill price, status) of each order, in order."""
        return [(o.side.value, o.quantity, o.reason, o.average_price, o.status.value)
                for o in self.orders(token)]

    @property
    def trades(self) -> list[Any]:
        return list(self.engine.all_trades)

    def completed(self, token: int = 1) -> list[Candle]:
        return [c for c in self.candles if c.instrument_token == token]


def make_run(settings: Settings, syms: Iterable[Sym] = (AAA,), strategy: Any = None) -> Run:
    """``strategy``: one strategy object for every instrument (else the configured)."""
    notes: list[Notification] = []
    candles: list[Candle] = []
    engine = make_engine(settings, [s.instrument() for s in syms], notes=notes,
                         strategy=strategy)
    engine.on_candle = lambda _ins, c: candles.append(
        Candle(c.instrument_token, c.start, c.end, c.open, c.high, c.low, c.close, c.volume,
               c.ticks))
    return Run(engine, notes, candles)


def run(syms: Iterable[Sym] = (AAA,), **kwargs: Any) -> Run:
    """make_run(make_settings(syms, **kwargs), syms)."""
    syms = tuple(syms)
    return make_run(make_settings(syms, **kwargs), syms)


class ManualBroker:
    """A broker that fills nothing by itself: the test answers orders with updates.

    ``cancel`` answers at once with CANCELLED (keeping what was filled).
    """

    def __init__(self) -> None:
        self.watched: set[int] = set()
        self.submitted: list[Order] = []
        self.cancelled: list[Order] = []
        self._outbox: list[OrderUpdate] = []

    def submit(self, order: Order) -> None:
        self.submitted.append(order)

    def cancel(self, order: Order) -> None:
        self.cancelled.append(order)
        self._outbox.append(OrderUpdate(order.tag, OrderStatus.CANCELLED, order.filled_quantity,
                                        order.average_price, order.updated_at or order.created_at,
                                        message="cancelled"))

    def modify(self, order: Order, **_: Any) -> None:
        return None

    def poll(self) -> list[OrderUpdate]:
        out, self._outbox = self._outbox, []
        return out

    def on_price(self, token: int, price: Decimal, t: datetime) -> None:
        return None


def filled(order: Order, price: Any, t: datetime, qty: int | None = None,
           status: OrderStatus = OrderStatus.COMPLETE) -> OrderUpdate:
    """The broker's update that ``order`` filled ``qty`` (default: all) at ``price``."""
    return OrderUpdate(order.tag, status, order.quantity if qty is None else qty, d(price), t,
                       broker_order_id=f"B{order.tag}")

