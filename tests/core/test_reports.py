"""The day report: summary text and PNG charts; ``backtest --chart DIR`` writes them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from agent.backtest import run_backtest, write_charts
from agent.money import money
from agent.reports import day_report, summary_text
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks, synthetic_instruments, write_csv

PNG = b"\x89PNG\r\n\x1a\n"


def test_backtest_charts_one_pnl_curve_and_one_chart_per_symbol(tmp_path) -> None:
    instruments = synthetic_instruments(2)
    ticks = session_ticks(instruments, date(2026, 11, 23), seed=4, every_seconds=10,
                          shape=PathShape(volatility=0.0002, trend=0.00006))
    write_csv(ticks, tmp_path / "ticks.csv")
    settings = Settings(
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal(2))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                          for i in instruments))
    result = run_backtest(settings, tmp_path / "ticks.csv", keep_candles=True)
    assert result.trades
    paths = write_charts(result, tmp_path / "charts")
    assert sorted(p.name for p in paths) == [
        "2026-11-23_NSE_SYN000.png", "2026-11-23_NSE_SYN001.png", "2026-11-23_pnl.png"]
    assert all(p.read_bytes().startswith(PNG) and p.stat().st_size > 5000 for p in paths)


def test_summary_counts_trades_winners_and_exit_reasons() -> None:
    from agent.models import Side, Trade
    from tests.helpers import at, d  # the rule tests' builders

    trades = [Trade("NSE:A", 1, Side.BUY, 10, at(9, 30), d(100), "signal", at(9, 40), d(101),
                    "target", d(10)),
              Trade("NSE:A", 1, Side.SELL, 10, at(9, 50), d(100), "signal", at(10, 0),
                    d("100.5"), "stop", d(-5)),
              Trade("NSE:B", 2, Side.BUY, 1, at(11, 0), d(50), "signal", at(15, 15), d(52),
                    "square_off", d(2))]
    text = summary_text("2026-11-23", trades)
    assert text == ("Day report 2026-11-23\n3 trades, 2 winners\nrealized P&L +₹7.00\n"
                    "  NSE:A: 2 trades, +₹5.00\n  NSE:B: 1 trade, +₹2.00\n"
                    "  exits: square_off 1, stop 1, target 1")
    report = day_report("2026-11-23", trades, {})
    assert [c.name for c in report.charts] == ["2026-11-23_pnl.png"]
    assert report.charts[0].caption == (f"Net P&L through 23 Nov 2026: 3 trades, net {money(7)}, "
                                        f"max drawdown {money(5, sign=False)}")
