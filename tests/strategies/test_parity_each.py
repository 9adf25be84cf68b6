"""Every built-in strategy and the example run the same in the backtest and on paper: the
same ticks through the backtest's direct engine and through the threaded runner (as ``bot.py
run`` drives it on paper, frames of ticks from a feed) place the same orders and make the
same trades (issue 17)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.backtest import make_engine, run_ticks
from agent.config import load_settings_from_dict
from agent.models import Side
from agent.settings import ScheduleConfig
from agent.synthetic import PathShape, session_ticks, synthetic_instruments
from tests.core.test_parity import _orders, run_threaded

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 23)
STRATEGIES = {
    "alert_breakout": {"interval": 3, "percentage": 0.2, "target_multiple": 1.5},
    "opening_range": {"interval": 3, "range_minutes": 20, "buffer_pct": 0.05,
                      "stop_pct": 0.4, "target_multiple": 1},
    "examples/strategies/ema_cross.py:EmaCross": {"interval": 3, "fast": 4, "slow": 9,
                                                  "reward_risk": 2},
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_backtest_and_paper_runner_place_the_same_orders(strategy: str) -> None:
    instruments = synthetic_instruments(6)
    ticks = list(session_ticks(instruments, DAY, seed=11, every_seconds=3,
                               shape=PathShape(volatility=0.00035, trend=0.0001)))
    raw = {"defaults": {"strategy": strategy, **STRATEGIES[strategy]},
           "instruments": [{"symbol": i.symbol, "token": i.token, "tick_size": 0.05,
                            "lot_size": i.lot_size} for i in instruments]}
    settings = load_settings_from_dict(raw, ScheduleConfig(), env={}, base_dir=ROOT)

    direct = make_engine(settings, instruments)
    run_ticks(direct, ticks)

    threaded, answered = run_threaded(settings, instruments, ticks)

    expected = _orders(direct)
    assert len(expected) >= 10, f"{strategy}: the session should trade"
    assert {o[2] for o in expected} == {Side.BUY, Side.SELL}
    assert _orders(threaded) == expected
    assert len(answered) == len(expected)
    assert [(t.symbol, t.pnl) for t in threaded.all_trades] == [
        (t.symbol, t.pnl) for t in direct.all_trades]
