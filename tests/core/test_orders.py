"""Order tags and the order state machine: idempotent, order-insensitive updates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from agent.events import OrderUpdate
from agent.lifecycle.book import OrderBook
from agent.lifecycle.tags import TAG_MAX, make_tag
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from agent.timeutil import IST

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def _book() -> OrderBook:
    book = OrderBook()
    book.start_day(date(2026, 11, 23))
    return book


def _new(book: OrderBook, qty: int = 100):
    return book.new(token=1, symbol="NSE:AAA", side=Side.BUY, quantity=qty,
                    order_type=OrderType.MARKET, purpose=OrderPurpose.ENTRY, reason="signal",
                    now=NOW, product="MIS")


def test_tags_are_short_alphanumeric_and_unique() -> None:
    book = _book()
    tags = {_new(book).tag for _ in range(500)}
    assert len(tags) == 500
    assert all(t.isalnum() and len(t) <= TAG_MAX for t in tags)
    assert make_tag(OrderPurpose.EXIT, date(2026, 11, 23), 99999) == "X26112399999"


def test_partial_fills_become_fills_of_the_increments() -> None:
    book = _book()
    order = _new(book)
    a = book.apply(OrderUpdate(order.tag, OrderStatus.OPEN, 40, Decimal("10"), NOW))
    assert a.fill.quantity == 40 and a.fill.price == Decimal("10") and not a.finished
    # 60 more at 10.50: the average of 100 is 10.30
    b = book.apply(OrderUpdate(order.tag, OrderStatus.COMPLETE, 100, Decimal("10.30"), NOW))
    assert b.fill.quantity == 60 and b.fill.price == Decimal("10.50") and b.finished
    assert order.status is OrderStatus.COMPLETE and order.filled_quantity == 100


def test_repeated_and_stale_updates_change_nothing() -> None:
    book = _book()
    order = _new(book)
    book.apply(OrderUpdate(order.tag, OrderStatus.OPEN, 40, Decimal("10"), NOW))
    again = book.apply(OrderUpdate(order.tag, OrderStatus.OPEN, 40, Decimal("10"), NOW))
    assert again.fill is None
    older = book.apply(OrderUpdate(order.tag, OrderStatus.PENDING, 0, None, NOW))
    assert older.fill is None and order.status is OrderStatus.OPEN
    book.apply(OrderUpdate(order.tag, OrderStatus.COMPLETE, 100, Decimal("10"), NOW))
    late = book.apply(OrderUpdate(order.tag, OrderStatus.OPEN, 40, Decimal("10"), NOW))
    assert late.fill is None and not late.finished and order.status is OrderStatus.COMPLETE


def test_rejection_keeps_the_broker_message_and_unknown_tags_are_reported() -> None:
    book = _book()
    order = _new(book)
    r = book.apply(OrderUpdate(order.tag, OrderStatus.REJECTED, 0, None, NOW, "9001",
                               "Insufficient funds"))
    assert r.finished and order.message == "Insufficient funds"
    assert order.broker_order_id == "9001"
    assert book.apply(OrderUpdate("E000", OrderStatus.OPEN, 0, None, NOW)) is None


def test_a_new_day_keeps_only_orders_still_working() -> None:
    book = _book()
    done, working = _new(book), _new(book)
    book.apply(OrderUpdate(done.tag, OrderStatus.COMPLETE, 100, Decimal(1), NOW))
    book.start_day(date(2026, 11, 25))
    assert list(book.orders) == [working.tag]
    assert _new(book).tag.endswith("00001")
