"""Paper trading: fills per docs/strategy.md section 6, no money at risk.

MARKET orders fill in full at the instrument's last price when sent, moved against the
trader by ``slippage_ticks``. LIMIT, SL and SL-M orders rest and are checked on every
price of their instrument, so exchange-side stops can be simulated. Modifications are not
capped: Kite's 25-modification cap is the live adapter's to work around (it re-places the
order), invisibly to the engine. Engine thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from agent.events import OrderUpdate
from agent.models import Order, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)

class PaperBroker:
    """A synchronous broker. ``price_of(token)`` gives the last price; ``tick_of`` its tick."""

    def __init__(self, price_of: Callable[[int], Decimal | None],
                 tick_of: Callable[[int], Decimal], now: Callable[[], datetime],
                 slippage_ticks: int = 0,
                 reject: Callable[[Order], str | None] | None = None) -> None:
        self._price_of = price_of
        self._tick_of = tick_of
        self._now = now
        self._slippage = slippage_ticks
        self._reject = reject
        self._outbox: list[OrderUpdate] = []
        self._resting: dict[str, Order] = {}
        self._seq = 0
        self.watched: set[int] = set()

    # ------------------------------------------------------------ the port

    def submit(self, order: Order) -> None:
        self._seq += 1
        order_id = f"PAPER{self._seq:08d}"
        why = self._reject(order) if self._reject else None
        if why is None:
            why = self._validate(order)
        if why is not None:
            self._emit(order, OrderStatus.REJECTED, 0, None, order_id, why)
            return
        if order.order_type is OrderType.MARKET:
            price = self._price_of(order.instrument_token)
            if price is None:
                self._emit(order, OrderStatus.REJECTED, 0, None, order_id,
                           "no price yet for this instrument")
                return
            self._fill(order, self._slipped(order, price), order_id)
            return
        status = (OrderStatus.TRIGGER_PENDING if order.order_type in (OrderType.SL, OrderType.SL_M)
                  else OrderStatus.OPEN)
        order.broker_order_id = order_id
        self._resting[order.tag] = order
        self.watched.add(order.instrument_token)
        self._emit(order, status, 0, None, order_id)
        price = self._price_of(order.instrument_token)
        if price is not None:
            self.on_price(order.instrument_token, price, self._now())

    def adopt(self, order: Order) -> None:
        """A resting order restored after a restart (a paper stop must keep working)."""
        if order.status.is_terminal or order.order_type is OrderType.MARKET:
            return
        self._resting[order.tag] = order
        self.watched.add(order.instrument_token)

    def cancel(self, order: Order) -> None:
        resting = self._resting.pop(order.tag, None)
        if resting is None:
            return
        self._unwatch(order.instrument_token)
        self._emit(order, OrderStatus.CANCELLED, order.filled_quantity, order.average_price,
                   order.broker_order_id, "cancelled")

    def modify(self, order: Order, *, price: Decimal | None = None,
               trigger_price: Decimal | None = None, quantity: int | None = None) -> None:
        resting = self._resting.get(order.tag)
        if resting is None:
            return
        order.modifications += 1
        if price is not None:
            order.price = price
        if trigger_price is not None:
            order.trigger_price = trigger_price
        if quantity is not None:
            order.quantity = quantity
        last = self._price_of(order.instrument_token)
        if last is not None:
            self.on_price(order.instrument_token, last, self._now())

    def poll(self) -> list[OrderUpdate]:
        out, self._outbox = self._outbox, []
        return out

    def on_price(self, token: int, price: Decimal, t: datetime) -> None:
        for order in [o for o in self._resting.values() if o.instrument_token == token]:
            fill_at = self._match(order, price)
            if fill_at is not None:
                del self._resting[order.tag]
                self._unwatch(token)
                self._fill(order, fill_at, order.broker_order_id or "")
            elif order.order_type is OrderType.SL and self._triggered(order, price):
                order.order_type = OrderType.LIMIT  # triggered: now a resting limit
                self._emit(order, OrderStatus.OPEN, 0, None, order.broker_order_id)

    # ------------------------------------------------------------ matching

    @staticmethod
    def _triggered(order: Order, price: Decimal) -> bool:
        trig = order.trigger_price
        if trig is None:
            return False
        return price <= trig if order.side is Side.SELL else price >= trig

    def _match(self, order: Order, price: Decimal) -> Decimal | None:
        kind = order.order_type
        if kind is OrderType.SL_M:
            return price if self._triggered(order, price) else None
        if kind is OrderType.SL and not self._triggered(order, price):
            return None
        limit = order.price
        if limit is None:
            return None
        if order.side is Side.BUY:
            return price if price <= limit else None
        return price if price >= limit else None

    def _slipped(self, order: Order, price: Decimal) -> Decimal:
        if not self._slippage:
            return price
        move = self._tick_of(order.instrument_token) * self._slippage
        return price + move if order.side is Side.BUY else price - move

    def _validate(self, order: Order) -> str | None:
        if order.quantity <= 0:
            return f"quantity must be positive, got {order.quantity}"
        needs_trigger = order.order_type in (OrderType.SL, OrderType.SL_M)
        if needs_trigger and order.trigger_price is None:
            return "trigger price is required for SL and SL-M orders"
        if order.order_type in (OrderType.LIMIT, OrderType.SL) and order.price is None:
            return "price is required for LIMIT and SL orders"
        return None

    def _fill(self, order: Order, price: Decimal, order_id: str) -> None:
        self._emit(order, OrderStatus.COMPLETE, order.quantity, price, order_id)

    def _emit(self, order: Order, status: OrderStatus, filled: int, avg: Decimal | None,
              order_id: str | None, message: str = "") -> None:
        self._outbox.append(OrderUpdate(order.tag, status, filled, avg, self._now(),
                                        order_id, message))

    def _unwatch(self, token: int) -> None:
        if not any(o.instrument_token == token for o in self._resting.values()):
            self.watched.discard(token)
