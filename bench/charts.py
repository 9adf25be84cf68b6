"""Benchmark: drawing the day report's charts (issue 15: "one chart renders in well under a
second").

``run(quick)`` builds one instrument's full day in memory (75 five-minute candles, 09:15 to
15:30, a seeded random walk; 10 trades, each with its alert band, its stop at the entry and
three trailing moves, and its target), then measures, after one untimed warm-up draw
(matplotlib's imports and font cache):

- ``candle``: ``agent.charts.candle_chart`` of that day, to PNG bytes;
- ``equity``: ``agent.charts_pnl.equity_chart`` of the 10 trades;
- ``baseline``: an empty figure of the candle chart's size saved to PNG the same way, in
  the same run: what any chart costs before anything is drawn on it.

Each is the median of ``repeats`` draws (quick: 3). The caller prints the dict.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.charts import CANDLE_SIZE, candle_chart, figure, png
from agent.charts_pnl import EQUITY_SIZE, equity_chart
from agent.marks import Mark, MarkKind
from agent.models import Candle, Side, Trade
from agent.timeutil import IST

DAY = date(2026, 12, 7)
CANDLES = 75  # 09:15 to 15:30 in five-minute candles
TRADES = 10
TICK = Decimal("0.05")


def day_data(seed: int = 15) -> tuple[list[Candle], list[Trade], list[Mark]]:
    """One instrument's day: its candles, 10 trades of 4 candles each, and their marks."""
    rng = random.Random(seed)
    start = datetime(DAY.year, DAY.month, DAY.day, 9, 15, tzinfo=IST)
    step = timedelta(minutes=5)
    candles, price = [], Decimal(1500)
    for i in range(CANDLES):
        moves = [price + TICK * rng.randint(-60, 60) for _ in range(3)]
        close = moves[-1]
        candles.append(Candle(1, start + step * i, start + step * (i + 1), price,
                              max(price, *moves), min(price, *moves), close,
                              rng.randint(1_000, 50_000), 300))
        price = close
    trades, marks = [], []
    for n in range(TRADES):
        alert, entry, exit_ = candles[2 + 7 * n], candles[3 + 7 * n], candles[7 + 7 * n]
        side = Side.BUY if n % 2 == 0 else Side.SELL
        sign = 1 if side is Side.BUY else -1
        stop = alert.low if side is Side.BUY else alert.high
        marks += [Mark(MarkKind.ALERT, alert.end, side, None, alert.high, alert.low,
                       alert.start),
                  Mark(MarkKind.STOP, entry.start + timedelta(seconds=40), side, stop),
                  Mark(MarkKind.TARGET, entry.start + timedelta(seconds=40), side,
                       entry.open + sign * 2 * alert.range)]
        for k in range(1, 4):
            stop += sign * 4 * TICK
            marks.append(Mark(MarkKind.STOP, candles[3 + 7 * n + k].start, side, stop))
        marks.append(Mark(MarkKind.CLEARED, exit_.end, side))
        pnl = sign * (exit_.close - entry.open) * 10
        trades.append(Trade("NSE:BENCH", 1, side, 10, entry.start + timedelta(seconds=40),
                            entry.open, "signal", exit_.end - timedelta(seconds=20),
                            exit_.close, "trailing_stop" if pnl < 0 else "target", pnl))
    return candles, trades, marks


def _median_ms(draw: Callable[[], bytes], repeats: int) -> tuple[float, int]:
    """The median time of ``repeats`` draws in ms, and the size of the last PNG."""
    times, data = [], b""
    for _ in range(repeats):
        start = time.perf_counter()
        data = draw()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(data)


def run(quick: bool) -> dict[str, Any]:
    repeats = 3 if quick else 20
    candles, trades, marks = day_data()

    def candle() -> bytes:
        return candle_chart("NSE:BENCH", candles, trades, marks)

    def equity() -> bytes:
        return equity_chart(trades, DAY)

    def empty() -> bytes:
        return png(figure(CANDLE_SIZE))

    candle()  # warm-up: imports, the font cache
    base_ms, _ = _median_ms(empty, repeats)
    candle_ms, candle_bytes = _median_ms(candle, repeats)
    equity_ms, equity_bytes = _median_ms(equity, repeats)
    return {"candles": len(candles), "trades": len(trades), "marks": len(marks),
            "repeats": repeats, "baseline_ms": round(base_ms, 1),
            "candle": {"ms": round(candle_ms, 1), "seconds": round(candle_ms / 1000, 3),
                       "ratio": round(candle_ms / base_ms, 2), "png_kb": candle_bytes // 1024,
                       "size": f"{CANDLE_SIZE.width}x{CANDLE_SIZE.height}"},
            "equity": {"ms": round(equity_ms, 1), "ratio": round(equity_ms / base_ms, 2),
                       "png_kb": equity_bytes // 1024,
                       "size": f"{EQUITY_SIZE.width}x{EQUITY_SIZE.height}"}}
