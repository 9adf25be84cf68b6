"""Matching on the pure order book and its lifecycle, driven step by step without sockets."""

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



def settle(book: Book, when: datetime) -> datetime:
    """Carry out every lifecycle step of orders sent by ``when`` (an interim step lasts
    at most 5 s, three steps at most); returns the time they are all done by."""
    done = when + timedelta(seconds=16)
    book.run_due(done)
    return done


def opened_at(order: SimOrder) -> datetime:
    """The exchange time the order reached the exchange (OPEN or TRIGGER PENDING)."""
    when = next(h.changed_at for h in order.history
                if h.status in ("OPEN", "TRIGGER PENDING"))
    assert when is not None
    return when


def test_a_market_order_goes_through_kites_statuses_then_fills_at_the_touch(book: Book) -> None:
    seen: list[str] = []
    book.listeners.append(lambda o: seen.append(o.event_status or o.status))
    buy = book.place(req(quantity=1), at(T0))
    sell = book.place(req(side=Side.SELL, quantity=1), at(T0))
    assert (buy.status, buy.exchange_order_id, buy.filled_quantity) == (
        "PUT ORDER REQ RECEIVED", None, 0)
    settle(book, at(T0))
    bought = book.market.quote(ADANIPORTS, book.second_at(opened_at(buy)))
    sold = book.market.quote(ADANIPORTS, book.second_at(opened_at(sell)))
    assert (buy.status, buy.average_price, buy.filled_quantity) == ("COMPLETE", bought.ask, 1)
    assert sell.average_price == sold.bid
    assert statuses(buy) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING",
                             "OPEN", "COMPLETE"]
    assert sorted(seen) == sorted(statuses(buy) + statuses(sell))
    assert {t.order_id for t in book.trades} == {buy.order_id, sell.order_id}
    assert buy.order_id.isdigit() and len(buy.order_id) == 19
    # protected (automatic: 0.5 % above 500 rupees): a LIMIT at the LTP + 0.5 %, at most
    assert (buy.order_type, buy.tags) == ("LIMIT", ("mktp", "mktp:0.50"))
    assert bought.last_price < buy.price <= bought.last_price * Decimal("1.005")


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
    settle(book, at(T0))
    assert order.status == "OPEN"
    reached = first_second(book, lambda p: p <= limit)
    drive(book, ADANIPORTS, reached - 1)
    assert order.status == "OPEN" and order.filled_quantity == 0
    book.on_second(ADANIPORTS, reached)
    first = next(t for t in book.trades if t.order_id == order.order_id)
    assert (first.price, first.time) == (limit, at(reached))
    for second in range(reached + 1, reached + 600):
        if order.status == "COMPLETE":
            break
        book.on_second(ADANIPORTS, second)
    assert order.status == "COMPLETE" and order.average_price <= limit


def test_a_marketable_limit_fills_at_the_better_touch(book: Book) -> None:
    ask = book.market.quote(ADANIPORTS, T0).ask
    order = book.place(req(order_type="LIMIT", price=ask + 5, quantity=1), at(T0))
    settle(book, at(T0))
    touch = book.market.quote(ADANIPORTS, book.second_at(opened_at(order))).ask
    assert (order.status, order.average_price) == ("COMPLETE", touch)


def test_an_sl_buy_waits_for_its_trigger_then_fills_as_a_limit(book: Book) -> None:
    trigger = book.market.ltp(ADANIPORTS, T0) + 1
    order = book.place(req(order_type="SL", trigger_price=trigger, price=trigger + 1,
                           quantity=1), at(T0))
    settle(book, at(T0))
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
    order = book.place(req(side=Side.SELL, order_type="SL-M", trigger_price=trigger,
                           quantity=1), at(T0))
    settle(book, at(T0))
    reached = first_second(book, lambda p: p <= trigger)
    drive(book, ADANIPORTS, reached - 1)
    assert order.status == "TRIGGER PENDING"
    drive(book, ADANIPORTS, reached)
    quote = book.market.quote(ADANIPORTS, reached)
    assert order.status == "COMPLETE" and order.average_price == quote.bid
    # triggered, it went to the exchange as a LIMIT at the protection price
    assert (order.order_type, order.tags) == ("LIMIT", ("mktp", "mktp:0.50"))
    assert quote.last_price * Decimal("0.995") <= order.price < quote.last_price


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
    settle(book, at(T0))
    assert order.status == "TRIGGER PENDING"


def test_prices_off_the_tick_grid_are_rejected_by_the_exchange(book: Book) -> None:
    seen: list[str] = []
    book.listeners.append(lambda o: seen.append(o.status))
    ltp = book.market.ltp(ADANIPORTS, T0)
    price = book.place(req(order_type="LIMIT", price=ltp - Decimal("0.03")), at(T0))
    trigger = book.place(req(order_type="SL", trigger_price=ltp + Decimal("1.02"),
                             price=ltp + 2), at(T0))
    settle(book, at(T0))
    assert (price.status, price.status_message) == ("REJECTED", errors.PRICE_TICK)
    assert (trigger.status, trigger.status_message) == ("REJECTED", errors.TRIGGER_TICK)
    assert statuses(price) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING",
                               "REJECTED"]
    assert price.exchange_order_id is None and seen.count("REJECTED") == 2


def test_quantities_off_the_lot_size_are_rejected(book: Book) -> None:
    book.realism.disable("option_rules")  # a MARKET order on an option
    order = book.place(option(order_type="MARKET", quantity=30), at(T0))
    settle(book, at(T0))
    assert order.status == "REJECTED"
    assert order.status_message == "Quantity 30 should be a multiple of the lot size 40."
    assert not book.trades


def test_above_the_freeze_quantity_is_refused_and_autoslice_slices(book: Book) -> None:
    book.realism.disable("option_rules")  # MARKET orders on an option
    with pytest.raises(KiteError) as caught:
        book.place(option(order_type="MARKET", quantity=2_000), at(T0))
    assert caught.value.message.startswith(
        "The order quantity 2000 (50 lots) is higher than the maximum quantity of 1800 "
        "(45 lots) allowed by the exchanges.")
    assert "freeze-quantity" in caught.value.message and not book.orders
    parent, children = book.place_autoslice(option(order_type="MARKET", quantity=2_000,
                                                   autoslice=True), at(T0))
    settle(book, at(T0))
    assert [c.quantity for c in children] == [1_800, 200]
    assert len(parent) == 19 and all(c.exchange_order_id for c in children)
    assert all(c.tags[:2] == ("autoslice", f"autoslice:{parent}") for c in children)
    with pytest.raises(KiteError, match="greater than or equal to 1801 for order slicing"):
        book.place_autoslice(option(order_type="MARKET", autoslice=True), at(T0))


def test_the_26th_modification_is_refused(book: Book) -> None:
    ltp = book.market.ltp(ADANIPORTS, T0)
    order = book.place(req(order_type="LIMIT", price=ltp - 50), at(T0))
    now = settle(book, at(T0))
    for i in range(25):
        book.modify(order.order_id, OrderChange(price=ltp - 50 - i), now)
        now = settle(book, now)  # each one done before the next ("being processed")
    with pytest.raises(KiteError) as caught:
        book.modify(order.order_id, OrderChange(price=ltp - 80), now)
    assert (caught.value.message, caught.value.error_type) == (
        "Maximum allowed order modifications exceeded.", "NetworkException")
    assert order.price == ltp - 74 and order.modifications == 25


def test_a_modification_that_makes_a_limit_marketable_fills_it(book: Book) -> None:
    quote = book.market.quote(ADANIPORTS, T0)
    order = book.place(req(order_type="LIMIT", price=quote.bid - 20, quantity=1), at(T0))
    now = settle(book, at(T0))
    touch = book.market.quote(ADANIPORTS, book.second_at(now))
    book.modify(order.order_id, OrderChange(price=touch.ask + 1, quantity=2), now)
    assert order.status == "MODIFY VALIDATION PENDING" and order.price == quote.bid - 20
    now = settle(book, now)
    modified = next(h for h in order.history if h.status == "MODIFIED").changed_at
    assert modified is not None
    ask = book.market.quote(ADANIPORTS, book.second_at(modified)).ask
    assert (order.status, order.filled_quantity, order.average_price) == ("COMPLETE", 2, ask)
    assert statuses(order)[3:] == ["OPEN", "MODIFY VALIDATION PENDING", "MODIFY PENDING",
                                   "MODIFIED", "OPEN", "COMPLETE"]
    with pytest.raises(KiteError, match="cannot be modified") as caught:
        book.modify(order.order_id, OrderChange(price=touch.ask), now)
    assert caught.value.error_type == "OrderException"


def test_cancel_keeps_kites_pending_quantity_and_cannot_be_repeated(book: Book) -> None:
    book.realism.disable("circuit_limits")  # a price far outside the band: it never fills
    order = book.place(req(order_type="LIMIT", price=Decimal(500)), at(T0))
    now = settle(book, at(T0))
    book.cancel(order.order_id, now)
    assert order.status == "CANCEL PENDING"
    now = settle(book, now)
    assert (order.status, order.cancelled_quantity, order.pending_quantity) == (
        "CANCELLED", 10, 10)
    assert book.open_tokens() == []
    with pytest.raises(KiteError, match="cannot be cancelled"):
        book.cancel(order.order_id, now)
    with pytest.raises(KiteError, match=re.escape(errors.ORDER_NOT_FOUND)):
        book.cancel("1", now)


def test_an_unfilled_ioc_limit_is_cancelled(book: Book) -> None:
    book.realism.disable("circuit_limits")  # a price far outside the band: it never fills
    order = book.place(req(order_type="LIMIT", price=Decimal(500), validity="IOC"), at(T0))
    settle(book, at(T0))
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
    settle(book, at(T0))
    sell = book.place(req(side=Side.SELL, quantity=7), at(T0 + 300))
    settle(book, at(T0 + 300))
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
