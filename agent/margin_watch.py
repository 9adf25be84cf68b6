"""The margin alert, and the engine's view of the account's funds.

``MarginWatch`` knows the latest funds: live, the ``Funds`` the broker adapter reads every
30 s (``KiteBroker(funds_interval=...)``) and posts to the engine's inbox; in paper mode,
the paper account computed from the engine's own books (``paper_funds``: ``paper.capital``
plus the day's P&L, less what the open positions block by ``agent.margins``'s rules).

It checks, never per tick: before each entry goes out (the engine knows its quantity and
price) and on each refresh (each live ``Funds``; every 30 s of engine time in paper mode)
for every flat instrument that could enter. When the available margin of the
instrument's segment is below what its next entry needs (``agent.margins.entry_margin``:
price x quantity / 5 for equity MIS), one MARGIN_LOW alert per instrument per day names
the instrument, the margin needed and the margin available. The entry still goes out: the
broker decides.

Engine thread only (``attach`` hooks it into the engine and its executor).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.events import AlertKind, Notification
from agent.margins import (
    SEGMENTS,
    Funds,
    MarginParts,
    entry_margin,
    funds_from_kite,
    position_margin,
    segment_of,
    segment_shape,
)
from agent.models import Side, TradeSide
from agent.money import money, quantity
from agent.runtime_state import InstrumentRuntime

if TYPE_CHECKING:
    from agent.engine import Engine

log = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(seconds=30)  # paper mode: the account is looked at this often


def paper_funds(engine: Engine, capital: Decimal, now: datetime) -> Funds:
    """The paper account from the engine's books: ``capital`` plus the day's realised and
    unrealised P&L, less the margin the open positions block at their last price."""
    parts: dict[str, MarginParts] = {s: MarginParts() for s in SEGMENTS}
    realised = dict.fromkeys(SEGMENTS, Decimal(0))
    unrealised = dict.fromkeys(SEGMENTS, Decimal(0))
    product = engine.exec.product
    for rt in engine.runtimes.values():
        book = engine.pnl.books[rt.token]
        segment = segment_of(rt.instrument)
        realised[segment] += book.realized
        unrealised[segment] += book.unrealized
        mark = rt.last_price if rt.last_price is not None else book.average
        if book.quantity and mark is not None:
            parts[segment] += position_margin(rt.instrument, product, book.quantity, mark)
    shape = {s: segment_shape(capital if s == "equity" else Decimal(0), realised[s],
                              unrealised[s], parts[s]) for s in SEGMENTS}
    return funds_from_kite(shape, now, source="paper")


class MarginWatch:
    """The latest funds and the once-a-day MARGIN_LOW alert per instrument."""

    def __init__(self, engine: Engine, *, paper_capital: Decimal | None = None,
                 sweep_every: timedelta = SWEEP_EVERY) -> None:
        """``paper_capital``: paper mode (funds from the engine's books); None: live (funds
        from the broker's ``Funds`` events)."""
        self.engine = engine
        self.paper_capital = paper_capital
        self.sweep_every = sweep_every
        self.funds: Funds | None = None  # live: the broker's latest read
        self._next_sweep: datetime | None = None
        self._alerted: set[str] = set()
        self._alerted_day: date | None = None

    @classmethod
    def attach(cls, engine: Engine, **kwargs: Any) -> MarginWatch:
        """A watch wired into ``engine`` (its ``margins``, the executor's entry hook)."""
        watch = cls(engine, **kwargs)
        engine.margins = watch
        engine.exec.check_margin = watch.before_entry
        return watch

    def latest(self, now: datetime) -> Funds | None:
        """The funds known now: the paper account's, or the broker's last read (None
        before the first one)."""
        if self.paper_capital is not None:
            return paper_funds(self.engine, self.paper_capital, now)
        return self.funds

    # ------------------------------------------------------------ refreshes

    def on_funds(self, funds: Funds) -> None:
        """The broker's periodic (or an owner's /funds) read arrived."""
        self.funds = funds
        self.sweep(self.engine.now())

    def on_clock(self, now: datetime) -> None:
        """The engine's timer: in paper mode, look at the account every ``sweep_every``."""
        if self.paper_capital is None:
            return
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_every
        self.sweep(now)

    def sweep(self, now: datetime) -> None:
        """Every flat instrument that could enter now: is its next entry covered?"""
        funds = self.latest(now)
        if funds is None:
            return
        for rt in list(self.engine.runtimes.values()):
            o = rt.orders
            if rt.book.quantity or o.entry or o.busy or rt.last_price is None:
                continue
            side = Side.SELL if rt.params.trade_side is TradeSide.SELL else Side.BUY
            if rt.gate(side, now):
                self._check(funds, rt, side, rt.quantity, rt.last_price, now)

    # ------------------------------------------------------------ entries

    def before_entry(self, rt: InstrumentRuntime, side: Side, qty: int,
                     price: Decimal | None, now: datetime) -> None:
        """An entry is about to go out (executor): alert if the margin looks short."""
        funds = self.latest(now)
        if funds is not None:
            self._check(funds, rt, side, qty, price, now)

    def _check(self, funds: Funds, rt: InstrumentRuntime, side: Side, qty: int,
               price: Decimal | None, now: datetime) -> None:
        segment = funds.segment(segment_of(rt.instrument))
        need = entry_margin(rt.instrument, self.engine.exec.product, side, qty, price)
        if segment is None or need is None or segment.available >= need:
            return
        day = now.date()
        if day != self._alerted_day:
            self._alerted_day, self._alerted = day, set()
        if rt.symbol in self._alerted:
            return
        self._alerted.add(rt.symbol)
        log.warning("%s: the next entry needs %s of margin, %s available (%s, %s)",
                    rt.symbol, need, segment.available, funds.source, segment.segment)
        self.engine.notify(Notification(
            AlertKind.MARGIN_LOW,
            f"{rt.symbol}: next entry of {quantity(qty, rt.instrument)} needs "
            f"{money(need, sign=False)} margin, available {money(segment.available, sign=False)}",
            now, rt.symbol, data={"needed": str(need), "available": str(segment.available)}))
