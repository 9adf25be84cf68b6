"""The trade journal's files (storage/journal.py): lines as written, a trade booked again
not doubled, a revision winning, corrupt and torn lines skipped and named with the rest
kept, day summaries recomputed when missing, month files and ranges."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agent.journal_stats import DaySummary, day_summaries
from agent.models import Instrument
from agent.timeutil import IST
from storage.journal import JOURNAL_DIR, Journal, trade_key
from tests.journal_helpers import SyncWriter, journal_with, trade

DAY = date(2026, 12, 1)
INFY = Instrument(408065, "NSE", "INFY", Decimal("0.05"), segment="NSE")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_trade_line_holds_its_orders_reasons_and_money(tmp_path: Path) -> None:
    journal = Journal(tmp_path, SyncWriter())
    t = trade(DAY, 10, 30, "250.50", "35.20", symbol="NSE:INFY", held=754, seq=7)
    assert journal.record(t, INFY)
    (line,) = _lines(tmp_path / "2026-12.jsonl")
    assert line["type"] == "trade" and line["v"] == 1 and line["day"] == "2026-12-01"
    assert line["key"] == trade_key(t) == "2026-12-01|X26120112345600007|E26120112345600007|50"
    assert (line["entry_tag"], line["exit_tag"]) == ("E26120112345600007", "X26120112345600007")
    assert (line["entry_reason"], line["exit_reason"]) == ("signal", "target")
    assert (line["entry_time"], line["exit_time"]) == ("2026-12-01T10:17:26+05:30",
                                                       "2026-12-01T10:30:00+05:30")
    assert (line["entry_price"], line["exit_price"], line["quantity"]) == (
        "1000.00", "1005.0100", 50)
    assert (line["gross"], line["charges"], line["net"]) == ("250.50", "35.20", "215.30")
    assert (line["segment"], line["instrument_type"], line["held_s"]) == ("NSE", "EQ", 754)
    (back,) = journal.read().entries
    assert back.trade == t and back.trade.net_pnl == Decimal("215.30")
    assert (back.segment, back.instrument_type) == ("NSE", "EQ")


def test_a_trade_booked_again_is_not_doubled_and_a_revision_replaces_it(tmp_path: Path
                                                                       ) -> None:
    writer = SyncWriter()
    journal = Journal(tmp_path, writer)
    first = trade(DAY, 10, 30, "100", "20")
    assert journal.record(first, INFY)
    # booked again after a restart: the reconciler's time differs, the figures do not
    again = trade(DAY, 10, 31, "100", "20", held=660)
    assert trade_key(again) == trade_key(first)
    assert not journal.record(again)
    assert len(writer.lines) == 1
    # a fresh process learns the file first (``prime``): still not doubled
    restarted = Journal(tmp_path, writer)
    restarted.prime(DAY)
    assert not restarted.record(first, INFY)
    # the charges revised (the contract note): written, and the latest line wins
    revised = trade(DAY, 10, 30, "100", "23.60")
    assert restarted.record(revised)
    assert len(writer.lines) == 2 and writer.lines[1][1]["segment"] == "NSE"  # kept
    (back,) = Journal(tmp_path).read().trades
    assert back.charges == Decimal("23.60")


def test_a_corrupt_line_is_skipped_and_named_and_the_rest_is_kept(tmp_path: Path,
                                                                   caplog) -> None:
    trades = [trade(DAY, 10, m, "10", "1", seq=m + 1) for m in range(5)]
    journal = journal_with(tmp_path, trades)
    path = tmp_path / JOURNAL_DIR / "2026-12.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken = dict(json.loads(lines[3]))
    del broken["exit_price"]
    lines[1] = lines[1][:40]  # cut in the middle
    lines[3] = json.dumps(broken)
    lines.insert(4, '{"type": "note"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, "storage.journal"):
        read = journal.read()
    assert [t.exit_tag for t in read.trades] == [trades[i].exit_tag for i in (0, 2, 4)]
    assert read.problems == [
        "journal/2026-12.jsonl line 2: not a JSON object",
        "journal/2026-12.jsonl line 4: exit_price: missing",
        "journal/2026-12.jsonl line 5: type: expected 'trade' or 'day', got 'note'"]
    assert "line 2" in caplog.text and str(tmp_path) not in " ".join(read.problems)


def test_a_line_cut_short_at_the_end_is_ended_by_the_next_append(tmp_path: Path) -> None:
    journal = journal_with(tmp_path, [trade(DAY, 10, 0, "10", seq=1)])
    path = tmp_path / JOURNAL_DIR / "2026-12.jsonl"
    with path.open("a", encoding="utf-8") as f:
        f.write('{"type": "trade", "v": 1, "sym')  # a crash mid-write
    read = journal.read()
    assert len(read.trades) == 1 and read.problems == []  # maybe still being written
    journal.record(trade(DAY, 11, 0, "20", seq=2))
    read = journal.read()
    assert [t.pnl for t in read.trades] == [Decimal(10), Decimal(20)]
    assert read.problems == ["journal/2026-12.jsonl line 2: not a JSON object"]


def test_day_summaries_come_from_the_trades_and_are_kept_when_the_trades_are_lost(
        tmp_path: Path) -> None:
    d2, d3 = date(2026, 12, 2), date(2026, 12, 3)
    trades = [trade(DAY, 10, 0, "100", "10", seq=1), trade(DAY, 11, 0, "-50", "10", seq=2),
              trade(d2, 10, 0, "30", "5", seq=3), trade(d3, 10, 0, "70", "5", seq=4)]
    journal = journal_with(tmp_path, trades)
    at = datetime(2026, 12, 1, 15, 30, tzinfo=IST)
    assert journal.close_day(DAY, trades, at) == DaySummary(
        DAY, 2, Decimal(50), Decimal(20), Decimal(30), 1, 1)
    journal.close_day(d3, trades, at)
    path = tmp_path / JOURNAL_DIR / "2026-12.jsonl"
    day_lines = [line for line in _lines(path) if line["type"] == "day"]
    assert [(x["day"], x["trades"], x["net"]) for x in day_lines] == [
        ("2026-12-01", 2, "30"), ("2026-12-03", 1, "65")]
    # d2 has no summary line: recomputed; all agree with the trades
    assert journal.days() == day_summaries(trades)
    # d3's trade line lost: its stored summary stands in for it
    kept = [line for line in path.read_text().splitlines()
            if '"exit_tag":"X26120312345600004"' not in line]
    assert len(kept) == 5
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    days = Journal(tmp_path / JOURNAL_DIR).days()
    assert [(d.date, d.trades, d.net) for d in days] == [
        (DAY, 2, Decimal(30)), (d2, 1, Decimal(25)), (d3, 1, Decimal(65))]


def test_close_day_journals_a_missing_trade_once(tmp_path: Path) -> None:
    writer = SyncWriter()
    journal = Journal(tmp_path, writer)
    trades = [trade(DAY, 10, 0, "100", seq=1), trade(DAY, 11, 0, "5", seq=2)]
    journal.record(trades[0], INFY)
    journal.close_day(DAY, trades, datetime(2026, 12, 1, 15, 30, tzinfo=IST))
    assert [r["type"] for _, r in writer.lines] == ["trade", "trade", "day"]
    assert writer.lines[1][1]["exit_tag"] == trades[1].exit_tag


def test_months_are_files_of_their_own_and_ranges_pick_days(tmp_path: Path) -> None:
    jan31, feb1, feb2 = date(2027, 1, 31), date(2027, 2, 1), date(2027, 2, 2)
    trades = [trade(jan31, 15, 0, "10", seq=1), trade(feb1, 9, 30, "20", seq=1),
              trade(feb2, 10, 0, "40", seq=1)]
    journal = journal_with(tmp_path, trades)
    assert [p.name for p in journal.months()] == ["2027-01.jsonl", "2027-02.jsonl"]
    assert [t.pnl for t in journal.read(feb1, feb1).trades] == [Decimal(20)]
    assert [t.pnl for t in journal.read(jan31, feb1).trades] == [Decimal(10), Decimal(20)]
    assert [t.pnl for t in journal.read(None, None).trades] == [Decimal(10), Decimal(20),
                                                                 Decimal(40)]
    assert journal.read(date(2027, 3, 1), None).trades == []
    assert Journal(tmp_path / "nowhere").read().trades == []


def test_a_read_only_journal_refuses_to_write(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        Journal(tmp_path).record(trade(DAY, 10, 0, "1"))
