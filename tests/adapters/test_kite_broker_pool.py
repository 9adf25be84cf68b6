"""KiteBroker's writes on a pool: an answer held back holds up only its own order, and when
the order windows or the writer threads are scarce, exits and stops go before entries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from agent.adapters.kite_rest import RetryPolicy
from agent.models import Order, OrderPurpose, OrderStatus, OrderType, Side
from tests.adapters.kite_broker_harness import CDSL, WAIT, Harness

BACKOFF = RetryPolicy(attempts=5, first_delay=1.0, factor=2.0, max_delay=8.0, settle=2.0)
HELD = 2.0  # wall seconds: kiteconnect's timeout in these tests (7 s in production)


def watch_answer(h: Harness, tag_of: Callable[[], str]) -> threading.Event:
    """An event set when the placement of the tag ``tag_of()`` returns (answer or error)."""
    returned = threading.Event()
    place = h.kite.place_order

    def placing(*args: Any, **kwargs: Any) -> Any:
        try:
            return place(*args, **kwargs)
        finally:
            if kwargs.get("tag") == tag_of():
                returned.set()

    h.kite.place_order = placing  # type: ignore[method-assign]
    return returned


def at_exchange(h: Harness, order: Order) -> None:
    """Wait (deadline) until the exchange has the order: its placement reached Kite."""
    deadline = time.monotonic() + WAIT
    pause = threading.Event()
    while not h.book(order.tag):
        assert time.monotonic() < deadline, f"{order.tag} never reached the exchange"
        pause.wait(0.01)


def test_a_held_placement_answer_does_not_hold_up_another_order() -> None:
    with Harness(retry=BACKOFF, kite_timeout=HELD) as h:
        held = h.order()
        returned = watch_answer(h, lambda: held.tag)
        hear = h.broker.on_order_message  # the held order's messages are lost too
        h.broker.on_order_message = lambda data: None if data.get("tag") == held.tag \
            else hear(data)  # type: ignore[method-assign]
        h.sim.faults.timeout_after_send(1, delay=HELD + 1.0)
        h.submit(held)
        at_exchange(h, held)
        other = h.submit(h.order(token=CDSL))
        last = h.until(lambda u: u.tag == other.tag and u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert not returned.is_set(), "the other order waited for the held answer"
        # the held one times out (it may have been placed): looked up 2 s later, found
        assert returned.wait(WAIT)
        h.idle()
        assert [u for u in h.seen if u.tag == held.tag] == []
        assert h.kite.count("orders") == 1  # the start-up read only
        h.timer.advance(2.0)
        last = h.until(lambda u: u.tag == held.tag and u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert last.broker_order_id == h.book(held.tag)[0]["order_id"]
        h.timer.advance(30.0)
        h.idle()
        assert h.kite.count("order.place") == 2 and len(h.book(held.tag)) == 1


def test_a_poll_while_an_answer_is_held_finds_the_order_by_its_tag() -> None:
    with Harness(retry=BACKOFF, messages=False, kite_timeout=HELD) as h:
        held = h.order()
        returned = watch_answer(h, lambda: held.tag)
        h.sim.faults.timeout_after_send(1, delay=HELD + 1.0)
        h.submit(held)
        at_exchange(h, held)
        other = h.submit(h.order(token=CDSL))
        update = h.next_update()  # the other placement's answer: Kite's order id
        assert (update.tag, update.status) == (other.tag, OrderStatus.PENDING)
        h.timer.advance(1.0)  # the poll after that write: both fills
        done: set[str] = set()
        h.until(lambda u: u.status.is_terminal and done.add(u.tag) is None and len(done) == 2)
        assert done == {held.tag, other.tag} and not returned.is_set()
        assert returned.wait(WAIT)  # the lost answer changes nothing
        h.timer.advance(30.0)
        assert [u for u in h.drained() if u.tag == held.tag] == []
        assert h.kite.count("order.place") == 2 and len(h.book(held.tag)) == 1


def test_a_filled_entrys_stop_goes_out_while_another_answer_is_held() -> None:
    with Harness(retry=BACKOFF, kite_timeout=HELD) as h:
        held = h.order()
        returned = watch_answer(h, lambda: held.tag)
        h.sim.faults.timeout_after_send(1, delay=HELD + 1.0)
        h.submit(held)
        at_exchange(h, held)
        entry = h.submit(h.order(token=CDSL, quantity=2))
        h.until(lambda u: u.tag == entry.tag and u.status is OrderStatus.COMPLETE)
        ltp = h.ltp(CDSL)  # the engine protects the fill at once
        stop = h.submit(h.order(token=CDSL, side=Side.SELL, quantity=2, order_type=OrderType.SL,
                                purpose=OrderPurpose.STOP, trigger=ltp - 5, price=ltp - 6))
        h.until(lambda u: u.tag == stop.tag and u.status is OrderStatus.TRIGGER_PENDING)
        assert not returned.is_set(), "the stop waited for the held answer"
        # the held order's own order messages found it before its answer: no lookup
        held_updates = [u for u in h.seen if u.tag == held.tag]
        if not held_updates or not held_updates[-1].status.is_terminal:
            h.until(lambda u: u.tag == held.tag and u.status.is_terminal)
        assert returned.wait(WAIT)
        h.idle()
        assert (h.kite.count("order.place"), h.kite.count("orders")) == (3, 1)  # start-up read
        final = [u for u in h.seen if u.tag == held.tag][-1]
        assert (final.status, final.broker_order_id) == (OrderStatus.COMPLETE,
                                                         h.book(held.tag)[0]["order_id"])
        assert h.updates.empty()  # the lost answer changed nothing


def test_exits_and_stops_go_before_entries_when_the_order_window_is_full() -> None:
    with Harness(order_limits=((5, 1.0),)) as h:
        ltp = h.ltp()
        for _ in range(5):
            h.submit(h.order())
        h.idle()
        assert len(h.book()) == 5  # the window is full for a second
        late = [h.submit(h.order()) for _ in range(4)]
        exit_ = h.submit(h.order(side=Side.SELL, purpose=OrderPurpose.EXIT))
        stop = h.submit(h.order(side=Side.SELL, order_type=OrderType.SL,
                                purpose=OrderPurpose.STOP, trigger=ltp - 50, price=ltp - 51))
        h.idle()
        assert len(h.book()) == 5
        h.timer.advance(1.0)  # five places free: the exit and the stop take two of them
        h.idle()
        placed = {r["tag"] for r in h.book()}
        assert {exit_.tag, stop.tag} <= placed
        assert sum(o.tag in placed for o in late) == 3
        h.timer.advance(1.0)
        h.idle()
        assert {o.tag for o in late} <= {r["tag"] for r in h.book()}


def test_entries_leave_a_writer_thread_to_exits_and_stops() -> None:
    with Harness(write_threads=2, messages=False, kite_timeout=HELD) as h:
        held = h.order()
        returned = watch_answer(h, lambda: held.tag)
        h.sim.faults.timeout_after_send(1, delay=HELD + 1.0)
        h.submit(held)  # an entry whose answer is held: one of the two writers is busy
        at_exchange(h, held)
        second = h.submit(h.order(token=CDSL))  # an entry may not take the last writer
        exit_ = h.submit(h.order(token=CDSL, side=Side.SELL, purpose=OrderPurpose.EXIT))
        update = h.next_update()
        assert (update.tag, update.status) == (exit_.tag, OrderStatus.PENDING)
        assert h.book(second.tag) == [] and not returned.is_set()
        assert returned.wait(WAIT)  # the held call ends: the entry goes
        update = h.until(lambda u: u.tag == second.tag)[-1]
        assert update.broker_order_id == h.book(second.tag)[0]["order_id"]
