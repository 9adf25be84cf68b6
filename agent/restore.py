"""Restoring a saved snapshot (``agent/snapshot.py:take``) into a freshly built engine.

The whole snapshot is read and checked first, then applied: a value that is not what the
agent writes (a wrong type, a missing field, a NaN, a setting ``/set`` would refuse) raises
one ``FieldError`` naming its path (``meta.seq``, ``orders[3].tag``,
``settings.defaults.percentage``) and leaves the engine untouched; the storage layer names
the file (``storage/hookup.py``). Owner settings are checked exactly as ``config.yaml`` and
``/set`` check them (``agent.config.parse_param``). The strategy's own section is checked by
the strategy's reader, then by reading it back (``agent.fields.same_kinds``).

Called on the composition root's thread before the engine's runner starts (engine state).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.config import parse_param
from agent.engine import Engine
from agent.fields import (
    FieldError,
    Fields,
    at,
    day,
    decimal,
    flag,
    guarded,
    member,
    name,
    optional,
    same_kinds,
    stamp,
    text,
    token_key,
    value_at,
    whole,
)
from agent.lifecycle.state import Close, InstrumentOrders
from agent.models import ExitReason, Instrument, Order, Trade
from agent.pnl import read_books
from agent.risk import Scope
from agent.serialize import order_from_dict, trade_from_dict
from agent.settings import PARAM_KEYS
from agent.strategy import choice as strategies
from agent.strategy.params import PARAM_NAME

log = logging.getLogger(__name__)

VERSION = 1  # the snapshot format (agent/snapshot.py writes it into meta.version)
LIMIT_KEYS = ("profit_target", "loss_limit")


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A saved parameter no built-in strategy declares: a trader's strategy's, checked by
    ``apply_settings`` once the engine knows which strategies run (``raw`` as saved)."""

    raw: Any


def param(key: str, raw: Any) -> Any:
    """A saved strategy parameter, checked as ``/set`` checks it (ValueError if bad)."""
    typed = raw if isinstance(raw, str) else json.dumps(raw)  # as an owner would type it
    if key not in PARAM_KEYS and key not in strategies.builtin_keys():
        if not PARAM_NAME.fullmatch(key):
            raise ValueError(f"unknown setting (one of {', '.join(sorted(PARAM_KEYS))})")
        return Unchecked(typed)
    try:
        return parse_param(key, typed)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message.removeprefix(f"{key}: ")) from None


def _check_declared(engine: Engine, values: dict[str, Any], symbols: list[str],
                    where: str) -> dict[str, Any]:
    """``values`` with each ``Unchecked`` one checked by the strategies ``symbols`` run:
    a bad value is a FieldError at ``where``; one that none of them declares is dropped
    (the config no longer names the strategy that had it) with a WARNING."""
    runtimes = [engine.by_symbol[s] for s in symbols if s in engine.by_symbol]
    declared = strategies.keys_for(rt.params.strategy for rt in runtimes)
    out = {}
    for key, value in values.items():
        if not isinstance(value, Unchecked):
            out[key] = value
        elif key in declared:
            with guarded(at(where, key)):
                out[key] = declared[key](value.raw)
        else:
            log.warning("saved setting %s.%s: no strategy in use has it; dropped", where, key)
    return out


def _params(f: Fields) -> dict[str, Any]:
    return {key: f.req(key, lambda raw, key=key: param(key, raw)) for key in f.data}


def _limits(f: Fields) -> dict[str, Decimal]:
    out = {}
    for key in f.data:
        if key not in LIMIT_KEYS:
            raise FieldError(at(f.path, key), f"unknown limit (one of {', '.join(LIMIT_KEYS)})")
        out[key] = f.req(key, lambda raw, key=key: param(key, raw))
    return out


def _instrument(d: Any, path: str) -> Instrument:
    f = Fields(d, path)
    return Instrument(f.req("token", whole(1)), f.req("exchange", name),
                      f.req("tradingsymbol", name), f.req("tick_size", decimal(0, above=True)),
                      f.req("lot_size", whole(1)), f.req("freeze_quantity", whole(0)),
                      f.opt("segment", text, ""), f.opt("instrument_type", text, "EQ"),
                      f.opt("name", text, ""), f.opt("expiry", optional(day), None))


@dataclass
class SavedSettings:
    """The owner's runtime changes, checked (``settings`` section)."""

    defaults: dict[str, Any] = field(default_factory=dict)
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    daily: dict[str, Decimal] = field(default_factory=dict)
    added: list[Instrument] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)


def read_settings(f: Fields) -> SavedSettings:
    out = SavedSettings(defaults=_params(f.obj("defaults", default={})),
                        daily=_limits(f.obj("daily", default={})))
    instruments = f.obj("instruments", default={})
    out.instruments = {s: _params(instruments.obj(s)) for s in instruments.data}
    groups = f.obj("groups", default={})
    out.groups = {g: _limits(groups.obj(g)) for g in groups.data}
    out.added = [_instrument(d, path) for path, d in f.items("added")]
    out.removed = {value_at(path, d, name) for path, d in f.items("removed")}
    return out


@dataclass
class SavedRuntime:
    """One instrument's ``runtime`` entry, checked."""

    trades_today: int
    halted: str
    error: str
    squared_off: bool
    orders: InstrumentOrders
    last_price: Decimal | None
    last_candle_end: datetime | None
    interval: int | None
    instrument: Instrument | None = None  # its definition (a state written before: None)
    strategy: str = "alert_breakout"  # the strategy whose state was saved (before: the one)


def _older_orders(d: dict[str, Any]) -> dict[str, Any]:
    """The runtime section of a state file written before agent/lifecycle (version 1)."""
    close = d.get("pending_close") or d.get("exit_after_cancel")
    return {"entry": d.get("entry_tag"), "exit": d.get("exit_tag"), "stop": d.get("stop_tag"),
            "close": None if close is None else {"reason": close, "forced": True}}


def _runtime(f: Fields, token: int) -> SavedRuntime:
    given = f.data.get("orders") or _older_orders(f.data)
    where = at(f.path, "orders")
    Fields(given, where)  # an object
    with guarded(where):
        orders = InstrumentOrders.from_dict(given)
    same_kinds(where, given, orders.to_dict())
    return SavedRuntime(
        trades_today=f.opt("trades_today", whole(0), 0), halted=f.opt("halted", text, ""),
        error=f.opt("error", text, ""), squared_off=f.opt("squared_off", flag, False),
        orders=orders, last_price=f.opt("last_price", optional(decimal(0, above=True))),
        last_candle_end=f.opt("last_candle_end", optional(stamp)),
        interval=f.opt("interval", optional(lambda raw: param("interval", raw))),
        instrument=_defined(f, token), strategy=f.opt("strategy", text, "alert_breakout"))


def _defined(f: Fields, token: int) -> Instrument | None:
    """A runtime entry's ``instrument``: the definition of the token it is saved under."""
    if f.data.get("instrument") is None:
        return None
    where = at(f.path, "instrument")
    ins = _instrument(f.data["instrument"], where)
    if ins.token != token:
        raise FieldError(at(where, "token"), f"expected {token} (the entry's token), got "
                         f"{ins.token}")
    return ins


def _tripped(f: Fields) -> set[tuple[Scope, str, str]]:
    out = set()
    for path, row in f.items("tripped"):
        if not isinstance(row, list) or len(row) not in (2, 3):
            raise FieldError(path, "expected [scope, name] or [scope, name, which]")
        scope = value_at(at(path, 0), row[0], member(Scope))
        who = value_at(at(path, 1), row[1], name)
        if len(row) == 3 and row[2] not in LIMIT_KEYS:
            raise FieldError(at(path, 2), f"expected one of {', '.join(LIMIT_KEYS)}")
        out |= {(scope, who, which) for which in (row[2:] or LIMIT_KEYS)}
    return out


@dataclass
class SavedState:
    """A whole snapshot, checked; the strategy's sections stay as saved."""

    settings: SavedSettings
    day: date | None
    session_day: date | None
    seq: int
    running: bool
    paused: bool
    orders: dict[str, Order]
    trades: list[Trade]
    positions: list[Any]  # agent.pnl.SavedBook
    strategy: dict[int, tuple[str, dict[str, Any]]]  # token -> (path, data)
    runtime: dict[int, SavedRuntime]
    tripped: set[tuple[Scope, str, str]]


def read_state(snap: Any) -> SavedState:
    """Check a whole snapshot; raises ``FieldError`` at the first bad field."""
    top = Fields(snap, "")
    meta = top.obj("meta", default={})
    version = meta.opt("version", whole(), VERSION)
    if version != VERSION:
        raise FieldError("meta.version", f"expected {VERSION} (this agent's format), got "
                         f"{version}")
    orders: dict[str, Order] = {}
    where: dict[str, str] = {}
    for path, d in top.items("orders"):
        order = order_from_dict(d, path)
        if order.tag in orders:
            raise FieldError(at(path, "tag"), f"{order.tag!r} is also at {where[order.tag]}")
        orders[order.tag], where[order.tag] = order, path
    strategy, runtime = top.obj("strategy", default={}), top.obj("runtime", default={})
    return SavedState(
        settings=read_settings(top.obj("settings", default={})),
        day=meta.opt("day", optional(day)),
        session_day=meta.opt("session_day", optional(day)),
        seq=meta.opt("seq", whole(0), 0),
        running=meta.opt("running", flag, True),
        paused=meta.opt("paused", flag, False),
        orders=orders,
        trades=[trade_from_dict(d, path) for path, d in top.items("trades")],
        positions=read_books(top.items("positions")),
        strategy={token_key(at("strategy", k), k): (at("strategy", k), strategy.obj(k).data)
                  for k in strategy.data},
        runtime={(t := token_key(at("runtime", k), k)): _runtime(runtime.obj(k), t)
                 for k in runtime.data},
        tripped=_tripped(top.obj("risk", default={})),
    )


def day_instruments(snap: Any, today: date) -> list[Instrument]:
    """The definitions of the instruments ``today``'s saved state traded (none when the
    state is of another day): a restart resolves its configured symbols from them when no
    list it can load has them. The whole snapshot is checked (``FieldError``)."""
    saved = read_state(snap)
    if saved.day != today:
        return []
    return [entry.instrument for entry in saved.runtime.values() if entry.instrument]


def apply_settings(engine: Engine, saved: SavedSettings) -> None:
    """The owner's runtime changes (these outlive the day)."""
    o = engine.overrides
    o["defaults"] = {k: v for k, v in saved.defaults.items() if not isinstance(v, Unchecked)}
    o["instruments"] = {s: {k: v for k, v in values.items() if not isinstance(v, Unchecked)}
                        for s, values in saved.instruments.items()}
    o["groups"], o["daily"] = saved.groups, saved.daily
    o["removed"] = set(saved.removed)
    o["added"] = {}
    for ins in saved.added:
        o["added"][ins.symbol.upper()] = ins
        if ins.token not in engine.runtimes:
            engine.add_instrument(ins)
    for symbol in saved.removed:
        rt = engine.by_symbol.get(symbol)
        if rt is not None:
            engine.remove_instrument(rt)
    # a trader's strategy's parameters, now that the instruments (and so the strategies
    # in use) are known
    o["defaults"] = _check_declared(engine, saved.defaults, list(engine.by_symbol),
                                    "settings.defaults")
    o["instruments"] = {s: _check_declared(engine, values, [s], f"settings.instruments.{s}")
                        for s, values in saved.instruments.items()}
    for rt in engine.runtimes.values():
        rt.params = engine.params_for(rt.symbol)
        rt.strategy.set_params(rt.state, rt.params)
    engine.load_limits()


def restore(engine: Engine, snap: Any, today: date) -> bool:
    """Load a snapshot: settings always; the day's state only when saved ``today``.
    Returns whether the day's state was restored. Raises ``FieldError`` (engine untouched,
    but for a bad strategy section: then the process must not go on)."""
    saved = read_state(snap)
    apply_settings(engine, saved.settings)
    if saved.day != today:
        log.info("state of %s is not today's (%s): settings restored, day starts fresh",
                 saved.day, today)
        return False
    engine.start_day(today)
    _keep_day_intervals(engine, saved.runtime, today)
    engine.running, engine.paused = saved.running, saved.paused
    engine.session_day = saved.session_day
    engine.book.seq = saved.seq
    engine.book.orders = saved.orders
    engine.trades = saved.trades
    engine.pnl.restore_books(saved.positions)
    switched = []
    for token, (path, data) in saved.strategy.items():
        rt = engine.runtimes.get(token)
        if rt is None:
            continue
        was = saved.runtime[token].strategy if token in saved.runtime else rt.strategy.name
        if was != rt.strategy.name:  # the config names another strategy since the save
            log.warning("%s: the saved state is %s's, the config now says %s: %s starts "
                        "the day afresh", rt.symbol, was, rt.strategy.name, rt.strategy.name)
            switched.append(rt)
            continue
        with guarded(path):
            rt.strategy.restore(rt.state, data)
        same_kinds(path, data, rt.strategy.to_dict(rt.state))
        engine.tell_session(rt)
    for token, entry in saved.runtime.items():
        rt = engine.runtimes.get(token)
        if rt is not None:
            _restore_runtime(rt, entry)
    for rt in switched:
        _close_switched(rt)
    engine.risk.tripped = saved.tripped
    engine.pnl.dirty.clear()
    log.info("restored the state of %s: %d open position(s), %d trade(s), %d order(s)",
             today, sum(1 for b in engine.pnl.books.values() if b.quantity), len(engine.trades),
             len(engine.book.orders))
    return True


def _close_switched(rt: Any) -> None:
    """A position held under the strategy the config no longer names: the new one does not
    know it (and, flat in its own view, could enter beside it), so the position is closed.
    The close is a wanted one in the instrument's orders: the order path sends it once the
    broker is attached and read, and retries it until flat, like any forced close."""
    if not rt.book.quantity:
        return
    o = rt.orders
    if o.close is None:
        o.close = Close(ExitReason.STRATEGY_CHANGED, None, forced=True)
    else:
        o.close.forced, o.close.prior = True, None
    log.warning("%s: %d held under the previous strategy: closing it (%s)", rt.symbol,
                rt.book.quantity, ExitReason.STRATEGY_CHANGED.value)


def _keep_day_intervals(engine: Engine, runtime: dict[int, SavedRuntime], today: date) -> None:
    """Give each restored instrument the candle interval today started with.

    ``start_day`` grids the day with the params as they are now, which include an
    ``interval`` the owner set earlier today; that one applies from the next trading day
    (docs/strategy.md 9.2), so the saved interval wins until then. A snapshot written
    before the interval was saved keeps the current params.
    """
    for token, entry in runtime.items():
        rt = engine.runtimes.get(token)
        saved = entry.interval
        if rt is None or saved is None or saved == rt.params.interval:
            continue
        log.info("%s: today's candles stay at %s minutes; %s minutes from the next day",
                 rt.symbol, saved, rt.params.interval)
        rt.params = rt.params.with_overrides({"interval": saved})
        rt.strategy.set_params(rt.state, rt.params)
        rt.series.start_day(today, rt.params.interval,
                            *engine.session_hours(today, rt.instrument.exchange))


def _restore_runtime(rt: Any, entry: SavedRuntime) -> None:
    """One instrument's ``runtime`` entry (its interval: ``_keep_day_intervals``)."""
    rt.trades_today = entry.trades_today
    rt.halted = entry.halted
    rt.error = entry.error
    rt.squared_off = entry.squared_off
    rt.orders = entry.orders
    rt.last_price = entry.last_price
    rt.last_candle_end = entry.last_candle_end
