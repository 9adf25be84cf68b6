"""docs/strategy.md section 7, the worked example (tau 0.05, p 0.5, interval 5, BOTH, lots 1,
lot_size 50), through the engine step by step and through a backtest tick file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agent.backtest import result_json, run_backtest
from agent.models import EntryReason, Side
from tests.helpers import AAA, Feed, at, d, make_settings, run


def test_7_worked_example_through_the_engine() -> None:
    r = run()
    s = r.state()
    f = Feed()
    # c0 09:15 (H 105, L 95, C 100, V 100) completes on c1's first tick.
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100))
    r.feed(f.candle(at(9, 20), 101, 112, 100, 109, 300))
    c0 = r.completed()[0]
    assert (c0.high, c0.low, c0.close, c0.volume) == (d(105), d(95), d(100), 100)
    assert s.vwap() == d(100)
    assert s.buy_alert is None and s.sell_alert is None  # close 100 equals VWAP: no alert

    # Tick 112.60 at 09:25 completes c1: VWAP 105.25, 109 > 105.25: buy alert c1,
    # band 99.50 - 112.60. 112.60 itself does nothing (strict).
    r.feed(f.tick(at(9, 25), "112.60"))
    c1 = r.completed()[1]
    assert (c1.high, c1.low, c1.close, c1.volume) == (d(112), d(100), d(109), 300)
    assert s.vwap() == d("105.25")
    assert s.buy_alert is not None and s.buy_alert.start == at(9, 20)
    assert s.sell_alert is None
    assert r.orders() == []

    # Tick 112.65: BUY 50 at 112.65, stop 99.50.
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    assert r.order_rows() == [("BUY", 50, "signal", d("112.65"), "COMPLETE")]
    pos = r.position()
    assert (pos.side, pos.entry_price, pos.stop) == (Side.BUY, d("112.65"), d("99.50"))

    # Tick 99.50: SELL 50 (stop), P&L -657.50; then SELL 50 more (reverse), stop 112.60.
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [("BUY", 50, "signal", d("112.65"), "COMPLETE"),
                              ("SELL", 50, "stop", d("99.50"), "COMPLETE"),
                              ("SELL", 50, "reverse", d("99.50"), "COMPLETE")]
    pos = r.position()
    assert (pos.side, pos.reason, pos.entry_price, pos.stop) == (
        Side.SELL, EntryReason.REVERSE, d("99.50"), d("112.60"))
    assert r.quantity() == -50
    [t] = r.trades
    assert (t.side, t.quantity, t.entry_price, t.exit_price, t.exit_reason, t.pnl) == (
        Side.BUY, 50, d("112.65"), d("99.50"), "stop", d("-657.50"))
    assert r.engine.pnl.books[1].realized == d("-657.50")

    # End of data: the short closes at the last price; the day's P&L stays -657.50.
    r.end()
    assert [(t.exit_reason, t.pnl) for t in r.trades] == [("stop", d("-657.50")),
                                                          ("end_of_data", d("0.00"))]
    assert sum((t.pnl for t in r.trades), Decimal(0)) == d("-657.50")


def test_7_worked_example_through_a_backtest_tick_file(tmp_path: Path) -> None:
    f = Feed()
    ticks = [*f.candle(at(9, 15), 100, 105, 95, 100, 100),
             *f.candle(at(9, 20), 101, 112, 100, 109, 300),
             f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"),
             f.tick(at(9, 25, 20), "99.50")]
    path = tmp_path / "ticks.csv"
    rows = ["timestamp,instrument_token,last_price,last_traded_quantity,volume_traded"]
    rows += [f"{t.timestamp.replace(tzinfo=None).isoformat()},{t.instrument_token},"
             f"{t.last_price},{t.last_traded_quantity},{t.volume_traded}" for t in ticks]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = run_backtest(make_settings((AAA,)), path)
    assert [(o.side.value, o.quantity, o.reason, o.average_price) for o in result.orders] == [
        ("BUY", 50, "signal", d("112.65")), ("SELL", 50, "stop", d("99.50")),
        ("SELL", 50, "reverse", d("99.50")), ("BUY", 50, "end_of_data", d("99.50"))]
    data = result_json(result)
    assert [(t["side"], t["entry_reason"], t["exit_reason"], t["pnl"]) for t in data["trades"]] \
        == [("BUY", "signal", "stop", -657.5), ("SELL", "reverse", "end_of_data", 0)]
    assert data["summary"]["realized_pnl"] == -657.5
