"""The same ticks through the threaded runner and through the backtest give the same orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from agent.backtest import make_engine, run_ticks
from agent.engine import Engine
from agent.events import EndOfData, Query, QueryKind, TickBatch
from agent.runner import EngineRunner
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks, synthetic_instruments

DAY = date(2026, 11, 23)


def _settings(instruments) -> Settings:
    return Settings(
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal("1.5"))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size,
                                           overrides={"loss_limit": Decimal(4000)})
                          for i in instruments))


def _orders(engine) -> list[tuple]:
    return [(o.tag, o.symbol, o.side, o.quantity, o.reason, o.status, o.average_price,
             o.created_at) for o in engine.book.orders.values()]


def run_threaded(settings: Settings, instruments, ticks) -> tuple[Engine, list]:
    """The ticks through the threaded runner in frames, as a feed delivers them; the engine
    and the runner's answer to an ORDERS query."""
    threaded = make_engine(settings, instruments)
    runner = EngineRunner(threaded, threaded.clock, timer_seconds=None)
    runner.start()
    for i in range(0, len(ticks), 97):  # frames of varying content, as a feed delivers
        runner.put(TickBatch(ticks[i:i + 97]))
    runner.put(EndOfData())
    reply = runner.call(Query(QueryKind.ORDERS), timeout=60)
    runner.stop()
    return threaded, reply.data


def test_runner_and_backtest_place_the_same_orders() -> None:
    instruments = synthetic_instruments(8)
    ticks = list(session_ticks(instruments, DAY, seed=11, every_seconds=3,
                               shape=PathShape(volatility=0.00025, trend=0.00008)))
    settings = _settings(instruments)

    direct = make_engine(settings, instruments)
    run_ticks(direct, ticks)
    threaded, answered = run_threaded(settings, instruments, ticks)

    expected = _orders(direct)
    assert len(expected) > 20, "the session should trade"
    assert _orders(threaded) == expected
    assert len(answered) == len(expected)
    assert [t.pnl for t in threaded.all_trades] == [t.pnl for t in direct.all_trades]
