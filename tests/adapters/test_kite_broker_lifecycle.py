"""The Kite broker facing Kite's order lifecycle: interim statuses, partial fills and the
refusals Kite answers while it is still processing an order.

Unlike the other broker tests, these run the simulated exchange's clock (60x, wall timer)
with every lifecycle rule on: the interim statuses must end. The exchange's ``hold_pending``
fault keeps an order in OPEN PENDING long enough for the broker's request to meet it there.
A modify or cancel Kite refuses while it processes the order is sent again until it works.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from agent.adapters.kite_rest import RetryPolicy, WallTimer
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import WAIT, Harness

HOLD = 120.0  # exchange seconds in OPEN PENDING: two wall seconds at 60x


@pytest.fixture()
def live() -> Iterator[Harness]:
    # the test polls the order book as it waits: Kite's request rates are not its subject
    # a short backoff: the refused requests are sent again soon after the hold ends
    with Harness(realism_off=("rate_limits",), speed=60, timer=WallTimer(),
                 retry=RetryPolicy(first_delay=0.25, max_delay=1.0)) as h:
        yield h


def until_row(h: Harness, tag: str, done: Callable[[dict[str, Any]], bool],
              what: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    pause = threading.Event()
    while True:
        rows = h.book(tag)
        if rows and done(rows[-1]):
            return rows[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never; last {rows[-1] if rows else None}")
        pause.wait(0.02)


def test_interim_statuses_and_partial_fills_reach_the_engine_in_order(live: Harness) -> None:
    h = live
    quantity = 3_000  # more than the book's five levels hold in one second
    order = h.submit(h.order(order_type=OrderType.LIMIT, quantity=quantity,
                             price=h.ltp() * Decimal("1.01")))
    updates = h.until(lambda u: u.status.is_terminal)
    assert updates[0].status is OrderStatus.PENDING  # PUT ORDER REQ RECEIVED ...
    assert updates[-1].status is OrderStatus.COMPLETE
    assert updates[-1].filled_quantity == quantity
    fills = [u.filled_quantity for u in updates]
    assert fills == sorted(fills) and len(set(fills)) > 2  # several partial fills
    assert any(m["status"] == "UPDATE" for m in h.messages if m["tag"] == order.tag)


def test_a_cancel_refused_while_kite_processes_the_order_is_sent_again(live: Harness) -> None:
    h = live
    h.sim.faults.hold_pending(1, seconds=HOLD)
    order = h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
    until_row(h, order.tag, lambda r: r["status"] == "OPEN PENDING", "held in OPEN PENDING")
    h.broker.cancel(order)
    last = h.until(lambda u: u.status.is_terminal)[-1]
    assert (last.status, last.filled_quantity) == (OrderStatus.CANCELLED, 0)
    assert h.kite.count("order.cancel") >= 2  # refused at least once, then sent again


def test_a_modify_refused_while_kite_processes_the_order_is_sent_again(live: Harness) -> None:
    h = live
    ltp = h.ltp()
    h.sim.faults.hold_pending(1, seconds=HOLD)
    stop = h.submit(h.order(side=Side.SELL, order_type=OrderType.SL, price=ltp - 25,
                            trigger=ltp - 20, purpose=OrderPurpose.STOP))
    until_row(h, stop.tag, lambda r: r["status"] == "OPEN PENDING", "held in OPEN PENDING")
    h.broker.modify(stop, price=ltp - 15, trigger_price=ltp - 10)
    row = until_row(h, stop.tag, lambda r: Decimal(str(r["trigger_price"])) == ltp - 10,
                    "the stop moved")
    assert row["status"] == "TRIGGER PENDING"
    assert h.kite.count("order.modify") >= 2  # refused at least once, then sent again
