"""The broker is the truth, read right (issue 12, promises 1 and 4), at the live adapter:
Kite's order rows as they really come (a COMPLETE row before its average price is known,
a quantity written "10.0", a final status the adapter does not know) never turn a filled
order into "cancelled, nothing filled" nor leave it pending for ever; and a placement whose
answer is held does not hold up every other order behind it for the client's timeout.

``KiteBroker`` against the simulated exchange through the real kiteconnect client
(``tests/adapters/kite_broker_harness.py``). A row is "doctored" by wrapping the client's
read of the order book: the exchange answers it so, the test does not touch the broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from kiteconnect import KiteConnect

from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import ADANIPORTS, CDSL, FROZEN_OFF, Harness

# the manual timer crowds a minute of polls (and the test's own reads) into a wall second:
# Kite's wall-time request rates are not what these tests are about
RATES_OFF = (*FROZEN_OFF, "rate_limits")

Row = dict[str, Any]


def _doctor_reads(h: Harness, tag: str, change: Callable[[Row], Row], *,
                  first_only: bool) -> None:
    """Kite's answers about the order ``tag`` pass through ``change`` (with ``first_only``:
    only in the first read of the order book that shows it COMPLETE)."""
    kite = h.kite
    doctored: list[str] = []

    def orders() -> list[Row]:
        rows = KiteConnect.orders(kite)
        if first_only and doctored:
            return rows
        out = []
        for row in rows:
            if row.get("tag") == tag and (not first_only or row.get("status") == "COMPLETE"):
                doctored.append(row["order_id"])
                row = change(dict(row))
            out.append(row)
        return out

    def order_history(order_id: str) -> list[Row]:
        rows = KiteConnect.order_history(kite, order_id)
        if first_only or order_id not in doctored:
            return rows
        return [*rows[:-1], change(dict(rows[-1]))]

    kite.orders = orders  # type: ignore[method-assign]
    kite.order_history = order_history  # type: ignore[method-assign]


def _average_zero(row: Row) -> Row:
    row["average_price"] = 0
    return row


def _average_null(row: Row) -> Row:
    row["average_price"] = None
    return row


def _average_missing(row: Row) -> Row:
    del row["average_price"]
    return row


def _quantity_text(row: Row) -> Row:
    row["filled_quantity"] = f"{row['filled_quantity']}.0"
    return row


@pytest.mark.parametrize("change", [_average_zero, _average_null, _average_missing,
                                    _quantity_text],
                         ids=["average-0", "average-null", "average-missing", "quantity-10.0"])
def test_a_complete_row_is_never_taken_for_cancelled_with_nothing_filled(
        change: Callable[[Row], Row]) -> None:
    with Harness(messages=False, realism_off=RATES_OFF) as h:
        order = h.order(quantity=10)
        _doctor_reads(h, order.tag, change, first_only=True)
        h.submit(order)
        h.idle()
        for _ in range(5):  # the poll after the placement, then the regular ones
            h.timer.advance(3.0)
            h.idle()
        ours = [u for u in h.drained() if u.tag == order.tag]
        (row,) = h.book(order.tag)
        assert [u.status for u in ours if u.status in (OrderStatus.CANCELLED,
                                                       OrderStatus.REJECTED)] == []
        assert ours and (ours[-1].status, ours[-1].filled_quantity) == (OrderStatus.COMPLETE,
                                                                         10)
        assert ours[-1].average_price == Decimal(str(row["average_price"]))


def test_an_unknown_final_status_does_not_leave_the_order_pending_for_ever() -> None:
    def expired(row: Row) -> Row:
        row.update(status="EXPIRED", pending_quantity=0,
                   cancelled_quantity=row["quantity"], filled_quantity=0)
        return row

    with Harness(messages=False, realism_off=RATES_OFF) as h:
        order = h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30, quantity=10)
        _doctor_reads(h, order.tag, expired, first_only=False)
        h.submit(order)
        h.idle()
        for _ in range(20):  # a minute of polls
            h.timer.advance(3.0)
            h.idle()
        ours = [u for u in h.drained() if u.tag == order.tag]
        final = [u for u in ours if u.status.is_terminal]
        assert final, f"still pending after a minute: {[u.status for u in ours]}"
        assert (final[-1].status, final[-1].filled_quantity) == (OrderStatus.CANCELLED, 0)


def _until_at_exchange(h: Harness, tag: str, within: float) -> float:
    """Wall seconds until the exchange's book shows ``tag`` (raises after ``within``)."""
    start = time.monotonic()
    pause = threading.Event()
    while not h.book(tag):
        if time.monotonic() - start > within:
            raise AssertionError(f"{tag} not at the exchange after {within:.1f}s")
        pause.wait(0.02)
    return time.monotonic() - start


HELD = 6.0  # the exchange holds the placement's answer this long (wall seconds)
TIMEOUT = 4.0  # the client gives up after this long


@pytest.mark.parametrize("second", ["entry", "stop"])
def test_a_held_placement_answer_does_not_hold_up_other_orders(second: str) -> None:
    with Harness(messages=False, kite_timeout=TIMEOUT, realism_off=RATES_OFF) as h:
        h.sim.faults.timeout_after_send(1, delay=HELD)
        held = h.submit(h.order(token=CDSL))
        _until_at_exchange(h, held.tag, 2.0)  # carried out; its answer is held back
        if second == "entry":
            other = h.order(token=ADANIPORTS)
        else:
            ltp = h.ltp(ADANIPORTS)
            other = h.order(token=ADANIPORTS, side=Side.SELL, order_type=OrderType.SL,
                            purpose=OrderPurpose.STOP, trigger=ltp - 50, price=ltp - 51)
        h.submit(other)
        took = _until_at_exchange(h, other.tag, TIMEOUT + 2.0)
        assert took < 1.5, f"{second} waited {took:.1f}s behind the held placement"
