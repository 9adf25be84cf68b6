"""The example strategy a trader copies (examples/strategies/ema_cross.py), loaded from its
file as a config names it, rule by rule (the rules are in its docstring)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agent.config import load_settings_from_dict
from agent.models import ExitReason, Side
from agent.settings import ScheduleConfig
from tests.helpers import AAA, Feed, at, d, make_run

ROOT = Path(__file__).resolve().parents[2]


def _run(**params):
    raw = {"defaults": {"strategy": "examples/strategies/ema_cross.py:EmaCross",
                        "interval": 1, "fast": 2, "slow": 3, "stop_pct": 1, **params},
           "instruments": [{"symbol": "NSE:AAA", "token": 1, "tick_size": 0.05,
                            "lot_size": 50}]}
    return make_run(load_settings_from_dict(raw, ScheduleConfig(), env={}, base_dir=ROOT),
                    (AAA,))


def _closes(f: Feed, closes: list, minute: int = 15) -> list:
    """One tick per one-minute candle from 09:MM: each candle's close is that price."""
    return [f.tick(at(9, minute + i), c) for i, c in enumerate(closes)]


def test_rule_2_a_cross_above_buys_with_the_stop_rule_3() -> None:
    r = _run()
    f = Feed()
    # closes 100, 100, 100 (fast = slow = 100), then 103: fast 102, slow 101.5: crossed
    r.feed(_closes(f, [100, 100, 100, 103]))
    assert r.position() is None  # the 09:18 candle completes at the next tick
    r.feed(f.tick(at(9, 19), "103.10"))
    pos = r.position()
    assert pos is not None and pos.side is Side.BUY
    assert pos.stop == d("101.95")  # down(103 - 1.03 = 101.97)
    assert pos.target is None  # reward_risk 0
    assert r.order_rows() == [("BUY", 50, "signal", d("103.10"), "COMPLETE")]


def test_rule_2_nothing_before_slow_candles_of_the_day() -> None:
    r = _run(slow=5)
    f = Feed()
    r.feed(_closes(f, [100, 100, 100, 103, 104]))  # crosses at the 4th candle: too early
    assert r.orders() == []


def test_rule_3_the_target_is_reward_risk_times_the_stop_distance() -> None:
    r = _run(reward_risk=2)
    f = Feed()
    r.feed(_closes(f, [100, 100, 100, 103]), f.tick(at(9, 19), "103.10"))
    assert r.position().target == d("105.06")  # 103 + 2 x 1.03
    r.feed(f.tick(at(9, 19, 30), "105.05"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 19, 40), "105.10"))
    assert r.position() is None
    assert [(t.exit_reason, t.exit_price) for t in r.trades] == [(ExitReason.TARGET,
                                                                 d("105.10"))]


def test_rule_4_the_stop_trails_the_close_and_never_goes_back() -> None:
    r = _run()
    f = Feed()
    r.feed(_closes(f, [100, 100, 100, 103, 104]))  # long at 104; 09:19 still open
    r.feed(f.tick(at(9, 20), 104))  # 09:19 (close 104) completes: stop 102.96 -> 102.95
    assert r.position().stop == d("102.95")
    r.feed(f.tick(at(9, 21), "103.50"))  # 09:20 (close 104): 102.96 again: no move
    r.feed(f.tick(at(9, 22), "103.60"))  # 09:21 (close 103.50): 102.465: lower, no move
    assert r.position().stop == d("102.95")
    no_trail = _run(trail=False)
    g = Feed()
    no_trail.feed(_closes(g, [100, 100, 100, 103, 104]), g.tick(at(9, 20), 104))
    assert no_trail.position().stop == d("101.95")


def test_rule_2_a_cross_below_reverses_a_long() -> None:
    r = _run(trail=False)
    f = Feed()
    r.feed(_closes(f, [100, 100, 100, 103, 103]))  # long; fast 102.67 > slow 102.25
    r.feed(_closes(f, [102, 102, 102], minute=20))
    state = r.state().ctx.state
    assert state.fast > state.slow and r.position().side is Side.BUY  # not crossed yet
    r.feed(_closes(f, [101, 100], minute=23))  # the 09:23 candle crosses below
    assert state.fast < state.slow
    pos = r.position()
    assert pos is not None and pos.side is Side.SELL
    assert [t.exit_reason for t in r.trades] == [ExitReason.SIGNAL_REVERSE]
    assert [o[0] for o in r.order_rows()] == ["BUY", "SELL", "SELL"]


def test_each_day_starts_the_averages_afresh() -> None:
    from datetime import date

    r = _run()
    f = Feed()
    r.feed(_closes(f, [100, 100, 100, 103]), f.tick(at(9, 19), 103))
    r.end()
    day2 = date(2024, 1, 16)
    r.feed(f.tick(at(9, 15, day=day2), 50))
    state = r.state().ctx.state
    assert (state.fast, state.slow, state.candles) == (None, None, 0)
    r.feed(f.tick(at(9, 16, day=day2), 51))
    assert r.state().ctx.state.fast == Decimal(50)
