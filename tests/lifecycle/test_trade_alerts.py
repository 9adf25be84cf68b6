"""What the owner hears of a trade (issue 14): one notification per entry, when its order is
finished, with why, the stop and the rupees at risk; one per exit, when the position is
flat, with its reason, prices, holding time and P&L. An exchange stop's own fill is a stop
hit naming the stop it had when it filled (the trailed one), however it fills.

The worked long (50 AAA, stop 99.50, entered above 112.60) against a broker the test
answers (tests/lifecycle/helpers.py).
"""

from __future__ import annotations

from agent.events import AlertKind, Notification
from agent.models import OrderStatus
from tests.helpers import Feed, at, d, worked_long
from tests.lifecycle.helpers import Live, settings, stops_of

ENTRY = AlertKind.ENTRY_FILLED
EXITS = {AlertKind.STOP_HIT, AlertKind.TARGET_HIT, AlertKind.LIMIT_HIT, AlertKind.REVERSAL,
         AlertKind.SQUARE_OFF, AlertKind.EXIT_FILLED}


def _of(notes: list[Notification], kinds: set[AlertKind]) -> list[Notification]:
    return [n for n in notes if n.kind in kinds]


def _trail(live: Live, f: Feed) -> None:
    """Ticks whose 09:25 candle (low 112.60) trails the stop to 112.00 at 09:30."""
    live.feed(f.tick(at(9, 27), "115"), f.tick(at(9, 29), "114"), f.tick(at(9, 30), "116"))


def test_an_entry_filled_in_parts_is_one_alert_with_why_stop_and_risk() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    entry = live.desk.last()
    live.fill(entry, "112.60", at(9, 25, 11), filled=20)
    live.fill(entry, "112.70", at(9, 25, 12), filled=40)
    assert _of(live.notes, {ENTRY}) == []  # not per partial fill
    live.fill(entry, "112.80", at(9, 25, 13))
    (note,) = _of(live.notes, {ENTRY})
    # average (20 x 112.60 + 20 x 112.70 + 10 x 112.80) / 50 = 112.68
    assert (note.symbol, note.time) == ("NSE:AAA", at(9, 25, 13))
    data = dict(note.data)
    assert {k: data[k] for k in ("side", "quantity", "price", "level", "stop", "risk",
                                 "reason")} == {
        "side": "BUY", "quantity": 50, "price": "112.68", "level": "112.60",
        "stop": "99.50", "risk": "659.00", "reason": "signal"}  # (112.68 - 99.50) x 50
    # The placements are notified as the quiet kinds (off in the chat by default).
    kinds = [n.kind for n in live.notes]
    assert AlertKind.ENTRY_PLACED in kinds and AlertKind.STOP_PLACED in kinds


def test_a_trailed_exchange_stop_filled_in_parts_is_one_trailing_stop_hit_at_its_level(
        ) -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    live.fill(live.desk.last(), "112.65", at(9, 25, 11))
    (stop,) = stops_of(live.desk.submitted)
    _trail(live, f)
    assert stop.trigger == d("112.00")  # the stop at the exchange was moved
    # The exchange fills it before the agent's feed shows the price there.
    live.fill(stop, "112.00", at(9, 41, 30), filled=20)
    assert _of(live.notes, EXITS) == []  # not per partial fill
    live.fill(stop, "111.90", at(9, 41, 31))
    assert stop.status is OrderStatus.COMPLETE and live.quantity() == 0
    (note,) = _of(live.notes, EXITS)
    assert note.kind is AlertKind.STOP_HIT and note.time == at(9, 41, 31)
    data = dict(note.data)
    assert {k: data[k] for k in ("reason", "level", "side", "quantity", "entry", "exit",
                                 "pnl", "held")} == {
        "reason": "trailing_stop", "level": "112.00", "side": "BUY", "quantity": 50,
        "entry": "112.65", "exit": "111.94", "pnl": "-35.50",  # 20 x -0.65 + 30 x -0.75
        "held": 16 * 60 + 20}  # 09:25:11 to 09:41:31


def test_a_stop_the_engine_saw_crossed_is_announced_once_when_its_order_fills() -> None:
    live = Live(settings(reverse_on_stop=False))
    f = Feed()
    live.feed(worked_long(f))
    live.fill(live.desk.last(), "112.65", at(9, 25, 11))
    (stop,) = stops_of(live.desk.submitted)
    live.feed(f.tick(at(9, 26), "99.40"))  # the strategy sees its stop crossed first
    assert _of(live.notes, EXITS) == []
    assert [n.kind for n in live.notes].count(AlertKind.EXIT_PLACED) == 1  # quiet
    live.fill(stop, "99.40", at(9, 26, 1))
    (note,) = _of(live.notes, EXITS)
    assert (note.kind, note.data["reason"], note.data["level"]) == (
        AlertKind.STOP_HIT, "stop", "99.50")
    assert note.data["pnl"] == "-662.50"


def test_a_target_exit_by_market_order_names_the_target_and_its_reason() -> None:
    live = Live(settings(reverse_on_stop=False, target_multiple=d(1)))
    f = Feed()
    live.feed(worked_long(f))
    live.fill(live.desk.last(), "112.65", at(9, 25, 11))
    (stop,) = stops_of(live.desk.submitted)
    live.feed(f.tick(at(9, 27), "124.65"))  # target 112.65 + 12 = 124.65
    live.answer_cancel(stop)  # the stop makes way for the exit
    exit_order = live.desk.last()
    live.fill(exit_order, "124.60", at(9, 27, 2))
    (note,) = _of(live.notes, EXITS)
    assert note.kind is AlertKind.TARGET_HIT
    assert (note.data["reason"], note.data["level"], note.data["exit"]) == (
        "target", "124.65", "124.60")
