"""KiteBroker's BrokerSnapshot: every order row of the day (ours and foreign) and the net
positions, posted after every order-book poll, at start-up and on ``refresh()``;
incomplete when a read failed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kiteconnect import exceptions as kex

from agent.events import BrokerOrderRow, BrokerPositionRow
from agent.models import OrderStatus, OrderType, Side
from agent.timeutil import IST
from tests.adapters.kite_broker_harness import ADANIPORTS, CDSL, SIM_START, Harness


def by_id(rows: tuple[BrokerOrderRow, ...]) -> dict[str, BrokerOrderRow]:
    return {r.order_id: r for r in rows}


def test_every_poll_posts_every_order_row_ours_and_foreign_and_the_net_positions() -> None:
    with Harness(messages=False) as h:
        assert (h.first_snapshot.orders, h.first_snapshot.positions,
                h.first_snapshot.complete) == ((), (), True)  # at start-up
        ltp = h.ltp()
        bought = h.submit(h.order(quantity=5))
        resting = h.submit(h.order(order_type=OrderType.LIMIT, price=ltp - 30))
        h.idle()
        manual = h.eyes.place_order("regular", "NSE", "CDSL", "BUY", 3, "MIS", "MARKET",
                                    market_protection=-1, tag="manual")
        untagged = h.eyes.place_order("regular", "NSE", "CDSL", "SELL", 1, "MIS", "LIMIT",
                                      price=str(h.ltp(CDSL) + 40))
        reads = (h.kite.count("orders"), h.kite.count("portfolio.positions"))
        h.timer.advance(3.0)
        snap = h.latest_snapshot()
        assert snap is not None and snap.complete
        assert (h.kite.count("orders"), h.kite.count("portfolio.positions")) == (
            reads[0] + 1, reads[1] + 1)  # both read at every poll
        assert snap.time.tzinfo is not None and snap.time >= SIM_START
        rows = by_id(snap.orders)
        ours = {r.tag: r for r in snap.orders if r.tag is not None}
        assert set(ours) == {bought.tag, resting.tag} and len(rows) == 4
        b = ours[bought.tag]
        assert (b.instrument_token, b.product, b.side, b.quantity, b.filled_quantity,
                b.status, b.raw_status) == (ADANIPORTS, "MIS", Side.BUY, 5, 5,
                                            OrderStatus.COMPLETE, "COMPLETE")
        assert b.order_type is OrderType.LIMIT  # a protected MARKET shows as the LIMIT it became
        assert b.average_price is not None and b.average_price > 0
        assert b.time is not None and b.time.tzinfo is not None
        r = ours[resting.tag]
        assert (r.status, r.average_price, r.price, r.trigger_price) == (
            OrderStatus.OPEN, None, ltp - 30, None)
        foreign = rows[manual]  # "manual" is not our format: tag None
        assert (foreign.tag, foreign.instrument_token, foreign.side, foreign.filled_quantity,
                foreign.status) == (None, CDSL, Side.BUY, 3, OrderStatus.COMPLETE)
        assert (rows[untagged].tag, rows[untagged].status) == (None, OrderStatus.OPEN)
        assert sorted(snap.positions, key=lambda p: p.instrument_token) == [
            BrokerPositionRow(ADANIPORTS, "MIS", 5, b.average_price, 0),
            BrokerPositionRow(CDSL, "MIS", 3, foreign.average_price or Decimal(0), 0)]


def test_refresh_reads_at_once_from_any_thread_and_again_after_a_read_in_progress() -> None:
    with Harness(messages=False) as h:
        threading.Thread(target=h.broker.refresh).start()
        assert h.snapshot().complete and h.kite.count("orders") == 2  # no time passed
        reading, release = threading.Event(), threading.Event()
        read_book = h.kite.orders

        def slow_book() -> Any:  # read, then the answer takes its time
            rows = read_book()
            reading.set()
            release.wait(10)
            return rows

        h.kite.orders = slow_book  # type: ignore[method-assign]
        h.broker.refresh()
        assert reading.wait(5)
        reading.clear()
        h.eyes.place_order("regular", "NSE", "CDSL", "BUY", 1, "MIS", "LIMIT",
                           price=str(h.ltp(CDSL) - 40))
        h.broker.refresh()  # the feed reconnected while a read was out: read once more
        release.set()
        assert h.snapshot().orders == ()  # the read that had begun before the order
        assert reading.wait(5)
        assert len(h.snapshot().orders) == 1
        h.idle()
        assert h.kite.count("orders") == 4


def failing_once(fn: Callable[..., Any], exc: Exception) -> Callable[..., Any]:
    failed: list[bool] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise exc
        return fn(*args, **kwargs)
    return call


def test_a_failed_read_or_a_row_that_cannot_be_typed_makes_the_snapshot_incomplete() -> None:
    with Harness(messages=False) as h:
        order = h.submit(h.order())
        h.idle()
        h.kite.positions = failing_once(  # type: ignore[method-assign]
            h.kite.positions, kex.NetworkException("Service unavailable", code=503))
        h.broker.refresh()
        snap = h.snapshot()
        assert (len(snap.orders), snap.positions, snap.complete) == (1, (), False)
        h.kite.orders = failing_once(  # type: ignore[method-assign]
            h.kite.orders, kex.NetworkException("Service unavailable", code=503))
        h.broker.refresh()
        snap = h.snapshot()
        assert (snap.orders, snap.positions, snap.complete) == ((), (), False)
        read_book = h.kite.orders
        h.kite.orders = lambda: [*read_book(), {"order_id": "1", "status": "OPEN",  # type: ignore[method-assign]
                                                "transaction_type": "HOLD"}]
        h.timer.advance(3.0)  # the next poll, after the failure's backoff
        snap = h.snapshot()
        assert [r.tag for r in snap.orders] == [order.tag] and not snap.complete
        assert len(snap.positions) == 1


def test_a_message_about_an_order_we_do_not_track_brings_the_poll_forward() -> None:
    with Harness(poll_interval=3.0, poll_after_write=1.0) as h:
        manual = h.eyes.place_order("regular", "NSE", "CDSL", "BUY", 1, "MIS", "LIMIT",
                                    price=str(h.ltp(CDSL) - 40), tag="manual")
        h.idle()
        h.timer.advance(1.0)  # not the 3 s of the periodic poll
        snap = h.snapshot()
        assert [(r.order_id, r.tag) for r in snap.orders] == [(manual, None)]
        assert h.updates.empty()


def test_a_poll_counts_as_two_calls_in_the_other_window() -> None:
    with Harness(messages=False, other_limits=((3, 1.0),)) as h:
        h.broker.refresh()  # the start-up read took two of the three places
        h.idle()
        assert h.snapshots.empty() and h.kite.count("orders") == 1
        h.timer.advance(1.0)
        assert h.snapshot().complete and h.kite.count("orders") == 2


def test_rows_read_from_the_order_book_are_typed_from_text_too() -> None:
    with Harness(messages=False) as h:
        h.kite.orders = lambda: [{  # type: ignore[method-assign]
            "order_id": "77", "tag": "S24011500042", "instrument_token": str(ADANIPORTS),
            "product": "MIS", "transaction_type": "SELL", "quantity": "5.0",
            "filled_quantity": None, "average_price": "0", "status": "TRIGGER PENDING",
            "order_type": "SL", "price": "950.5", "trigger_price": 951,
            "order_timestamp": "2024-01-15 10:01:02", "status_message": None}]
        h.broker.refresh()
        (row,) = h.snapshot().orders
        assert row == BrokerOrderRow(
            order_id="77", tag="S24011500042", instrument_token=ADANIPORTS, product="MIS",
            side=Side.SELL, quantity=5, filled_quantity=0, average_price=None,
            status=OrderStatus.TRIGGER_PENDING, raw_status="TRIGGER PENDING",
            order_type=OrderType.SL, price=Decimal("950.5"), trigger_price=Decimal(951),
            time=SIM_START.replace(minute=1, second=2).astimezone(IST), message="")



def test_a_complete_row_is_typed_as_wholly_filled_and_a_zero_price_as_none() -> None:
    with Harness(messages=False) as h:
        h.kite.orders = lambda: [{  # type: ignore[method-assign]
            "order_id": "78", "tag": "manual", "tags": ["mktp"], "instrument_token": CDSL,
            "product": "NRML", "transaction_type": "BUY", "quantity": 3, "status":
            "COMPLETE", "filled_quantity": "", "average_price": 0, "order_type": "LIMIT"}]
        h.broker.refresh()
        (row,) = h.snapshot().orders
        assert (row.tag, row.filled_quantity, row.average_price, row.status) == (
            None, 3, None, OrderStatus.COMPLETE)
