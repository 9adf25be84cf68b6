"""KiteBroker under the simulator's faults: 429 bursts, 5xx, answers lost after the order
was placed, an expired session, and Kite's order rate limits."""

from __future__ import annotations

import pytest

from agent.adapters.kite_book import BrokerError
from agent.adapters.kite_rest import RetryPolicy, WallTimer
from agent.models import OrderStatus, OrderType
from agent.sim.server import KITE_ORDER_LIMITS
from tests.adapters.kite_broker_harness import Harness

BACKOFF = RetryPolicy(attempts=5, first_delay=1.0, factor=2.0, max_delay=8.0, settle=2.0)


def test_a_429_burst_is_retried_after_a_backoff_and_places_one_order() -> None:
    with Harness(retry=BACKOFF) as h:
        h.sim.faults.rate_limit_burst(2)
        order = h.submit(h.order())
        h.idle()
        assert (h.kite.count("order.place"), h.book()) == (1, [])
        h.timer.advance(0.9)
        h.idle()
        assert h.kite.count("order.place") == 1  # the first backoff is 1 s
        h.timer.advance(0.1)
        h.idle()
        assert (h.kite.count("order.place"), h.book()) == (2, [])
        h.timer.advance(2.0)  # then 2 s
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert h.kite.count("order.place") == 3
        assert len(h.book(order.tag)) == 1


def test_429s_past_the_attempt_limit_reject_the_order_with_the_reason() -> None:
    policy = RetryPolicy(attempts=2, first_delay=1.0)
    with Harness(retry=policy) as h:
        h.sim.faults.rate_limit_burst(5)
        order = h.submit(h.order())
        h.idle()
        h.timer.advance(1.0)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.tag, last.status) == (order.tag, OrderStatus.REJECTED)
        assert "not placed after 2 attempts" in last.message
        assert "Too many requests" in last.message
        assert h.book() == []


@pytest.mark.parametrize("code", [500, 503])
def test_a_5xx_is_looked_up_before_the_retry_and_places_one_order(code: int) -> None:
    with Harness(retry=BACKOFF, messages=False) as h:
        h.sim.faults.server_errors(1, code)
        order = h.submit(h.order())
        h.idle()
        assert (h.kite.count("order.place"), h.kite.count("orders")) == (1, 0)
        h.timer.advance(2.0)  # settle, then look the tag up: not there, so place again
        h.idle()
        assert h.kite.count("orders") == 1 and h.kite.count("order.place") == 2
        h.timer.advance(1.0)  # the poll after the placement
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert len(h.book(order.tag)) == 1


@pytest.mark.parametrize("drop", [False, True], ids=["answer-late", "connection-dropped"])
def test_an_answer_lost_after_sending_is_found_by_tag_and_never_placed_twice(
        drop: bool) -> None:
    with Harness(retry=BACKOFF, messages=False, kite_timeout=0.5) as h:
        h.sim.faults.timeout_after_send(1, delay=3.0, drop=drop)
        order = h.submit(h.order())
        h.idle()
        (row,) = h.book(order.tag)  # placed at the exchange; the broker does not know it
        assert h.updates.empty() and h.kite.count("order.place") == 1
        h.timer.advance(2.0)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity, last.broker_order_id) == (
            OrderStatus.COMPLETE, 1, row["order_id"])
        h.timer.advance(30.0)
        h.idle()
        assert h.kite.count("order.place") == 1 and len(h.book(order.tag)) == 1


def test_an_order_message_settles_a_lost_answer_without_a_lookup() -> None:
    with Harness(retry=BACKOFF, kite_timeout=0.5) as h:
        h.sim.faults.timeout_after_send(1, delay=3.0, drop=True)
        order = h.submit(h.order())
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert h.kite.count("orders") == 0 and h.kite.count("order.place") == 1
        assert len(h.book(order.tag)) == 1


def test_an_expired_session_calls_on_token_error_once_and_is_not_retried() -> None:
    with Harness(retry=BACKOFF) as h:
        h.sim.faults.expire_tokens()
        first = h.submit(h.order())
        update = h.next_update()
        assert (update.tag, update.status) == (first.tag, OrderStatus.REJECTED)
        assert "log in again" in update.message
        second = h.submit(h.order())
        assert h.next_update().tag == second.tag
        h.timer.advance(30.0)
        h.idle()
        h.eyes.set_access_token(h.sim.new_access_token())  # the test's client died too
        assert h.token_errors == 1 and h.kite.count("order.place") == 2 and h.book() == []
        h.kite.set_access_token(h.sim.new_access_token())  # the owner logged in again
        h.submit(h.order())
        assert h.until(lambda u: u.status.is_terminal)[-1].status is OrderStatus.COMPLETE
        h.sim.faults.expire_tokens()
        h.submit(h.order())
        assert h.next_update().status is OrderStatus.REJECTED
        assert h.token_errors == 2  # a new dead period: told again


def test_reconcile_with_a_dead_session_raises_and_tells_the_owner() -> None:
    with Harness() as h:
        h.sim.faults.expire_tokens()
        with pytest.raises(BrokerError, match="access_token"):
            h.broker.reconcile(timeout=5)
        assert h.token_errors == 1 and h.kite.count("orders") == 1


def test_orders_and_modifications_share_the_order_rate_windows() -> None:
    with Harness() as h:  # Kite's 10/s and 400/min on the broker's side
        resting = h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
        for _ in range(9):
            h.submit(h.order())
        h.idle()
        h.broker.modify(resting, price=h.ltp() - 29)
        for _ in range(2):
            h.submit(h.order())
        h.idle()
        assert len(h.book()) == 10 and h.kite.count("order.modify") == 0
        h.timer.advance(0.99)
        h.idle()
        assert len(h.book()) == 10
        h.timer.advance(0.01)
        h.idle()
        assert len(h.book()) == 12 and h.kite.count("order.modify") == 1


def test_a_burst_at_wall_speed_stays_inside_the_exchanges_own_limit() -> None:
    with Harness(timer=WallTimer(), order_rate_limits=KITE_ORDER_LIMITS) as h:
        orders = [h.submit(h.order()) for _ in range(11)]
        done = set()
        while len(done) < len(orders):
            update = h.next_update()
            if update.status.is_terminal:
                assert update.status is OrderStatus.COMPLETE, update.message
                done.add(update.tag)
        assert h.kite.count("order.place") == 11  # no 429, so no retry
