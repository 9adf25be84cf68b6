"""The engine's state as plain JSON data, and back: what a restart within a day restores.

Sections: ``meta`` (day, tag sequence, running/paused), ``settings`` (the owner's runtime
changes, kept across days), ``orders`` and ``trades`` (today's), ``positions``,
``strategy`` (alerts, stops, VWAP sums per instrument), ``runtime`` (halts, trade counts,
orders in flight, the day's candle interval, the instrument's definition) and ``risk``
(tripped scopes). Engine thread
only. ``restore`` (``agent/restore.py``, which checks every field first) runs on the
composition root's thread, before the engine's runner starts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.engine import Engine
from agent.models import Instrument, TradeSide
from agent.pnl import book_matters, book_to_dict, book_version
from agent.restore import VERSION, day_instruments, restore
from agent.serialize import order_to_dict, trade_to_dict

log = logging.getLogger(__name__)

__all__ = ["VERSION", "day_instruments", "restore", "settings_section", "take"]


def encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, TradeSide):
        return value.value
    return value


def _instrument_to_dict(ins: Instrument) -> dict[str, Any]:
    return {"token": ins.token, "exchange": ins.exchange, "tradingsymbol": ins.tradingsymbol,
            "tick_size": str(ins.tick_size), "lot_size": ins.lot_size,
            "freeze_quantity": ins.freeze_quantity, "segment": ins.segment,
            "instrument_type": ins.instrument_type, "name": ins.name,
            "expiry": ins.expiry.isoformat() if ins.expiry else None}


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
        key = (rt.strategy.version(rt.state), _runtime_version(engine, rt))
        hit = cache.get(token)
        if hit is None or hit[0] != key:
            hit = cache[token] = (key, rt.strategy.to_dict(rt.state),
                                  _runtime_dict(engine, rt))
        strategy[str(token)], runtime[str(token)] = hit[1], hit[2]
    for token in [t for t in cache if isinstance(t, int) and t not in engine.runtimes]:
        del cache[token]
    orders = [_cached(cache, ("order", o.tag), _order_version(o), order_to_dict, o)
              for o in engine.book.orders.values()]
    trades = [_cached(cache, ("trade", t.entry_tag, t.exit_tag), t.charges, trade_to_dict, t)
              for t in engine.trades]  # Kite's contract note may change a trade's charges
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
        # whose state the strategy section holds (a restart with another strategy drops it)
        "strategy": rt.strategy.name,
        # its definition from the day's list: a restart the same day trades it even when
        # no list it can load has it (no login yet, the bundled sample)
        "instrument": _instrument_to_dict(rt.instrument),
    }
