"""KiteBroker reading order rows leniently: a COMPLETE row without a usable price or with
numbers as strings, later rows correcting an earlier view, and a status Kite has not
documented (settled from later rows, the order's history, or its words). Crafted rows go
through ``on_order_message`` as a ticker message would bring them; the rest is the
simulated exchange through the real kiteconnect client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from agent.adapters.kite_book import UNKNOWN_POLLS
from agent.adapters.kite_orders import Child, ChildState, Tracked, aggregate
from agent.adapters.kite_rows import guess_status, int_of, price_of, row_view
from agent.models import Order, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import Harness
from tests.adapters.test_kite_broker_rules import EQUITY

S = OrderStatus


def crafted(h: Harness, order: Order, **changes: Any) -> dict[str, Any]:
    """The order's row as the exchange has it now, changed (a key set to ... is removed)."""
    (row,) = h.book(order.tag)
    row = {k: (v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else v)
           for k, v in row.items()}
    for key, value in changes.items():
        if value is ...:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def placed(h: Harness, **kw: Any) -> Order:
    """An order placed and answered (its id known), nothing read back yet."""
    order = h.submit(h.order(**kw))
    assert h.next_update().broker_order_id is not None
    h.idle()
    return order


@pytest.mark.parametrize("changes", [
    {"average_price": 0, "filled_quantity": "1.0"},
    {"average_price": ..., "filled_quantity": ...},
    {"average_price": "0", "filled_quantity": 0, "quantity": "1.0"},
], ids=["price-0-quantity-as-text", "both-missing", "nothing-filled-said"])
def test_a_complete_row_without_a_usable_price_is_priced_from_the_trades(
        changes: dict[str, Any]) -> None:
    with Harness(messages=False) as h:
        order = placed(h)
        real = h.book(order.tag)[0]
        h.broker.on_order_message(crafted(h, order, **changes))
        last = h.next_update()  # never CANCELLED with nothing filled: the trades priced it
        assert (last.status, last.filled_quantity) == (S.COMPLETE, 1)
        assert last.average_price == Decimal(str(real["average_price"]))
        assert h.kite.count("order.trades") == 1
        assert h.drained() == []


def test_a_later_row_corrects_an_earlier_partial_view() -> None:
    with Harness(messages=False) as h:
        order = placed(h, quantity=2)
        real = h.book(order.tag)[0]
        h.broker.on_order_message(crafted(h, order, status="OPEN", filled_quantity="1",
                                          average_price="999.50"))
        first = h.next_update()
        assert (first.status, first.filled_quantity, first.average_price) == (
            S.OPEN, 1, Decimal("999.50"))
        h.broker.on_order_message(crafted(h, order, status="COMPLETE", average_price=0))
        h.idle()  # COMPLETE for 2 without a price: waits (the trades answer meanwhile)
        h.timer.advance(1.0)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (S.COMPLETE, 2)
        assert last.average_price == Decimal(str(real["average_price"]))
        assert [u.status for u in h.seen] == [S.PENDING, S.OPEN, S.COMPLETE]


def rename(h: Harness, tag: str, word: str, history: bool) -> None:
    """Kite shows the order's status as ``word`` in the order book (and its history)."""
    def renamed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            rows = fn(*args, **kwargs)
            for row in rows:
                if row.get("tag") == tag and row.get("status") == "CANCELLED":
                    row["status"] = word
            return rows
        return read

    h.kite.orders = renamed(h.kite.orders)  # type: ignore[method-assign]
    if history:
        h.kite.order_history = renamed(h.kite.order_history)  # type: ignore[method-assign]


@pytest.mark.parametrize(("word", "history", "settled"), [
    ("FROZEN", False, S.CANCELLED),  # the history's last row is CANCELLED
    ("LAPSED", True, S.CANCELLED),  # the history says LAPSED too: the word is read
    ("FROBNICATED", True, None),  # nothing settles it: it stays working, logged once
])
def test_an_unknown_status_is_not_final_and_is_settled_after_a_few_polls(
        word: str, history: bool, settled: OrderStatus | None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.adapters.kite_broker")
    with Harness(messages=False) as h:
        order = placed(h, order_type=OrderType.LIMIT, price=h.ltp() - 30)
        h.timer.advance(1.0)
        assert h.next_update().status is S.OPEN
        rename(h, order.tag, word, history)
        h.eyes.cancel_order("regular", h.book(order.tag)[0]["order_id"])
        for _ in range(UNKNOWN_POLLS - 1):
            h.timer.advance(3.0)
            assert h.drained() == []  # not final, not pending for ever either
        assert h.kite.count("order.info") == 0
        h.timer.advance(3.0)
        h.idle()
        assert h.kite.count("order.info") == 1
        got = h.drained()
        if settled is None:
            assert got == []
            for _ in range(UNKNOWN_POLLS):  # asked again; said once
                h.timer.advance(3.0)
                h.idle()
            assert h.kite.count("order.info") == 2 and h.drained() == []
            said = [r for r in caplog.records if word in r.getMessage()]
            assert len(said) == 2  # the unknown word, then "neither ... settle"
        else:
            assert [(u.status, u.filled_quantity) for u in got] == [(settled, 0)]


# ---------------------------------------------------------------- the pure parts


def test_numbers_are_read_from_json_numbers_and_text() -> None:
    assert [int_of(v) for v in (10, 10.0, "10", "10.0", " 7 ", "1e1")] == [10] * 4 + [7, 10]
    assert [int_of(v) for v in (None, "", "ten", 10.5, "nan", True)] == [None] * 6
    assert price_of("101.25") == Decimal("101.25") and price_of(101.25) == Decimal("101.25")
    assert [price_of(v) for v in (0, "0", "0.0", -1, None, "", "x")] == [None] * 7


def test_an_unknown_words_meaning_is_guessed_only_when_it_says_how_the_order_ended() -> None:
    assert guess_status("LAPSED") is S.CANCELLED and guess_status("EXPIRED") is S.CANCELLED
    assert guess_status("REJECTED BY RMS") is S.REJECTED
    assert guess_status("CANCEL REQ RECEIVED") is None  # still in progress
    assert guess_status("PARTIALLY EXECUTED") is None and guess_status("FROZEN") is None
    assert guess_status("EXECUTED") is None  # a fill speaks through filled_quantity


def test_a_child_keeps_a_fill_without_a_price_and_its_final_status_until_priced() -> None:
    c = Child(10, state=ChildState.PLACED, order_id="1", status=S.OPEN)
    t = Tracked("E24011500001", EQUITY, Side.BUY, 10, OrderType.MARKET, "MIS", None, None,
                children=[c])
    c.apply(row_view({"status": "COMPLETE", "filled_quantity": "10.0", "average_price": 0}))
    assert (c.final, c.needs_price, c.held) == (False, True, S.COMPLETE)
    assert aggregate(t).status is S.OPEN  # never "cancelled, nothing filled"
    assert c.apply_trades(6, Decimal("100"), settle=False) is True  # the trades lag
    assert (c.filled, c.final) == (6, False)
    assert c.apply_trades(10, Decimal("100.2"), settle=False) is True
    assert (c.status, c.filled, c.average, c.final) == (S.COMPLETE, 10, Decimal("100.2"), True)
    assert aggregate(t).status is S.COMPLETE


def test_trades_that_never_catch_up_are_taken_as_the_truth_in_the_end() -> None:
    c = Child(10, state=ChildState.PLACED, order_id="1", status=S.OPEN)
    c.apply(row_view({"status": "CANCELLED", "filled_quantity": 4, "average_price": 0}))
    assert c.apply_trades(3, Decimal("99"), settle=True) is True
    assert (c.status, c.filled, c.final) == (S.CANCELLED, 3, True)


def test_an_unknown_status_is_noted_and_changes_nothing() -> None:
    c = Child(10, state=ChildState.PLACED, order_id="1", status=S.OPEN)
    assert c.apply(row_view({"status": "FROZEN", "filled_quantity": 0})) is False
    assert (c.unknown, c.status, c.final) == ("FROZEN", S.OPEN, False)
    assert c.apply(row_view({"status": "OPEN", "filled_quantity": 2,
                             "average_price": "100"})) is True
    assert (c.unknown, c.filled) == ("", 2)
