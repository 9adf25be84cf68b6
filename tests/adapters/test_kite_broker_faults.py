"""KiteBroker under the simulator's faults: 429 bursts, 5xx, answers lost after the order
was placed, an expired session, Kite's order rate limits, and a modify or cancel Kite
refuses while it processes the order (sent again, with a backoff, until it counts)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kiteconnect.exceptions import TokenException

from agent.adapters.kite_reads import BrokerError
from agent.adapters.kite_rest import RetryPolicy, WallTimer
from agent.adapters.kite_writes import SentWith
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from agent.sim.server import KITE_ORDER_LIMITS
from tests.adapters.kite_broker_harness import Harness

BACKOFF = RetryPolicy(attempts=5, first_delay=1.0, factor=2.0, max_delay=8.0, settle=2.0)


def test_a_429_burst_is_retried_in_the_next_second_and_places_one_order() -> None:
    with Harness(retry=BACKOFF) as h:
        h.sim.faults.rate_limit_burst(2)
        order = h.submit(h.order())
        h.idle()
        assert (h.kite.count("order.place"), h.book()) == (1, [])
        h.timer.advance(0.5)
        h.idle()
        assert h.kite.count("order.place") == 1  # Kite's window is the calendar second
        h.timer.advance(0.1)
        h.idle()
        assert (h.kite.count("order.place"), h.book()) == (2, [])
        h.timer.advance(0.6)  # not exponential: the next second has room again
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.status, last.filled_quantity) == (OrderStatus.COMPLETE, 1)
        assert h.kite.count("order.place") == 3
        assert len(h.book(order.tag)) == 1


def test_429s_never_use_up_the_attempts_an_exit_goes_out_when_the_window_frees() -> None:
    policy = RetryPolicy(attempts=2, first_delay=1.0)
    with Harness(retry=policy) as h:
        h.sim.faults.rate_limit_burst(5)
        order = h.submit(h.order())
        for _ in range(6):
            h.idle()
            h.timer.advance(0.6)
        last = h.until(lambda u: u.status.is_terminal)[-1]
        assert (last.tag, last.status) == (order.tag, OrderStatus.COMPLETE)
        assert h.kite.count("order.place") == 6 and len(h.book(order.tag)) == 1


@pytest.mark.parametrize("code", [500, 503])
def test_a_5xx_is_looked_up_before_the_retry_and_places_one_order(code: int) -> None:
    with Harness(retry=BACKOFF, messages=False) as h:
        h.sim.faults.server_errors(1, code)
        order = h.submit(h.order())
        h.idle()
        # one order-book read so far: the start-up snapshot's
        assert (h.kite.count("order.place"), h.kite.count("orders")) == (1, 1)
        h.timer.advance(2.0)  # settle, then look the tag up: not there, so place again
        h.idle()
        assert h.kite.count("orders") == 2 and h.kite.count("order.place") == 2
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
        assert h.kite.count("orders") == 1  # the start-up snapshot's read, no lookup
        assert h.kite.count("order.place") == 1 and len(h.book(order.tag)) == 1


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


def test_late_answers_of_older_calls_do_not_confuse_the_dead_session() -> None:
    """The order in which answers are applied is not the order calls were sent: a success
    sent before the failure does not revive the session, a failure sent with a replaced
    token does not kill the new one, and a new token's death is told even while the success
    that proved the login is still in flight."""
    with Harness() as h:
        h.idle()
        broker, token = h.broker, h.kite.access_token
        before, failing = SentWith(1, token), SentWith(2, token)
        expired = TokenException("Incorrect `api_key` or `access_token`.")
        broker.judging = failing
        broker.failure(expired)
        broker.answered(before)  # sent before the failure, answered after it
        assert broker.token_dead and h.token_errors == 1
        h.kite.set_access_token("new-token")  # the owner logged in
        broker.judging = SentWith(3, token)  # an old-token call's late failure
        broker.failure(expired)
        assert h.token_errors == 1
        broker.judging = SentWith(5, "new-token")  # the new token died too
        broker.failure(expired)
        assert h.token_errors == 2 and broker.token_dead
        broker.answered(SentWith(4, "new-token"))  # the login's proof, applied late
        assert broker.token_dead
        broker.answered(SentWith(6, "new-token"))
        assert not broker.token_dead
        broker.judging = None


def test_reconcile_with_a_dead_session_raises_and_tells_the_owner() -> None:
    with Harness() as h:
        h.sim.faults.expire_tokens()
        with pytest.raises(BrokerError, match="access_token"):
            h.broker.reconcile(timeout=5)
        assert h.token_errors == 1 and h.kite.count("orders") == 2  # start-up, reconcile


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
    # the exchange counts per calendar second; several calls are in flight at once
    with Harness(timer=WallTimer(), order_rate_limits=KITE_ORDER_LIMITS) as h:
        orders = [h.submit(h.order()) for _ in range(21)]
        done = set()
        while len(done) < len(orders):
            update = h.next_update()
            if update.status.is_terminal:
                assert update.status is OrderStatus.COMPLETE, update.message
                done.add(update.tag)
        assert h.kite.count("order.place") == 21  # no 429, so no retry


# On the frozen exchange clock an interim status never ends: Kite keeps refusing
LIFECYCLE_ON = ()  # every realism rule (the harness adds rate_limits for its manual timer)
BACKOFF_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)  # RetryPolicy(): doubling, capped at 8 s


def test_a_cancel_kite_refuses_for_now_is_sent_again_until_the_order_is_final() -> None:
    with Harness(realism_off=LIFECYCLE_ON) as h:
        order = h.submit(h.order(order_type=OrderType.LIMIT, price=h.ltp() - 30))
        h.idle()
        (row,) = h.book(order.tag)
        assert row["status"] == "PUT ORDER REQ RECEIVED"
        h.broker.cancel(order)
        h.idle()
        for sent, step in enumerate(BACKOFF_STEPS, start=1):
            assert h.kite.count("order.cancel") == sent
            h.timer.advance(step - 0.01)
            h.idle()
            assert h.kite.count("order.cancel") == sent  # not before its backoff
            h.timer.advance(0.01)
            h.idle()
        assert h.kite.count("order.cancel") == len(BACKOFF_STEPS) + 1  # past 5 attempts
        assert all(u.status is OrderStatus.PENDING for u in h.drained())
        h.broker.on_order_message({**row, "status": "CANCELLED"})  # the exchange ends it
        assert h.next_update().status is OrderStatus.CANCELLED
        h.timer.advance(60.0)
        h.idle()
        assert h.kite.count("order.cancel") == len(BACKOFF_STEPS) + 1  # final: no more


def test_a_modify_kite_refuses_for_now_is_sent_again_until_it_works() -> None:
    with Harness(realism_off=LIFECYCLE_ON) as h:
        ltp = h.ltp()
        stop = h.submit(h.order(side=Side.SELL, order_type=OrderType.SL, trigger=ltp - 20,
                                price=ltp - 21, purpose=OrderPurpose.STOP))
        h.idle()
        h.broker.modify(stop, trigger_price=ltp - 10, price=ltp - 11)
        h.idle()
        for step in BACKOFF_STEPS[:6]:
            h.timer.advance(step)
            h.idle()
        assert h.kite.count("order.modify") == 7
        assert Decimal(str(h.book(stop.tag)[0]["trigger_price"])) == ltp - 20
        assert all(u.message == "" for u in h.drained())  # nothing final to say yet
        h.sim.realism.disable("transient_refusals")  # Kite has finished processing it
        h.timer.advance(8.0)
        h.idle()
        assert h.kite.count("order.modify") == 8
        assert Decimal(str(h.book(stop.tag)[0]["trigger_price"])) == ltp - 10
        h.timer.advance(60.0)
        h.idle()
        assert h.kite.count("order.modify") == 8
