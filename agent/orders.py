"""Orders: unique client tags and the order state machine. Engine thread only.

A tag is what Kite calls ``tag``: at most 20 alphanumeric characters. Ours are
``<kind><yymmdd><seq>`` (E entry, X exit, S stop), unique per day and across restarts
because the sequence is persisted with the day's state.

``OrderBook.apply`` turns broker updates into fills idempotently: a repeated update, or
one older than what we know (lower filled quantity, or any status after a final one),
changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from agent.events import OrderUpdate
from agent.models import Fill, Order, OrderPurpose, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)

TAG_MAX = 20
_KIND = {OrderPurpose.ENTRY: "E", OrderPurpose.EXIT: "X", OrderPurpose.STOP: "S"}


def make_tag(purpose: OrderPurpose, day: date, seq: int) -> str:
    tag = f"{_KIND[purpose]}{day:%y%m%d}{seq:05d}"
    assert len(tag) <= TAG_MAX and tag.isalnum(), tag
    return tag


@dataclass(frozen=True, slots=True)
class Applied:
    """What one update changed: a new fill, and whether the order just became final."""

    order: Order
    fill: Fill | None
    finished: bool


class OrderBook:
    """Every order of the day by tag."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.seq = 0
        self.day: date | None = None

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
        self.seq += 1
        tag = make_tag(purpose, self.day or now.date(), self.seq)
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
        if update.filled_quantity > order.filled_quantity and update.average_price is not None:
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
        if order.filled_quantity >= order.quantity:
            status = OrderStatus.COMPLETE
        finished = status.is_terminal
        if status is not order.status or fill is not None:
            order.status = status
            order.updated_at = update.time
        return Applied(order, fill, finished)

    def active(self, token: int) -> list[Order]:
        return [o for o in self.orders.values()
                if o.instrument_token == token and not o.status.is_terminal]
