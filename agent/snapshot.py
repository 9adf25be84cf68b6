"""The engine's state as plain JSON data, and back: what a restart within a day restores.

Sections: ``meta`` (day, tag sequence, running/paused), ``settings`` (the owner's runtime
changes, kept across days), ``orders`` and ``trades`` (today's), ``positions``,
``strategy`` (alerts, stops, VWAP sums per instrument), ``runtime`` (halts, trade counts,
orders in flight, the day's candle interval) and ``risk`` (tripped scopes). Engine thread
only (``restore``: the composition root's thread, before the engine's runner starts).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.engine import Engine
from agent.lifecycle.state import InstrumentOrders
from agent.models import Instrument, TradeSide
from agent.pnl import book_matters, book_to_dict, book_version
from agent.risk import Scope
from agent.serialize import order_from_dict, order_to_dict, trade_from_dict, trade_to_dict
from agent.settings import StrategyParams

log = logging.getLogger(__name__)

VERSION = 1
_PARAM_TYPES = {k: type(getattr(StrategyParams(), k)) for k in StrategyParams.__slots__}


def encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, TradeSide):
        return value.value
    return value


def decode_param(key: str, raw: Any) -> Any:
    kind = _PARAM_TYPES.get(key)
    if kind is Decimal:
        return Decimal(str(raw))
    if kind is TradeSide:
        return TradeSide(str(raw).upper())
    if kind is bool:
        return bool(raw)
    if kind is int:
        return int(raw)
    return raw


def _instrument_to_dict(ins: Instrument) -> dict[str, Any]:
    return {"token": ins.token, "exchange": ins.exchange, "tradingsymbol": ins.tradingsymbol,
            "tick_size": str(ins.tick_size), "lot_size": ins.lot_size,
            "freeze_quantity": ins.freeze_quantity, "segment": ins.segment,
            "instrument_type": ins.instrument_type, "name": ins.name}


def _instrument_from_dict(d: dict[str, Any]) -> Instrument:
    return Instrument(int(d["token"]), d["exchange"], d["tradingsymbol"],
                      Decimal(d["tick_size"]), int(d["lot_size"]), int(d["freeze_quantity"]),
                      d.get("segment", ""), d.get("instrument_type", "EQ"), d.get("name", ""))


def settings_section(engine: Engine) -> dict[str, Any]:
    o = engine.overrides
    return {
        "defaults": {k: encode_value(v) for k, v in o["defaults"].items()},
        "instruments": {s: {k: encode_value(v) for k, v in kv.items()}
                        for s, kv in o["instruments"].items()},
        "groups": {g: {k: str(v) for k, v in kv.items()} for g, kv in o["groups"].items()},
        "daily": {k: str(v) for k, v in o["daily"].items()},
        "added": [_instrument_to_dict(i) for i in o.get("added", {}).values()],
        "removed": sorted(o.get("removed", set())),
    }


def take(engine: Engine, now: datetime) -> dict[str, Any]:
    """The whole state as JSON-ready data (a new dict: the writer owns it from here).

    Per instrument, the strategy's and the runtime's parts are rebuilt only when their
    version changed since the last snapshot (``engine.snapshot_cache``): with thousands of
    instruments most are unchanged between two snapshots, and this runs on the engine thread.
    """
    strategy, runtime = {}, {}
    cache = engine.snapshot_cache
    for token, rt in engine.runtimes.items():
        key = (engine.strategy.version(rt.state), _runtime_version(engine, rt))
        hit = cache.get(token)
        if hit is None or hit[0] != key:
            hit = cache[token] = (key, engine.strategy.to_dict(rt.state),
                                  _runtime_dict(engine, rt))
        strategy[str(token)], runtime[str(token)] = hit[1], hit[2]
    for token in [t for t in cache if isinstance(t, int) and t not in engine.runtimes]:
        del cache[token]
    orders = [_cached(cache, ("order", o.tag), _order_version(o), order_to_dict, o)
              for o in engine.book.orders.values()]
    trades = [_cached(cache, ("trade", t.entry_tag, t.exit_tag), None, trade_to_dict, t)
              for t in engine.trades]
    return {
        "meta": {"version": VERSION, "day": None if engine.day is None else str(engine.day),
                 "seq": engine.book.seq, "running": engine.running, "paused": engine.paused,
                 "session_day": None if engine.session_day is None else str(engine.session_day),
                 "saved_at": now.isoformat()},
        "settings": settings_section(engine),
        "orders": orders,
        "trades": trades,
        "positions": [_cached(cache, ("book", b.token), book_version(b), book_to_dict, b)
                      for b in engine.pnl.books.values() if book_matters(b)],
        "strategy": strategy,
        "runtime": runtime,
        "risk": {"tripped": sorted([s.value, n, w] for s, n, w in engine.risk.tripped)},
    }


def _cached(cache: dict[Any, Any], key: Any, version: Any, build: Any, item: Any) -> Any:
    hit = cache.get(key)
    if hit is None or hit[0] != version:
        hit = cache[key] = (version, build(item))
    return hit[1]


def _order_version(o: Any) -> tuple[Any, ...]:
    return (o.status, o.filled_quantity, o.average_price, o.modifications, o.price,
            o.trigger_price, o.quantity, o.order_type, o.reason, o.broker_order_id, o.message,
            o.updated_at)


def _runtime_version(engine: Engine, rt: Any) -> tuple[Any, ...]:
    held = engine.pnl.books[rt.token].quantity
    return (rt.trades_today, rt.halted, rt.error, rt.squared_off, rt.orders.version(),
            rt.last_candle_end, rt.last_price if held else None, rt.series.interval)


def _runtime_dict(engine: Engine, rt: Any) -> dict[str, Any]:
    held = engine.pnl.books[rt.token].quantity
    return {
        "trades_today": rt.trades_today, "halted": rt.halted, "error": rt.error,
        "squared_off": rt.squared_off, "orders": rt.orders.to_dict(),
        # the last price matters after a restart only to close an open position at it
        "last_price": None if rt.last_price is None or not held else str(rt.last_price),
        "last_candle_end": None if rt.last_candle_end is None
        else rt.last_candle_end.isoformat(),
        # the grid the day started with: a ``/set interval`` of today waits for the next day
        "interval": rt.series.interval,
    }


def restore_settings(engine: Engine, section: dict[str, Any]) -> None:
    """The owner's runtime changes (these outlive the day)."""
    o = engine.overrides
    o["defaults"] = {k: decode_param(k, v) for k, v in section.get("defaults", {}).items()}
    o["instruments"] = {s: {k: decode_param(k, v) for k, v in kv.items()}
                        for s, kv in section.get("instruments", {}).items()}
    o["groups"] = {g: {k: Decimal(v) for k, v in kv.items()}
                   for g, kv in section.get("groups", {}).items()}
    o["daily"] = {k: Decimal(v) for k, v in section.get("daily", {}).items()}
    removed = set(section.get("removed", []))
    o["removed"] = removed
    o["added"] = {}
    for d in section.get("added", []):
        ins = _instrument_from_dict(d)
        o["added"][ins.symbol.upper()] = ins
        if ins.token not in engine.runtimes:
            engine.add_instrument(ins)
    for symbol in removed:
        rt = engine.by_symbol.get(symbol)
        if rt is not None:
            engine.remove_instrument(rt)
    for rt in engine.runtimes.values():
        rt.params = engine.params_for(rt.symbol)
        engine.strategy.set_params(rt.state, rt.params)
    engine.load_limits()


def restore(engine: Engine, snap: dict[str, Any], today: date) -> bool:
    """Load a snapshot. Settings always; the day's state only when saved ``today``.
    Returns whether the day's state was restored."""
    restore_settings(engine, snap.get("settings", {}))
    meta = snap.get("meta", {})
    if meta.get("day") != str(today):
        log.info("state of %s is not today's (%s): settings restored, day starts fresh",
                 meta.get("day"), today)
        return False
    engine.start_day(today)
    _keep_day_intervals(engine, snap.get("runtime", {}), today)
    engine.running = bool(meta.get("running", True))
    engine.paused = bool(meta.get("paused", False))
    session_day = meta.get("session_day")
    engine.session_day = None if session_day is None else date.fromisoformat(session_day)
    engine.book.seq = int(meta.get("seq", 0))
    engine.book.orders = {d["tag"]: order_from_dict(d) for d in snap.get("orders", [])}
    engine.trades = [trade_from_dict(d) for d in snap.get("trades", [])]
    engine.pnl.restore(snap.get("positions", []))
    for token_text, data in snap.get("strategy", {}).items():
        rt = engine.runtimes.get(int(token_text))
        if rt is not None:
            engine.strategy.restore(rt.state, data)
    for token_text, d in snap.get("runtime", {}).items():
        rt = engine.runtimes.get(int(token_text))
        if rt is not None:
            _restore_runtime(rt, d)
    engine.risk.tripped = {(Scope(t[0]), t[1], w) for t in snap.get("risk", {}).get("tripped", [])
                           for w in (t[2:] or ("profit_target", "loss_limit"))}
    engine.pnl.dirty.clear()
    log.info("restored the state of %s: %d open position(s), %d trade(s), %d order(s)",
             today, sum(1 for b in engine.pnl.books.values() if b.quantity), len(engine.trades),
             len(engine.book.orders))
    return True


def _older_orders(d: dict[str, Any]) -> dict[str, Any]:
    """The runtime section of a state file written before agent/lifecycle (version 1)."""
    close = d.get("pending_close") or d.get("exit_after_cancel")
    return {"entry": d.get("entry_tag"), "exit": d.get("exit_tag"), "stop": d.get("stop_tag"),
            "close": None if close is None else {"reason": close, "forced": True}}


def _keep_day_intervals(engine: Engine, runtime: dict[str, Any], today: date) -> None:
    """Give each restored instrument the candle interval today started with.

    ``start_day`` grids the day with the params as they are now, which include an
    ``interval`` the owner set earlier today; that one applies from the next trading day
    (docs/strategy.md 9.2), so the saved interval wins until then. A snapshot written
    before the interval was saved keeps the current params. Called by ``restore`` (the
    composition root's thread, before the runner starts).
    """
    for token_text, d in runtime.items():
        rt = engine.runtimes.get(int(token_text))
        saved = d.get("interval")
        if rt is None or saved is None or int(saved) == rt.params.interval:
            continue
        log.info("%s: today's candles stay at %s minutes; %s minutes from the next day",
                 rt.symbol, saved, rt.params.interval)
        rt.params = rt.params.with_overrides({"interval": int(saved)})
        engine.strategy.set_params(rt.state, rt.params)
        rt.series.start_day(today, rt.params.interval,
                            *engine.session_hours(today, rt.instrument.exchange))


def _restore_runtime(rt: Any, d: dict[str, Any]) -> None:
    """One instrument's ``runtime`` section (its interval: ``_keep_day_intervals``).
    Called by ``restore``, on its thread."""
    rt.trades_today = int(d.get("trades_today", 0))
    rt.halted = d.get("halted", "")
    rt.error = d.get("error", "")
    rt.squared_off = bool(d.get("squared_off", False))
    rt.orders = InstrumentOrders.from_dict(d.get("orders") or _older_orders(d))
    lp = d.get("last_price")
    rt.last_price = None if lp is None else Decimal(lp)
    lce = d.get("last_candle_end")
    rt.last_candle_end = None if lce is None else datetime.fromisoformat(lce)
