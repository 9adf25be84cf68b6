"""stop_mode: exchange through KiteBroker: the SL order trails with throttled, coalesced
modifications, and is cancelled and placed afresh before Kite's 25-modification cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.models import Order, OrderPurpose, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import FROZEN_OFF, Harness

# 40 s of the broker's manual timer (its polls, 21 modifications) pass in a fraction of a
# wall second: far above Kite's wall-time rates, which are not what these tests are about
FAST_TIMER_OFF = (*FROZEN_OFF, "rate_limits")

QTY = 5


def place_stop(h: Harness) -> tuple[Order, Decimal]:
    """A long's stop 50 below the (frozen) market, limit one rupee under its trigger."""
    ltp = h.ltp()
    stop = h.submit(h.order(side=Side.SELL, quantity=QTY, order_type=OrderType.SL,
                            purpose=OrderPurpose.STOP, trigger=ltp - 50, price=ltp - 51))
    h.idle()
    h.timer.advance(1.0)  # the poll after a placement (all a poll-only broker hears)
    assert h.until(lambda u: u.status is OrderStatus.TRIGGER_PENDING)
    return stop, ltp - 50


def trail(h: Harness, stop: Order, trigger: Decimal) -> None:
    h.broker.modify(stop, trigger_price=trigger, price=trigger - 1)


def at_exchange(h: Harness, stop: Order) -> list[tuple[str, Decimal, int]]:
    return [(r["status"], Decimal(str(r["trigger_price"])), r["quantity"])
            for r in h.book(stop.tag)]


def test_trailing_modifications_are_throttled_and_the_latest_trigger_wins() -> None:
    with Harness(modify_interval=2.0) as h:
        stop, base = place_stop(h)
        trail(h, stop, base + 1)
        h.idle()
        assert at_exchange(h, stop) == [("TRIGGER PENDING", base + 1, QTY)]  # at once
        trail(h, stop, base + 2)
        trail(h, stop, base + 3)
        h.idle()
        h.timer.advance(1.9)
        h.idle()
        assert at_exchange(h, stop)[0][1] == base + 1  # held back: 2 s per modification
        h.timer.advance(0.1)
        h.idle()
        assert at_exchange(h, stop)[0][1] == base + 3  # one request, the latest values
        (row,) = h.book(stop.tag)
        assert Decimal(str(row["price"])) == base + 2
        assert h.kite.count("order.modify") == 2
        assert h.drained() == []  # still TRIGGER_PENDING: nothing new for the engine


@pytest.mark.parametrize("messages", [True, False], ids=["order-messages", "poll-only"])
def test_the_stop_is_placed_afresh_before_the_modification_cap(messages: bool) -> None:
    with Harness(messages=messages, modify_interval=2.0, poll_after_write=1.0,
                 realism_off=FAST_TIMER_OFF) as h:
        stop, base = place_stop(h)
        tick = Decimal("0.05")
        for i in range(1, 21):
            trail(h, stop, base + i * tick)
            h.idle()
            h.timer.advance(2.0)
        h.idle()
        assert h.kite.count("order.modify") == 20
        assert at_exchange(h, stop) == [("TRIGGER PENDING", base + 20 * tick, QTY)]
        trail(h, stop, base + 2)  # the 21st: cancel, then place afresh
        h.idle()
        h.timer.advance(1.0)  # poll-only: the poll confirms the cancellation
        h.idle()
        assert at_exchange(h, stop) == [("CANCELLED", base + 20 * tick, QTY),
                                        ("TRIGGER PENDING", base + 2, QTY)]
        assert [u for u in h.drained() if u.status is not OrderStatus.TRIGGER_PENDING] == []
        h.timer.advance(2.0)
        trail(h, stop, base + 3)  # the fresh order trails on
        h.idle()
        assert at_exchange(h, stop)[1][1] == base + 3
        h.broker.cancel(stop)
        h.idle()
        h.timer.advance(1.0)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.tag, last.status, last.filled_quantity) == (stop.tag,
                                                                 OrderStatus.CANCELLED, 0)
        assert [r[0] for r in at_exchange(h, stop)] == ["CANCELLED", "CANCELLED"]


def test_a_stop_that_filled_before_its_replacement_is_not_placed_again() -> None:
    with Harness(messages=False, modify_interval=2.0, poll_after_write=1.0,
                 realism_off=FAST_TIMER_OFF) as h:
        stop, base = place_stop(h)
        for i in range(1, 21):
            trail(h, stop, base + i)
            h.idle()
            h.timer.advance(2.0)
        h.idle()
        (row,) = h.book(stop.tag)
        ltp = h.ltp()  # the exchange fills it before the broker hears of it
        h.eyes.modify_order("regular", row["order_id"], trigger_price=str(ltp),
                            price=str(ltp - 5))
        assert h.book(stop.tag)[0]["status"] == "COMPLETE"
        trail(h, stop, base + 21)  # the broker tries to cancel it to place a fresh one
        h.idle()
        h.timer.advance(1.0)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, QTY)
        h.timer.advance(10.0)
        h.idle()
        assert h.kite.count("order.cancel") == 1 and h.kite.count("order.place") == 1
        assert len(h.book(stop.tag)) == 1


def test_a_refused_modification_keeps_the_stop_and_says_why() -> None:
    with Harness() as h:
        stop, base = place_stop(h)
        trail(h, stop, h.ltp() + 10)  # above the market: Kite refuses a sell trigger there
        update = h.next_update()
        assert update.status is OrderStatus.TRIGGER_PENDING
        assert update.message.startswith("modify refused: Trigger price for stoploss sell")
        h.timer.advance(10.0)
        h.idle()
        assert h.kite.count("order.modify") == 1  # not repeated
        assert at_exchange(h, stop) == [("TRIGGER PENDING", base, QTY)]


def test_close_sends_a_held_back_modification_at_once() -> None:
    with Harness(modify_interval=2.0) as h:
        stop, base = place_stop(h)
        trail(h, stop, base + 1)
        h.idle()
        trail(h, stop, base + 2)
        h.timer.advance(1.0)
        h.idle()
        assert at_exchange(h, stop)[0][1] == base + 1  # the next is 1 s away
        assert h.broker.close(5.0)
        assert at_exchange(h, stop)[0][1] == base + 2
