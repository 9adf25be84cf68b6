"""A real engine's mid-day snapshot (through plain JSON) for the restore tests: orders,
trades, positions, strategy state, runtime entries and the owner's settings."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from agent import snapshot
from agent.backtest import make_engine
from agent.engine import Engine
from agent.events import SetLimit, SetParam
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks, synthetic_instruments

DAY = date(2026, 11, 23)
INSTRUMENTS = synthetic_instruments(4)
SETTINGS = Settings(
    defaults=Defaults(params=StrategyParams(target_multiple=Decimal(3))),
    instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                      for i in INSTRUMENTS))


def fresh_engine() -> Engine:
    return make_engine(SETTINGS, INSTRUMENTS)


def engine_snapshot() -> dict[str, Any]:
    engine = fresh_engine()
    engine.handle(SetParam("percentage", Decimal("0.3")))
    engine.handle(SetParam("lots", 2, INSTRUMENTS[0].symbol))
    engine.handle(SetLimit("daily", "loss_limit", Decimal(5000)))
    ticks = list(session_ticks(INSTRUMENTS, DAY, seed=5, every_seconds=2,
                               shape=PathShape(volatility=0.0003, trend=0.0001)))
    for tick in ticks[: len(ticks) // 2]:
        engine.on_tick(tick)
    snap = json.loads(json.dumps(snapshot.take(engine, engine.now())))
    assert snap["orders"] and snap["trades"] and snap["positions"] and snap["strategy"]
    return snap
