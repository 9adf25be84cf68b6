"""The day report from query data (``report_from_views``: the 15:40 report and /report) and
candles merged to a longer interval (``resample``: /chart SYMBOL 15)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from agent.models import Candle, Side, Trade
from agent.money import money
from agent.reports import report_from_views, resample
from agent.serialize import candle_to_dict, trade_to_dict
from storage.candles import CandleLog
from storage.plainjson import dumps_line
from tests.helpers import DAY, at, d

PNG = b"\x89PNG\r\n\x1a\n"


def _candles(token: int, start_hh: int, start_mm: int, n: int, minutes: int = 5
             ) -> list[Candle]:
    """``n`` candles from start: open i, high i + 2, low i - 1, close i + 1, volume 10 i."""
    first = at(start_hh, start_mm)
    out = []
    for i in range(1, n + 1):
        start = first + timedelta(minutes=minutes * (i - 1))
        out.append(Candle(token, start, start + timedelta(minutes=minutes), d(i), d(i + 2),
                          d(i - 1), d(i + 1), 10 * i, 3))
    return out


def test_resample_merges_candles_on_the_grid_of_the_session_open() -> None:
    five = _candles(1, 9, 15, 7)  # 09:15 .. 09:50
    fifteen = resample(five, 15, at(9, 15))
    assert [(c.start, c.end) for c in fifteen] == [
        (at(9, 15), at(9, 30)), (at(9, 30), at(9, 45)), (at(9, 45), at(10, 0))]
    first = fifteen[0]
    assert (first.open, first.high, first.low, first.close) == (d(1), d(5), d(0), d(4))
    assert (first.volume, first.ticks) == (60, 9)
    assert (fifteen[2].open, fifteen[2].close, fifteen[2].volume) == (d(7), d(8), 70)
    # a late start (the first candles missing) still lands on the same grid
    late = resample(five[2:], 15, at(9, 15))
    assert [(c.start, c.open) for c in late] == [
        (at(9, 15), d(3)), (at(9, 30), d(4)), (at(9, 45), d(7))]
    assert resample(five, 5, at(9, 15)) == five  # its own interval: the same candles
    assert resample([], 15, at(9, 15)) == []
    assert five[0].close == d(2)  # the input is left as it was


def test_report_from_views_reads_each_instruments_candles_at_its_interval(tmp_path: Path
                                                                           ) -> None:
    log = CandleLog(tmp_path)
    for token, interval, candles in ((1, 5, _candles(1, 9, 15, 4)),
                                     (2, 15, _candles(2, 9, 15, 2, minutes=15))):
        path = log.path(DAY, token, interval)
        log.append_lines(path, [dumps_line(candle_to_dict(c), str(path)) for c in candles])
    trade = Trade("NSE:AAA", 1, Side.BUY, 50, at(9, 25), d("112.65"), "signal", at(9, 40),
                  d(115), "target", Decimal("117.50"))
    rows = [{"symbol": "NSE:AAA", "token": 1, "settings": {"interval": 5}},
            {"symbol": "NSE:BBB", "token": 2, "settings": {"interval": 15}},
            {"symbol": "NSE:CCC", "token": 3, "settings": {"interval": 5}}]  # no file yet
    report = report_from_views(DAY, [trade_to_dict(trade)], rows, log.read)
    assert report.text.startswith("Day report 2024-01-15\n1 trade, 1 winner\nrealized P&L "
                                  "+₹117.50\n  NSE:AAA: 1 trade, +₹117.50\n  exits: target 1\n")
    assert [c.name for c in report.charts] == [
        "2024-01-15_pnl.png", "2024-01-15_NSE_AAA.png", "2024-01-15_NSE_BBB.png"]
    assert all(c.png.startswith(PNG) for c in report.charts)
    assert [c.caption for c in report.charts] == [
        f"Net P&L through 15 Jan 2024: 1 trade, net {money('117.50')}, max drawdown ₹0.00",
        f"NSE:AAA 5-minute candles, 15 Jan 2024: 1 trade, net {money('117.50')}",
        "NSE:BBB 15-minute candles, 15 Jan 2024: no trades"]
