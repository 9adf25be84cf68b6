"""Kill the runner mid-position, start a new one on the same data directory: the day
continues from the saved state (positions, stops, alerts, P&L, trades, orders)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from agent import snapshot
from agent.backtest import make_engine
from agent.events import Query, QueryKind, TickBatch
from agent.runner import EngineRunner
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from agent.synthetic import PathShape, session_ticks, synthetic_instruments
from storage.hookup import EnginePersistence
from storage.state import StateFileCorrupt

DAY = date(2026, 11, 23)


def _world():
    instruments = synthetic_instruments(5)
    settings = Settings(
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal(3))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                          for i in instruments))
    ticks = list(session_ticks(instruments, DAY, seed=9, every_seconds=4,
                               shape=PathShape(volatility=0.0003, trend=0.0001)))
    return instruments, settings, ticks


def _comparable(engine) -> dict:
    snap = snapshot.take(engine, engine.now())
    snap["meta"].pop("saved_at")
    return snap


def test_new_runner_on_the_same_data_dir_resumes_the_day(tmp_path, backend) -> None:
    """On either backend (issue 16): the state and the candles come back as they were."""
    instruments, settings, ticks = _world()
    errors: list[str] = []
    persistence = backend.persistence(tmp_path, errors.append)
    engine = make_engine(settings, instruments)
    engine.on_candle = persistence.candle
    runner = EngineRunner(engine, engine.clock, timer_seconds=None,
                          snapshot=persistence.snapshot, snapshot_seconds=0)
    runner.start()
    half = len(ticks) // 2
    runner.put(TickBatch(ticks[:half]))
    runner.call(Query(QueryKind.STATUS))
    runner.stop()  # takes the last snapshot
    assert persistence.close()
    assert errors == []
    before = _comparable(engine)
    assert any(row["quantity"] for row in before["positions"]), "stop mid-position"

    again = backend.persistence(tmp_path, errors.append)
    restarted = make_engine(settings, instruments)
    assert again.restore_into(restarted, DAY)
    assert _comparable(restarted) == before
    # The completed candles of the morning are stored, one series per instrument, in order.
    token = instruments[0].token
    stored = again.candles.read_day(DAY, token, 5)
    assert stored and stored[-1]["token"] == token
    assert len(stored) == engine.runtimes[token].series.completed
    assert [c["start"] for c in stored] == sorted(c["start"] for c in stored)
    assert (token, 5) in again.candles.series(DAY) and again.candles.days() == [DAY]
    again.close()


def test_corrupt_state_file_is_a_clear_error_and_is_kept(tmp_path) -> None:
    (tmp_path / "state.json").write_text('{"meta": {"_default": {', encoding="utf-8")
    with pytest.raises(StateFileCorrupt) as info:
        EnginePersistence(tmp_path, lambda message: None)
    assert "state.json" in str(info.value)
    assert (tmp_path / "state.json").read_text() == '{"meta": {"_default": {'
    assert info.value.copy is not None and info.value.copy.exists()
