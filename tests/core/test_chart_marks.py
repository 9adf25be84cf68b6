"""Issue 15, the data behind the candle chart: the strategy's marks (an alert candle's band
set and cleared, the stop at the entry and at each move, the target) made by the engine,
appended beside the candles through the storage writer (one line per change) and read
back for the day report; a backtest keeps the day's in memory."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from agent.backtest import run_backtest, write_charts
from agent.fields import FieldError
from agent.marks import Mark, MarkKind, mark_from_dict, mark_to_dict
from agent.models import Instrument, Side
from agent.money import money
from agent.reports import report_from_views
from agent.serialize import trade_to_dict
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks, synthetic_instruments, write_csv
from storage.hookup import EnginePersistence
from tests.helpers import DAY, Feed, Run, at, d, run

PNG = b"\x89PNG\r\n\x1a\n"


def _worked_day(persistence: EnginePersistence | None = None) -> tuple[list[Mark], Run]:
    """docs/strategy.md's worked example with a 2x target: the long at 112.65 (stop 99.50,
    target 136.65), its stop trailed to 112.00 by the 09:25 candle, hit at 111.95 and
    reversed into a short (stop 112.60, target 87.95). The marks are collected, and
    written by ``persistence`` when given (as the live agent does)."""
    r = run(target_multiple=d(2))
    marks: list[Mark] = []

    def on_mark(ins: Instrument, mark: Mark) -> None:
        marks.append(mark)
        if persistence is not None:
            persistence.mark(ins, mark)

    r.engine.on_mark = on_mark
    if persistence is not None:
        r.engine.on_candle = persistence.candle
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100),
           f.candle(at(9, 20), 101, 112, 100, 109, 300),
           f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"),
           f.tick(at(9, 27), "115"), f.tick(at(9, 30), "115"), f.tick(at(9, 30, 10), "111.95"))
    return marks, r


def test_the_engine_marks_each_change_for_the_chart() -> None:
    marks, r = _worked_day()
    assert marks == [
        Mark(MarkKind.ALERT, at(9, 25), Side.BUY, None, d("112.60"), d("99.50"), at(9, 20)),
        Mark(MarkKind.STOP, at(9, 25, 10), Side.BUY, d("99.50")),
        Mark(MarkKind.TARGET, at(9, 25, 10), Side.BUY, d("136.65")),
        Mark(MarkKind.STOP, at(9, 30), Side.BUY, d("112.00")),  # trailed (4.3)
        Mark(MarkKind.STOP, at(9, 30, 10), Side.SELL, d("112.60")),  # the reverse's
        Mark(MarkKind.TARGET, at(9, 30, 10), Side.SELL, d("87.95"))]
    (long,) = r.trades
    assert (long.entry_time, long.exit_time, long.exit_reason) == (
        at(9, 25, 10), at(9, 30, 10), "trailing_stop")
    # a tick that changes nothing marks nothing: one mark per change, never per tick
    r.feed(Feed().tick(at(9, 31), "111.90"))
    assert len(marks) == 6


def test_a_mark_reads_back_as_written_and_a_bad_one_names_its_field() -> None:
    marks, _ = _worked_day()
    for mark in marks:
        assert mark_from_dict(json.loads(json.dumps(mark_to_dict(mark)))) == mark
    assert mark_to_dict(marks[1]) == {"kind": "stop", "time": "2024-01-15T09:25:10+05:30",
                                      "side": "BUY", "level": "99.50"}
    with pytest.raises(FieldError,
                       match=r"^marks\.level: expected a finite number > 0, got .NaN.$"):
        mark_from_dict({"kind": "stop", "time": "2024-01-15T09:25:10+05:30", "side": "BUY",
                        "level": "NaN"}, "marks")
    with pytest.raises(FieldError, match=r"^kind: expected one of alert, cleared, stop, "):
        mark_from_dict({"kind": "moved", "time": "2024-01-15T09:25:10+05:30", "side": "BUY"})
    with pytest.raises(FieldError, match=r"^time: missing"):
        mark_from_dict({"kind": "stop", "side": "BUY"})


def test_live_marks_go_beside_the_candles_and_the_day_report_reads_them(tmp_path: Path
                                                                         ) -> None:
    errors: list[str] = []
    persistence = EnginePersistence(tmp_path, errors.append)
    _, r = _worked_day(persistence)
    assert persistence.writer.flush(5)
    assert persistence.writer.stats().mark_appends == 6
    log = persistence.candles
    path = log.marks_path(DAY, 1)
    assert path == tmp_path / "candles" / "2024-01-15" / "1_marks.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["kind"] == "alert"
    assert log.series(DAY) == [(1, 5)]  # the marks file is not taken for candles
    path.write_text(path.read_text() + '{"kind": "stop", "side": "BUY"}\n')  # a bad line
    rows = [{"symbol": "NSE:AAA", "token": 1, "settings": {"interval": 5}}]
    trades = [trade_to_dict(t) for t in r.trades]
    report = report_from_views(DAY, trades, rows, log.read, log.read_marks)
    assert "skipped (bad data):\n  - NSE:AAA chart marks line 7: time: missing" in report.text
    assert str(tmp_path) not in report.text
    chart = report.charts[1]
    (trade,) = r.trades  # gross -₹35.00, less its charges
    assert trade.pnl == Decimal(-35) and trade.charges > 0
    assert chart.caption == (f"NSE:AAA 5-minute candles, 15 Jan 2024: 1 trade, net "
                             f"{money(trade.net_pnl)}")
    without = report_from_views(DAY, trades, rows, log.read)  # no marks: a plainer chart
    assert without.charts[1].png != chart.png and chart.png.startswith(PNG)
    assert persistence.close() and errors == []


def test_a_backtest_keeps_each_days_marks_for_its_charts(tmp_path: Path) -> None:
    instruments = synthetic_instruments(1)
    ticks = [*session_ticks(instruments, date(2026, 11, 23), seed=4, every_seconds=10,
                            shape=PathShape(volatility=0.0002, trend=0.00006)),
             *session_ticks(instruments, date(2026, 11, 24), seed=5, every_seconds=10,
                            shape=PathShape(volatility=0.0002, trend=-0.00006))]
    write_csv(ticks, tmp_path / "ticks.csv")
    settings = Settings(
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal(2))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                          for i in instruments))
    kept = run_backtest(settings, tmp_path / "ticks.csv", keep_candles=True)
    (symbol,) = kept.marks
    marks = kept.marks[symbol]
    assert {m.kind for m in marks} == set(MarkKind)
    assert {m.time.date() for m in marks} == {date(2026, 11, 23), date(2026, 11, 24)}
    stops = [m for m in marks if m.kind is MarkKind.STOP]
    for t in kept.trades:  # every trade's stop path starts at its entry
        assert any(m.time == t.entry_time and m.side is t.side for m in stops), t
    drawn = run_backtest(settings, tmp_path / "ticks.csv", chart_dir=tmp_path / "charts")
    assert [p.name for p in drawn.charts] == [
        "2026-11-23_pnl.png", "2026-11-23_NSE_SYN000.png",
        "2026-11-24_pnl.png", "2026-11-24_NSE_SYN000.png"]
    again = write_charts(kept, tmp_path / "again")  # both ways draw the same pictures
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in drawn.charts]
