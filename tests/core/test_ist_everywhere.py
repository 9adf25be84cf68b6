"""Times shown to the owner are IST whatever the machine's zone: log lines (what /logs
shows), alerts, replies and the day report's charts. The machine's zone is made New York
(``TZ`` and ``time.tzset``) so that anything reading local time would show it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agent.charts import candle_figure
from agent.charts_pnl import equity_figure
from agent.events import AlertKind, Notification
from agent.logsetup import FORMAT, IstFormatter
from agent.models import Candle, Side, Trade
from handlers import book_tables, formatting
from handlers.alerts import format_alert

# 03:45 UTC is 09:15 IST and 22:45 the evening before in New York (EST in November)
OPEN_UTC = datetime(2026, 11, 23, 3, 45, tzinfo=UTC)


@pytest.fixture
def new_york() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("agent.engine", logging.INFO, __file__, 1, "entry %s", ("x",),
                               None)
    record.created, record.msecs = created, 0.0
    return record


def test_a_log_line_is_ist_under_a_foreign_zone(new_york: None) -> None:
    record = _record(OPEN_UTC.timestamp())
    # the machine's zone is New York: the stock formatter would write its evening
    assert logging.Formatter(FORMAT).format(record).startswith("2026-11-22 22:45:00")
    line = IstFormatter(FORMAT).format(_record(OPEN_UTC.timestamp()))
    assert line.startswith("2026-11-23 09:15:00,000 IST INFO    agent.engine: entry x")


def test_alert_and_reply_times_are_ist_whatever_zone_they_carry(new_york: None) -> None:
    note = Notification(AlertKind.ENTRY_FILLED, "NSE:AAA BUY 50 filled @ 112.65", OPEN_UTC)
    assert format_alert(note).startswith("<b>entry filled</b> 09:15:00 NSE:AAA")
    assert formatting._time(OPEN_UTC.isoformat()) == "09:15:00"
    assert formatting._time("2026-11-22T22:45:00-05:00") == "09:15:00"
    assert formatting._time(None) == "-"
    row = {"symbol": "NSE:AAA", "side": "BUY", "quantity": 50, "order_type": "MARKET",
           "purpose": "ENTRY", "reason": "signal", "status": "COMPLETE",
           "average_price": "112.65", "created_at": OPEN_UTC.isoformat()}
    assert "\n09:15:00 AAA    BUY  112.65\n" in book_tables.orders([row])
    trade = {"symbol": "NSE:AAA", "side": "BUY", "quantity": 50, "entry_price": "112.65",
             "exit_price": "113.65", "exit_reason": "target", "pnl": "50",
             "entry_time": OPEN_UTC.isoformat(),
             "exit_time": (OPEN_UTC + timedelta(minutes=20)).isoformat()}
    assert book_tables.trades([trade]).split("\n")[2:5] == [
        "09:35:00 AAA    LONG  +₹50.00", "  50 @ 112.65 → 113.65 · in 09:15:00",
        "  held 20 min · target hit"]


def test_the_report_charts_time_axis_is_ist(new_york: None) -> None:
    # times that carry UTC (as a record read back from elsewhere may): drawn in IST
    start = OPEN_UTC
    candles = [Candle(1, start + timedelta(minutes=5 * i), start + timedelta(minutes=5 * i + 5),
                      Decimal(100), Decimal(101), Decimal(99), Decimal(100)) for i in range(12)]
    ax = candle_figure("NSE:AAA", candles, []).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["09:15", "09:30", "09:45", "10:00"]  # not 03:45 UTC nor 22:45 NY
    assert ax.get_xlabel() == "IST"
    assert ax.get_title() == "NSE:AAA 5-minute candles, 23 Nov 2026: no trades"
    trade = Trade("NSE:AAA", 1, Side.BUY, 1, candles[1].start, Decimal(100), "signal",
                  candles[4].end, Decimal(101), "target", Decimal(1))
    ax = equity_figure([trade]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["start", "09:40"]
    assert ax.get_title().startswith("Net P&L through 23 Nov 2026: 1 trade")
