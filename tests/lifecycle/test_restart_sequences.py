"""Crash-only restarts (issue 12, promises 1, 2, 3 and 8): whatever happened at the broker
while the agent was down, and whenever the last state was saved, the restarted agent books
every fill under our tags, never reuses a tag, protects every position, and carries on
with the orders it had in flight.

The worked long (50 AAA at 112.65, stop 99.50, buy alert c1 with trigger 112.60) with
exchange stops; a restart is ``Live.restart``: the saved state (a JSON round trip) into a
new engine, a new broker adapter, the broker's book read at start-up.
"""

from __future__ import annotations

from agent.events import BrokerSnapshot, Job, RunJob, SquareOff
from agent.models import OrderStatus, Side
from tests.helpers import AAA, Feed, at, d, worked_candles, worked_long
from tests.lifecycle.helpers import (
    Live,
    exits_of,
    protected,
    settings,
    stops_of,
    working_exit,
)


def _long(live: Live, f: Feed) -> tuple:
    """The worked long, filled, with its exchange stop working."""
    live.feed(worked_long(f))
    entry = live.desk.last()
    live.fill(entry, "112.65")
    (stop,) = stops_of(live.desk.submitted)
    return entry, stop


def test_a_stop_filled_while_down_is_booked_and_the_next_position_is_protected() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    saved = live.save()
    live.exchange.fill(stop, "99.50", at(9, 30))  # the agent is down: nobody hears it

    again = live.restart(saved, at(9, 40))
    assert again.quantity() == 0
    assert again.realized() == d("-657.50")  # (99.50 - 112.65) x 50, booked once
    assert [(t.exit_tag, t.exit_price) for t in again.engine.trades] == [(stop.tag, d("99.50"))]

    mark = len(again.desk.submitted)
    again.feed(f.tick(at(9, 40, 5), "112.70"))  # beyond the buy alert: a new long
    (entry,) = again.desk.since(mark)
    assert (entry.side, entry.quantity) == (Side.BUY, 50)
    again.fill(entry, "112.70")
    assert protected(again), "the new position has no stop at the broker"
    (new_stop,) = stops_of(again.desk.since(mark))
    assert new_stop.trigger == d("99.50") and new_stop.tag != stop.tag

    assert again.handle(SquareOff("NSE:AAA"), at(9, 41)).ok  # its exit does not hang
    (out,) = exits_of(again.desk.since(mark))
    again.fill(out, "112.80", at(9, 41, 1))
    assert again.quantity() == 0 and again.exchange.position() == 0
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_an_entry_saved_in_flight_and_filled_while_down_gets_its_stop() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    entry = live.desk.last()
    saved = live.save()  # the entry is in flight
    live.exchange.fill(entry, "112.65", at(9, 25, 12))  # filled while the agent is down
    before = live.exchange.tags()

    again = live.restart(saved, at(9, 26))
    assert again.quantity() == 50
    assert protected(again), "the position has no stop at the broker"
    (stop,) = stops_of(again.desk.submitted)
    assert (stop.quantity, stop.trigger) == (50, d("99.50"))
    mark = len(again.desk.submitted)
    again.feed(f.tick(at(9, 26, 5), "112.70"), f.tick(at(9, 26, 6), "112.75"))
    assert [p for p in again.desk.since(mark) if p.side is Side.BUY] == []  # not doubled
    assert again.quantity() == 50
    assert not {p.tag for p in again.desk.submitted} & before  # no tag used twice
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_an_entry_sent_after_the_last_save_is_known_and_its_tag_never_reused() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_candles(f), f.tick(at(9, 25), "112.60"))  # buy alert c1
    saved = live.save()  # the last save before the crash
    live.feed(f.tick(at(9, 25, 10), "112.65"))  # the entry goes out ...
    entry = live.desk.last()
    live.exchange.fill(entry, "112.65", at(9, 25, 11))  # ... and fills; then the crash
    before = live.exchange.tags()

    again = live.restart(saved, at(9, 26))
    again.feed(f.tick(at(9, 26, 5), "112.70"), f.tick(at(9, 26, 6), "112.75"))
    reused = {p.tag for p in again.desk.submitted} & before
    assert not reused, f"tags sent again: {sorted(reused)}"
    assert [p for p in again.desk.submitted if p.side is Side.BUY] == []  # not doubled
    assert again.quantity() == 50 and again.exchange.position() == 50
    assert protected(again), "the position has no stop at the broker"
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_an_exit_filled_while_down_does_not_hold_back_the_days_entries() -> None:
    live = Live(settings(reverse_on_stop=False, target_multiple=d(1)))  # target 124.65
    f = Feed()
    _long(live, f)
    live.feed(f.tick(at(9, 27), "124.65"))  # the target: the stop is cancelled, then the exit
    (out,) = exits_of(live.desk.submitted)
    saved = live.save()  # the exit is in flight
    live.exchange.fill(out, "124.65", at(9, 27, 1))  # filled while the agent is down

    again = live.restart(saved, at(9, 31))
    mark = len(again.desk.submitted)
    # a candle completed after the exit makes a new buy alert (09:35, trigger 126.65) ...
    again.feed(f.candle(at(9, 35), "125", "126", "124.80", "125.90", 200),
               f.tick(at(9, 40), "125.90"))
    again.feed(f.tick(at(9, 40, 10), "126.70"))  # ... and a tick beyond it enters
    assert [(p.side, p.quantity) for p in again.desk.since(mark)] == [(Side.BUY, 50)]
    assert again.realized() == d("600.00")  # (124.65 - 112.65) x 50: the exit is booked
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_paper_restart_keeps_the_resting_stop_and_it_closes_the_position() -> None:
    live = Live(settings(reverse_on_stop=False), paper=True)
    f = Feed()
    live.feed(worked_long(f))  # paper: filled at 112.65, the SL order rests on paper
    assert live.quantity() == 50
    saved = live.save()

    again = live.restart(saved, at(9, 30))
    again.feed(f.tick(at(9, 30, 5), "99.40"))
    again.wait(at(9, 30, 15), lambda t: f.tick(t, "99.40"))
    assert again.quantity() == 0
    assert [t.exit_reason for t in again.engine.trades] == ["stop"]
    assert again.realized() == d("-662.50")  # the SL filled at 99.40: (99.40 - 112.65) x 50
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_restart_inside_the_stop_wait_keeps_the_market_fallback() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    live.feed(f.tick(at(9, 26), "98.00"))  # through the stop and its limit 99.00
    live.tell(live.exchange.trigger(stop, at(9, 26)))  # triggered, unfilled
    assert live.desk.cancels == [] and len(live.desk.submitted) == 2  # the SL is the exit
    saved = live.save()

    again = live.restart(saved, at(9, 26, 1))
    again.wait(at(9, 26, 8), lambda t: f.tick(t, "97.90"))
    assert again.desk.cancels[:1] == [stop.tag], "the stop that did not fill was not cancelled"
    assert stop.status is OrderStatus.CANCELLED
    out = working_exit(again)
    assert (out.side, out.quantity) == (Side.SELL, 50)
    again.fill(out, "97.90")
    assert again.quantity() == 0 and again.exchange.position() == 0
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_stop_adopted_at_start_up_falls_back_to_market_like_any_other() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    entry = live.desk.last()
    saved = live.save()  # the entry in flight; then it fills and the stop goes out
    live.fill(entry, "112.65", at(9, 25, 11))
    (stop,) = stops_of(live.desk.submitted)  # never saved: the crash came first

    again = live.restart(saved, at(9, 30))  # the stop is found open at the broker
    again.feed(f.tick(at(9, 30), "98.00"))  # through the stop and its limit
    again.tell(again.exchange.trigger(stop, at(9, 30)))
    again.wait(at(9, 30, 8), lambda t: f.tick(t, "97.90"))
    assert again.desk.cancels[:1] == [stop.tag]
    assert stop.status is OrderStatus.CANCELLED
    out = working_exit(again)
    assert (out.side, out.quantity) == (Side.SELL, 50)
    again.fill(out, "97.90")
    assert again.quantity() == 0 and again.exchange.position() == 0
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_stop_filling_between_the_two_start_up_reads_is_counted_once() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    saved = live.save()
    orders_read = live.exchange.snapshot(at(9, 30)).orders  # the order book: stop open
    live.exchange.fill(stop, "99.50", at(9, 30))  # the stop fills between the two reads
    read = live.exchange.snapshot(at(9, 30))  # the positions: flat
    startup = BrokerSnapshot(read.time, orders_read, read.positions)

    again = live.restart(saved, at(9, 30), startup=startup)
    again.tell(stop)  # the stop's fill reaches the agent (order message, next poll)
    again.broker_read(at(9, 30, 3))
    again.wait(at(9, 30, 15), lambda t: f.tick(t, "99.60"))
    assert again.quantity() == 0
    assert again.realized() == d("-657.50")
    again.handle(RunJob(Job.SQUARE_OFF, at=at(15, 15)), at(15, 15))
    again.wait(at(15, 15, 10))
    assert again.desk.submitted == [], "orders for a position the broker does not hold"
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_reverse_and_its_stop_placed_after_the_last_save_are_taken_not_doubled() -> None:
    """The chaos run's second exit (seed 2): the state was saved with the long's stop; the
    stop filled, the reverse short and its stop went out; then the crash. The restarted
    agent must take that stop as the short's own, not leave it working unknown while it
    sends an exit of its own (the forgotten stop filled an hour later against a flat
    position)."""
    live = Live(settings())  # BOTH, reverse_on_stop
    f = Feed()
    _, stop = _long(live, f)
    saved = live.save()  # the last save: the long and its stop
    live.feed(f.tick(at(9, 30), "99.50"))  # crossed: the exchange stop is the exit
    live.fill(stop, "99.50", at(9, 30, 1))
    (short,) = exits_of(live.desk.submitted)  # the reverse: SELL 50 at market
    live.fill(short, "99.45", at(9, 30, 2))
    (short_stop,) = stops_of(live.desk.submitted, Side.BUY)  # BUY 50 at 112.60
    assert short_stop.live

    again = live.restart(saved, at(9, 31))  # the crash came before any save
    assert again.quantity() == -50 and again.exchange.position() == -50
    assert again.engine.runtimes[AAA.token].orders.stop == short_stop.tag
    assert again.desk.submitted == [], "nothing to send: the short has its stop"
    again.feed(f.tick(at(9, 32), "100.00"), f.tick(at(9, 33), "101.00"))
    assert again.exchange.working(stops=True) == [short_stop]
    assert again.exchange.working(stops=False) == []
    again.feed(f.tick(at(9, 40), "112.65"))  # the stop's level: its own order is the exit
    again.fill(short_stop, "112.65", at(9, 40, 1))  # closed once; stop-and-reverse follows
    (reverse,) = again.desk.submitted
    assert (reverse.side, reverse.quantity, reverse.is_stop) == (Side.BUY, 50, False)
    again.fill(reverse, "112.70", at(9, 40, 2))
    assert again.quantity() == 50 and again.exchange.position() == 50
    assert protected(again), "the new long has no stop at the broker"
    assert again.exchange.reused() == [], "a tag sent to the broker twice"


def test_a_second_stop_of_ours_at_the_broker_is_cancelled() -> None:
    """One stop per position: a working stop of ours the restarted agent finds beside the
    position's own (one the dead process sent after the last save) is cancelled, never
    left to fill later against a flat position."""
    from dataclasses import replace

    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    saved = live.save()
    own = live.engine.book.get(stop.tag)
    extra = live.exchange.place(replace(own, tag=stop.tag[:-2] + "99"), at(9, 26))

    again = live.restart(saved, at(9, 27))
    assert again.engine.runtimes[AAA.token].orders.stop == stop.tag
    assert again.desk.cancels == [extra.tag]  # answered at once by this desk
    assert again.exchange.working(stops=True) == [stop]
    assert again.quantity() == 50 and protected(again)
