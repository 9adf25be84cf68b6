"""A strategy's declared parameters through ``/set`` and through a restart: checked by the
strategy's own rules, kept per instrument, saved and restored; a saved state of another
strategy is not given to the configured one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.commands import handle_command
from agent.config import load_settings_from_dict
from agent.events import SetParam
from agent.fields import FieldError
from agent.models import ExitReason
from agent.restore import restore
from agent.settings import ScheduleConfig
from agent.snapshot import take
from tests.helpers import AAA, BBB, DAY, Feed, at, d, make_run, worked_long

ROOT = Path(__file__).resolve().parents[2]
EMA = "examples/strategies/ema_cross.py:EmaCross"


def _settings(b_strategy: str = "alert_breakout"):
    raw = {"defaults": {"strategy": EMA, "interval": 1, "fast": 2, "slow": 3},
           "instruments": [
               {"symbol": "NSE:AAA", "token": 1, "tick_size": 0.05, "lot_size": 50},
               {"symbol": "NSE:BBB", "token": 2, "tick_size": 0.05, "lot_size": 50,
                "strategy": b_strategy}]}
    return load_settings_from_dict(raw, ScheduleConfig(), env={}, base_dir=ROOT)


def _started(settings=None):
    r = make_run(settings or _settings(), (AAA, BBB))
    r.feed(Feed(1).tick(at(9, 15), 100), Feed(2).tick(at(9, 15), 100))
    return r


def test_set_checks_a_declared_parameter_by_its_strategy() -> None:
    r = _started()
    e = r.engine
    ok = handle_command(e, SetParam("fast", "4", "NSE:AAA"))
    assert ok.ok, ok.text
    assert r.rt(1).params.value("fast") == 4 and r.rt(1).state.ctx.params["fast"] == 4
    bad = handle_command(e, SetParam("fast", "99", "NSE:AAA"))
    assert not bad.ok and bad.text == "fast: expected a whole number 2..50, got '99'"
    other = handle_command(e, SetParam("fast", "4", "NSE:BBB"))  # BBB runs alert_breakout
    assert not other.ok
    assert other.text.startswith("fast: not a setting of alert_breakout (settable: ")
    assert not handle_command(e, SetParam("strategy", "opening_range", "NSE:AAA")).ok


def test_set_for_all_applies_to_the_instruments_whose_strategy_has_it() -> None:
    r = _started()
    assert handle_command(r.engine, SetParam("stop_pct", "0.8", None)).ok
    assert str(r.rt(1).params.value("stop_pct")) == "0.8"
    with pytest.raises(KeyError):
        r.rt(2).strategy.params["stop_pct"]


def test_a_set_declared_parameter_survives_a_restart() -> None:
    r = _started()
    assert handle_command(r.engine, SetParam("slow", "7", "NSE:AAA")).ok
    snap = json.loads(json.dumps(take(r.engine, at(9, 16))))
    fresh = make_run(_settings(), (AAA, BBB))
    assert restore(fresh.engine, snap, DAY)
    assert fresh.rt(1).params.value("slow") == 7
    assert fresh.rt(1).state.ctx.params["slow"] == 7


def test_a_bad_saved_declared_parameter_names_its_path() -> None:
    r = _started()
    assert handle_command(r.engine, SetParam("slow", "7", "NSE:AAA")).ok
    snap = json.loads(json.dumps(take(r.engine, at(9, 16))))
    snap["settings"]["instruments"]["NSE:AAA"]["slow"] = 1000
    with pytest.raises(FieldError) as info:
        restore(make_run(_settings(), (AAA, BBB)).engine, snap, DAY)
    assert str(info.value).startswith("settings.instruments.NSE:AAA.slow: ")


def test_a_saved_state_of_another_strategy_is_not_restored() -> None:
    r = _started()
    r.feed(Feed(2).tick(at(9, 16), 101))
    snap = json.loads(json.dumps(take(r.engine, at(9, 16, 5))))
    assert snap["runtime"]["2"]["strategy"] == "alert_breakout"
    switched = make_run(_settings(b_strategy=EMA), (AAA, BBB))
    assert restore(switched.engine, snap, DAY)
    assert switched.state(2).ctx.candles == type(switched.state(2).ctx.candles)()
    assert switched.rt(2).strategy.name == "ema_cross"


def test_a_position_held_under_a_strategy_no_longer_configured_is_closed() -> None:
    """The new strategy does not know the position (and, flat in its own view, could enter
    beside it): a restart closes it as a forced close, announced with its reason."""
    r = make_run(_settings(), (AAA, BBB))
    f2 = Feed(2)
    r.feed(worked_long(f2))  # BBB (alert_breakout) long 50
    assert r.quantity(2) == 50
    snap = json.loads(json.dumps(take(r.engine, at(9, 25, 20))))
    switched = make_run(_settings(b_strategy=EMA), (AAA, BBB))
    assert restore(switched.engine, snap, DAY)
    assert switched.rt(2).orders.close.reason == ExitReason.STRATEGY_CHANGED
    switched.feed(f2.tick(at(9, 26), "112.00"))
    assert switched.quantity(2) == 0
    assert [(t.exit_reason, t.exit_price) for t in switched.trades] == [
        ("strategy_changed", d("112.00"))]
    assert any("closed (strategy_changed)" in n.text for n in switched.notes)
    same = make_run(_settings(), (AAA, BBB))  # the same strategy: the position is kept
    assert restore(same.engine, snap, DAY)
    same.feed(f2.tick(at(9, 26), "112.00"))
    assert same.quantity(2) == 50 and same.position(2) is not None


def test_a_kill_after_the_switch_before_the_close_goes_out_closes_once() -> None:
    """kill -9 at the worst instant of the switch: after the restore wanted the close and a
    snapshot saved that, before any order went out. The next start closes the position
    once (the wanted close is saved with the instrument's orders); nothing is sold twice."""
    r = make_run(_settings(), (AAA, BBB))
    f2 = Feed(2)
    r.feed(worked_long(f2))
    snap = json.loads(json.dumps(take(r.engine, at(9, 25, 20))))
    first = make_run(_settings(b_strategy=EMA), (AAA, BBB))
    assert restore(first.engine, snap, DAY)
    saved = json.loads(json.dumps(take(first.engine, at(9, 25, 30))))  # then killed
    assert first.orders(2)[-1].reason == "signal"  # no exit had gone out
    again = make_run(_settings(b_strategy=EMA), (AAA, BBB))
    assert restore(again.engine, saved, DAY)
    assert again.rt(2).orders.close.reason == ExitReason.STRATEGY_CHANGED
    again.feed(f2.tick(at(9, 26), "112.00"), f2.tick(at(9, 26, 5), "111.00"))
    assert again.quantity(2) == 0
    assert [(o[0], o[2]) for o in again.order_rows(2)] == [("BUY", "signal"),
                                                             ("SELL", "strategy_changed")]
