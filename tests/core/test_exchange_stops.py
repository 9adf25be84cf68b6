"""stop_mode: exchange: an SL order protects every position; never two exits.

The worked example's long (50 at 112.65, stop 99.50) through the engine with the paper
broker, whose SL orders trigger on ticks like an exchange's.
"""

from __future__ import annotations

from datetime import timedelta

from agent.events import AlertKind, SquareOff
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from tests.helpers import Feed, at, d, run, worked_long


def _exchange_run(**kw):
    r = run(**kw)
    r.engine.exec.stops_enabled = True
    return r


def _stops(r):
    return [o for o in r.orders() if o.purpose is OrderPurpose.STOP]


def _exits(r):
    return [o for o in r.orders() if o.purpose is OrderPurpose.EXIT]


def test_entry_fill_places_an_sl_order_with_a_buffered_limit() -> None:
    r = _exchange_run()
    r.feed(worked_long(Feed()))
    (stop,) = _stops(r)
    assert (stop.side, stop.quantity, stop.order_type) == (Side.SELL, 50, OrderType.SL)
    assert (stop.trigger_price, stop.price) == (d("99.50"), d("99.00"))  # 10 ticks below
    assert stop.status is OrderStatus.TRIGGER_PENDING
    assert r.rt().orders.stop == stop.tag
    assert AlertKind.STOP_PLACED in [n.kind for n in r.notes]


def test_the_sl_is_the_stop_exit_and_the_reverse_follows_it() -> None:
    r = _exchange_run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 26), "99.50"))
    assert _exits(r) == []  # no market order: the exchange stop did it
    first, second = _stops(r)
    assert (first.status, first.average_price, first.reason) == (
        OrderStatus.COMPLETE, d("99.50"), "stop")
    assert r.quantity() == -50  # the reverse entry filled
    assert (second.side, second.trigger_price, second.status) == (
        Side.BUY, d("112.60"), OrderStatus.TRIGGER_PENDING)
    (trade,) = r.trades
    assert (trade.exit_reason, trade.pnl) == ("stop", d("-657.50"))
    assert r.position().side is Side.SELL and r.position().stop == d("112.60")


def test_a_trailing_move_modifies_the_sl_order() -> None:
    r = _exchange_run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 27), "115"), f.tick(at(9, 29), "114"),
           f.tick(at(9, 30), "116"))  # completes 09:25 (L 112.60): stop -> down(112.037)
    (stop,) = _stops(r)
    assert r.position().stop == d("112.00")
    assert (stop.trigger_price, stop.price, stop.reason) == (d("112.00"), d("111.50"),
                                                             "trailing_stop")
    r.feed(f.tick(at(9, 31), "111.95"))
    assert stop.status is OrderStatus.COMPLETE
    assert r.trades[0].exit_reason == "trailing_stop"


def test_a_gap_past_the_limit_moves_the_sl_limit_then_cancels_it_for_a_market_exit() -> None:
    r = _exchange_run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 26), "98.00"))  # below the limit 99.00
    (stop,) = _stops(r)
    assert stop.status is OrderStatus.OPEN and r.quantity() == 50
    assert r.rt().orders.stop == stop.tag and r.rt().orders.stop_due is not None  # the SL is
    # the exit in flight: no second order
    r.feed(f.tick(at(9, 26, 2), "97.90"))
    assert _exits(r) == [] and r.quantity() == 50
    r.feed(f.tick(at(9, 26) + timedelta(seconds=3), "97.80"))  # STOP_FILL_WAIT passed
    # The stop itself becomes marketable (never a moment without an exit order); the
    # paper broker fills it at the price.
    assert stop.price == d("94.85") and stop.status is OrderStatus.COMPLETE
    assert _exits(r) == [] and r.quantity() == 0 and len(r.trades) == 1
    assert r.trades[0].exit_price == d("97.80") and r.trades[0].exit_reason == "stop"


def test_a_stop_that_will_not_fill_even_when_pushed_is_cancelled_for_a_market_exit() -> None:
    from tests.helpers import ManualBroker, filled

    r = _exchange_run(reverse_on_stop=False)
    broker = ManualBroker()
    modified: list[dict] = []
    broker.modify = lambda order, **kw: modified.append(kw)  # type: ignore[method-assign]
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(filled(broker.submitted[0], "112.65", at(9, 25, 11)))
    stop = broker.submitted[1]
    r.feed(f.tick(at(9, 26), "98.00"))  # crossed: the stop order is the exit
    r.feed(f.tick(at(9, 26, 3), "97.80"))  # not filled: its limit is pushed
    assert modified[-1]["price"] == d("94.85") and broker.cancelled == []
    r.feed(f.tick(at(9, 26, 6), "97.70"))  # still not filled: cancelled, then market
    assert broker.cancelled == [stop]
    market = broker.submitted[-1]
    assert (market.purpose, market.order_type, market.reason) == (
        OrderPurpose.EXIT, OrderType.MARKET, "stop")
    r.engine.handle(filled(market, "97.70", at(9, 26, 7)))
    assert r.quantity() == 0 and len(r.trades) == 1


def test_other_exits_cancel_the_sl_first() -> None:
    r = _exchange_run(target_multiple=d(1))  # target 112.65 + 12 = 124.65
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 27), "124.65"))
    (stop,) = _stops(r)
    (market,) = _exits(r)
    assert stop.status is OrderStatus.CANCELLED
    assert (market.reason, market.average_price) == ("target", d("124.65"))
    assert r.quantity() == 0


def test_square_off_by_the_owner_cancels_the_sl_and_closes_once() -> None:
    r = _exchange_run()
    r.feed(worked_long(Feed()))
    assert r.engine.handle(SquareOff("NSE:AAA")).ok
    assert [o.status for o in _stops(r)] == [OrderStatus.CANCELLED]
    assert [(o.reason, o.status) for o in _exits(r)] == [("manual", OrderStatus.COMPLETE)]
    assert r.quantity() == 0


def test_a_rejected_sl_leaves_the_stop_to_the_engine() -> None:
    r = _exchange_run()
    r.engine.broker._reject = lambda o: "RMS: trigger too far" if o.purpose is \
        OrderPurpose.STOP else None
    f = Feed()
    r.feed(worked_long(f))
    assert r.rt().orders.stop is None
    assert any(n.kind is AlertKind.ORDER_REJECTED and "stop order rejected" in n.text
               for n in r.notes)
    r.feed(f.tick(at(9, 26), "99.50"))
    assert [(o.reason, o.status) for o in _exits(r)] == [("stop", OrderStatus.COMPLETE)]
    assert r.quantity() == -50  # reversed: synthetic stop-and-reverse


def test_a_paper_restart_keeps_the_resting_stop_working() -> None:
    """Promise 8: the new paper broker holds the restored stop, which closes the position."""
    import json

    from agent import snapshot
    from agent.adapters.paper import PaperBroker
    from tests.helpers import DAY

    r = _exchange_run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f))
    (stop,) = _stops(r)
    saved = json.loads(json.dumps(snapshot.take(r.engine, r.engine.now())))
    r2 = _exchange_run(reverse_on_stop=False)
    assert snapshot.restore(r2.engine, saved, DAY)
    engine = r2.engine
    engine.attach_broker(PaperBroker(lambda t: engine.runtimes[t].last_price,
                                     lambda t: d("0.05"), engine.now))
    assert engine.broker.watched == {1}
    r2.feed(f.tick(at(9, 30), "99.40"))  # through the restored stop's trigger 99.50
    assert r2.quantity() == 0
    assert [o.tag for o in _stops(r2) if o.status is OrderStatus.COMPLETE] == [stop.tag]
    assert _exits(r2) == []  # the stop order was the exit: one exit, no market order
