"""Every position is protected (issue 12, promise 3), with stop_mode exchange: a stop for
the actual open quantity from the first fill until flat, or an exit working. A stop the
exchange cancels, or an exit rejected after the stop was cancelled for it, gets a new stop
at once and an alert; a trailing move the broker refused is asked again, so the stop at
the exchange does not lag the strategy's.

The worked long (50 AAA at 112.65, stop 99.50) against a broker the test answers.
"""

from __future__ import annotations

import pytest

from agent.events import AlertKind, Job, OrderUpdate, RunJob
from agent.models import OrderStatus
from agent.settings import RiskConfig
from tests.helpers import Feed, at, d, worked_long
from tests.lifecycle.helpers import Live, covered, exits_of, protected, settings, stops_of


def _long(live: Live, f: Feed):
    live.feed(worked_long(f))
    entry = live.desk.last()
    live.fill(entry, "112.65")
    (stop,) = stops_of(live.desk.submitted)
    return entry, stop


@pytest.mark.parametrize("how", ["target", "daily-limit", "square-off"])
def test_an_exit_rejected_after_the_stop_was_cancelled_gets_a_new_stop(how: str) -> None:
    live = Live(settings(reverse_on_stop=False,
                         target_multiple=d(1) if how == "target" else d(0),
                         risk=RiskConfig(daily_loss_limit=d(300) if how == "daily-limit"
                                         else d(0))))
    f = Feed()
    _, stop = _long(live, f)
    if how == "target":
        live.feed(f.tick(at(9, 27), "124.65"))
    elif how == "daily-limit":
        live.feed(f.tick(at(9, 27), "106"))  # -332.50
    else:
        live.handle(RunJob(Job.SQUARE_OFF, at=at(15, 15)), at(15, 15))
    assert stop.status is OrderStatus.CANCELLED  # cancelled first, for the exit
    (out,) = exits_of(live.desk.submitted)
    mark, told = len(live.desk.submitted), len(live.notes)
    live.reject(out, "RMS:Rule: Check circuit limit including square off order")
    assert live.quantity() == 50
    again = stops_of(live.desk.since(mark))
    assert [(p.quantity, p.trigger) for p in again] == [(50, d("99.50"))], \
        "the position is left without a stop"
    assert AlertKind.STOP_PLACED in [n.kind for n in live.notes[told:]]


def test_a_stop_the_exchange_cancels_is_placed_again_with_an_alert() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    _, stop = _long(live, f)
    mark, told = len(live.desk.submitted), len(live.notes)
    live.tell(live.exchange.cancel(stop, at(9, 30), "Order cancelled by the exchange"))
    again = stops_of(live.desk.since(mark))
    assert [(p.quantity, p.trigger) for p in again] == [(50, d("99.50"))]
    assert protected(live)
    assert len(live.notes) > told and any(n.symbol == "NSE:AAA" for n in live.notes[told:])


def test_a_partly_filled_entry_is_protected_from_its_first_fill() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    entry = live.desk.last()
    live.fill(entry, "112.65", filled=20)  # 20 of 50 so far
    assert live.quantity() == 20
    assert covered(live) == 20, "the first 20 filled have no stop"
    live.fill(entry, "112.70", at(9, 25, 15))  # the other 30
    assert live.quantity() == 50
    assert covered(live) == 50
    assert all(p.trigger == d("99.50") for p in live.exchange.working(stops=True))


def test_a_refused_trailing_modification_is_asked_again() -> None:
    live = Live(settings(reverse_on_stop=False), modifies_apply=False)
    f = Feed()
    _, stop = _long(live, f)
    live.feed(f.tick(at(9, 27), "115"), f.tick(at(9, 29), "114"),
              f.tick(at(9, 30), "116"))  # the 09:25 candle completes: stop -> 112.00
    assert [(tag, m["trigger_price"]) for tag, m in live.desk.modifies] == [
        (stop.tag, d("112.00"))]
    live.handle(OrderUpdate(stop.tag, OrderStatus.TRIGGER_PENDING, 0, None, at(9, 30, 1),
                            broker_order_id=stop.order_id,
                            message="modify refused: Order cannot be modified as it is "
                                    "being processed. Try later."), at(9, 30, 1))
    live.desk.modifies_apply = True  # the broker takes the next attempt
    live.wait(at(9, 30, 12), lambda t: f.tick(t, "116"))
    assert [p.trigger for p in live.exchange.working(stops=True)] == [d("112.00")], \
        "the exchange stop lags the strategy's"
