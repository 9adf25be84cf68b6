"""Plain-JSON forms of core values for storage: ISO times, Decimals as strings.

The ``*_from_dict`` readers check every field (``agent/fields.py``): a value that is not
what the agent writes raises ``FieldError`` naming its path (``orders[3].tag: missing``),
never a bare ``KeyError`` from deep inside. Pure functions, any thread.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.fields import (
    FieldError,
    Fields,
    at,
    decimal,
    member,
    name,
    optional,
    stamp,
    text,
    whole,
)
from agent.models import Candle, Order, OrderPurpose, OrderStatus, OrderType, Side, Trade


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def uniso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def candle_to_dict(c: Candle) -> dict[str, Any]:
    return {
        "token": c.instrument_token,
        "start": c.start.isoformat(),
        "end": c.end.isoformat(),
        "open": str(c.open),
        "high": str(c.high),
        "low": str(c.low),
        "close": str(c.close),
        "volume": c.volume,
        "ticks": c.ticks,
    }


def candle_from_dict(d: Any, path: str = "") -> Candle:
    """A saved candle; ``FieldError`` naming the field (under ``path``) when it is not one."""
    f = Fields(d, path)
    price = decimal(0, above=True)
    candle = Candle(
        instrument_token=f.req("token", whole(0)),
        start=f.req("start", stamp),
        end=f.req("end", stamp),
        open=f.req("open", price),
        high=f.req("high", price),
        low=f.req("low", price),
        close=f.req("close", price),
        volume=f.req("volume", whole(0)),
        ticks=f.opt("ticks", whole(0), 1),
    )
    if candle.end <= candle.start:
        raise FieldError(at(path, "end"), f"{d['end']} is not after start {d['start']}")
    if candle.low > candle.high:
        raise FieldError(at(path, "low"), f"{d['low']} is above high {d['high']}")
    return candle


def order_to_dict(o: Order) -> dict[str, Any]:
    return {
        "tag": o.tag,
        "token": o.instrument_token,
        "symbol": o.symbol,
        "side": o.side.value,
        "quantity": o.quantity,
        "order_type": o.order_type.value,
        "purpose": o.purpose.value,
        "reason": o.reason,
        "created_at": iso(o.created_at),
        "price": dec(o.price),
        "trigger_price": dec(o.trigger_price),
        "product": o.product,
        "status": o.status.value,
        "filled_quantity": o.filled_quantity,
        "average_price": dec(o.average_price),
        "broker_order_id": o.broker_order_id,
        "message": o.message,
        "updated_at": iso(o.updated_at),
        "modifications": o.modifications,
    }


def order_from_dict(d: Any, path: str = "") -> Order:
    """A saved order; ``FieldError`` naming the field (under ``path``) when it is not one."""
    f = Fields(d, path)
    price = optional(decimal(0))
    return Order(
        tag=f.req("tag", name),
        instrument_token=f.req("token", whole(0)),
        symbol=f.req("symbol", name),
        side=f.req("side", member(Side)),
        quantity=f.req("quantity", whole(1)),
        order_type=f.req("order_type", member(OrderType)),
        purpose=f.req("purpose", member(OrderPurpose)),
        reason=f.req("reason", text),
        created_at=f.req("created_at", stamp),
        price=f.opt("price", price),
        trigger_price=f.opt("trigger_price", price),
        product=f.opt("product", name, "MIS"),
        status=f.req("status", member(OrderStatus)),
        filled_quantity=f.opt("filled_quantity", whole(0), 0),
        average_price=f.opt("average_price", price),
        broker_order_id=f.opt("broker_order_id", optional(text)),
        message=f.opt("message", text, ""),
        updated_at=f.opt("updated_at", optional(stamp)),
        modifications=f.opt("modifications", whole(0), 0),
    )


def trade_to_dict(t: Trade) -> dict[str, Any]:
    """The backtest JSON contract's trade object, plus the order tags, the charges and the
    net P&L (``net_pnl`` is written for readers; ``trade_from_dict`` derives it)."""
    return {
        "symbol": t.symbol,
        "instrument_token": t.instrument_token,
        "side": t.side.value,
        "quantity": t.quantity,
        "entry_time": t.entry_time.isoformat(),
        "entry_price": str(t.entry_price),
        "entry_reason": t.entry_reason,
        "exit_time": t.exit_time.isoformat(),
        "exit_price": str(t.exit_price),
        "exit_reason": t.exit_reason,
        "pnl": str(t.pnl),
        "entry_tag": t.entry_tag,
        "exit_tag": t.exit_tag,
        "charges": str(t.charges),
        "net_pnl": str(t.net_pnl),
    }


def trade_from_dict(d: Any, path: str = "") -> Trade:
    """A saved trade; ``FieldError`` naming the field (under ``path``) when it is not one."""
    f = Fields(d, path)
    price = decimal(0, above=True)
    return Trade(
        symbol=f.req("symbol", name),
        instrument_token=f.req("instrument_token", whole(0)),
        side=f.req("side", member(Side)),
        quantity=f.req("quantity", whole(1)),
        entry_time=f.req("entry_time", stamp),
        entry_price=f.req("entry_price", price),
        entry_reason=f.req("entry_reason", text),
        exit_time=f.req("exit_time", stamp),
        exit_price=f.req("exit_price", price),
        exit_reason=f.req("exit_reason", text),
        pnl=f.req("pnl", decimal()),
        entry_tag=f.opt("entry_tag", text, ""),
        exit_tag=f.opt("exit_tag", text, ""),
        charges=f.opt("charges", decimal(0), Decimal(0)),  # absent in older files: 0
    )
