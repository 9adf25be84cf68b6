"""Kite Connect v3 JSON shapes of the simulator's objects (the samples in kite-mocks).

Pure functions of the book, the market and the account; called in the loop thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.sim.market import MinuteCandle, Quote
from agent.sim.orders import SimOrder, SimTrade
from agent.sim.positions import Position
from agent.timeutil import to_ist

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EXCHANGES = ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD", "MF"]
PRODUCTS = ["CNC", "NRML", "MIS", "BO", "CO"]
ORDER_TYPES = ["MARKET", "LIMIT", "SL", "SL-M"]


@dataclass(frozen=True, slots=True)
class Account:
    """Who the simulated user is."""

    user_id: str = "SIM001"
    user_name: str = "Sim Trader"
    user_shortname: str = "Sim"
    email: str = "sim@example.invalid"
    opening_balance: Decimal = Decimal(1_000_000)
    app_id: int = 1001


def kite_time(when: datetime | None) -> str | None:
    return None if when is None else to_ist(when).strftime(TIME_FORMAT)


def num(value: Decimal) -> float | int:
    """A JSON number as Kite writes it: integral values as ints, others as floats."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def profile(account: Account) -> dict[str, Any]:
    return {
        "user_id": account.user_id, "user_type": "individual", "email": account.email,
        "user_name": account.user_name, "user_shortname": account.user_shortname,
        "broker": "ZERODHA", "exchanges": list(EXCHANGES), "products": list(PRODUCTS),
        "order_types": list(ORDER_TYPES), "avatar_url": None,
        "meta": {"demat_consent": "physical"},
    }


def session(account: Account, api_key: str, access_token: str, public_token: str,
            login_time: datetime) -> dict[str, Any]:
    data = profile(account)
    data.update({
        "avatar_url": "", "api_key": api_key, "access_token": access_token,
        "public_token": public_token, "enctoken": public_token, "refresh_token": "",
        "silo": "", "login_time": kite_time(login_time),
    })
    return data


def order(o: SimOrder) -> dict[str, Any]:
    """An order as /orders lists it (and as each entry of its history)."""
    return {
        "account_id": "", "placed_by": "SIM001", "order_id": o.order_id,
        "exchange_order_id": o.exchange_order_id, "parent_order_id": o.parent_order_id,
        "status": o.status, "status_message": o.status_message,
        "status_message_raw": o.status_message,
        "order_timestamp": kite_time(o.order_timestamp),
        "exchange_update_timestamp": kite_time(o.exchange_update_timestamp),
        "exchange_timestamp": kite_time(o.exchange_timestamp),
        "variety": o.variety, "modified": o.modifications > 0,
        "exchange": o.instrument.exchange, "tradingsymbol": o.instrument.tradingsymbol,
        "instrument_token": o.instrument.token, "order_type": o.order_type,
        "transaction_type": o.side.value, "validity": o.validity, "validity_ttl": 0,
        "product": o.product, "quantity": o.quantity,
        "disclosed_quantity": o.disclosed_quantity, "price": num(o.price),
        "trigger_price": num(o.trigger_price), "average_price": num(o.average_price),
        "filled_quantity": o.filled_quantity, "pending_quantity": o.pending_quantity,
        "cancelled_quantity": o.cancelled_quantity,
        "market_protection": num(o.market_protection), "meta": {}, "tag": o.tag,
        "tags": list(o.tags), "guid": o.guid,
    }


def order_update(o: SimOrder, account: Account, api_secret: str) -> dict[str, Any]:
    """The order as a postback / WebSocket order message carries it: its status, or UPDATE
    for a partial fill or a modification (``o.event_status``, set while it is sent)."""
    data = order(o)
    data.pop("modified")
    stamp = data["order_timestamp"] or ""
    data.update({
        "status": o.event_status or o.status,
        "user_id": account.user_id, "app_id": account.app_id,
        "unfilled_quantity": o.quantity - o.filled_quantity,
        "checksum": hashlib.sha256((o.order_id + stamp + api_secret).encode()).hexdigest(),
    })
    return data


def trade(t: SimTrade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id, "order_id": t.order_id, "exchange": t.instrument.exchange,
        "tradingsymbol": t.instrument.tradingsymbol, "instrument_token": t.instrument.token,
        "product": t.product, "average_price": num(t.price), "quantity": t.quantity,
        "exchange_order_id": t.exchange_order_id, "transaction_type": t.side.value,
        "fill_timestamp": kite_time(t.time), "order_timestamp": to_ist(t.time).strftime("%H:%M:%S"),
        "exchange_timestamp": kite_time(t.time),
    }


def position(p: Position, last_price: Decimal, close_price: Decimal) -> dict[str, Any]:
    pnl = p.pnl(last_price)
    return {
        "tradingsymbol": p.instrument.tradingsymbol, "exchange": p.instrument.exchange,
        "instrument_token": p.instrument.token, "product": p.product,
        "quantity": p.quantity, "overnight_quantity": 0, "multiplier": 1,
        "average_price": num(p.average_price), "close_price": num(close_price),
        "last_price": num(last_price), "value": num(p.sell_value - p.buy_value),
        "pnl": num(pnl), "m2m": num(pnl), "unrealised": num(p.unrealised(last_price)),
        "realised": num(p.realised), "buy_quantity": p.buy_quantity,
        "buy_price": num(p.buy_price), "buy_value": num(p.buy_value),
        "buy_m2m": num(p.buy_value), "sell_quantity": p.sell_quantity,
        "sell_price": num(p.sell_price), "sell_value": num(p.sell_value),
        "sell_m2m": num(p.sell_value), "day_buy_quantity": p.buy_quantity,
        "day_buy_price": num(p.buy_price), "day_buy_value": num(p.buy_value),
        "day_sell_quantity": p.sell_quantity, "day_sell_price": num(p.sell_price),
        "day_sell_value": num(p.sell_value),
    }


def ohlc(q: Quote) -> dict[str, Any]:
    return {"open": num(q.open), "high": num(q.high), "low": num(q.low), "close": num(q.close)}


def quote(q: Quote) -> dict[str, Any]:
    return {
        "instrument_token": q.instrument.token, "timestamp": kite_time(q.time),
        "last_trade_time": kite_time(q.time), "last_price": num(q.last_price),
        "last_quantity": q.last_quantity, "buy_quantity": q.buy_quantity,
        "sell_quantity": q.sell_quantity, "volume": q.volume,
        "average_price": num(q.average_price), "oi": q.oi, "oi_day_high": q.oi_day_high,
        "oi_day_low": q.oi_day_low, "net_change": num(q.last_price - q.close),
        "lower_circuit_limit": num(q.lower_circuit),
        "upper_circuit_limit": num(q.upper_circuit), "ohlc": ohlc(q),
        "depth": {
            "buy": [{"price": num(d.price), "quantity": d.quantity, "orders": d.orders}
                    for d in q.depth_buy],
            "sell": [{"price": num(d.price), "quantity": d.quantity, "orders": d.orders}
                     for d in q.depth_sell],
        },
    }


def candle(c: MinuteCandle, with_oi: bool) -> list[Any]:
    row: list[Any] = [to_ist(c.start).strftime("%Y-%m-%dT%H:%M:%S+0530"), num(c.open),
                      num(c.high), num(c.low), num(c.close), c.volume]
    if with_oi:
        row.append(c.oi)
    return row
