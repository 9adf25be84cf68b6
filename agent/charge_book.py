"""The engine's charges: each trip's from the rate table, or from Kite's contract note.

``trip_charges`` is ``PnlBook``'s charge hook: the charges of a trip's executed orders
(``agent.charges.Leg``), by the instrument's segment (equity intraday, or delivery when the
position was held overnight; futures; options) and the table in force on the day it
closed. Once Kite's virtual contract note has priced every order of a trade
(agent/contract_note.py), the trade takes Kite's figures: each order's total times the
share of the order the trade holds, rounded to the paisa. A day before every table (a
backtest of older data) is priced by the oldest table, and the log says so once. Engine
thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from agent.charges import (
    PAISA,
    Charges,
    ChargeTable,
    Leg,
    segment_of,
    table_for,
    trade_charges,
)
from agent.contract_note import NoteOrder, NoteTotal
from agent.models import Instrument, Order, OrderStatus, Trade
from agent.timeutil import to_ist

log = logging.getLogger(__name__)
ZERO = Decimal(0)
TradeKey = tuple[int, str, str, datetime]


def trade_key(t: Trade) -> TradeKey:
    return (t.instrument_token, t.entry_tag, t.exit_tag, t.exit_time)


class ChargeBook:
    def __init__(self, tables: Sequence[ChargeTable]) -> None:
        self.tables = tuple(tables)
        self.instruments: dict[int, Instrument] = {}
        self.noted: dict[str, NoteTotal] = {}  # Kite's totals by order tag
        self.legs: dict[TradeKey, tuple[Leg, ...]] = {}  # each closed trade's orders
        self._warned: set[str] = set()

    def register(self, ins: Instrument) -> None:
        self.instruments[ins.token] = ins

    def start_day(self) -> None:
        """A new day: yesterday's trades and notes are no longer asked about."""
        self.noted.clear()
        self.legs.clear()

    # ------------------------------------------------------------ the table

    def breakdown(self, token: int, legs: Sequence[Leg], opened: datetime | None,
                  closed: datetime) -> Charges | None:
        """The table's charges of these orders; None when no table covers them."""
        ins = self.instruments.get(token)
        if ins is None:
            return None
        day = to_ist(closed).date()
        overnight = opened is not None and to_ist(opened).date() != day
        segment = segment_of(ins, overnight)
        table = table_for(self.tables, day)
        if table is None and self.tables:  # before every table: the oldest, an estimate
            table = min(self.tables, key=lambda t: t.effective_from)
            self._warn(f"before@{table.effective_from}", f"no charge table applies on {day}: "
                       f"the oldest ({table.effective_from}) prices its trades")
        if segment is None or table is None or segment not in table.segments:
            self._warn(ins.exchange if segment is None else f"{segment}@{day}",
                       f"no charge table for {ins.symbol} on {day}: its trades carry no "
                       "charges")
            return None
        return trade_charges(table, segment, ins.exchange, legs)

    def trip_charges(self, token: int, legs: Sequence[Leg], opened: datetime | None,
                     closed: datetime) -> Decimal:
        """PnlBook's hook: Kite's figures when it priced every order, else the table's."""
        kite = self._kite_total(legs)
        if kite is not None:
            return kite
        found = self.breakdown(token, legs, opened, closed)
        return ZERO if found is None else found.total

    def _warn(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", text)

    # ------------------------------------------------------------ Kite's contract note

    def _kite_total(self, legs: Sequence[Leg]) -> Decimal | None:
        if not legs or not all(leg.tag in self.noted for leg in legs):
            return None
        total = ZERO
        for leg in legs:
            note = self.noted[leg.tag]
            total += note.total * leg.quantity / note.quantity
        return total.quantize(PAISA, ROUND_HALF_UP)

    def remember(self, trade: Trade, legs: Sequence[Leg]) -> None:
        """A trade closed with these orders (for Kite's figures later)."""
        self.legs[trade_key(trade)] = tuple(legs)

    def legs_of(self, trade: Trade, orders: Mapping[str, Order]) -> tuple[Leg, ...] | None:
        """The trade's orders: as remembered, else (after a restart) its entry and exit
        orders when each filled exactly the trade's quantity; None when unknown."""
        known = self.legs.get(trade_key(trade))
        if known is not None:
            return known
        entry, exit_ = orders.get(trade.entry_tag), orders.get(trade.exit_tag)
        qty = trade.quantity
        if entry is None or exit_ is None or entry is exit_ or \
                entry.filled_quantity != qty or exit_.filled_quantity != qty:
            return None
        return (Leg(entry.tag, entry.side, qty, qty * trade.entry_price),
                Leg(exit_.tag, exit_.side, qty, qty * trade.exit_price))

    def unpriced(self, orders: Iterable[Order], runtimes: Mapping[int, object]
                 ) -> list[NoteOrder]:
        """Finished orders with fills at the broker whose charges Kite has not given (or
        gave for a different quantity)."""
        found = []
        for o in orders:
            if (not o.status.is_terminal or not o.filled_quantity or o.average_price is None
                    or not o.broker_order_id):
                continue
            done = self.noted.get(o.tag)
            if done is not None and done.quantity == o.filled_quantity:
                continue
            ins = self.instruments.get(o.instrument_token)
            if ins is None or o.status is OrderStatus.REJECTED:
                continue
            found.append(NoteOrder(o.tag, o.broker_order_id, ins.exchange, ins.tradingsymbol,
                                   o.side, o.product, o.order_type.value, o.filled_quantity,
                                   o.average_price))
        return found

    def recharged(self, trades: Sequence[Trade], orders: Mapping[str, Order]
                  ) -> dict[int, Trade]:
        """Trades (by position in ``trades``) whose charges Kite's figures change."""
        changed = {}
        for i, t in enumerate(trades):
            legs = self.legs_of(t, orders)
            kite = None if legs is None else self._kite_total(legs)
            if kite is not None and kite != t.charges:
                changed[i] = replace(t, charges=kite)
        return changed
