"""Plain-JSON forms of core values for storage: ISO times, Decimals as strings.

Pure functions, any thread.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

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


def candle_from_dict(d: dict[str, Any]) -> Candle:
    return Candle(
        instrument_token=int(d["token"]),
        start=datetime.fromisoformat(d["start"]),
        end=datetime.fromisoformat(d["end"]),
        open=Decimal(d["open"]),
        high=Decimal(d["high"]),
        low=Decimal(d["low"]),
        close=Decimal(d["close"]),
        volume=int(d["volume"]),
        ticks=int(d.get("ticks", 1)),
    )


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


def order_from_dict(d: dict[str, Any]) -> Order:
    return Order(
        tag=d["tag"],
        instrument_token=int(d["token"]),
        symbol=d["symbol"],
        side=Side(d["side"]),
        quantity=int(d["quantity"]),
        order_type=OrderType(d["order_type"]),
        purpose=OrderPurpose(d["purpose"]),
        reason=d["reason"],
        created_at=datetime.fromisoformat(d["created_at"]),
        price=undec(d.get("price")),
        trigger_price=undec(d.get("trigger_price")),
        product=d.get("product", "MIS"),
        status=OrderStatus(d["status"]),
        filled_quantity=int(d.get("filled_quantity", 0)),
        average_price=undec(d.get("average_price")),
        broker_order_id=d.get("broker_order_id"),
        message=d.get("message", ""),
        updated_at=uniso(d.get("updated_at")),
        modifications=int(d.get("modifications", 0)),
    )


def trade_to_dict(t: Trade) -> dict[str, Any]:
    """The backtest JSON contract's trade object, plus the order tags."""
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
    }


def trade_from_dict(d: dict[str, Any]) -> Trade:
    return Trade(
        symbol=d["symbol"],
        instrument_token=int(d["instrument_token"]),
        side=Side(d["side"]),
        quantity=int(d["quantity"]),
        entry_time=datetime.fromisoformat(d["entry_time"]),
        entry_price=Decimal(d["entry_price"]),
        entry_reason=d["entry_reason"],
        exit_time=datetime.fromisoformat(d["exit_time"]),
        exit_price=Decimal(d["exit_price"]),
        exit_reason=d["exit_reason"],
        pnl=Decimal(d["pnl"]),
        entry_tag=d.get("entry_tag", ""),
        exit_tag=d.get("exit_tag", ""),
    )
