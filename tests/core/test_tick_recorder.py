"""``record_ticks``: the feed's ticks written in the backtest's format, one file a day,
appended across restarts, never blocking the feed, and readable by ``bot.py backtest``."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

from agent.adapters.replay import TickFile
from agent.models import Tick
from agent.tick_recorder import TickRecorder
from agent.timeutil import IST


def _ticks(day: date, n: int, token: int = 7) -> list[Tick]:
    t0 = datetime.combine(day, datetime.min.time(), tzinfo=IST).replace(hour=9, minute=15)
    return [Tick(token, Decimal("101.05") + i, t0 + timedelta(seconds=i),
                 last_traded_quantity=i + 1, volume_traded=10 * (i + 1)) for i in range(n)]


def test_recorded_ticks_read_back_exactly_one_file_per_day(tmp_path) -> None:
    day1, day2 = date(2026, 12, 7), date(2026, 12, 8)
    rec = TickRecorder(tmp_path / "ticks")
    first, second = _ticks(day1, 5), _ticks(day2, 3)
    rec.record(first[:2])
    rec.record(first[2:] + second)
    rec.close()
    assert rec.written == 8
    back1 = list(TickFile(rec.path_for(day1)))
    back2 = list(TickFile(rec.path_for(day2)))
    assert [(t.instrument_token, t.last_price, t.timestamp, t.last_traded_quantity,
             t.volume_traded) for t in back1] == [
        (t.instrument_token, t.last_price, t.timestamp, t.last_traded_quantity,
         t.volume_traded) for t in first]
    assert back1[0].last_price == Decimal("101.05") and len(back2) == 3


def test_a_restart_appends_without_a_second_header(tmp_path) -> None:
    day = date(2026, 12, 7)
    ticks = _ticks(day, 4)
    for part in (ticks[:2], ticks[2:]):
        rec = TickRecorder(tmp_path)
        rec.record(part)
        rec.close()
    source = TickFile(tmp_path / "ticks-2026-12-07.csv")
    assert [t.last_price for t in source] == [t.last_price for t in ticks]
    assert source.bad_count == 0


def test_a_tick_without_a_timestamp_is_recorded_at_its_receipt_time(tmp_path) -> None:
    t = datetime(2026, 12, 7, 9, 20, tzinfo=IST)
    rec = TickRecorder(tmp_path)
    rec.record([Tick(3, Decimal("5.5"), None, received_at=t)])
    rec.close()
    (back,) = list(TickFile(tmp_path / "ticks-2026-12-07.csv"))
    assert back.timestamp == t and back.last_traded_quantity is None


class HeldRecorder(TickRecorder):
    """A recorder whose writer starts only when the test says (a disk that is stuck)."""

    def __init__(self, *args, **kwargs) -> None:
        self.go = threading.Event()
        super().__init__(*args, **kwargs)

    def _run(self) -> None:
        self.go.wait()
        super()._run()


def test_beyond_the_limit_ticks_are_dropped_and_told_once_per_outage(tmp_path, caplog) -> None:
    rec = HeldRecorder(tmp_path, limit=3)
    day = date(2026, 12, 7)
    with caplog.at_level(logging.WARNING):
        rec.record(_ticks(day, 2))  # waits: 2 of 3
        rec.record(_ticks(day, 2))  # 4 > 3: dropped, told
        rec.record(_ticks(day, 2))  # dropped, not told again
        assert (rec.dropped, caplog.text.count("the disk is not keeping up")) == (4, 1)
        rec.go.set()
        rec.close()
    assert rec.written == 2
    assert len(list(TickFile(tmp_path / "ticks-2026-12-07.csv"))) == 2


def test_an_unwritable_directory_loses_the_recording_not_the_agent(tmp_path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rec = TickRecorder(blocker / "ticks")
    with caplog.at_level(logging.ERROR):
        rec.record(_ticks(date(2026, 12, 7), 2))
        rec.close()
    assert rec.written == 0
    assert "tick recording: cannot write to" in caplog.text
