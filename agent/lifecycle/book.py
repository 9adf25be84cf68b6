"""The day's orders by tag, and broker updates turned into fills, each booked once.

``OrderBook.apply`` is idempotent: a repeated update, or one older than what we know (a
lower filled quantity, or any status after a final one), changes nothing. A final status
whose fills have no price yet (Kite's ``average_price`` 0 or missing) does not finish the
order: it waits for an update with the price, so no fill is ever lost or booked at 0.
Tags come from ``tags.TagMint``. Engine thread only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from agent.events import OrderUpdate
from agent.lifecycle.tags import TagMint
from agent.models import Fill, Order, OrderPurpose, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one update changed: a new fill, and whether the order just became final."""

    order: Order
    fill: Fill | None
    finished: bool


class OrderBook:
    """Every order of the day by tag."""

    def __init__(self, mint: TagMint | None = None) -> None:
        self.orders: dict[str, Order] = {}
        self.mint = mint or TagMint()
        self.day: date | None = None

    @property
    def seq(self) -> int:
        return self.mint.seq

    @seq.setter
    def seq(self, value: int) -> None:
        self.mint.seq = value

    def start_day(self, day: date) -> None:
        """A new day: forget finished orders, restart the tag sequence."""
        if self.day != day:
            self.day = day
            self.seq = 0
            self.orders = {t: o for t, o in self.orders.items() if not o.status.is_terminal}

    def new(self, *, token: int, symbol: str, side: Side, quantity: int,
            order_type: OrderType, purpose: OrderPurpose, reason: str, now: datetime,
            product: str, price: Decimal | None = None,
            trigger_price: Decimal | None = None) -> Order:
        tag = self.mint.next(purpose, self.day or now.date())
        order = Order(tag=tag, instrument_token=token, symbol=symbol, side=side,
                      quantity=quantity, order_type=order_type, purpose=purpose,
                      reason=reason, created_at=now, price=price,
                      trigger_price=trigger_price, product=product, updated_at=now)
        self.orders[tag] = order
        return order

    def get(self, tag: str) -> Order | None:
        return self.orders.get(tag)

    def apply(self, update: OrderUpdate) -> Applied | None:
        """Apply a broker update; None when the tag is unknown."""
        order = self.orders.get(update.tag)
        if order is None:
            return None
        if order.status.is_terminal:
            return Applied(order, None, False)  # final states never change
        fill = None
        price_known = update.average_price is not None and update.average_price > 0
        if update.filled_quantity > order.filled_quantity and price_known:
            new_qty = min(update.filled_quantity, order.quantity)
            delta = new_qty - order.filled_quantity
            old_value = (order.average_price or Decimal(0)) * order.filled_quantity
            price = (update.average_price * new_qty - old_value) / delta
            fill = Fill(order.tag, order.instrument_token, order.side, delta, price, update.time)
            order.filled_quantity = new_qty
            order.average_price = update.average_price
        if update.broker_order_id and not order.broker_order_id:
            order.broker_order_id = update.broker_order_id
        if update.message:
            order.message = update.message
        status = update.status
        if status is OrderStatus.PENDING:
            status = order.status  # never step back to PENDING
        if status.is_terminal and update.filled_quantity > order.filled_quantity:
            log.warning("%s %s reported %s with %d filled but no price yet: waiting for the "
                        "price before booking it", order.symbol, order.tag, status,
                        update.filled_quantity)
            status = OrderStatus.OPEN  # not final until its fills can be booked
        if order.filled_quantity >= order.quantity:
            status = OrderStatus.COMPLETE
        finished = status.is_terminal
        if status is not order.status or fill is not None:
            order.status = status
            order.updated_at = update.time
        return Applied(order, fill, finished)

