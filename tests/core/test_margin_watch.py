"""The margin alert on the engine (agent/margin_watch.py): one MARGIN_LOW per instrument per
day when the available margin is below what the next entry needs, checked before each
entry and on each refresh (never per tick); the entry itself still goes out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from agent.backtest import make_engine
from agent.events import AlertKind, ClockTick, Notification
from agent.margin_watch import MarginWatch, paper_funds
from agent.margins import Funds, SegmentFunds
from agent.models import Side
from tests.helpers import AAA, BBB, DAY2, Feed, at, make_settings, worked_long


def _engine(*syms, **settings):
    notes: list[Notification] = []
    engine = make_engine(make_settings(syms or (AAA,), **settings),
                         [s.instrument() for s in syms or (AAA,)], notes=notes)
    return engine, notes


def _margin_notes(notes: list[Notification]) -> list[Notification]:
    return [n for n in notes if n.kind is AlertKind.MARGIN_LOW]


def _funds(available: str, at_time: datetime) -> Funds:
    return Funds(at_time, (SegmentFunds("equity", Decimal(available), Decimal(0)),))


def test_paper_entry_short_of_margin_alerts_once_and_still_goes_out() -> None:
    engine, notes = _engine()
    MarginWatch.attach(engine, paper_capital=Decimal(1000))
    for tick in worked_long(Feed(1)):  # long 50 NSE:AAA at 112.65 (MIS: 5x)
        engine.on_tick(tick)
    (alert,) = _margin_notes(notes)
    # 50 x 112.65 / 5 = 1,126.50 needed; the paper account holds 1,000
    assert alert.text == ("NSE:AAA: next entry of 50 needs ₹1,126.50 margin, available "
                          "₹1,000.00")
    assert alert.symbol == "NSE:AAA" and alert.time == at(9, 25, 10)
    assert alert.data == {"needed": "1126.500", "available": "1000"}
    assert engine.pnl.books[1].quantity == 50  # the broker decided: the entry went out
    # another entry the same day: no second alert; the next day: again
    rt = engine.runtimes[1]
    engine.margins.before_entry(rt, Side.BUY, 50, Decimal("112.65"), at(11, 0))
    assert len(_margin_notes(notes)) == 1
    engine.margins.before_entry(rt, Side.BUY, 50, Decimal("112.65"), at(9, 30, day=DAY2))
    assert len(_margin_notes(notes)) == 2


def test_enough_paper_capital_says_nothing() -> None:
    engine, notes = _engine()
    MarginWatch.attach(engine, paper_capital=Decimal(1_000_000))
    for tick in worked_long(Feed(1)):
        engine.on_tick(tick)
    assert engine.pnl.books[1].quantity == 50 and _margin_notes(notes) == []


def test_the_paper_account_follows_the_books() -> None:
    engine, _ = _engine()
    MarginWatch.attach(engine, paper_capital=Decimal(1_000_000))
    for tick in worked_long(Feed(1)):
        engine.on_tick(tick)
    engine.on_tick(Feed(1).tick(at(9, 26), "113.65"))  # +1 x 50 unrealised
    funds = paper_funds(engine, Decimal(1_000_000), at(9, 26))
    equity = funds.segment("equity")
    assert funds.source == "paper" and equity is not None
    blocked = Decimal("113.65") * 50 / 5
    assert equity.used == blocked
    assert equity.available == Decimal(1_000_000) + 50 - blocked
    assert equity.unrealised == 50 and equity.opening == Decimal(1_000_000)


def test_a_live_refresh_alerts_for_each_flat_instrument_that_could_enter() -> None:
    engine, notes = _engine(AAA, BBB)
    MarginWatch.attach(engine)  # live: funds come from the broker's reads
    engine.on_tick(Feed(1).tick(at(9, 16), "1000"))
    engine.on_tick(Feed(2).tick(at(9, 16), "10"))
    engine.handle(_funds("5000", at(9, 16, 30)))
    # AAA: 50 x 1000 / 5 = 10,000 needed; BBB: 50 x 10 / 5 = 100 needed: covered
    (alert,) = _margin_notes(notes)
    assert alert.symbol == "NSE:AAA"
    assert "needs ₹10,000.00 margin, available ₹5,000.00" in alert.text
    engine.handle(_funds("4000", at(9, 17)))  # still short: said once today
    assert len(_margin_notes(notes)) == 1
    engine.paused = True  # an instrument that cannot enter is not looked at
    engine.handle(_funds("10", at(9, 18)))
    assert len(_margin_notes(notes)) == 1


def test_live_before_the_first_read_says_nothing() -> None:
    engine, notes = _engine()
    watch = MarginWatch.attach(engine)
    for tick in worked_long(Feed(1)):
        engine.on_tick(tick)
    assert watch.latest(at(9, 30)) is None and _margin_notes(notes) == []


def test_the_paper_sweep_runs_on_the_timer_not_per_tick() -> None:
    engine, notes = _engine()
    MarginWatch.attach(engine, paper_capital=Decimal(10_000))
    engine.on_tick(Feed(1).tick(at(9, 16), "1000"))  # needs 10,000: covered exactly
    engine.handle(ClockTick(at(9, 16, 5)))
    assert _margin_notes(notes) == []
    engine.on_tick(Feed(1).tick(at(9, 16, 10), "1000.05"))  # a tick: no check
    assert _margin_notes(notes) == []
    engine.handle(ClockTick(at(9, 16, 20)))  # within 30 s of the last sweep: none
    assert _margin_notes(notes) == []
    engine.handle(ClockTick(at(9, 16, 35)))
    (alert,) = _margin_notes(notes)
    assert "needs ₹10,000.50 margin, available ₹10,000.00" in alert.text
