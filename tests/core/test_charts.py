"""Issue 15, the charts: PNGs of the configured size, the equity curve ending exactly at the
day's net (several exits in one minute each shown), no gap for a break in trading, the
strategy's own VWAP, the marks drawn (bands, stop, target), captions that say what the
picture is and never a path, the journal's chart."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from matplotlib.colors import to_hex

from agent.charts import (
    CANDLE_SIZE,
    DOWN,
    UP,
    CandleAxis,
    ChartSize,
    candle_chart,
    candle_figure,
    vwap_series,
)
from agent.charts_pnl import (
    EQUITY_SIZE,
    JOURNAL_SIZE,
    equity_chart,
    equity_figure,
    equity_points,
    journal_chart,
    journal_figure,
    journal_title,
    max_drawdown,
)
from agent.journal_stats import DaySummary
from agent.marks import Mark, MarkKind
from agent.models import Candle, Side, Trade
from agent.money import money
from agent.reports import day_report
from agent.strategy.alert_breakout import AlertBreakout
from tests.helpers import AAA, at, d, make_settings

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data.startswith(PNG) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def candles_from(start: datetime, n: int, base: float = 100.0, minutes: int = 5,
                 volume: int = 100) -> list[Candle]:
    """``n`` candles from ``start``, rising and falling a little in turn."""
    out = []
    for i in range(n):
        t = start + timedelta(minutes=minutes * i)
        o = d(round(base + (i % 7) - (i % 3), 2))
        c = o + (d(1) if i % 2 else d(-1))
        out.append(Candle(1, t, t + timedelta(minutes=minutes), o, max(o, c) + 1,
                          min(o, c) - 1, c, volume * (i % 4), 5))
    return out


@dataclass(frozen=True)
class Charged:
    """A trade that knows its charges (the charges helper's ``Trade.net_pnl``)."""

    trade: Trade
    charges: Decimal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trade, name)

    @property
    def net_pnl(self) -> Decimal:
        return self.trade.pnl - self.charges


def trade(sym: str, side: Side, entry: datetime, exit_: datetime, pnl: str,
          entry_price: str = "100", exit_price: str = "101",
          exit_reason: str = "target") -> Trade:
    return Trade(sym, 1, side, 10, entry, d(entry_price), "signal", exit_, d(exit_price),
                 exit_reason, d(pnl))


def test_each_chart_is_a_png_of_its_configured_size() -> None:
    candles = candles_from(at(9, 15), 75)
    trades = [trade("NSE:AAA", Side.BUY, at(9, 30), at(10, 5), "120.50")]
    assert png_size(candle_chart("NSE:AAA", candles, trades)) == (
        CANDLE_SIZE.width, CANDLE_SIZE.height) == (1280, 720)
    assert png_size(equity_chart(trades)) == (EQUITY_SIZE.width, EQUITY_SIZE.height)
    days = [DaySummary(date(2026, 12, i), 3, d(100), d(20), d(80 - 30 * i), 0, 0)
            for i in (1, 2, 3)]
    assert png_size(journal_chart(days)) == (JOURNAL_SIZE.width, JOURNAL_SIZE.height)
    small = ChartSize(640, 400)  # another size is that size too
    assert png_size(candle_chart("NSE:AAA", candles, trades, size=small)) == (640, 400)
    assert png_size(equity_chart([], size=small)) == (640, 400)
    assert png_size(candle_chart("NSE:AAA", [], [])) == (1280, 720)  # nothing yet: still one


def test_the_equity_curve_ends_exactly_at_the_days_net_with_several_exits_a_minute() -> None:
    same = at(10, 5)
    raw = [trade("NSE:AAA", Side.BUY, at(9, 20), same, "100.10"),
           trade("NSE:BBB", Side.SELL, at(9, 25), same, "-40.05"),
           trade("NSE:CCC", Side.BUY, at(9, 40), same + timedelta(seconds=30), "7.33"),
           trade("NSE:AAA", Side.SELL, at(11, 0), at(11, 40), "-90.00"),
           trade("NSE:BBB", Side.BUY, at(12, 0), at(15, 15), "20.01")]
    trades = [Charged(t, d("17.47")) for t in raw]
    net = sum((t.pnl - d("17.47") for t in raw), Decimal(0))
    points = equity_points(trades)
    assert points[-1] == net == d("-89.96")  # exact: Decimals, not floats
    assert points == [0, d("82.63"), d("25.11"), d("14.97"), d("-92.50"), d("-89.96")]
    assert max_drawdown(points) == d("175.13")  # from +82.63 down to -92.50
    fig = equity_figure(trades, date(2024, 1, 15))
    ax = fig.axes[0]
    curve = ax.lines[0]
    assert list(curve.get_xdata()) == [0, 1, 2, 3, 4, 5]  # one step per exit, ties included
    assert curve.get_ydata()[-1] == float(net)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "start", "10:05", "10:05", "10:05", "11:40", "15:15"]
    assert ax.get_title() == (f"Net P&L through 15 Jan 2024: 5 trades, net {money(net)}, "
                              f"max drawdown {money(d('175.13'), sign=False)}")
    assert any(c.get_label() == "drawdown" for c in ax.collections)
    plain = equity_figure(raw).axes[0].lines[0]  # without charges: gross, to the paisa
    assert plain.get_ydata()[-1] == float(sum((t.pnl for t in raw), Decimal(0)))


def test_a_break_in_trading_leaves_no_gap_and_the_axis_is_ist() -> None:
    utc = UTC  # candles in another zone: the labels are still IST
    morning = candles_from(datetime(2026, 12, 7, 4, 30, tzinfo=utc), 12)  # 10:00-11:00 IST
    after = candles_from(datetime(2026, 12, 7, 7, 0, tzinfo=utc), 12)  # 12:30-13:30 IST
    candles = morning + after
    axis = CandleAxis(candles)
    assert [axis.x(c.start) for c in candles] == [i - 0.5 for i in range(24)]
    assert axis.breaks() == [11.5]
    assert axis.x(datetime(2026, 12, 7, 6, 0, tzinfo=utc)) == 11.5  # in the break: its edge
    assert axis.x(candles[3].start + timedelta(minutes=1)) == pytest.approx(2.7)
    positions, labels = axis.ticks()
    assert labels == ["10:00", "10:15", "10:30", "10:45", "12:30", "12:45", "13:00", "13:15"]
    assert positions == [-0.5, 2.5, 5.5, 8.5, 11.5, 14.5, 17.5, 20.5]  # each candle's edge
    across = trade("MCX:X", Side.BUY, candles[10].start, candles[13].end, "5")
    ax = candle_figure("MCX:X", candles, [across]).axes[0]
    (bodies,) = [c for c in ax.collections if type(c).__name__ == "PolyCollection"]
    centres = [(p.vertices[:, 0].min() + p.vertices[:, 0].max()) / 2
               for p in bodies.get_paths()]
    assert centres == pytest.approx(list(range(24)))  # contiguous: no room for the lunch
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert "left out" in ax.get_xlabel()
    entry, exit_ = [line for line in ax.lines if line.get_marker() in ("^", "X")]
    assert (entry.get_xdata()[0], exit_.get_xdata()[0]) == (9.5, 13.5)


def test_the_vwap_drawn_is_the_one_the_strategy_saw() -> None:
    candles = candles_from(at(9, 15), 30)  # every fourth candle without volume
    candles[:2] = [Candle(1, c.start, c.end, c.open, c.high, c.low, c.close, 0, 1)
                   for c in candles[:2]]  # the day opens without volume: the mean of H+L+C
    strategy = AlertBreakout()
    state = strategy.new_state(AAA.instrument(), make_settings().defaults.params, d(0),
                               lambda side, t: False)
    seen = []
    for c in candles:
        strategy.on_candle(state, c)
        seen.append(state.vwap())
    assert vwap_series(candles) == seen
    ax = candle_figure("NSE:AAA", candles, []).axes[0]
    (line,) = [line for line in ax.lines if line.get_label() == "VWAP"]
    assert list(line.get_ydata()) == [float(v) for v in seen]


def test_marks_draw_the_alert_bands_the_stop_path_and_the_target() -> None:
    candles = candles_from(at(9, 15), 20)
    long = trade("NSE:AAA", Side.BUY, at(9, 40, 10), at(10, 2, 30), "55", "104", "105.5",
                 "trailing_stop")
    marks = [Mark(MarkKind.ALERT, at(9, 35), Side.BUY, None, d("103.95"), d("98.10"),
                  at(9, 30)),
             Mark(MarkKind.STOP, at(9, 40, 10), Side.BUY, d("98.10")),
             Mark(MarkKind.TARGET, at(9, 40, 10), Side.BUY, d("115.70")),
             Mark(MarkKind.STOP, at(9, 45), Side.BUY, d("101.20")),
             Mark(MarkKind.STOP, at(9, 55), Side.BUY, d("105.50")),
             Mark(MarkKind.CLEARED, at(10, 5), Side.BUY),
             Mark(MarkKind.ALERT, at(10, 20), Side.SELL, None, d("104.5"), d("99"), at(10, 15))]
    ax = candle_figure("NSE:AAA", candles, [long], marks).axes[0]
    names = ax.get_legend().get_texts()
    assert [t.get_text() for t in names] == [
        "VWAP", "buy alert band", "buy trigger", "sell alert band", "sell trigger",
        "long entry", "exit", "stop", "target"]
    (stop,) = [line for line in ax.lines if line.get_label() == "stop"]
    axis = CandleAxis(candles)
    assert list(stop.get_xdata()) == [axis.x(at(9, 40, 10)), axis.x(at(9, 45)),
                                      axis.x(at(9, 55)), axis.x(at(10, 2, 30))]
    assert list(stop.get_ydata()) == [98.10, 101.20, 105.50, 105.50]
    (target,) = [line for line in ax.lines if line.get_label() == "target"]
    assert list(target.get_ydata()) == [115.70, 115.70]
    (buy_band,) = [c for c in ax.collections if c.get_label() == "buy alert band"]
    xs, ys = buy_band.get_paths()[0].vertices.T
    assert (min(xs), max(xs)) == (axis.x(at(9, 30)), axis.x(at(10, 5)))  # candle to clearing
    assert (min(ys), max(ys)) == (98.10, 103.95)
    (sell_band,) = [c for c in ax.collections if c.get_label() == "sell alert band"]
    assert max(sell_band.get_paths()[0].vertices[:, 0]) == 19.5  # still set at the day's end
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["signal", "trailing stop"]


def test_captions_say_what_the_chart_is_and_never_a_path() -> None:
    infy = [trade("NSE:INFY", Side.BUY, at(9, 30, day=date(2026, 12, 7)),
                  at(10, 0, day=date(2026, 12, 7)), p) for p in ("1000", "300", "-65.50")]
    candles = {"NSE:INFY": candles_from(at(9, 15, day=date(2026, 12, 7)), 10),
               "NSE:TCS": candles_from(at(9, 15, day=date(2026, 12, 7)), 4, minutes=15)}
    report = day_report("2026-12-07", infy, candles)
    assert [(c.name, c.caption) for c in report.charts] == [
        ("2026-12-07_pnl.png", f"Net P&L through 7 Dec 2026: 3 trades, net {money('1234.50')},"
                               f" max drawdown {money('65.50', sign=False)}"),
        ("2026-12-07_NSE_INFY.png",
         f"NSE:INFY 5-minute candles, 7 Dec 2026: 3 trades, net {money('1234.50')}"),
        ("2026-12-07_NSE_TCS.png", "NSE:TCS 15-minute candles, 7 Dec 2026: no trades")]
    assert money("1234.50") == "+₹1,234.50"  # as the issue writes it
    for chart in report.charts:
        assert "/" not in chart.caption and ".png" not in chart.caption
        assert png_size(chart.png) == (1280, 720 if "candles" in chart.caption else 560)


def test_the_journal_chart_shows_each_days_net_and_the_running_total() -> None:
    days = [DaySummary(date(2026, 12, 1), 4, d(500), d(80), d(420), 0, 0),
            DaySummary(date(2026, 12, 3), 6, d(-300), d(120), d(-420), 0, 0),  # given out of order
            DaySummary(date(2026, 12, 2), 2, d(100), d(40), d(60), 0, 0)]
    assert journal_title(sorted(days, key=lambda x: x.date)) == (
        f"Journal 1 Dec 2026 to 3 Dec 2026: 3 days, 12 trades, net {money(60)}")
    data = journal_chart(days)
    assert png_size(data) == (1280, 640)
    ax = journal_figure(days).axes[0]
    bars = ax.patches
    assert [b.get_height() for b in bars] == [420, 60, -420]  # oldest first
    assert [to_hex(b.get_facecolor()) for b in bars] == [UP, UP, DOWN]
    assert list(ax.lines[0].get_ydata()) == [420, 480, 60]  # the running total
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 Dec", "2 Dec", "3 Dec"]
    assert journal_title([]) == "Journal: no days"
    assert png_size(journal_chart([])) == (1280, 640)
