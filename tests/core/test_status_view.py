"""What /status is built from (agent/status_view.py), on a real engine: an open position
with its stop, target and rupees at risk, an armed alert with its trigger and band, a
trailed stop that locks a profit, F&O lots, halts, and the phases of the day."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from agent.calendar import TradingCalendar
from agent.events import PauseEntries, Query, QueryKind
from agent.models import Side
from agent.settings import Holiday, ScheduleConfig
from agent.status_view import Phase, StatusView, day_phase
from tests.helpers import (
    AAA,
    BBB,
    DAY,
    Feed,
    ManualBroker,
    Sym,
    at,
    by_time,
    d,
    filled,
    run,
    sell_candles,
    worked_candles,
    worked_long,
)


def _view(r) -> StatusView:
    reply = r.engine.handle(Query(QueryKind.STATUS))
    assert reply.ok
    return reply.data["view"]


def test_an_open_long_and_an_armed_sell_alert() -> None:
    r = run((AAA, BBB), target_multiple=d(2))
    fa, fb = Feed(1), Feed(2)
    r.feed(by_time(worked_long(fa), sell_candles(fb)))
    r.feed(fb.tick(at(9, 25, 20), "90.10"), fa.tick(at(9, 25, 30), "113.40"))
    view = _view(r)

    h = view.header
    assert (h.state, h.mode, h.feed, h.now) == ("running", "paper", "kite", at(9, 25, 30))
    assert h.phase.phase is Phase.ENTRIES and h.phase.cutoff == at(15, 0)
    assert h.unrealized == (d("113.40") - d("112.65")) * 50
    assert h.gross == h.realized + h.unrealized and h.realized == 0
    # less the open long's estimated round trip (the 2024 table, both sides at 112.65):
    # brokerage 1.69 x 2, STT 1.41 -> 1, exchange 0.33, SEBI 0.01, stamp 0.17, GST 0.67
    assert h.net == h.gross - d("5.56")
    assert (h.trades, h.positions) == (0, 1)

    aaa, bbb = view.instruments
    pos = aaa.position
    assert pos is not None
    assert (pos.side, pos.quantity, pos.entry, pos.stop) == (Side.BUY, 50, d("112.65"),
                                                             d("99.50"))
    assert pos.target == d("112.65") + 2 * (d(112) - d(100))  # entry + m x range(c1)
    assert aaa.last == d("113.40") and pos.unrealized == d("37.50")
    assert aaa.stop_gap == d("99.50") - d("113.40")
    assert aaa.stop_gap_percent == (d("99.50") - d("113.40")) * 100 / d("113.40")
    assert aaa.at_risk == (d("113.40") - d("99.50")) * 50
    assert aaa.locked is None and aaa.lots is None and not aaa.derivative
    assert aaa.alerts[0].side is Side.BUY  # its own alert stays (sticky)

    assert bbb.position is None and bbb.last == d("90.10")
    (alert,) = bbb.alerts
    assert (alert.side, alert.trigger, alert.lower, alert.upper) == (
        Side.SELL, d("87.55"), d("87.55"), d("100.50"))  # docs/strategy.md: sell_candles
    assert alert.since == at(9, 20)
    assert bbb.alert_gap(alert) == d("87.55") - d("90.10")
    assert not bbb.halted and not bbb.working


def test_a_trailed_stop_past_the_entry_locks_a_profit() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    r.feed(f.candle(at(9, 30), 118, 119, 117, 118))
    r.feed(f.tick(at(9, 35), "118.50"))  # completes 09:30: stop = down(117 x 0.995)
    (row,) = _view(r).instruments
    assert row.position is not None and row.position.stop == d("116.40")
    assert row.locked == (d("116.40") - d("112.65")) * 50
    assert row.at_risk == (d("118.50") - d("116.40")) * 50


def test_fno_positions_count_lots() -> None:
    fut = Sym("NFO:NIFTY26DECFUT", 7, lot=75, overrides={"lots": 2})
    r = run((fut,))
    r.feed(worked_long(Feed(7)))
    (row,) = _view(r).instruments
    assert row.derivative and row.lot_size == 75
    assert row.position is not None and row.position.quantity == 150 and row.lots == 2


def test_waiting_for_data_halts_and_pause() -> None:
    r = run((AAA, BBB), loss_limit=d(100))
    fa = Feed(1)
    r.feed(worked_long(fa), fa.tick(at(9, 26), "110.00"))  # -132.50: the loss limit trips
    view = _view(r)
    aaa, bbb = view.instruments
    assert aaa.halted == "its loss limit reached"
    assert aaa.position is None and aaa.realized == (d("110.00") - d("112.65")) * 50
    assert view.header.trades == 1 and view.header.realized == aaa.realized
    assert bbb.last is None and bbb.position is None  # no tick yet: waiting for data
    r.engine.handle(PauseEntries())
    assert _view(r).header.state == "paused"


def test_entries_used_up_is_a_reason_too() -> None:
    r = run(max_trades_per_day=1, reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 26), "99.50"))  # stopped out: 1 of 1 used
    (row,) = _view(r).instruments
    assert row.position is None and row.halted == "1 of 1 trades used"
    assert row.alerts  # the alert is still there (only no entry may use it)


def test_find_by_symbol_or_tradingsymbol() -> None:
    r = run((AAA, BBB))
    r.feed(worked_candles(Feed(1)))
    view = _view(r)
    assert view.find("nse:aaa") is view.instruments[0]
    assert view.find("bbb") is view.instruments[1]
    assert view.find("CCC") is None


def test_the_phases_of_a_day() -> None:
    holiday = Holiday(date(2024, 1, 26), "Republic Day", ())
    calendar = TradingCalendar(ScheduleConfig(holidays=(holiday,)))
    assert DAY.weekday() == 0  # a Monday
    assert day_phase(calendar, at(9, 0)).phase is Phase.PRE_OPEN
    assert day_phase(calendar, at(9, 0)).opens == at(9, 15)
    assert day_phase(calendar, at(9, 15)).phase is Phase.ENTRIES
    assert day_phase(calendar, at(14, 59, 59)).phase is Phase.ENTRIES
    assert day_phase(calendar, at(15, 0)).phase is Phase.CUTOFF
    assert day_phase(calendar, at(15, 15)).phase is Phase.SQUARED_OFF
    after = day_phase(calendar, at(15, 30))
    assert after.phase is Phase.AFTER_CLOSE and after.next_day == date(2024, 1, 16)
    saturday = day_phase(calendar, at(10, 0, day=date(2024, 1, 20)))
    assert saturday.phase is Phase.CLOSED and saturday.why_closed == "weekend (Saturday)"
    assert saturday.next_day == date(2024, 1, 22)
    closed = day_phase(calendar, at(10, 0, day=holiday.day))
    assert closed.why_closed == "Republic Day" and closed.next_day == date(2024, 1, 29)


def test_the_engine_reports_its_phase_from_its_own_clock() -> None:
    settings_jobs = {"entry_cutoff": time(14, 30), "square_off": time(14, 45)}
    r = run(jobs=settings_jobs)
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(14, 40), "101"))
    h = _view(r).header
    assert h.phase.phase is Phase.CUTOFF and h.phase.square_off == at(14, 45)
    assert Decimal(0) == h.gross


def test_an_entry_at_work_and_a_stop_exit_in_flight() -> None:
    r = run(reverse_on_stop=False)
    broker = ManualBroker()
    r.engine.attach_broker(broker)
    f = Feed()
    r.feed(worked_long(f))
    (row,) = _view(r).instruments
    assert row.working == "entry order working"
    assert row.position is not None and row.position.quantity == 50
    assert row.position.unrealized == 0  # nothing filled yet
    r.engine.handle(filled(broker.submitted[0], "112.65", at(9, 25, 11)))
    r.feed(f.tick(at(9, 25, 20), "99.50"))  # the stop: the exit goes out, nothing fills
    (row,) = _view(r).instruments
    assert row.working == "exiting (stop)"
    pos = row.position
    assert pos is not None and (pos.side, pos.quantity) == (Side.BUY, 50)  # still held
    assert pos.stop is None  # the strategy is flat; synthetic stops: no stop order sent
