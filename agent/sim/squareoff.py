"""The broker's own intraday (MIS) auto square-off, as Zerodha runs it (rule ``mis_square_off``).

At the square-off time of a segment, on the exchange's clock (support.zerodha.com
"intraday auto square-off timings", KITE_2026 §1.6; ``agent.sim.rules.SQUARE_OFF_TIMES``):
equity (NSE, BSE) 15:20, equity derivatives (NFO, BFO) 15:25, currency derivatives (CDS,
BCD) 16:45, commodities (MCX) 25 minutes before the close. The simulated session ends at
15:30 for every segment, so only the equity and F&O times ever come in it.

From that time on, every pass of the market loop (``agent.sim.core.run_market``):

1. cancels every open MIS order of the segment that is not the broker's own (status message
   ``errors.SQUARE_OFF_CANCELLED``), through ``Book.cancel``; one the book refuses to cancel
   for now is tried again at the next pass;
2. once none of them is left open, closes every MIS position of the segment with UNTAGGED
   orders placed through ``Book.place`` (status message ``errors.SQUARED_OFF``), sliced to
   the freeze quantity. They are in the order book, the trades and the positions like any
   order.

The closing order is a marketable LIMIT, not a protected MARKET (which may rest as a stale
LIMIT at its protection price, and which Zerodha refuses on most options): at the circuit
limit on the closing side (a sell at the lower circuit, a buy at the upper), for an option
no further from the LTP than the option rules allow (``rules.marketable_limit``). It fills
from the depth at the prices there (a MARKET order without protection, in effect); what the
depth cannot take at once fills as the market goes on. Should it stop being marketable (an
option's price ran away from it) the broker cancels it and, at the next pass, places one at
the new price; when the position changes under it (an exit of the trader's fills first) it
is cancelled and replaced by one for what is left. An order the book refuses or rejects is
not retried (a warning names it).

After the time, fresh MIS orders of the segment are refused at request time
(``agent.sim.rules.check_place``); an order that only reduces the MIS position is allowed,
though one that rests is cancelled at the broker's next pass. Loop thread only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from agent.models import Instrument, Side
from agent.sim import errors
from agent.sim.errors import KiteError
from agent.sim.orders import OPEN, REJECTED, OrderRequest, SimOrder
from agent.sim.realism import Realism
from agent.sim.rules import EARLIEST_SQUARE_OFF, is_past_square_off, marketable_limit
from agent.timeutil import ist, to_ist

if TYPE_CHECKING:
    from agent.sim.book import Book
    from agent.sim.market import Quote
    from agent.sim.positions import Position

logger = logging.getLogger(__name__)

RULE = "mis_square_off"


class SquareOff:
    """The broker's square-off passes; remembers which orders are its own."""

    def __init__(self) -> None:
        self._mine: dict[str, SimOrder] = {}
        self._given_up: set[int] = set()  # tokens whose closing order was refused
        self._listening: Book | None = None
        self._known: set[str] | None = None  # order ids before one of our placements
        self._message: str | None = None

    def is_mine(self, order_id: str) -> bool:
        return order_id in self._mine

    def step(self, book: Book, realism: Realism, now: datetime) -> None:
        """One pass: cheap before the earliest square-off time or when the rule is off."""
        market = book.market
        if to_ist(now) < ist(market.trading_date, EARLIEST_SQUARE_OFF) or not market.is_open(now) \
                or not realism.on(RULE):
            return
        if self._listening is not book:
            book.listeners.insert(0, self._on_order)  # before the ticker hears of it
            self._listening = book
        day = market.trading_date
        waiting: set[str] = set()
        for order in list(book.orders.values()):
            if order.is_terminal or order.product != "MIS" or order.order_id in self._mine:
                continue
            at = is_past_square_off(order.instrument.exchange, day, now)
            if at is None:
                continue
            self._cancel(book, order, at, now)
            if not order.is_terminal:
                waiting.add(order.instrument.exchange)
        for pos in book.positions.all():
            if pos.product != "MIS" or pos.quantity == 0 or pos.instrument.token in self._given_up:
                continue
            at = is_past_square_off(pos.instrument.exchange, day, now)
            if at is not None and pos.instrument.exchange not in waiting:
                self._close(book, pos, at, now)

    # ----- the two actions -----
    def _cancel(self, book: Book, order: SimOrder, at: datetime, now: datetime) -> None:
        previous = order.status_message
        order.status_message = errors.SQUARE_OFF_CANCELLED.format(time=f"{at:%H:%M}")
        try:
            book.cancel(order.order_id, now)
        except KiteError as err:  # e.g. being processed: the next pass tries again
            order.status_message = previous
            logger.debug("sim square-off: cancel of %s refused for now: %s", order.order_id,
                         err.message)

    def _close(self, book: Book, pos: Position, at: datetime, now: datetime) -> None:
        ins = pos.instrument
        side = Side.SELL if pos.quantity > 0 else Side.BUY
        mine = [o for o in self._mine.values() if o.instrument.token == ins.token]
        rejected = next((o for o in mine if o.status == REJECTED), None)
        if rejected is not None:  # by the exchange, on its way: not retried
            self._give_up(ins, rejected.status_message or "rejected")
            return
        pending = [o for o in mine if not o.is_terminal]
        covered = sum(o.quantity - o.filled_quantity for o in pending if o.side is side)
        second = book.market.second_of(now)
        price = marketable_limit(book.market, ins, side, second)
        stale = [o for o in pending if o.status == OPEN and o.price != price and
                 not _marketable(o, book.market.quote(ins.token, second))]
        if any(o.side is not side for o in pending) or covered > abs(pos.quantity) or stale:
            for order in pending:  # the position or the price moved: place afresh
                self._cancel(book, order, at, now)
            return
        left = abs(pos.quantity) - covered
        if left <= 0:
            return
        freeze = book.freeze_quantity(ins)
        size = left if freeze <= 0 else max(freeze - freeze % ins.lot_size, ins.lot_size)
        message = errors.SQUARED_OFF.format(time=f"{at:%H:%M}")
        while left > 0:
            qty = min(size, left)
            req = OrderRequest(variety="regular", exchange=ins.exchange,
                               tradingsymbol=ins.tradingsymbol, side=side, quantity=qty,
                               product="MIS", order_type="LIMIT", price=price)
            try:
                self._place(book, req, message, now)
            except KiteError as err:
                self._give_up(ins, err.message)
                return
            left -= qty

    def _give_up(self, ins: Instrument, reason: str) -> None:
        logger.warning("sim square-off: could not close the MIS position of %s (%s): it "
                       "stays open", ins.symbol, reason)
        self._given_up.add(ins.token)

    def _place(self, book: Book, req: OrderRequest, message: str, now: datetime) -> SimOrder:
        self._known, self._message = set(book.orders), message
        try:
            order = book.place(req, now)
        finally:
            self._known = self._message = None
        self._mark(order, message)
        logger.info("sim square-off: %s %s %d %s at %s (%s)", order.order_id, req.side.value,
                    req.quantity, req.tradingsymbol, req.price, order.status)
        return order

    # ----- the status message of our own orders -----
    def _on_order(self, order: SimOrder) -> None:
        if self._known is not None and self._message is not None \
                and order.order_id not in self._known:
            self._mark(order, self._message)

    def _mark(self, order: SimOrder, message: str) -> None:
        if order.order_id in self._mine:
            return
        self._mine[order.order_id] = order
        if order.status_message is None:
            order.status_message = message
        for snapshot in order.history:
            if snapshot.status_message is None:
                snapshot.status_message = message


def _marketable(order: SimOrder, quote: Quote) -> bool:
    return order.price <= quote.bid if order.side is Side.SELL else order.price >= quote.ask
