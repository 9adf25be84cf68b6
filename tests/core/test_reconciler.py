"""The broker is the truth: broker snapshots make the engine's books agree (agent/lifecycle/
reconciler.py). The worked example's long (50 at 112.65, stop 99.50) with exchange stops,
on a broker that fills nothing by itself, then snapshots as Kite's order book would show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from agent import snapshot
from agent.events import (
    AlertKind,
    BrokerOrderRow,
    BrokerSnapshot,
    Job,
    OrderUpdate,
    ResumeEntries,
    RunJob,
)
from agent.models import ExitReason, Order, OrderPurpose, OrderStatus, OrderType, Side
from tests.helpers import DAY, Feed, ManualBroker, at, d, filled, make_run, make_settings

PAST = at(9, 40)


def _run(broker: ManualBroker | None = None):
    r = make_run(make_settings())
    r.engine.exec.stops_enabled = True
    r.engine.attach_broker(broker or ManualBroker())
    return r


def _row(order: Order, status: OrderStatus | None, filled_qty: int = 0,
         price: str | None = None, order_id: str = "") -> BrokerOrderRow:
    return BrokerOrderRow(order_id or f"B{order.tag}", order.tag, order.instrument_token,
                          order.product, order.side, order.quantity, filled_qty,
                          None if price is None else d(price), status,
                          (status or "OPEN PENDING").replace("_", " "), order.order_type,
                          order.price, order.trigger_price)


def _foreign(side: Side, qty: int, price: str, order_id: str = "OWN1",
             message: str = "") -> BrokerOrderRow:
    return BrokerOrderRow(order_id, None, 1, "MIS", side, qty, qty, d(price),
                          OrderStatus.COMPLETE, "COMPLETE", OrderType.MARKET, message=message)


def _snap(rows: Iterable[BrokerOrderRow], t=PAST, complete: bool = True) -> BrokerSnapshot:
    return BrokerSnapshot(t, tuple(rows), (), complete)


def _entered(broker: ManualBroker):
    """The worked long, its entry filled, its stop working."""
    r = _run(broker)
    f = Feed()
    r.feed(f.candle(at(9, 15), "100", "105", "95", "100", 100),
           f.candle(at(9, 20), "100", "112", "100", "109", 300),
           f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    entry = broker.submitted[0]
    r.engine.handle(filled(entry, "112.65", at(9, 25, 11)))
    (stop,) = [o for o in broker.submitted if o.purpose is OrderPurpose.STOP]
    return r, f, entry, stop


def _restart(r, broker: ManualBroker):
    """Snapshot, JSON round trip, restore into a new engine (the state file's path)."""
    saved = json.loads(json.dumps(snapshot.take(r.engine, r.engine.now())))
    fresh = _run(broker)
    assert snapshot.restore(fresh.engine, saved, DAY)
    return fresh


def test_a_stop_filled_while_the_agent_was_down_is_booked_and_forgotten() -> None:
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    r2 = _restart(r, broker)
    r2.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                            _row(stop, OrderStatus.COMPLETE, 50, "99.40")]))
    assert r2.quantity() == 0 and r2.rt().orders.stop is None
    (trade,) = r2.engine.trades
    assert trade.exit_price == d("99.40") and trade.pnl == d("-662.50")
    assert r2.engine.pnl.books[1].realized == d("-662.50")


def test_an_entry_filled_while_down_is_booked_known_to_the_strategy_and_protected() -> None:
    broker = ManualBroker()
    r = _run(broker)
    f = Feed()
    r.feed(f.candle(at(9, 15), "100", "105", "95", "100", 100),
           f.candle(at(9, 20), "100", "112", "100", "109", 300),
           f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    entry = broker.submitted[0]  # in flight when the state was saved
    r2 = _restart(r, broker)
    broker.submitted.clear()
    r2.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.70")]))
    assert r2.quantity() == 50
    assert r2.position() is not None and r2.position().entry_price == d("112.70")
    (stop,) = broker.submitted
    assert (stop.purpose, stop.quantity, stop.trigger_price) == (OrderPurpose.STOP, 50,
                                                                 d("99.50"))
    r2.feed(f.tick(at(9, 41), "113.50"))  # a later signal does not double it
    assert [o.purpose for o in broker.submitted] == [OrderPurpose.STOP]


def test_an_unknown_tag_is_adopted_and_its_position_protected() -> None:
    broker = ManualBroker()
    r = _run(broker)
    r.feed(Feed().tick(at(9, 30), "112.00"))
    stray = Order(tag="E24011501234500001", instrument_token=1, symbol="NSE:AAA",
                  side=Side.BUY, quantity=50, order_type=OrderType.MARKET,
                  purpose=OrderPurpose.ENTRY, reason="signal", created_at=at(9, 29))
    found = r.engine.reconciler.apply(_snap([_row(stray, OrderStatus.COMPLETE, 50, "112.00")]))
    assert "adopted entry order E24011501234500001" in found[0]
    assert r.quantity() == 50
    (stop,) = broker.submitted
    assert stop.purpose is OrderPurpose.STOP and stop.trigger_price == d("111.40")  # 0.5%
    assert stop.tag == "S24011500001"  # another epoch: our sequence did not jump


def test_the_owner_closing_in_the_kite_app_is_booked_and_never_sold_again() -> None:
    broker = ManualBroker()
    r, f, entry, stop = _entered(broker)
    r.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                           _row(stop, OrderStatus.TRIGGER_PENDING),
                           _foreign(Side.SELL, 50, "115.00")]))
    assert r.quantity() == 0 and r.position() is None
    assert broker.cancelled == [stop]  # the orphaned stop
    (trade,) = r.engine.trades
    assert (trade.exit_reason, trade.exit_price, trade.pnl) == ("manual", d("115"), d("117.5"))
    sync = [n for n in r.notes if n.kind is AlertKind.BROKER_SYNC]
    assert "closed by the owner" in sync[-1].text and "/resume NSE:AAA" in sync[-1].text
    again = _snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                   _row(stop, OrderStatus.CANCELLED), _foreign(Side.SELL, 50, "115.00")],
                  t=at(9, 41))
    assert r.engine.reconciler.apply(again) == []  # booked once
    r3 = _restart(r, broker)  # and once only across a restart
    assert r3.engine.reconciler.apply(again) == [] and len(r3.engine.trades) == 1
    before = len(broker.submitted)
    r.engine.handle(RunJob(Job.SQUARE_OFF, at(15, 15)))
    r.feed(f.tick(at(9, 42), "113.00"))  # beyond the trigger: held, no re-entry
    assert len(broker.submitted) == before  # no square-off order, no entry: nothing held
    assert r.engine.handle(ResumeEntries("NSE:AAA")).ok
    r.feed(f.tick(at(9, 43), "113.05"))
    assert broker.submitted[-1].purpose is OrderPurpose.ENTRY


def test_a_reduction_by_the_owner_resizes_the_stop() -> None:
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    modified: list[dict] = []
    broker.modify = lambda order, **kw: modified.append(kw)  # type: ignore[method-assign]
    r.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                           _row(stop, OrderStatus.TRIGGER_PENDING),
                           _foreign(Side.SELL, 20, "114.00")]))
    assert r.quantity() == 30 and r.position() is not None
    assert modified[-1]["quantity"] == 30 and stop.quantity == 30


def test_the_brokers_own_square_off_is_booked_as_square_off() -> None:
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    r.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                           _row(stop, OrderStatus.CANCELLED),
                           _foreign(Side.SELL, 50, "110.00",
                                    message="Squared off by the broker: intraday auto "
                                            "square-off at 15:20.")]))
    assert r.quantity() == 0 and r.engine.trades[0].exit_reason == "square_off"


def test_a_position_the_agent_did_not_open_is_reported_once_and_left_alone() -> None:
    broker = ManualBroker()
    r = _run(broker)
    r.feed(Feed().tick(at(9, 30), "112.00"))
    first = r.engine.reconciler.apply(_snap([_foreign(Side.BUY, 75, "112.00")]))
    assert first == ["NSE:AAA: +75 at the broker not opened by the agent: left alone"]
    assert r.engine.reconciler.apply(_snap([_foreign(Side.BUY, 75, "112.00")])) == []
    assert r.quantity() == 0 and broker.submitted == []


def test_an_order_the_broker_never_showed_is_given_up_by_the_first_late_enough_snapshot() -> None:
    broker = ManualBroker()
    r0 = _run(broker)
    f = Feed()
    r0.feed(f.candle(at(9, 15), "100", "105", "95", "100", 100),
            f.candle(at(9, 20), "100", "112", "100", "109", 300),
            f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    r = _restart(r0, broker)  # saved in flight; the crash came before it reached Kite
    entry = r.engine.book.get(broker.submitted[0].tag)
    r.engine.reconciler.born = at(9, 25, 35)  # the new process started then
    assert r.engine.reconciler.apply(_snap([], t=at(9, 25, 44))) == []  # too young
    assert r.engine.reconciler.apply(_snap([], t=at(9, 25, 46), complete=False)) == []
    assert entry.status is not OrderStatus.REJECTED
    found = r.engine.reconciler.apply(_snap([], t=at(9, 25, 45)))  # read 10 s after birth
    assert "never reached the broker" in found[0]
    assert entry.status is OrderStatus.REJECTED and r.rt().orders.entry is None


def test_the_tag_sequence_moves_past_the_brokers_tags_of_this_epoch() -> None:
    broker = ManualBroker()
    r = _run(broker)
    r.engine.book.mint.epoch = "123456"
    ours = Order(tag="S240115123456" + "00007", instrument_token=1, symbol="NSE:AAA",
                 side=Side.SELL, quantity=50, order_type=OrderType.SL,
                 purpose=OrderPurpose.STOP, reason="stop", created_at=at(9, 29),
                 price=Decimal("99"), trigger_price=Decimal("99.5"))
    r.engine.start_day(DAY)
    r.engine.reconciler.apply(_snap([_row(ours, OrderStatus.CANCELLED)]))
    assert r.engine.book.mint.next(OrderPurpose.ENTRY, DAY) == "E24011512345600008"


def test_an_order_this_process_sent_ends_by_its_adapter_not_by_a_snapshot() -> None:
    """Slices still to place, a stop being replaced: the rows can look final first."""
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    r.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                           _row(stop, OrderStatus.CANCELLED)]))  # the old child of a
    assert stop.status is not OrderStatus.CANCELLED  # replacement under way
    assert r.rt().orders.stop == stop.tag and len(broker.submitted) == 2


def test_after_a_restart_no_entry_goes_out_before_the_brokers_books_are_read() -> None:
    """Killed right after an entry was sent, before the state was saved: the restarted
    agent must not enter again before it has seen what the broker holds."""
    broker = ManualBroker()
    r = _run(broker)
    r.engine.broker_synced = False  # as the composition root sets it for a live broker
    f = Feed()
    r.feed(f.candle(at(9, 15), "100", "105", "95", "100", 100),
           f.candle(at(9, 20), "100", "112", "100", "109", 300),
           f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    assert broker.submitted == []  # the trigger is crossed, but the books are not read
    r.engine.handle(_snap([], t=at(9, 25, 11), complete=False))
    r.feed(f.tick(at(9, 25, 12), "112.70"))
    assert broker.submitted == []  # an incomplete read proves nothing
    r.engine.handle(_snap([], t=at(9, 25, 13)))
    r.feed(f.tick(at(9, 25, 14), "112.75"))
    assert [o.purpose for o in broker.submitted] == [OrderPurpose.ENTRY]


def test_an_adopted_position_whose_stop_is_refused_as_crossed_exits_at_once() -> None:
    """After a restart the strategy may not know a position (adopted); if Kite refuses its
    stop because the price has passed the trigger, nobody else would close it."""
    broker = ManualBroker()
    r = _run(broker)
    r.feed(Feed().tick(at(9, 30), "112.00"))
    stray = Order(tag="E24011501234500001", instrument_token=1, symbol="NSE:AAA",
                  side=Side.BUY, quantity=50, order_type=OrderType.MARKET,
                  purpose=OrderPurpose.ENTRY, reason="signal", created_at=at(9, 29))
    r.engine.reconciler.apply(_snap([_row(stray, OrderStatus.COMPLETE, 50, "112.00")]))
    stop = broker.submitted[-1]
    r.engine.handle(OrderUpdate(stop.tag, OrderStatus.REJECTED, 0, None, at(9, 30, 1), None,
                                "Trigger price for stoploss sell orders should be lower than "
                                "the last traded price."))
    exit_ = broker.submitted[-1]
    assert (exit_.purpose, exit_.side, exit_.quantity, exit_.reason) == (
        OrderPurpose.EXIT, Side.SELL, 50, "stop")


def test_a_restarts_first_snapshot_books_every_fill_before_anything_is_sent() -> None:
    """The dead process had cancelled the stop and sent the exit (not saved); the first
    snapshot shows both. The exit's fill must be booked before the missing stop makes the
    restarted agent send another exit: one exit, never two."""
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    broker.cancel = lambda order: broker.cancelled.append(order)  # type: ignore[method-assign]
    r.engine.exec.close(r.rt(), ExitReason.MANUAL, at(9, 30))
    assert broker.cancelled == [stop]  # the cancel asked, not yet answered: then the crash
    r2 = _restart(r, broker)
    broker.submitted.clear()
    sent_exit = Order(tag="X24011501234500009", instrument_token=1, symbol="NSE:AAA",
                      side=Side.SELL, quantity=50, order_type=OrderType.MARKET,
                      purpose=OrderPurpose.EXIT, reason="manual", created_at=at(9, 30, 1))
    r2.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                            _row(stop, OrderStatus.CANCELLED),
                            _row(sent_exit, OrderStatus.COMPLETE, 50, "111.00")]))
    assert r2.quantity() == 0 and broker.submitted == []
    assert r2.engine.trades[-1].exit_price == d("111")


def test_a_reverse_the_dead_process_already_sent_is_not_sent_again() -> None:
    """The stop filled and its reverse went out just before the crash (neither saved): the
    first snapshot shows both; the stop's fill makes the strategy reverse again, but the
    reverse already held must not be doubled."""
    broker = ManualBroker()
    r, _f, entry, stop = _entered(broker)
    r2 = _restart(r, broker)
    r2.rt().last_price = d("99.45")  # the market where the dead process left it
    broker.submitted.clear()
    reverse = Order(tag="E24011501234500011", instrument_token=1, symbol="NSE:AAA",
                    side=Side.SELL, quantity=50, order_type=OrderType.MARKET,
                    purpose=OrderPurpose.ENTRY, reason="reverse", created_at=at(9, 30, 1))
    r2.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                            _row(stop, OrderStatus.COMPLETE, 50, "99.50"),
                            _row(reverse, OrderStatus.COMPLETE, 50, "99.45")]))
    assert r2.quantity() == -50
    assert [o.purpose for o in broker.submitted] == [OrderPurpose.STOP]  # guarded, no entry
