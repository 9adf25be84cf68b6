"""The owner's hand wins (issue 12, promise 6): the owner closes or reduces the position in
the Kite app, or the broker squares it off itself. The agent notices it within seconds
(its periodic read of the broker's book: ``BrokerSnapshot``), books it, cancels the stop
left orphaned, tells the owner, never sells what it no longer holds, and does not enter
an instrument closed by hand again until ``/resume SYMBOL`` or the next trading day. A
``/squareoff SYMBOL`` is the owner's hand too.

The worked long (50 AAA at 112.65, stop 99.50, buy alert c1 with trigger 112.60) with
exchange stops, against a broker the test answers (``tests/lifecycle/helpers.py``).
"""

from __future__ import annotations

from agent.events import Job, ResumeEntries, RunJob, SquareOff
from agent.models import OrderType, Side
from tests.helpers import DAY2, Feed, at, d, worked_long
from tests.lifecycle.helpers import Live, covered, exits_of, settings, stops_of

SYMBOL = "NSE:AAA"


def _long(live: Live, f: Feed):
    live.feed(worked_long(f))
    entry = live.desk.last()
    live.fill(entry, "112.65")
    (stop,) = stops_of(live.desk.submitted)
    return entry, stop


def _closed_in_the_kite_app(live: Live, quantity: int = 50, price: str = "115"):
    """The owner sells in the Kite app at 10:00; the agent's next read of the book shows it,
    and a few seconds pass."""
    live.exchange.place_foreign(1, Side.SELL, quantity, price, at(10, 0))
    live.broker_read(at(10, 0, 3))
    live.wait(at(10, 0, 10))


def _resume(symbol: str) -> ResumeEntries:
    """``/resume SYMBOL`` (docs: entries again for an instrument closed by hand)."""
    return ResumeEntries(symbol=symbol)  # type: ignore[call-arg]


def _next_day(live: Live, f: Feed) -> int:
    live.handle(RunJob(Job.SESSION_START, at=at(9, 14, day=DAY2)), at(9, 14, day=DAY2))
    f.new_day()
    mark = len(live.desk.submitted)
    live.feed(worked_long(f, DAY2))
    return mark


def test_the_owner_closing_in_the_kite_app_is_booked_and_square_off_sends_nothing() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    told = len(live.notes)
    _closed_in_the_kite_app(live)
    assert stop.tag in live.desk.cancels, "the orphaned stop was not cancelled"
    assert live.exchange.working(stops=True) == []
    assert live.quantity() == 0
    assert live.realized() == d("117.50")  # (115 - 112.65) x 50, at the owner's price
    assert any(SYMBOL in n.text or n.symbol == SYMBOL for n in live.notes[told:]), \
        "the owner was not told"
    mark = len(live.desk.submitted)
    live.handle(RunJob(Job.SQUARE_OFF, at=at(15, 15)), at(15, 15))
    live.wait(at(15, 15, 10))
    assert live.desk.since(mark) == [], "square-off sold a position the broker no longer has"
    assert live.exchange.position() == 0


def test_the_owner_reducing_the_position_shrinks_the_stop_and_the_exit() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _long(live, f)
    _closed_in_the_kite_app(live, quantity=20)
    assert live.quantity() == 30
    assert live.realized() == d("47.00")  # (115 - 112.65) x 20
    assert covered(live) == 30, "the stop does not match the 30 still held"
    mark = len(live.desk.submitted)
    live.handle(RunJob(Job.SQUARE_OFF, at=at(15, 15)), at(15, 15))
    (out,) = exits_of(live.desk.since(mark))
    assert (out.side, out.quantity) == (Side.SELL, 30)
    live.fill(out, "114", at(15, 15, 1))
    assert live.quantity() == 0 and live.exchange.position() == 0


def test_the_brokers_own_square_off_is_booked_and_nothing_more_is_sold() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _long(live, f)
    live.desk.refuse = lambda o: ("RMS:Blocked for MIS product type" if o.side is Side.SELL
                                  and o.order_type not in (OrderType.SL, OrderType.SL_M)
                                  else None)
    live.handle(RunJob(Job.SQUARE_OFF, at=at(15, 15)), at(15, 15))  # our close: refused
    live.wait(at(15, 20))
    live.exchange.broker_square_off(1, "110", at(15, 20))  # Kite closes it itself
    live.broker_read(at(15, 20, 2))
    mark = len(live.desk.submitted)
    live.wait(at(15, 21))
    assert live.desk.since(mark) == [], "orders after the broker had closed the position"
    assert live.quantity() == 0
    assert live.realized() == d("-132.50")  # (110 - 112.65) x 50, at the broker's price


def test_an_instrument_closed_by_hand_is_not_entered_again_until_resume_symbol() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _long(live, f)
    _closed_in_the_kite_app(live)
    assert live.quantity() == 0
    mark = len(live.desk.submitted)
    live.feed(f.tick(at(10, 1), "115.10"), f.tick(at(10, 1, 5), "115.15"))  # beyond 112.60
    assert live.desk.since(mark) == [], "entered again an instrument the owner closed"
    assert live.handle(_resume(SYMBOL), at(10, 2)).ok
    live.feed(f.tick(at(10, 2, 5), "115.20"))
    assert [(p.side, p.quantity) for p in live.desk.since(mark)] == [(Side.BUY, 50)]


def test_an_instrument_closed_by_hand_trades_again_the_next_day() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _long(live, f)
    _closed_in_the_kite_app(live)
    assert live.quantity() == 0
    mark = len(live.desk.submitted)
    live.feed(f.tick(at(10, 1), "115.10"))
    assert live.desk.since(mark) == [], "entered again an instrument the owner closed"
    mark = _next_day(live, f)
    assert [(p.side, p.quantity) for p in live.desk.since(mark)] == [(Side.BUY, 50)]


def _squared_off(live: Live, f: Feed) -> None:
    _long(live, f)
    assert live.handle(SquareOff(SYMBOL), at(9, 26)).ok
    (out,) = exits_of(live.desk.submitted)
    live.fill(out, "112.70", at(9, 26, 1))
    assert live.quantity() == 0


def test_after_squareoff_symbol_the_armed_alert_waits_for_resume_symbol() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _squared_off(live, f)
    mark = len(live.desk.submitted)
    live.feed(f.tick(at(9, 26, 5), "112.80"), f.tick(at(9, 26, 6), "112.85"))
    assert live.desk.since(mark) == [], "the squared-off instrument entered again"
    assert live.handle(_resume(SYMBOL), at(9, 27)).ok
    live.feed(f.tick(at(9, 27, 5), "112.90"))
    assert [(p.side, p.quantity) for p in live.desk.since(mark)] == [(Side.BUY, 50)]


def test_after_squareoff_symbol_the_instrument_trades_again_the_next_day() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _squared_off(live, f)
    mark = len(live.desk.submitted)
    live.feed(f.tick(at(9, 26, 5), "112.80"))
    assert live.desk.since(mark) == [], "the squared-off instrument entered again"
    mark = _next_day(live, f)
    assert [(p.side, p.quantity) for p in live.desk.since(mark)] == [(Side.BUY, 50)]
