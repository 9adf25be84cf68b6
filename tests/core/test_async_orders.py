"""Orders in flight (a live broker answers later): an exit while the entry is still in
flight never lets a second entry out before the first is resolved. Found in the demo:
stop hit before the entry filled, then the reverse went out at once and the position
flipped back and forth."""

from __future__ import annotations

from agent.models import OrderStatus, Side
from tests.helpers import Feed, ManualBroker, at, filled, run, worked_long


class SlowCancelBroker(ManualBroker):
    """A cancel is only a request: the order may still fill (the exchange decides)."""

    def cancel(self, order):
        self.cancelled.append(order)


def _rows(broker):
    return [(o.side, o.quantity, o.reason) for o in broker.submitted]


def test_stop_before_the_entry_fills_then_the_entry_fills_anyway() -> None:
    r = run()
    broker = SlowCancelBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f))
    entry = broker.submitted[0]
    r.feed(f.tick(at(9, 25, 20), "99.50"))  # the stop, before any fill: exit + reverse
    assert _rows(broker) == [(Side.BUY, 50, "signal")]  # nothing new goes out yet
    assert broker.cancelled == [entry]
    r.engine.handle(filled(entry, "112.65", at(9, 25, 21)))  # the cancel came too late
    assert _rows(broker)[1:] == [(Side.SELL, 50, "stop")]  # close what it filled
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 22)))
    assert r.quantity() == 0
    assert _rows(broker)[2:] == [(Side.SELL, 50, "reverse")]  # now, flat, the reverse
    r.engine.handle(filled(broker.submitted[2], "99.50", at(9, 25, 23)))
    assert r.quantity() == -50 and len(broker.submitted) == 3
    assert r.position().side is Side.SELL
    assert [t.exit_reason for t in r.trades] == ["stop"]


def test_stop_before_the_entry_fills_and_the_cancel_lands() -> None:
    r = run()
    broker = SlowCancelBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f))
    entry = broker.submitted[0]
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    r.engine.handle(filled(entry, "0", at(9, 25, 21), qty=0, status=OrderStatus.CANCELLED))
    assert _rows(broker)[1:] == [(Side.SELL, 50, "reverse")]
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 22)))
    assert r.quantity() == -50 and len(broker.submitted) == 2


def test_a_partial_fill_then_more_before_the_cancel_lands_is_all_closed() -> None:
    r = run(reverse_on_stop=False)
    broker = SlowCancelBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f))
    entry = broker.submitted[0]
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    r.engine.handle(filled(entry, "112.65", at(9, 25, 21), qty=20, status=OrderStatus.OPEN))
    first_exit = broker.submitted[1]
    assert (first_exit.side, first_exit.quantity) == (Side.SELL, 20)
    r.engine.handle(filled(entry, "112.65", at(9, 25, 22), qty=50))  # 30 more, then final
    assert len(broker.submitted) == 2  # one exit at a time
    r.engine.handle(filled(first_exit, "99.50", at(9, 25, 23)))
    second = broker.submitted[2]
    assert (second.side, second.quantity, second.reason) == (Side.SELL, 30, "stop")
    r.engine.handle(filled(second, "99.45", at(9, 25, 24)))
    assert r.quantity() == 0 and len(broker.submitted) == 3
