"""Backtests: a tick file through the same engine, with a SimClock and the paper broker.

``python bot.py backtest --ticks F --config C [--json]``. A backtest keeps its state in
memory and never touches the data directory. Single-threaded.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from agent.adapters.paper import PaperBroker
from agent.adapters.replay import BadRow, TickFile, TickFileError
from agent.clock import SimClock
from agent.engine import Engine
from agent.events import Notification
from agent.instruments import (
    BUNDLED_DUMP,
    InstrumentIndex,
    InstrumentsError,
    load_dump,
    resolve_configured,
)
from agent.models import Candle, Instrument, Order, StopMode, Tick, Trade
from agent.settings import Settings
from agent.timeutil import IST

log = logging.getLogger(__name__)


@dataclass
class BacktestResult:
    trades: list[Trade]
    orders: list[Order]
    notifications: list[Notification] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    rows: int = 0
    accepted: int = 0
    candles: dict[str, list[Candle]] = field(default_factory=dict)  # only when asked


def resolve_instruments(settings: Settings) -> list[Instrument]:
    """Inline instruments as given; the others through the configured or bundled dump."""
    path = Path(settings.kite.instruments_file) if settings.kite.instruments_file \
        else BUNDLED_DUMP
    return resolve_configured(settings.instruments, lambda: InstrumentIndex(load_dump(path)))


def make_engine(settings: Settings, instruments: Iterable[Instrument], *,
                notes: list[Notification] | None = None) -> Engine:
    """An engine on a SimClock with the paper broker, as the backtest runs it. Stops are
    synthetic: the strategy's rules (docs/strategy.md) are stated for them."""
    clock = SimClock(datetime(2000, 1, 1, tzinfo=IST))
    engine = Engine(settings, instruments, clock=clock, stop_mode=StopMode.SYNTHETIC,
                    notify=notes.append if notes is not None else (lambda n: None))

    def price_of(token: int) -> Decimal | None:
        rt = engine.runtimes.get(token)
        return None if rt is None else rt.last_price

    def tick_of(token: int) -> Decimal:
        return engine.runtimes[token].instrument.tick_size

    engine.attach_broker(PaperBroker(price_of, tick_of, engine.now,
                                     settings.defaults.slippage_ticks))
    return engine


def run_ticks(engine: Engine, ticks: Iterable[Tick]) -> None:
    on_tick = engine.on_tick
    for tick in ticks:
        on_tick(tick)
    engine.end_of_data()


def run_backtest(settings: Settings, ticks_path: Path,
                 keep_candles: bool = False) -> BacktestResult:
    instruments = resolve_instruments(settings)
    notes: list[Notification] = []
    engine = make_engine(settings, instruments, notes=notes)
    candles: dict[str, list[Candle]] = {}
    if keep_candles:
        engine.on_candle = lambda ins, c: candles.setdefault(ins.symbol, []).append(c)
    source = TickFile(ticks_path, known_tokens={i.token for i in instruments})
    run_ticks(engine, source)
    good = source.rows - source.bad_count
    return BacktestResult(sorted_trades(engine.all_trades), list(engine.book.orders.values()),
                          notes, source.bad, source.bad_count, source.rows,
                          good - engine.unknown_ticks - engine.ignored_ticks, candles)


def sorted_trades(trades: Iterable[Trade]) -> list[Trade]:
    """Ordered by entry time, then symbol, then exit time (the JSON contract)."""
    return sorted(trades, key=lambda t: (t.entry_time, t.symbol, t.exit_time))


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def result_json(result: BacktestResult) -> dict[str, Any]:
    trades = [{
        "symbol": t.symbol, "instrument_token": t.instrument_token, "side": t.side.value,
        "quantity": t.quantity, "entry_time": t.entry_time.isoformat(),
        "entry_price": _num(t.entry_price), "entry_reason": t.entry_reason,
        "exit_time": t.exit_time.isoformat(), "exit_price": _num(t.exit_price),
        "exit_reason": t.exit_reason, "pnl": _num(t.pnl),
    } for t in result.trades]
    by_symbol: dict[str, dict[str, Any]] = {}
    total = Decimal(0)
    for t in result.trades:
        row = by_symbol.setdefault(t.symbol, {"trades": 0, "realized_pnl": Decimal(0)})
        row["trades"] += 1
        row["realized_pnl"] += t.pnl
        total += t.pnl
    summary = {"trades": len(trades), "realized_pnl": _num(total),
               "by_symbol": {s: {"trades": r["trades"], "realized_pnl": _num(r["realized_pnl"])}
                             for s, r in sorted(by_symbol.items())}}
    return {"trades": trades, "summary": summary}


def print_table(result: BacktestResult, out: TextIO) -> None:
    head = ("#", "symbol", "side", "qty", "entry time", "entry", "why", "exit time", "exit",
            "why", "P&L")
    rows = [head]
    for n, t in enumerate(result.trades, 1):
        rows.append((str(n), t.symbol, t.side.value, str(t.quantity),
                     t.entry_time.strftime("%Y-%m-%d %H:%M:%S"), str(t.entry_price),
                     t.entry_reason, t.exit_time.strftime("%H:%M:%S"), str(t.exit_price),
                     t.exit_reason, f"{t.pnl:+,.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        out.write("  ".join(c.rjust(w) if i in (0, 3, 5, 8, 10) else c.ljust(w)
                            for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        out.write("\n")
    data = result_json(result)["summary"]
    days: dict[str, list[Decimal]] = {}
    for t in result.trades:
        days.setdefault(t.entry_time.date().isoformat(), []).append(t.pnl)
    out.write("\nday summary\n")
    for day, pnls in sorted(days.items()):
        wins = sum(1 for p in pnls if p > 0)
        out.write(f"  {day}: {len(pnls)} trades, {wins} winners, realized P&L "
                  f"{sum(pnls, Decimal(0)):+,.2f}\n")
    for sym, row in data["by_symbol"].items():
        out.write(f"  {sym}: {row['trades']} trades, realized P&L "
                  f"{Decimal(str(row['realized_pnl'])):+,.2f}\n")
    out.write(f"  total: {data['trades']} trades, realized P&L "
              f"{Decimal(str(data['realized_pnl'])):+,.2f}\n")


def backtest_command(ticks: Path, config: Path, schedules: Path, *, as_json: bool,
                     chart_dir: str | None) -> int:
    from agent.config import settings_or_report

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    try:
        result = run_backtest(settings, ticks, keep_candles=chart_dir is not None)
    except (TickFileError, InstrumentsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.bad_count:
        for bad in result.bad_rows:
            print(f"{ticks}:{bad.line}: {bad.message} (skipped)", file=sys.stderr)
        more = result.bad_count - len(result.bad_rows)
        if more > 0:
            print(f"... and {more} more bad rows", file=sys.stderr)
        print(f"skipped {result.bad_count} bad row(s) of {result.rows}", file=sys.stderr)
    if as_json:
        json.dump(result_json(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(result, sys.stdout)
    if chart_dir:
        for path in write_charts(result, Path(chart_dir)):
            print(f"chart: {path}", file=sys.stderr)
    return 0


def write_charts(result: BacktestResult, out_dir: Path) -> list[Path]:
    """One day report's charts per date of the data (P&L curve, one chart per symbol)."""
    from agent.reports import day_report, write_report

    days = sorted({c.start.date() for cs in result.candles.values() for c in cs})
    paths: list[Path] = []
    for day in days:
        trades = [t for t in result.trades if t.entry_time.date() == day]
        candles = {s: [c for c in cs if c.start.date() == day]
                   for s, cs in result.candles.items()}
        paths += write_report(day_report(day.isoformat(), trades, candles), out_dir)
    return paths
