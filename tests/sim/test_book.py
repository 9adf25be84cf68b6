"""Matching on the pure order book, driven second by second without sockets."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.instruments import load_dump
from agent.models import Side
from agent.sim import errors
from agent.sim.book import Book
from agent.sim.errors import KiteError
from agent.sim.market import Market
from agent.sim.orders import OrderChange, OrderRequest, SimOrder, parse_place
from agent.sim.positions import Position
from agent.timeutil import IST
from tests.sim.conftest import ADANIPORTS, BANKNIFTY_CE, DATA, TRADING_DAY

INSTRUMENTS = load_dump(Path(DATA / "instruments_all.csv"))
OPEN = datetime(2024, 1, 15, 9, 15, tzinfo=IST)
T0 = 100  # the session second orders are placed at
AUTO = Decimal(-1)


def at(second: int) -> datetime:
    return OPEN + timedelta(seconds=second)


@pytest.fixture()
def book() -> Book:
    market = Market(INSTRUMENTS, TRADING_DAY, base_prices={ADANIPORTS: Decimal(1000)})
    return Book(market, freeze_quantities={BANKNIFTY_CE: 1800})


def req(symbol: str = "ADANIPORTS", side: Side = Side.BUY, quantity: int = 10,
        order_type: str = "MARKET", exchange: str = "NSE", **kw: object) -> OrderRequest:
    kw.setdefault("market_protection", AUTO if order_type in ("MARKET", "SL-M") else None)
    return OrderRequest(variety="regular", exchange=exchange, tradingsymbol=symbol, side=side,
                        quantity=quantity, product="MIS", order_type=order_type, **kw)


def option(**kw: object) -> OrderRequest:
    kw.setdefault("quantity", 40)
    return req("BANKNIFTY18JAN23500CE", exchange="NFO", **kw)


def drive(book: Book, token: int, until: int) -> None:
    for second in range(T0 + 1, until + 1):
        book.on_second(token, second)


def first_second(book: Book, reached: Callable[[Decimal], bool]) -> int:
    """The first second after T0 whose last price satisfies ``reached``."""
    for k in range(T0 + 1, 22_500):
        if reached(book.market.ltp(ADANIPORTS, k)):
            return k
    raise AssertionError("the path never got there")


def statuses(order: SimOrder) -> list[str]:
    return [h.status for h in order.history]


def test_a_market_order_fills_at_once_at_the_touch(book: Book) -> None:
    seen: list[str] = []
    book.listeners.append(lambda o: seen.append(o.status))
    quote = book.market.quote(ADANIPORTS, T0)
    buy = book.place(req(), at(T0))
    sell = book.place(req(side=Side.SELL), at(T0))
    assert (buy.status, buy.average_price, buy.filled_quantity) == ("COMPLETE", quote.ask, 10)
    assert sell.average_price == quote.bid
    assert statuses(buy) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING",
                             "OPEN", "COMPLETE"]
    assert seen == ["OPEN", "COMPLETE", "OPEN", "COMPLETE"]
    assert [t.order_id for t in book.trades] == [buy.order_id, sell.order_id]
    assert buy.order_id.isdigit() and len(buy.order_id) == 15


@pytest.mark.parametrize("protection", [None, Decimal(0)])
@pytest.mark.parametrize("order_type", ["MARKET", "SL-M"])
def test_market_and_slm_orders_need_market_protection(book: Book, order_type: str,
                                                      protection: Decimal | None) -> None:
    with pytest.raises(KiteError) as caught:
        book.place(req(order_type=order_type, market_protection=protection,
                       trigger_price=Decimal(2000)), at(T0))
    assert caught.value.message == errors.MARKET_PROTECTION
    assert (caught.value.error_type, caught.value.http_status) == ("InputException", 400)
    assert not book.orders


def test_a_resting_limit_fills_when_the_price_comes_down_to_it(book: Book) -> None:
    limit = book.market.ltp(ADANIPORTS, T0) - 2
    order = book.place(req(order_type="LIMIT", price=limit), at(T0))
    assert order.status == "OPEN"
    reached = first_second(book, lambda p: p <= limit)
    drive(book, ADANIPORTS, reached - 1)
    assert order.status == "OPEN"
    book.on_second(ADANIPORTS, reached)
    assert (order.status, order.average_price) == ("COMPLETE", limit)
    assert book.trades[-1].time == at(reached)


def test_a_marketable_limit_fills_at_the_better_touch(book: Book) -> None:
    ask = book.market.quote(ADANIPORTS, T0).ask
    order = book.place(req(order_type="LIMIT", price=ask + 5), at(T0))
    assert (order.status, order.average_price) == ("COMPLETE", ask)


def test_an_sl_buy_waits_for_its_trigger_then_fills_as_a_limit(book: Book) -> None:
    trigger = book.market.ltp(ADANIPORTS, T0) + 1
    order = book.place(req(order_type="SL", trigger_price=trigger, price=trigger + 1), at(T0))
    assert order.status == "TRIGGER PENDING"
    reached = first_second(book, lambda p: p >= trigger)
    drive(book, ADANIPORTS, reached - 1)
    assert order.status == "TRIGGER PENDING"
    book.on_second(ADANIPORTS, reached)
    ask = book.market.quote(ADANIPORTS, reached).ask
    assert order.status == "COMPLETE" and order.average_price == min(trigger + 1, ask)
    assert statuses(order)[-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_an_slm_sell_fills_at_the_bid_once_triggered(book: Book) -> None:
    trigger = book.market.ltp(ADANIPORTS, T0) - 1
    order = book.place(req(side=Side.SELL, order_type="SL-M", trigger_price=trigger), at(T0))
    reached = first_second(book, lambda p: p <= trigger)
    drive(book, ADANIPORTS, reached - 1)
    assert order.status == "TRIGGER PENDING"
    drive(book, ADANIPORTS, reached)
    assert order.status == "COMPLETE"
    assert order.average_price == book.market.quote(ADANIPORTS, reached).bid


def test_a_stoploss_trigger_on_the_wrong_side_of_the_ltp_is_refused(book: Book) -> None:
    ltp = book.market.ltp(ADANIPORTS, T0)
    with pytest.raises(KiteError, match="higher than the last traded price"):
        book.place(req(order_type="SL", trigger_price=ltp - 1, price=ltp), at(T0))
    with pytest.raises(KiteError, match="lower than the last traded price"):
        book.place(req(side=Side.SELL, order_type="SL-M", trigger_price=ltp + 1), at(T0))


def test_slm_is_refused_on_options_but_sl_is_accepted(book: Book) -> None:
    ltp = book.market.ltp(BANKNIFTY_CE, T0)
    with pytest.raises(KiteError) as caught:
        book.place(option(order_type="SL-M", trigger_price=ltp + 5), at(T0))
    assert caught.value.message == errors.SLM_OPTIONS
    order = book.place(option(order_type="SL", trigger_price=ltp + 5, price=ltp + 6), at(T0))
    assert order.status == "TRIGGER PENDING"


def test_prices_off_the_tick_grid_are_rejected_by_the_exchange(book: Book) -> None:
    seen: list[str] = []
    book.listeners.append(lambda o: seen.append(o.status))
    ltp = book.market.ltp(ADANIPORTS, T0)
    price = book.place(req(order_type="LIMIT", price=ltp - Decimal("0.03")), at(T0))
    trigger = book.place(req(order_type="SL", trigger_price=ltp + Decimal("1.02"),
                             price=ltp + 2), at(T0))
    assert (price.status, price.status_message) == ("REJECTED", errors.PRICE_TICK)
    assert (trigger.status, trigger.status_message) == ("REJECTED", errors.TRIGGER_TICK)
    assert price.exchange_order_id is None and seen == ["REJECTED", "REJECTED"]


def test_quantities_off_the_lot_size_are_rejected(book: Book) -> None:
    order = book.place(option(order_type="MARKET", quantity=30), at(T0))
    assert order.status == "REJECTED"
    assert order.status_message == "Quantity 30 should be a multiple of the lot size 40."
    assert not book.trades


def test_above_the_freeze_quantity_is_refused_and_autoslice_slices(book: Book) -> None:
    with pytest.raises(KiteError) as caught:
        book.place(option(order_type="MARKET", quantity=2_000), at(T0))
    assert caught.value.message.startswith(
        "The order quantity 2000 (50 lots) is higher than the maximum quantity of 1800 "
        "(45 lots) allowed by the exchanges.")
    assert "freeze-quantity" in caught.value.message and not book.orders
    parent, children = book.place_autoslice(option(order_type="MARKET", quantity=2_000,
                                                   autoslice=True), at(T0))
    assert [c.quantity for c in children] == [1_800, 200]
    assert all(c.status == "COMPLETE" and f"autoslice:{parent}" in c.tags for c in children)
    with pytest.raises(KiteError, match="greater than or equal to 1801 for order slicing"):
        book.place_autoslice(option(order_type="MARKET", autoslice=True), at(T0))


def test_the_26th_modification_is_refused(book: Book) -> None:
    ltp = book.market.ltp(ADANIPORTS, T0)
    order = book.place(req(order_type="LIMIT", price=ltp - 50), at(T0))
    for i in range(25):
        book.modify(order.order_id, OrderChange(price=ltp - 50 - i), at(T0))
    with pytest.raises(KiteError) as caught:
        book.modify(order.order_id, OrderChange(price=ltp - 80), at(T0))
    assert (caught.value.message, caught.value.error_type) == (
        "Maximum allowed order modifications exceeded.", "NetworkException")
    assert order.price == ltp - 74 and order.modifications == 25


def test_a_modification_that_makes_a_limit_marketable_fills_it(book: Book) -> None:
    quote = book.market.quote(ADANIPORTS, T0)
    order = book.place(req(order_type="LIMIT", price=quote.bid - 20), at(T0))
    book.modify(order.order_id, OrderChange(price=quote.ask + 1, quantity=20), at(T0))
    assert (order.status, order.filled_quantity, order.average_price) == (
        "COMPLETE", 20, quote.ask)
    assert statuses(order)[3:] == ["OPEN", "MODIFY VALIDATION PENDING", "MODIFY PENDING",
                                   "MODIFIED", "OPEN", "COMPLETE"]
    with pytest.raises(KiteError, match="cannot be modified") as caught:
        book.modify(order.order_id, OrderChange(price=quote.ask), at(T0))
    assert caught.value.error_type == "OrderException"


def test_cancel_keeps_kites_pending_quantity_and_cannot_be_repeated(book: Book) -> None:
    order = book.place(req(order_type="LIMIT", price=Decimal(500)), at(T0))
    book.cancel(order.order_id, at(T0))
    assert (order.status, order.cancelled_quantity, order.pending_quantity) == (
        "CANCELLED", 10, 10)
    assert book.open_tokens() == []
    with pytest.raises(KiteError, match="cannot be cancelled"):
        book.cancel(order.order_id, at(T0))
    with pytest.raises(KiteError, match=re.escape(errors.ORDER_NOT_FOUND)):
        book.cancel("1", at(T0))


def test_an_unfilled_ioc_limit_is_cancelled(book: Book) -> None:
    order = book.place(req(order_type="LIMIT", price=Decimal(500), validity="IOC"), at(T0))
    assert order.status == "CANCELLED"


def test_orders_outside_the_session_are_refused(book: Book) -> None:
    with pytest.raises(KiteError, match="Markets are closed"):
        book.place(req(), at(22_500))
    with pytest.raises(KiteError, match="Markets are closed"):
        book.place(req(), at(-60))


def test_positions_follow_the_fills() -> None:
    ins = INSTRUMENTS[0]
    pos = Position(ins, "MIS")
    pos.apply(Side.BUY, 10, Decimal(100))
    pos.apply(Side.BUY, 10, Decimal(110))
    assert (pos.quantity, pos.average_price) == (20, Decimal(105))
    pos.apply(Side.SELL, 5, Decimal(120))
    assert (pos.quantity, pos.realised, pos.average_price) == (15, Decimal(75), Decimal(105))
    assert pos.pnl(Decimal(100)) == Decimal(75) - 15 * 5
    pos.apply(Side.SELL, 25, Decimal(90))  # closes 15 at a loss, opens 10 short at 90
    assert (pos.quantity, pos.average_price) == (-10, Decimal(90))
    assert pos.realised == 75 - 15 * 15
    pos.apply(Side.BUY, 10, Decimal(80))
    assert (pos.quantity, pos.realised) == (0, Decimal(-150 + 100))
    assert pos.pnl(Decimal(1)) == pos.realised == pos.sell_value - pos.buy_value


def test_the_book_positions_match_its_trades(book: Book) -> None:
    buy = book.place(req(quantity=7), at(T0))
    sell = book.place(req(side=Side.SELL, quantity=7), at(T0 + 300))
    (pos,) = book.positions.all()
    assert pos.quantity == 0
    assert pos.realised == (sell.average_price - buy.average_price) * 7


def test_tags_longer_than_20_or_not_alphanumeric_are_refused() -> None:
    form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
            "quantity": "1", "product": "MIS", "order_type": "MARKET"}
    assert parse_place("regular", dict(form, tag="a" * 20)).tag == "a" * 20
    with pytest.raises(KiteError, match="`tag` should be max 20 characters"):
        parse_place("regular", dict(form, tag="a" * 21))
    with pytest.raises(KiteError, match="alphanumeric"):
        parse_place("regular", dict(form, tag="bad tag!"))
    with pytest.raises(KiteError, match=re.escape("Invalid `quantity`.")):
        parse_place("regular", dict(form, quantity="1.5"))
    with pytest.raises(KiteError, match=re.escape("Invalid `variety`.")):
        parse_place("amo", form)
