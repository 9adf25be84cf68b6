"""Matching: an order at the exchange against one second of the market.

``Matcher.evaluate`` shows a working order (OPEN or TRIGGER PENDING, or a modify or cancel
on its way: the exchange still holds the order as it was) one ``Quote``:

- SL / SL-M wait until the last price reaches the trigger. On the trigger an SL becomes a
  LIMIT at its price (row status OPEN, order_type stays SL); with ``circuit_limits`` an SL
  whose price is then outside the LPP range (``agent.sim.protection``) is CANCELLED by the
  exchange with ``errors.LPP_CANCELLED``. An SL-M becomes a market order.
- ``market_protection``: a market order (a MARKET once at the exchange, a triggered SL-M) is
  a LIMIT at the protection price (``agent.sim.protection``): the row shows order_type
  LIMIT, that price, ``market_protection`` 0 and ``tags`` ``mktp``/``mktp:<pct>`` (the
  mocks' order 1953341975595868160). Without the rule it takes the touch at any price.
- ``partial_fills``: an order fills from the opposite side of the book's depth, level by
  level while the price is acceptable, one trade per level, at the level's price. Our own
  fills use the level up for that second; the next second shows fresh depth (the market
  replenishes), so a large order fills over successive seconds. A buy LIMIT below the ask
  (a sell above the bid) fills at its price when the last price comes to it, up to the
  second's traded quantity. The five levels are all the depth there is. Each fill short of
  the whole order is a trade, a snapshot in the order's history (status unchanged) and an
  order message with status UPDATE (Kite's postbacks); the last one makes it COMPLETE.
  Without the rule an order fills whole, at once, at the touch (or at its limit).

Loop thread only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from agent.models import Side
from agent.sim import errors, protection
from agent.sim import orders as st
from agent.sim.market import Quote
from agent.sim.orders import SimOrder, SimTrade

if TYPE_CHECKING:
    from agent.sim.book import Book

logger = logging.getLogger(__name__)

AVERAGE_PLACES = Decimal("0.0001")


class Matcher:
    def __init__(self, book: Book) -> None:
        self.book = book
        # session second -> (token, book side, level) -> quantity our orders took there
        self._taken: dict[int, dict[tuple[int, str, int], int]] = {}

    def evaluate(self, order: SimOrder, quote: Quote, when: datetime,
                 force: bool = False) -> None:
        """Match ``order`` against ``quote`` (once per second unless ``force``)."""
        if order.is_terminal or order.status in st.NOT_SENT:
            return
        if not force and quote.second <= order.seen_second:
            return
        order.seen_second = max(order.seen_second, quote.second)
        buy = order.side is Side.BUY
        ltp = quote.last_price
        if order.order_type in ("SL", "SL-M") and not order.triggered:
            if not (ltp >= order.trigger_price if buy else ltp <= order.trigger_price):
                return
            order.triggered = True
            if order.order_type == "SL" and self._outside_lpp(order, quote):
                self.book.cancel_now(order, when, errors.LPP_CANCELLED)
                return
            if order.order_type == "SL-M" and self.book.realism.on("market_protection"):
                self.protect(order, ltp)
            self.book.live_status(order, st.OPEN, when)
        elif order.order_type in ("MARKET", "SL-M") and \
                self.book.realism.on("market_protection"):
            self.protect(order, ltp)  # the rule was switched on while the order worked
            order.record(when)
        if self.book.realism.on("partial_fills"):
            self._fill_from_depth(order, quote, when)
        else:
            self._fill_whole(order, quote, when)

    def protect(self, order: SimOrder, ltp: Decimal) -> None:
        """Turn a market order into Kite's protected LIMIT (the row changes; no message)."""
        ins = order.instrument
        percent = protection.protection_percent(ins, order.market_protection, ltp)
        order.order_type = "LIMIT"
        order.price = protection.protection_price(ins, order.side, ltp, percent)
        order.market_protection = Decimal(0)
        mine = [t for t in order.tags if t != "mktp" and not t.startswith("mktp:")]
        order.tags = (*mine, *protection.mktp_tags(percent))

    def _outside_lpp(self, order: SimOrder, quote: Quote) -> bool:
        if not self.book.realism.on("circuit_limits"):
            return False
        market, token = self.book.market, order.instrument.token
        first = max(0, quote.second - protection.LPP_WINDOW + 1)
        ltps = [market.ltp(token, k) for k in range(first, quote.second + 1)] \
            or [quote.last_price]
        return protection.outside_lpp(order.instrument, order.side, order.price,
                                      protection.lpp_reference(ltps))

    # ----- fills -----
    def _fill_whole(self, order: SimOrder, quote: Quote, when: datetime) -> None:
        buy, ltp = order.side is Side.BUY, quote.last_price
        left = order.quantity - order.filled_quantity
        if order.order_type in ("MARKET", "SL-M"):
            self._trade(order, quote.ask if buy else quote.bid, left, when)
        elif buy and min(quote.ask, ltp) <= order.price:
            self._trade(order, min(order.price, quote.ask), left, when)
        elif not buy and max(quote.bid, ltp) >= order.price:
            self._trade(order, max(order.price, quote.bid), left, when)

    def _fill_from_depth(self, order: SimOrder, quote: Quote, when: datetime) -> None:
        buy = order.side is Side.BUY
        limit = None if order.order_type in ("MARKET", "SL-M") else order.price
        levels = quote.depth_sell if buy else quote.depth_buy
        taken = self._taken_at(quote.second)
        token, side = order.instrument.token, "sell" if buy else "buy"
        left = order.quantity - order.filled_quantity
        fills: list[tuple[Decimal, int]] = []
        for i, level in enumerate(levels):
            if left <= 0 or (limit is not None and (level.price > limit if buy
                                                    else level.price < limit)):
                break
            key = (token, side, i)
            qty = min(left, level.quantity - taken.get(key, 0))
            if qty > 0:
                taken[key] = taken.get(key, 0) + qty
                fills.append((level.price, qty))
                left -= qty
        crossed = bool(levels) and limit is not None and (
            levels[0].price <= limit if buy else levels[0].price >= limit)
        reached = limit is not None and (quote.last_price <= limit if buy
                                         else quote.last_price >= limit)
        if left > 0 and reached and not crossed:  # the market traded at our price
            key = (token, "trade", 0)
            qty = min(left, quote.last_quantity - taken.get(key, 0))
            if qty > 0:
                taken[key] = taken.get(key, 0) + qty
                fills.append((limit, qty))
        for price, qty in fills:
            self._trade(order, price, qty, when)

    def _taken_at(self, second: int) -> dict[tuple[int, str, int], int]:
        found = self._taken.get(second)
        if found is None:
            for old in [s for s in self._taken if s < second - 1]:
                del self._taken[old]
            found = self._taken[second] = {}
        return found

    def _trade(self, order: SimOrder, price: Decimal, qty: int, when: datetime) -> None:
        book = self.book
        trade = SimTrade(trade_id=book.ids.trade_id(), order_id=order.order_id,
                         exchange_order_id=order.exchange_order_id or "",
                         instrument=order.instrument, product=order.product, side=order.side,
                         quantity=qty, price=price, time=when)
        book.trades.append(trade)
        book.positions.apply(trade)
        filled = order.filled_quantity + qty
        order.filled_value += price * qty
        average = order.filled_value / filled  # weighted by quantity
        order.average_price = price if average == price else average.quantize(AVERAGE_PLACES)
        order.filled_quantity = filled
        logger.debug("sim fill %s %s %d @ %s", order.order_id, order.side, qty, price)
        if filled >= order.quantity:
            order.set_status(st.COMPLETE, when)
            book.retire(order)
            book.notify(order)
        else:
            order.record(when)
            book.notify(order, st.UPDATE if book.realism.on("partial_fills") else None)
