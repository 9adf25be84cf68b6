"""Issue 13: every field of a saved state is checked before anything is restored. A wrong
type, a missing field, a NaN or a setting ``/set`` would refuse is one error naming the
file and the field path (``data/state.json: orders[0].tag: missing``), with a copy of the
file kept aside; it never crashes the start-up half-way or passes silently."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from agent import snapshot
from agent.config import parse_param
from agent.fields import FieldError
from storage.hookup import EnginePersistence
from storage.state import StateFileCorrupt, StateStore
from tests.storage.engine_state import DAY, INSTRUMENTS, engine_snapshot, fresh_engine

SYMBOL = INSTRUMENTS[0].symbol
TOKEN = str(INSTRUMENTS[0].token)


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    return engine_snapshot()


def _set(*path: Any) -> Callable[[dict[str, Any]], None]:
    *where, key, value = path

    def change(snap: dict[str, Any]) -> None:
        target = snap
        for step in where:
            target = target[step]
        if value is DELETE:
            del target[key]
        else:
            target[key] = value

    return change


DELETE = object()

# (what is changed, the path and problem the error must name)
BAD = [
    (_set("meta", "seq", "abc"), "meta.seq: expected a whole number >= 0, got 'abc'"),
    (_set("meta", "day", "today"), "meta.day: expected a date YYYY-MM-DD"),
    (_set("meta", "running", "yes"), "meta.running: expected true or false"),
    (_set("meta", "version", 2), "meta.version: expected 1"),
    (_set("orders", 0, "tag", DELETE), "orders[0].tag: missing"),
    (_set("orders", 1, "quantity", "10"), "orders[1].quantity: expected a whole number >= 1"),
    (_set("orders", 1, "side", "buy"), "orders[1].side: expected one of BUY, SELL"),
    (_set("orders", 2, "created_at", "09:15"), "orders[2].created_at: expected an ISO date"),
    (_set("orders", 2, "average_price", "NaN"), "orders[2].average_price: expected a finite"),
    (_set("orders", 3, "status", None), "orders[3].status: expected one of"),
    (_set("trades", 0, "pnl", "NaN"), "trades[0].pnl: expected a finite number, got 'NaN'"),
    (_set("trades", 0, "exit_time", "2026-11-23T10:00:00"), "trades[0].exit_time: "),
    (_set("positions", 0, "realized", "NaN"), "positions[0].realized: expected a finite"),
    (_set("positions", 0, "quantity", 1.5), "positions[0].quantity: expected a whole number"),
    (_set("settings", "defaults", "percentage", "abc"), "settings.defaults.percentage: "),
    (_set("settings", "defaults", "percentage", "-1"), "settings.defaults.percentage: "),
    (_set("settings", "defaults", "interval", 7), "settings.defaults.interval: "),
    (_set("settings", "instruments", SYMBOL, "lots", 0), f"settings.instruments.{SYMBOL}.lots: "),
    (_set("settings", "defaults", "Lots!", 1), "settings.defaults.Lots!: unknown setting"),
    (_set("settings", "daily", "loss_limit", "-5"), "settings.daily.loss_limit: "),
    (_set("settings", "daily", "loss_limit", "NaN"), "settings.daily.loss_limit: "),
    (_set("settings", "added", [{"token": 7}]), "settings.added[0].exchange: missing"),
    (_set("runtime", TOKEN, "trades_today", "3"), f"runtime.{TOKEN}.trades_today: expected a"),
    (_set("runtime", TOKEN, "interval", 7), f"runtime.{TOKEN}.interval: "),
    (_set("runtime", TOKEN, "orders", "stop_cancel", "no"),
     f"runtime.{TOKEN}.orders.stop_cancel: expected true or false, got 'no'"),
    (_set("runtime", TOKEN, "orders", "hold", None),
     f"runtime.{TOKEN}.orders.hold: expected text, got null"),
    (_set("runtime", TOKEN, "orders", "close", {"reason": "bored"}), f"runtime.{TOKEN}.orders: "),
    (_set("runtime", "SYN", {}), "runtime.SYN: key 'SYN' is not an instrument token"),
    (_set("runtime", TOKEN, "instrument", "tick_size", "0"),
     f"runtime.{TOKEN}.instrument.tick_size: expected a finite number > 0"),
    (_set("runtime", TOKEN, "instrument", "lot_size", DELETE),
     f"runtime.{TOKEN}.instrument.lot_size: missing"),
    (_set("runtime", TOKEN, "instrument", "expiry", "soon"),
     f"runtime.{TOKEN}.instrument.expiry: expected a date"),
    (_set("runtime", TOKEN, "instrument", "token", 7),
     f"runtime.{TOKEN}.instrument.token: expected {TOKEN} (the entry's token), got 7"),
    (_set("strategy", TOKEN, "sum_v", "5"), f"strategy.{TOKEN}.sum_v: expected a number"),
    (_set("strategy", TOKEN, "sum_hlc", "x"), f"strategy.{TOKEN}: "),
    (_set("strategy", TOKEN, "buy_alert", {"open": "1"}), f"strategy.{TOKEN}: "),
    (_set("strategy", TOKEN, 5), f"strategy.{TOKEN}: expected an object, got 5"),
    (_set("risk", "tripped", [["weekly", "x"]]), "risk.tripped[0][0]: expected one of"),
    (_set("orders", {"tag": "x"}), "orders: expected a list, got an object"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_field_is_one_error_naming_its_path(saved, change, message) -> None:
    bad = copy.deepcopy(saved)
    change(bad)
    engine = fresh_engine()
    with pytest.raises(FieldError) as info:
        snapshot.restore(engine, bad, DAY)
    assert str(info.value).startswith(message), str(info.value)


def test_the_whole_file_is_checked_even_when_it_is_not_todays(saved) -> None:
    """A day-old file restores only the settings, but a broken order in it is still found
    (the file is damaged: the owner should know before trusting any of it)."""
    bad = copy.deepcopy(saved)
    del bad["orders"][5]["tag"]
    with pytest.raises(FieldError, match=r"^orders\[5\]\.tag: missing"):
        snapshot.restore(fresh_engine(), bad, date(2026, 11, 24))


def test_nothing_is_changed_before_a_bad_field_is_found(saved) -> None:
    engine = fresh_engine()
    before = snapshot.take(engine, engine.now())
    bad = copy.deepcopy(saved)
    bad["trades"][-1]["quantity"] = 0
    with pytest.raises(FieldError, match=r"trades\[\d+\]\.quantity"):
        snapshot.restore(engine, bad, DAY)
    assert snapshot.take(engine, engine.now()) == before


@pytest.mark.parametrize(("key", "value"), [
    ("percentage", "-1"), ("percentage", "NaN"), ("interval", 7), ("lots", 0),
    ("max_trades_per_day", -1), ("trade_side", "UP"), ("trailing", "maybe"),
    ("percentage", "0.25"), ("interval", 15), ("lots", 3), ("trailing", True),
    ("trade_side", "SELL"),
])
def test_saved_settings_follow_exactly_the_rules_of_set(saved, key, value) -> None:
    """A saved parameter is accepted exactly when ``/set`` (``parse_param``) takes it."""
    typed = value if isinstance(value, str) else json.dumps(value)
    try:
        expected = parse_param(key, typed)
    except ValueError:
        expected = None
    snap = copy.deepcopy(saved)
    snap["settings"]["defaults"][key] = value
    engine = fresh_engine()
    if expected is None:
        with pytest.raises(FieldError, match=rf"^settings\.defaults\.{key}: "):
            snapshot.restore(engine, snap, DAY)
    else:
        assert snapshot.restore(engine, snap, DAY)
        assert engine.overrides["defaults"][key] == expected


def test_a_good_snapshot_still_restores_exactly(saved) -> None:
    engine = fresh_engine()
    assert snapshot.restore(engine, copy.deepcopy(saved), DAY)
    again = json.loads(json.dumps(snapshot.take(engine, engine.now())))
    for section in ("orders", "trades", "positions", "strategy", "risk", "settings"):
        assert again[section] == saved[section], section


def test_the_state_file_is_named_and_kept_aside(saved, tmp_path) -> None:
    bad = copy.deepcopy(saved)
    del bad["orders"][3]["tag"]
    StateStore(tmp_path / "state.json").save(bad)
    original = (tmp_path / "state.json").read_bytes()
    persistence = EnginePersistence(tmp_path, lambda message: None)
    try:
        with pytest.raises(StateFileCorrupt) as info:
            persistence.restore_into(fresh_engine(), DAY)
    finally:
        assert persistence.close(5)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'state.json'}: orders[3].tag: missing"), message
    assert info.value.copy is not None and info.value.copy.read_bytes() == original
    assert (tmp_path / "state.json").read_bytes() == original  # left as it was


def test_an_unforeseen_failure_is_still_named_after_the_file(saved, tmp_path,
                                                             monkeypatch) -> None:
    """Whatever restoring raises (a bug included) refuses the file by name, never a bare
    traceback half-way through the start."""
    StateStore(tmp_path / "state.json").save(copy.deepcopy(saved))

    def broken(*args: Any) -> None:
        raise RuntimeError("surprise")

    monkeypatch.setattr("agent.restore.apply_settings", broken)
    persistence = EnginePersistence(tmp_path, lambda message: None)
    try:
        with pytest.raises(StateFileCorrupt, match=r"cannot be restored \(RuntimeError: "
                                                   r"surprise\)"):
            persistence.restore_into(fresh_engine(), DAY)
    finally:
        persistence.close(5)


def test_the_days_state_keeps_the_definitions_of_its_instruments(saved, tmp_path) -> None:
    """Issue 14: a restart the same day can trade what it traded when no list it can load
    has it: the definitions come back exactly, and a bad one refuses the file by name."""
    assert snapshot.day_instruments(copy.deepcopy(saved), DAY) == INSTRUMENTS
    assert snapshot.day_instruments(copy.deepcopy(saved), date(2026, 11, 24)) == []
    bad = copy.deepcopy(saved)
    bad["runtime"][TOKEN]["instrument"]["tradingsymbol"] = ""
    StateStore(tmp_path / "state.json").save(bad)
    persistence = EnginePersistence(tmp_path, lambda message: None)
    try:
        with pytest.raises(StateFileCorrupt) as info:
            persistence.day_instruments(DAY)
    finally:
        assert persistence.close(5)
    assert str(info.value).startswith(
        f"{tmp_path / 'state.json'}: runtime.{TOKEN}.instrument.tradingsymbol: "), info.value


def test_a_saved_setting_no_strategy_in_use_declares_is_dropped_with_a_warning(
        saved, caplog) -> None:
    """A trader's strategy's parameter saved by a run whose config named that strategy: the
    config no longer does, so the setting has no owner; it is dropped (said in the log)
    rather than refusing the start. Its neighbours are kept."""
    snap = copy.deepcopy(saved)
    snap["settings"]["defaults"]["lookback"] = 20
    snap["settings"]["defaults"]["lots"] = 2
    engine = fresh_engine()
    assert snapshot.restore(engine, snap, DAY)
    assert "lookback" not in engine.overrides["defaults"]
    assert engine.overrides["defaults"]["lots"] == 2
    assert "saved setting settings.defaults.lookback: no strategy in use has it; dropped" in \
        caplog.text
