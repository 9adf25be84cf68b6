"""KiteBroker through the real kiteconnect client against the simulated exchange:
placement, market protection, rounding, lots, freeze slices, modify and cancel, order
messages and polls, reconciliation, close."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from agent.adapters.kite_broker import KiteBroker
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import (
    ADANIPORTS,
    BANKNIFTY_CE,
    CDSL,
    FROZEN_OFF,
    Harness,
)

TICK = Decimal("0.05")


def final(h: Harness) -> list:
    return h.until(lambda u: u.status.is_terminal)


def test_a_market_order_carries_market_protection_and_its_fill_reaches_the_engine() -> None:
    with Harness() as h:
        order = h.submit(h.order(quantity=2))
        updates = final(h)
        (row,) = h.book(order.tag)
        assert [u.status.is_terminal for u in updates] == [False] * (len(updates) - 1) + [True]
        last = updates[-1]
        assert (last.tag, last.status, last.filled_quantity) == (order.tag, OrderStatus.COMPLETE, 2)
        assert last.average_price == Decimal(str(row["average_price"]))
        assert last.broker_order_id == row["order_id"]
        # Kite shows a protected MARKET order as the LIMIT it became, with market_protection
        # 0 and "mktp" tags (the mocks' orders.json); what the broker sent is checked below
        assert (row["order_type"], row["market_protection"], row["product"],
                row["variety"]) == ("LIMIT", 0, "MIS", "regular")
        assert "mktp" in row["tags"]
        (sent,) = h.kite.sent("order.place")
        assert sent["market_protection"] == -1 and sent["tag"] == order.tag


def test_sl_m_orders_carry_the_configured_protection_and_limit_orders_none() -> None:
    with Harness(market_protection=5) as h:
        ltp = h.ltp()
        stop = h.submit(h.order(side=Side.SELL, quantity=3, order_type=OrderType.SL_M,
                                trigger=ltp - 20, purpose=OrderPurpose.STOP))
        limit = h.submit(h.order(order_type=OrderType.LIMIT, price=ltp - 20))
        assert h.until(lambda u: u.tag == stop.tag and u.status is
                       OrderStatus.TRIGGER_PENDING)
        h.idle()
        (stop_row,) = h.book(stop.tag)
        (limit_row,) = h.book(limit.tag)
        assert stop_row["market_protection"] == 5 and stop_row["status"] == "TRIGGER PENDING"
        assert limit_row["market_protection"] == 0 and limit_row["status"] == "OPEN"
        assert "market_protection" not in h.kite.sent("order.place")[1]


def test_market_protection_outside_kites_range_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="market_protection"):
        KiteBroker(object(), lambda token: None, lambda update: None, market_protection=0)


def test_prices_and_triggers_go_out_on_the_tick_grid_towards_execution() -> None:
    with Harness() as h:
        ltp = h.ltp()
        odd = Decimal("0.02")
        buy = h.submit(h.order(order_type=OrderType.LIMIT, price=ltp - 20 - odd))
        sell = h.submit(h.order(side=Side.SELL, order_type=OrderType.LIMIT, price=ltp + 20 + odd))
        long_stop = h.submit(h.order(side=Side.SELL, order_type=OrderType.SL,
                                     purpose=OrderPurpose.STOP, trigger=ltp - 10 - odd,
                                     price=ltp - 11 - odd))
        short_stop = h.submit(h.order(order_type=OrderType.SL, purpose=OrderPurpose.STOP,
                                      trigger=ltp + 10 + odd, price=ltp + 11 + odd))
        h.idle()
        got = {o.tag: h.book(o.tag)[0] for o in (buy, sell, long_stop, short_stop)}
        assert Decimal(str(got[buy.tag]["price"])) == ltp - 20  # a buy's limit rounds up
        assert Decimal(str(got[sell.tag]["price"])) == ltp + 20  # a sell's down
        assert (Decimal(str(got[long_stop.tag]["trigger_price"])),  # up: fires no later
                Decimal(str(got[long_stop.tag]["price"]))) == (ltp - 10, ltp - 11 - TICK)
        assert (Decimal(str(got[short_stop.tag]["trigger_price"])),  # down: fires no later
                Decimal(str(got[short_stop.tag]["price"]))) == (ltp + 10, ltp + 11 + TICK)
        assert {r["status"] for r in got.values()} == {"OPEN", "TRIGGER PENDING"}


def test_a_quantity_that_is_not_whole_lots_is_rejected_before_sending() -> None:
    with Harness() as h:
        order = h.submit(h.order(token=BANKNIFTY_CE, quantity=30))
        update = h.next_update()
        assert update.status is OrderStatus.REJECTED and update.tag == order.tag
        assert "30" in update.message and "lot size 40" in update.message
        h.idle()
        assert h.kite.count("order.place") == 0 and h.book() == []


def test_an_order_above_the_freeze_quantity_goes_out_in_slices_and_fills_as_one() -> None:
    with Harness(realism_off=(*FROZEN_OFF, "option_rules")) as h:  # MARKET on an option
        order = h.submit(h.order(token=BANKNIFTY_CE, quantity=2000))
        updates = final(h)
        rows = h.book(order.tag)
        assert [r["quantity"] for r in rows] == [880, 880, 240]  # whole lots under 900
        assert all(r["status"] == "COMPLETE" for r in rows)
        fills = [u.filled_quantity for u in updates]
        assert fills == sorted(fills) and fills[-1] == 2000
        assert [u.status for u in updates if u.status.is_terminal] == [OrderStatus.COMPLETE]
        value = sum(Decimal(str(r["average_price"])) * r["filled_quantity"] for r in rows)
        assert updates[-1].average_price == value / 2000


def test_refused_slices_leave_an_honest_partial_order_and_all_refused_a_rejection() -> None:
    # we believe 1000, the exchange says 900; MARKET orders on an option
    with Harness(option_freeze=1000, realism_off=(*FROZEN_OFF, "option_rules")) as h:
        partial = h.submit(h.order(token=BANKNIFTY_CE, quantity=2040))
        last = final(h)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.CANCELLED, 40)
        assert "2 of 3 slices rejected" in last.message and "maximum quantity" in last.message
        assert [r["quantity"] for r in h.book(partial.tag)] == [40]
        refused = h.submit(h.order(token=BANKNIFTY_CE, quantity=2000))
        last = final(h)[-1]
        assert (last.tag, last.status, last.filled_quantity) == (refused.tag,
                                                                 OrderStatus.REJECTED, 0)
        assert "maximum quantity of 900" in last.message
        assert h.book(refused.tag) == []


def test_a_resting_limit_order_is_modified_then_cancelled() -> None:
    with Harness() as h:
        ltp = h.ltp()
        order = h.submit(h.order(order_type=OrderType.LIMIT, price=ltp - 30))
        assert h.until(lambda u: u.status is OrderStatus.OPEN)
        h.broker.modify(order, price=ltp - 25)
        h.idle()
        (row,) = h.book(order.tag)
        assert Decimal(str(row["price"])) == ltp - 25 and row["status"] == "OPEN"
        h.broker.cancel(order)
        last = final(h)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.CANCELLED, 0)
        assert h.book(order.tag)[0]["status"] == "CANCELLED"


def test_order_messages_and_polls_repeated_or_stale_change_nothing() -> None:
    with Harness(poll_interval=3.0) as h:
        resting = h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
        order = h.submit(h.order())
        h.until(lambda u: u.tag == order.tag and u.status.is_terminal)
        h.drained()
        for data in h.messages[::-1]:  # every message again, the stale ones last
            h.broker.on_order_message(data)
        polls = h.kite.count("orders")
        h.timer.advance(3.0)  # a poll: the resting order keeps them going
        assert h.drained() == []
        assert h.kite.count("orders") > polls
        assert h.book(resting.tag)[0]["status"] == "OPEN"


def test_without_order_messages_the_poll_reports_the_fill() -> None:
    with Harness(messages=False, poll_after_write=1.0, poll_interval=3.0) as h:
        order = h.submit(h.order())
        first = h.next_update()
        assert (first.status, first.broker_order_id) == (OrderStatus.PENDING,
                                                         h.book(order.tag)[0]["order_id"])
        h.idle()
        assert h.updates.empty()
        h.timer.advance(1.0)
        last = h.next_update()
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        polls = h.kite.count("orders")
        h.timer.advance(3.0)  # the polls go on (for the snapshots), the updates do not
        assert h.drained() == [] and h.kite.count("orders") == polls + 1
        (row,) = h.latest_snapshot().orders
        assert (row.tag, row.status, row.filled_quantity) == (order.tag, OrderStatus.COMPLETE,
                                                              1)


def test_orders_placed_by_someone_else_go_to_the_snapshot_not_the_updates(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.adapters.kite_broker")
    with Harness() as h:
        h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
        h.until(lambda u: u.status is OrderStatus.OPEN)
        manual = h.eyes.place_order("regular", "NSE", "ADANIPORTS", "BUY", 1, "MIS", "MARKET",
                                    market_protection=-1, tag="manual")
        h.timer.advance(3.0)
        h.idle()
        h.timer.advance(3.0)
        assert h.drained() == []
        snap = h.latest_snapshot()
        assert snap is not None
        (row,) = [r for r in snap.orders if r.order_id == manual]
        assert (row.tag, row.status, row.filled_quantity) == (None, OrderStatus.COMPLETE, 1)
        assert len([r for r in caplog.records if manual in r.getMessage()]) == 1


def test_reconcile_reports_our_open_orders_and_every_position_and_adopts_the_orders() -> None:
    with Harness() as h:
        ltp = h.ltp()
        eyes = h.eyes
        eyes.place_order("regular", "NSE", "ADANIPORTS", "BUY", 5, "MIS", "MARKET",
                         market_protection=-1, tag="E24011500900")
        stop_id = eyes.place_order("regular", "NSE", "ADANIPORTS", "SELL", 5, "MIS", "SL",
                                   trigger_price=str(ltp - 50), price=str(ltp - 51),
                                   tag="S24011500901")
        eyes.place_order("regular", "NSE", "CDSL", "BUY", 3, "MIS", "MARKET",
                         market_protection=-1, tag="manual")
        foreign = eyes.place_order("regular", "NSE", "ADANIPORTS", "BUY", 1, "MIS", "LIMIT",
                                   price=str(ltp - 60))
        rec = h.broker.reconcile(timeout=5)
        (stop,) = rec.open_orders
        assert (stop.tag, stop.purpose, stop.side, stop.quantity, stop.status) == (
            "S24011500901", OrderPurpose.STOP, Side.SELL, 5, OrderStatus.TRIGGER_PENDING)
        assert (stop.order_type, stop.trigger_price, stop.price) == (OrderType.SL, ltp - 50,
                                                                   ltp - 51)
        assert (stop.instrument_token, stop.symbol, stop.broker_order_ids) == (
            ADANIPORTS, "NSE:ADANIPORTS", (stop_id,))
        assert rec.foreign_open_orders == (foreign,)
        by_token = {p.instrument_token: p for p in rec.positions}
        assert (by_token[ADANIPORTS].quantity, by_token[ADANIPORTS].agent_quantity) == (5, 5)
        assert (by_token[CDSL].quantity, by_token[CDSL].agent_quantity) == (3, 0)
        assert [p.instrument_token for p in rec.foreign_positions] == [CDSL]
        adopted = h.order(side=Side.SELL, quantity=5, order_type=OrderType.SL,
                          purpose=OrderPurpose.STOP)
        adopted.tag = stop.tag
        h.broker.cancel(adopted)  # tracked since the reconciliation
        last = h.until(lambda u: u.tag == stop.tag and u.status.is_terminal)[-1]
        assert (last.tag, last.status) == (stop.tag, OrderStatus.CANCELLED)
        assert eyes.order_history(stop_id)[-1]["status"] == "CANCELLED"


def test_close_sends_what_is_queued_before_stopping() -> None:
    with Harness() as h:
        orders = [h.submit(h.order()) for _ in range(3)]
        assert h.broker.close(5.0)
        assert sorted(r["tag"] for r in h.book()) == sorted(o.tag for o in orders)
        h.broker.submit(h.order())  # after close: nobody sends it
        assert len(h.book()) == 3


def test_finished_orders_are_forgotten_when_too_many_are_remembered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.adapters.kite_schedule.MAX_TRACKED", 4)
    with Harness() as h:
        resting = h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
        for _ in range(5):
            order = h.submit(h.order())
            h.until(lambda u, tag=order.tag: u.tag == tag and u.status.is_terminal)
        h.idle()
        assert len(h.broker.orders) <= 4 and resting.tag in h.broker.orders
        h.broker.cancel(resting)  # a live order is never forgotten
        assert final(h)[-1].tag == resting.tag


def test_a_placement_does_not_wait_for_an_order_book_read_in_progress() -> None:
    import threading

    with Harness(messages=False) as h:
        reading, release, placed = threading.Event(), threading.Event(), threading.Event()
        read_book, place = h.kite.orders, h.kite.place_order

        def slow_book():  # a busy day's order book: a slow answer
            reading.set()
            release.wait(10)
            return read_book()

        def placing(*args, **kwargs):
            try:
                return place(*args, **kwargs)
            finally:
                if reading.is_set():
                    placed.set()

        h.kite.orders, h.kite.place_order = slow_book, placing  # type: ignore[method-assign]
        first = h.submit(h.order(quantity=1))
        assert h.broker.wait_idle() and h.kite.count("order.place") == 1
        h.timer.advance(1.0)  # the poll after a write is due
        assert reading.wait(5)
        second = h.submit(h.order(quantity=1))
        assert placed.wait(5), "the placement waited for the order-book read"
        assert not release.is_set()
        release.set()  # the read's answer is applied: both fills reach the engine
        complete: set[str] = set()

        def both(update) -> bool:
            if update.status is OrderStatus.COMPLETE:
                complete.add(update.tag)
            if complete != {first.tag, second.tag}:
                h.timer.advance(1.0)  # polls until the second fill is read too
            return complete == {first.tag, second.tag}

        h.until(both)


def test_marketable_limit_entries_and_exits_on_an_option_are_rounded_towards_execution() -> None:
    with Harness() as h:  # Kite refuses MARKET on options: the engine sends LIMIT orders
        ltp, odd = h.ltp(BANKNIFTY_CE), Decimal("0.02")
        entry = h.submit(h.order(token=BANKNIFTY_CE, quantity=40, order_type=OrderType.LIMIT,
                                 price=ltp + 2 + odd))
        last = h.until(lambda u: u.tag == entry.tag and u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 40)
        exit_ = h.submit(h.order(token=BANKNIFTY_CE, quantity=40, side=Side.SELL,
                                 order_type=OrderType.LIMIT, purpose=OrderPurpose.EXIT,
                                 price=ltp - 2 - odd))
        last = h.until(lambda u: u.tag == exit_.tag and u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 40)
        assert [p["price"] for p in h.kite.sent("order.place")] == [
            str(ltp + 2 + TICK), str(ltp - 2 - TICK)]  # a buy's up, a sell's down
        assert all("market_protection" not in p for p in h.kite.sent("order.place"))


def test_a_resting_limit_exit_is_repriced_by_a_modify_of_its_price() -> None:
    with Harness() as h:
        ltp, odd = h.ltp(BANKNIFTY_CE), Decimal("0.02")
        exit_ = h.submit(h.order(token=BANKNIFTY_CE, quantity=40, side=Side.SELL,
                                 order_type=OrderType.LIMIT, purpose=OrderPurpose.EXIT,
                                 price=ltp + 20))
        assert h.until(lambda u: u.status is OrderStatus.OPEN)  # above the market: rests
        h.broker.modify(exit_, price=ltp - 1 - odd)  # the engine chases the market
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 40)
        (sent,) = h.kite.sent("order.modify")
        assert sent["price"] == str(ltp - 1 - TICK) and "trigger_price" not in sent
        assert "market_protection" not in sent


def test_an_earlier_runs_order_is_adopted_when_seen_and_a_cancel_asked_before_goes_out(
        ) -> None:
    """A stop an earlier run placed after this run's start-up read: the engine asks to
    cancel it before the adapter has seen it; the cancel waits for the order book."""
    with Harness() as h:
        stop_id = h.eyes.place_order("regular", "NSE", "ADANIPORTS", "SELL", 5, "MIS", "SL",
                                     trigger_price=str(h.ltp() - 50),
                                     price=str(h.ltp() - 51), tag="S24011500950")
        earlier = h.order(side=Side.SELL, quantity=5, order_type=OrderType.SL,
                          purpose=OrderPurpose.STOP)
        earlier.tag = "S24011500950"
        h.broker.cancel(earlier)  # not tracked yet: remembered
        h.timer.advance(3.0)  # the next poll shows it
        last = h.until(lambda u: u.tag == earlier.tag and u.status.is_terminal)[-1]
        assert last.status is OrderStatus.CANCELLED
        assert h.eyes.order_history(stop_id)[-1]["status"] == "CANCELLED"
