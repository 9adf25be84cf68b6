"""``python bot.py demo``: the embedded default, no account and no network needed.

It generates a seeded session of ticks for a handful of NSE instruments from the bundled
Kite instruments sample, replays it through the same engine, strategy and paper broker
that trade live, prints every alert as it happens, then the trades and the day summary.
Main thread only.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from agent.backtest import BacktestResult, make_engine, print_table, sorted_trades
from agent.events import Notification
from agent.instruments import BUNDLED_DUMP, load_dump
from agent.settings import Defaults, InstrumentConfig, RiskConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks
from agent.timeutil import IST, parse_hhmm

DEMO_SYMBOLS = ("NSE:ABCAPITAL-BL", "NSE:CENTRALBK-BE", "NSE:EMMBI-BL", "NSE:MIDCAPIWIN-BL")
DEMO_DAY = date(2026, 11, 23)  # a Monday, a trading day


def demo_settings(schedules: Path) -> Settings:
    from agent.calendar import load_schedule

    index = {i.symbol: i for i in load_dump(BUNDLED_DUMP)}
    picked = [index[s] for s in DEMO_SYMBOLS if s in index]
    return Settings(
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal(2))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                          for i in picked),
        risk=RiskConfig(daily_loss_limit=Decimal(5000)),
        schedule=load_schedule(schedules),
    )


def demo_command(speed: float | None, until: str | None, schedules: Path) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = demo_settings(schedules)
    instruments = [c.inline_instrument() for c in settings.instruments]
    end = parse_hhmm(until) if until else time(15, 30)
    out = sys.stdout

    def show(note: Notification) -> None:
        out.write(f"{note.time:%H:%M:%S} [{note.kind}] {note.text}\n")

    notes: list[Notification] = []
    engine = make_engine(settings, [i for i in instruments if i is not None], notes=notes)
    engine.notify = show
    out.write(f"demo: {len(instruments)} instruments, simulated session of {DEMO_DAY}, "
              f"paper money\n")
    ticks = session_ticks([i for i in instruments if i is not None], DEMO_DAY, seed=42,
                          end=end, shape=PathShape(volatility=0.0003, trend=0.0001))
    for tick in ticks:
        engine.on_tick(tick)
    engine.end_of_data()
    result = BacktestResult(sorted_trades(engine.all_trades),
                            list(engine.book.orders.values()))
    out.write("\n")
    print_table(result, out)
    stamp = engine.last_accepted or datetime.combine(DEMO_DAY, end, tzinfo=IST)
    out.write(f"\ndemo finished at {stamp:%H:%M} (simulated)\n")
    return 0
