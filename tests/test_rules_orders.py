"""Order-manager rules (issue text): rejected entries and exits, one exit order per
instrument, exits for the actual open quantity, a failing strategy isolated."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agent.events import AlertKind, SetParam
from agent.models import Order, OrderPurpose, OrderStatus, Side
from tests.helpers import (
    AAA,
    BBB,
    Feed,
    ManualBroker,
    Sym,
    at,
    by_time,
    d,
    filled,
    run,
    worked_long,
)

BUY_ENTRY = ("BUY", 50, "signal", d("112.65"), "COMPLETE")


def _reject(purpose: OrderPurpose, times: int = 1_000_000) -> Any:
    """A paper-broker reject hook for the first ``times`` orders of ``purpose``."""
    left = [times]

    def hook(order: Order) -> str | None:
        if order.purpose is purpose and left[0] > 0:
            left[0] -= 1
            return "RMS: margin exceeds"
        return None
    return hook


def _kinds(r) -> list[AlertKind]:
    return [n.kind for n in r.notes]


def test_om_rejected_entry_leaves_instrument_flat_and_free_to_trade() -> None:
    r = run(max_trades_per_day=1)
    r.engine.broker._reject = _reject(OrderPurpose.ENTRY, times=1)
    f = Feed()
    r.feed(worked_long(f))
    assert r.order_rows() == [("BUY", 50, "signal", None, "REJECTED")]
    assert r.position() is None and r.quantity() == 0
    assert AlertKind.ORDER_REJECTED in _kinds(r)
    # Promise 5: not sent again on the next tick; free to trade after the back-off, and the
    # rejected entry did not use up max_trades_per_day.
    r.feed(f.tick(at(9, 25, 20), "112.70"))
    assert len(r.order_rows()) == 1 and r.position() is None
    r.feed(f.tick(at(9, 25, 41), "112.75"))  # 30 s after the refusal at 09:25:10
    assert r.order_rows()[1] == ("BUY", 50, "signal", d("112.75"), "COMPLETE")
    assert r.position().side is Side.BUY and r.quantity() == 50


def test_om_entries_refused_three_times_halt_the_instrument_for_the_day() -> None:
    r = run()
    r.engine.broker._reject = _reject(OrderPurpose.ENTRY)
    f = Feed()
    r.feed(worked_long(f))
    for t in (at(9, 25, 41), at(9, 27, 42)):  # after each back-off: 30 s, then 2 min
        r.feed(f.tick(t, "112.75"))
    assert [row[-1] for row in r.order_rows()] == ["REJECTED"] * 3
    assert "3 entries refused today" in r.rt().halted
    assert "halted for the day" in r.notes[-1].text and "margin" in r.notes[-1].text
    r.engine.broker._reject = None
    r.feed(f.tick(at(9, 40), "112.80"))
    assert len(r.order_rows()) == 3  # halted: no fourth order


def test_om_rejected_exit_keeps_position_managed_and_alerts() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.broker._reject = _reject(OrderPurpose.EXIT)
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", None, "REJECTED")]
    assert AlertKind.ORDER_REJECTED in _kinds(r)
    pos = r.position()
    assert pos is not None and pos.side is Side.BUY and pos.stop == d("99.50")
    assert r.quantity() == 50
    # The broker takes orders again: a later stop tick exits the position.
    r.engine.broker._reject = None
    r.feed(f.tick(at(9, 26, 30), "99.45"))
    assert r.order_rows()[-1] == ("SELL", 50, "stop", d("99.45"), "COMPLETE")
    assert r.quantity() == 0 and r.trades[0].exit_reason == "stop"


def test_om_rejected_stop_exit_with_reverse_keeps_position() -> None:
    r = run()  # BOTH, reverse_on_stop on
    f = Feed()
    r.feed(worked_long(f))
    r.engine.broker._reject = _reject(OrderPurpose.EXIT)
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert AlertKind.ORDER_REJECTED in _kinds(r)
    assert r.quantity() == 50, "the long is still open"
    pos = r.position()
    assert (pos.side, pos.entry_price, pos.stop) == (Side.BUY, d("112.65"), d("99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", None, "REJECTED")]


def test_om_rejected_signal_reverse_exit_keeps_position() -> None:
    # Long 112.65; c2 makes a sell alert with lower 104.45 (see test_rules_entries); the
    # signal_reverse exit at 104.40 is rejected: the long stays open and managed.
    r = run(trailing=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), 105, volume=2000),
           f.tick(at(9, 25, 30), "105.50"), f.tick(at(9, 30), 105))
    r.engine.broker._reject = _reject(OrderPurpose.EXIT)
    r.feed(f.tick(at(9, 30, 10), "104.40"))
    assert AlertKind.ORDER_REJECTED in _kinds(r)
    assert r.quantity() == 50
    pos = r.position()
    assert (pos.side, pos.entry_price, pos.stop) == (Side.BUY, d("112.65"), d("99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "signal_reverse", None, "REJECTED")]


def test_om_rejected_reverse_entry_leaves_instrument_flat_and_free_to_trade() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    r.engine.broker._reject = _reject(OrderPurpose.ENTRY, times=1)
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE"),
                              ("SELL", 50, "reverse", None, "REJECTED")]
    assert r.position() is None and r.quantity() == 0
    r.feed(f.tick(at(9, 25, 30), "112.70"))  # backing off after the refusal (promise 5)
    assert len(r.order_rows()) == 3
    r.feed(f.tick(at(9, 25, 51), "112.70"))  # the buy alert c1 is still there
    assert r.order_rows()[-1] == ("BUY", 50, "signal", d("112.70"), "COMPLETE")


def test_6_live_fill_price_is_the_entry_price() -> None:
    # The broker fills the entry at 112.80 (not the 112.65 that triggered it): the target
    # (m 1, range 12) is 124.80 and the P&L uses the fill prices.
    r = run(target_multiple=d(1))
    mb = ManualBroker()
    r.engine.attach_broker(mb)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(filled(mb.submitted[0], "112.80", at(9, 25, 11)))
    assert r.position().entry_price == d("112.80")
    r.feed(f.tick(at(9, 25, 20), "124.75"))
    assert len(mb.submitted) == 1
    r.feed(f.tick(at(9, 25, 30), "124.80"))
    assert [(o.side, o.reason) for o in mb.submitted[1:]] == [(Side.SELL, "target")]
    r.engine.handle(filled(mb.submitted[1], "124.70", at(9, 25, 31)))
    assert r.trades[0].pnl == (d("124.70") - d("112.80")) * 50


def test_om_two_exit_triggers_on_one_tick_make_one_exit_order() -> None:
    # With the exit in flight (the broker has not answered), the 15:15 tick at 99.50 is a
    # loss-limit trip, a stop hit and the square-off at once: one exit order.
    r = run((Sym("NSE:AAA", 1, overrides={"loss_limit": d(600)}),))
    mb = ManualBroker()
    r.engine.attach_broker(mb)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(filled(mb.submitted[0], "112.65", at(9, 25, 10)))
    assert r.quantity() == 50
    r.feed(f.tick(at(15, 15), "99.50"), f.tick(at(15, 15, 5), 99))
    exits = [o for o in mb.submitted if o.purpose is OrderPurpose.EXIT]
    assert [(o.side, o.quantity, o.reason) for o in exits] == [
        (Side.SELL, 50, "instrument_limit")]
    r.engine.handle(filled(exits[0], "99.50", at(15, 15, 6)))
    assert r.quantity() == 0 and [t.exit_reason for t in r.trades] == ["instrument_limit"]
    r.end()
    assert len(mb.submitted) == 2


def test_om_exit_in_flight_is_not_doubled_by_later_triggers() -> None:
    r = run(reverse_on_stop=False)
    mb = ManualBroker()
    r.engine.attach_broker(mb)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(filled(mb.submitted[0], "112.65", at(9, 25, 10)))
    # 15:14:59 completes c2 (stop trails to 112.00) and hits it; square-off, more ticks and
    # the end of data follow while that exit is still in flight.
    r.feed(f.tick(at(15, 14, 59), "99.50"), f.tick(at(15, 15), 99), f.tick(at(15, 16), 98))
    r.end()
    exits = [o for o in mb.submitted if o.purpose is OrderPurpose.EXIT]
    assert [(o.quantity, o.reason) for o in exits] == [(50, "trailing_stop")]


def test_om_exit_uses_actual_open_quantity_after_lots_change() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    assert r.engine.handle(SetParam("lots", 2, "NSE:AAA")).ok
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert [(s, q, why) for s, q, why, _, _ in r.order_rows()] == [
        ("BUY", 50, "signal"), ("SELL", 50, "stop"), ("SELL", 100, "reverse")]
    assert r.trades[0].quantity == 50 and r.quantity() == -100


def test_om_exit_uses_actual_open_quantity_after_partial_entry_fill() -> None:
    r = run()
    mb = ManualBroker()
    r.engine.attach_broker(mb)
    f = Feed()
    r.feed(worked_long(f))
    entry = mb.submitted[0]
    r.engine.handle(filled(entry, "112.65", at(9, 25, 11), qty=30, status=OrderStatus.OPEN))
    assert r.quantity() == 30
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    exits = [o for o in mb.submitted if o.purpose is OrderPurpose.EXIT]
    assert [(o.side, o.quantity, o.reason) for o in exits] == [(Side.SELL, 30, "stop")]
    r.engine.handle(filled(exits[0], "99.50", at(9, 25, 21)))
    assert r.quantity() == 0
    assert (r.trades[0].quantity, r.trades[0].pnl) == (30, (d("99.50") - d("112.65")) * 30)


def test_om_reverse_after_partially_filled_entry_is_kept() -> None:
    r = run()
    mb = ManualBroker()
    r.engine.attach_broker(mb)
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(filled(mb.submitted[0], "112.65", at(9, 25, 11), qty=30,
                           status=OrderStatus.OPEN))
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    r.engine.handle(filled(mb.submitted[1], "99.50", at(9, 25, 21)))  # the stop exit, 30
    reverse = mb.submitted[2]
    assert (reverse.side, reverse.quantity, reverse.reason) == (Side.SELL, 50, "reverse")
    r.engine.handle(filled(reverse, "99.50", at(9, 25, 22)))
    assert r.quantity() == -50
    assert len(mb.submitted) == 3, [(o.side, o.quantity, o.reason) for o in mb.submitted]
    pos = r.position()
    assert pos is not None and pos.side is Side.SELL and pos.stop == d("112.60")


def _fail_once_for(engine, token: int, monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = engine.runtimes[token].strategy  # one instance serves every instrument
    original = strategy.on_tick
    armed = [True]

    def on_tick(state, *args):
        if state.instrument.token == token and armed[0]:
            armed[0] = False
            raise RuntimeError("boom")
        return original(state, *args)

    monkeypatch.setattr(strategy, "on_tick", on_tick)


def test_om_strategy_exception_is_isolated_to_its_instrument(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    r = run((AAA, BBB))
    fa, fb = Feed(1), Feed(2)
    r.feed(by_time(worked_long(fa)[:-1], worked_long(fb)[:-1]))  # both: alert, flat
    _fail_once_for(r.engine, 1, monkeypatch)
    with caplog.at_level(logging.ERROR):
        r.feed(fa.tick(at(9, 25, 5), 110))
    assert any(rec.levelno >= logging.ERROR and "NSE:AAA" in rec.getMessage()
               and "boom" in rec.getMessage() for rec in caplog.records)
    assert AlertKind.ERROR in _kinds(r)
    r.feed(fa.tick(at(9, 25, 10), "112.65"), fb.tick(at(9, 25, 10), "112.65"),
           fa.tick(at(9, 25, 20), 114))
    assert r.orders(1) == [], "AAA takes no more entries"
    assert [(o.side, o.reason) for o in r.orders(2)] == [(Side.BUY, "signal")]


def test_om_strategy_exception_open_position_still_managed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    _fail_once_for(r.engine, 1, monkeypatch)
    r.feed(f.tick(at(9, 25, 15), 113), f.tick(at(9, 25, 20), "99.50"))
    # The stop still exits; the reverse is an entry and is not taken.
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]
