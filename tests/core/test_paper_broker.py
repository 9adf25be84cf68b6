"""Paper fills (docs/strategy.md 6) and resting SL / SL-M / LIMIT orders triggered by ticks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from agent.adapters.paper import PaperBroker
from agent.models import Order, OrderPurpose, OrderStatus, OrderType, Side
from agent.timeutil import IST

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def _broker(price: Decimal | None, slippage: int = 0, reject=None):
    prices = {1: price}
    broker = PaperBroker(prices.get, lambda token: Decimal("0.05"), lambda: NOW, slippage,
                         reject)
    return broker, prices


def _order(side: Side, kind: OrderType, qty: int = 10, price=None, trigger=None) -> Order:
    return Order("T1", 1, "NSE:AAA", side, qty, kind, OrderPurpose.EXIT, "stop", NOW,
                 price=price, trigger_price=trigger)


def test_market_order_fills_in_full_at_last_price() -> None:
    broker, _ = _broker(Decimal("100.10"))
    broker.submit(_order(Side.BUY, OrderType.MARKET))
    (update,) = broker.poll()
    assert update.status is OrderStatus.COMPLETE
    assert (update.filled_quantity, update.average_price) == (10, Decimal("100.10"))


def test_slippage_moves_the_fill_against_the_trader() -> None:
    broker, _ = _broker(Decimal("100.00"), slippage=2)
    broker.submit(_order(Side.BUY, OrderType.MARKET))
    broker.submit(_order(Side.SELL, OrderType.MARKET))
    buy, sell = broker.poll()
    assert buy.average_price == Decimal("100.10")
    assert sell.average_price == Decimal("99.90")


def test_market_order_without_a_price_is_rejected_with_a_reason() -> None:
    broker, _ = _broker(None)
    broker.submit(_order(Side.BUY, OrderType.MARKET))
    (update,) = broker.poll()
    assert update.status is OrderStatus.REJECTED and "no price" in update.message


def test_reject_hook_rejects_with_its_message() -> None:
    broker, _ = _broker(Decimal(100), reject=lambda order: "RMS: margin exceeds")
    broker.submit(_order(Side.BUY, OrderType.MARKET))
    (update,) = broker.poll()
    assert (update.status, update.message) == (OrderStatus.REJECTED, "RMS: margin exceeds")


def test_sl_m_sell_rests_then_fills_at_the_price_that_crosses_the_trigger() -> None:
    broker, _ = _broker(Decimal("105"))
    order = _order(Side.SELL, OrderType.SL_M, trigger=Decimal("100"))
    broker.submit(order)
    assert [u.status for u in broker.poll()] == [OrderStatus.TRIGGER_PENDING]
    assert 1 in broker.watched
    broker.on_price(1, Decimal("100.05"), NOW)
    assert broker.poll() == []
    broker.on_price(1, Decimal("99.80"), NOW)  # a gap through the trigger
    (fill,) = broker.poll()
    assert (fill.status, fill.average_price) == (OrderStatus.COMPLETE, Decimal("99.80"))
    assert 1 not in broker.watched


def test_sl_sell_becomes_a_limit_and_waits_when_price_gaps_below_its_limit() -> None:
    broker, _ = _broker(Decimal("105"))
    order = _order(Side.SELL, OrderType.SL, price=Decimal("99.50"), trigger=Decimal("100"))
    broker.submit(order)
    broker.poll()
    broker.on_price(1, Decimal("99.00"), NOW)  # triggered, but below the limit
    assert [u.status for u in broker.poll()] == [OrderStatus.OPEN]
    broker.on_price(1, Decimal("99.60"), NOW)
    (fill,) = broker.poll()
    assert fill.average_price == Decimal("99.60")


def test_buy_limit_fills_when_price_comes_down_to_it() -> None:
    broker, _ = _broker(Decimal("101"))
    broker.submit(_order(Side.BUY, OrderType.LIMIT, price=Decimal("100")))
    assert [u.status for u in broker.poll()] == [OrderStatus.OPEN]
    broker.on_price(1, Decimal("100.00"), NOW)
    assert broker.poll()[0].average_price == Decimal("100.00")


def test_modify_moves_the_trigger_without_a_cap() -> None:
    broker, _ = _broker(Decimal("105"))
    order = _order(Side.SELL, OrderType.SL_M, trigger=Decimal("100"))
    broker.submit(order)
    broker.poll()
    broker.modify(order, trigger_price=Decimal("103"))
    broker.on_price(1, Decimal("102.95"), NOW)
    assert broker.poll()[0].status is OrderStatus.COMPLETE

    other = _order(Side.SELL, OrderType.SL_M, trigger=Decimal("50"))
    other.tag = "T2"
    broker.submit(other)
    for i in range(30):
        broker.modify(other, trigger_price=Decimal(51 + i))
    assert other.modifications == 30 and other.trigger_price == Decimal(80)


def test_cancel_of_a_resting_order() -> None:
    broker, _ = _broker(Decimal("105"))
    order = _order(Side.SELL, OrderType.SL_M, trigger=Decimal("100"))
    broker.submit(order)
    broker.poll()
    broker.cancel(order)
    assert [u.status for u in broker.poll()] == [OrderStatus.CANCELLED]
    broker.on_price(1, Decimal("90"), NOW)
    assert broker.poll() == []
