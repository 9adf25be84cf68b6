"""max_trades_per_day with orders in flight (a live broker answers later): an entry counts
when the strategy decides it, in flight included; one that is rejected, or dropped before it
is placed, does not count (docs/strategy.md 9.5).

Found in review: a reverse entry waits behind the stop exit in flight; a forced close
(square-off, a limit trip, the owner's /squareoff) dropped it but kept its count, so the
instrument lost a trade it never made (and /status showed it). Single-threaded test code.
"""

from __future__ import annotations

from agent.events import OrderUpdate, ResumeEntries, SetParam, SquareOff
from agent.models import OrderStatus, Side
from agent.settings import RiskConfig
from agent.views import instrument_rows
from tests.helpers import DAY2, Feed, ManualBroker, at, d, filled, run, worked_long


class SlowCancelBroker(ManualBroker):
    """A cancel is only a request: the broker answers later (the test does)."""

    def cancel(self, order):
        self.cancelled.append(order)


def _rows(broker):
    return [(o.side, o.reason) for o in broker.submitted]


def _rejected(order, t):
    return OrderUpdate(order.tag, OrderStatus.REJECTED, 0, None, t, message="RMS: margin")


STOP_AT = at(9, 25, 20)


def _long_then_stop_in_flight(r, broker, f, stop_at=STOP_AT):
    """The worked long filled; then the stop at 99.50: the exit goes out, the reverse
    (short) waits for it. Nothing fills by itself."""
    r.engine.attach_broker(broker)
    r.feed(worked_long(f))
    r.engine.handle(filled(broker.submitted[0], "112.65", at(9, 25, 11)))
    r.feed(f.tick(stop_at, "99.50"))
    assert _rows(broker) == [(Side.BUY, "signal"), (Side.SELL, "stop")]
    rt = r.rt()
    assert rt.orders.exit is not None and rt.orders.next_entry is not None  # the reverse waits
    assert rt.trades_today == 2  # decided: counted while it waits


def test_square_off_drops_the_waiting_reverse_and_its_count() -> None:
    r = run(trailing=False)
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f, stop_at=at(14, 59, 50))
    r.feed(f.tick(at(15, 15), "99.40"))  # square-off while the stop exit is in flight
    rt = r.rt()
    assert rt.squared_off and rt.orders.next_entry is None
    assert rt.trades_today == 1
    assert instrument_rows(r.engine)[0]["trades_today"] == 1  # what /status shows
    assert len(broker.submitted) == 2  # one exit at a time: the stop exit does the job
    r.engine.handle(filled(broker.submitted[1], "99.40", at(15, 15, 1)))
    assert r.quantity() == 0 and r.position() is None
    assert len(broker.submitted) == 2 and rt.trades_today == 1  # no reverse went out


def test_limit_trip_drops_the_waiting_reverse_and_its_count() -> None:
    r = run(risk=RiskConfig(daily_loss_limit=d(1000)))
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.feed(f.tick(at(9, 25, 30), "90"))  # unrealized (90 - 112.65) x 50 = -1132.50
    rt = r.rt()
    assert rt.halted and rt.orders.next_entry is None
    assert rt.trades_today == 1
    r.engine.handle(filled(broker.submitted[1], "90", at(9, 25, 31)))
    assert r.quantity() == 0 and len(broker.submitted) == 2 and rt.trades_today == 1


def test_owner_square_off_drops_the_reverse_and_a_later_entry_is_allowed() -> None:
    # max 2: the long, then its reverse (dropped by /squareoff): one entry is left today.
    r = run(max_trades_per_day=2)
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    assert r.engine.handle(SquareOff("NSE:AAA")).ok
    rt = r.rt()
    assert rt.orders.next_entry is None and rt.trades_today == 1 and not rt.halted
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 21)))
    assert r.quantity() == 0 and len(broker.submitted) == 2
    r.feed(f.tick(at(9, 25, 30), "112.65"))  # closed by the owner: held until /resume
    assert len(broker.submitted) == 2
    assert r.engine.handle(ResumeEntries("NSE:AAA")).ok
    r.feed(f.tick(at(9, 25, 31), "112.65"))  # beyond the buy alert's trigger: enters again
    assert _rows(broker)[2:] == [(Side.BUY, "signal")]
    assert rt.trades_today == 2
    r.engine.handle(filled(broker.submitted[2], "112.65", at(9, 25, 32)))
    r.feed(f.tick(at(9, 25, 40), "99.50"))  # stop: the limit of 2 is used up, no reverse
    assert _rows(broker)[3:] == [(Side.SELL, "stop")]
    assert rt.orders.next_entry is None and rt.trades_today == 2
    r.engine.handle(filled(broker.submitted[3], "99.50", at(9, 25, 41)))
    assert r.quantity() == 0 and len(broker.submitted) == 4


def test_a_reverse_that_is_placed_counts() -> None:
    r = run(max_trades_per_day=2)
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 21)))
    assert _rows(broker)[2:] == [(Side.SELL, "reverse")]  # flat: the reverse goes out
    rt = r.rt()
    assert rt.orders.next_entry is None and rt.trades_today == 2
    r.engine.handle(filled(broker.submitted[2], "99.50", at(9, 25, 22)))
    assert r.quantity() == -50 and rt.trades_today == 2
    r.feed(f.tick(at(9, 25, 30), "112.60"))  # the short's stop: no reverse (2 used)
    assert _rows(broker)[3:] == [(Side.BUY, "stop")]
    assert rt.orders.next_entry is None and rt.trades_today == 2


def test_a_placed_reverse_cancelled_by_a_forced_close_still_counts() -> None:
    # Placed, then withdrawn by the square-off before it filled: it was in flight, so it
    # counts (only a rejected entry, or one dropped before it is placed, does not).
    r = run()
    broker = ManualBroker()  # answers a cancel at once
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 21)))
    reverse = broker.submitted[2]
    assert r.engine.handle(SquareOff("NSE:AAA")).ok
    assert broker.cancelled == [reverse] and reverse.status is OrderStatus.CANCELLED
    rt = r.rt()
    assert r.quantity() == 0 and rt.orders.entry is None and rt.trades_today == 2


def test_a_rejected_reverse_does_not_count() -> None:
    r = run(max_trades_per_day=2)
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 21)))
    r.engine.handle(_rejected(broker.submitted[2], at(9, 25, 22)))
    rt = r.rt()
    assert r.quantity() == 0 and r.position() is None and rt.trades_today == 1
    r.feed(f.tick(at(9, 25, 30), "112.65"))  # the alert stays, but a refusal backs off
    assert len(broker.submitted) == 3 and rt.trades_today == 1
    r.feed(f.tick(at(9, 25, 53), "112.65"))  # 30 s later the next tick enters again
    assert _rows(broker)[3:] == [(Side.BUY, "signal")] and rt.trades_today == 2


def test_an_entry_rejected_while_its_cancel_is_pending_does_not_count() -> None:
    # The stop comes before the entry is answered: its cancel is requested, the reverse
    # waits. The broker then rejects the entry: it never traded, only the reverse counts.
    r = run()
    broker = SlowCancelBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    rt = r.rt()
    assert rt.orders.next_entry is not None and rt.trades_today == 2
    r.engine.handle(_rejected(broker.submitted[0], at(9, 25, 21)))
    assert _rows(broker)[1:] == [(Side.SELL, "reverse")]
    assert rt.trades_today == 1


def test_a_second_reverse_replacing_the_waiting_one_does_not_count_it() -> None:
    # The stop exit is in flight with the short waiting; the short's own stop (112.60) then
    # reverses again: the short, never placed, is replaced by the long and does not count.
    r = run()
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.feed(f.tick(at(9, 25, 30), "112.60"))
    rt = r.rt()
    assert rt.orders.next_entry is not None and rt.orders.next_entry.side is Side.BUY
    assert len(broker.submitted) == 2 and rt.trades_today == 2
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 31)))
    assert _rows(broker)[2:] == [(Side.BUY, "reverse")] and rt.trades_today == 2


def test_an_exit_while_the_entry_is_cancelled_drops_the_waiting_reverse() -> None:
    # The entry is in flight (its cancel requested) with the short waiting; the short's stop
    # then exits (the entry's cancel again) and reverses to a long, which waits instead.
    r = run()
    broker = SlowCancelBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert r.rt().trades_today == 2
    r.feed(f.tick(at(9, 25, 30), "112.60"))
    rt = r.rt()
    assert rt.orders.next_entry is not None and rt.orders.next_entry.side is Side.BUY
    assert rt.trades_today == 2  # the long in flight and the waiting long; not the short
    entry = broker.submitted[0]
    r.engine.handle(filled(entry, "0", at(9, 25, 31), qty=0, status=OrderStatus.CANCELLED))
    assert _rows(broker) == [(Side.BUY, "signal"), (Side.BUY, "reverse")]
    assert rt.trades_today == 2


def test_the_next_day_starts_at_zero_whatever_was_waiting() -> None:
    r = run()
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.engine.start_day(DAY2)
    assert r.rt().trades_today == 0 and r.rt().orders.next_entry is None


def test_a_target_exit_of_the_waiting_reverse_drops_it() -> None:
    # The strategy already holds the short that waits; its target (99.50 - 1 x 12 = 87.50)
    # is hit before the stop exit fills: the short is never placed, nor counted.
    r = run(target_multiple=d(1))
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    r.feed(f.tick(at(9, 25, 30), "87.50"))
    rt = r.rt()
    assert r.position() is None and rt.orders.next_entry is None and rt.trades_today == 1
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 31)))
    assert r.quantity() == 0 and len(broker.submitted) == 2


def test_a_lowered_max_drops_the_waiting_reverse_when_it_would_go_out() -> None:
    # max 1 set while the reverse waits: today's count (the long) is at it, so the reverse
    # is not placed once the exit fills (docs/strategy.md 9.2, 9.5).
    r = run()
    broker = ManualBroker()
    f = Feed()
    _long_then_stop_in_flight(r, broker, f)
    assert r.engine.handle(SetParam("max_trades_per_day", 1, "NSE:AAA")).ok
    r.engine.handle(filled(broker.submitted[1], "99.50", at(9, 25, 21)))
    rt = r.rt()
    assert len(broker.submitted) == 2 and rt.orders.next_entry is None and rt.trades_today == 1
    assert r.position() is None and r.quantity() == 0
