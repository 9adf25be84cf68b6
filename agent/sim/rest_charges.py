"""``POST /charges/orders``: Kite's virtual contract note on the simulated exchange.

The body is a JSON list of executed orders (``exchange``, ``tradingsymbol``,
``transaction_type``, ``variety``, ``product``, ``order_type``, ``quantity``,
``average_price``, ``order_id``); the answer is a list in the same order, each item echoing
the order (``price`` for its average price, no ``order_id``, as real Kite answers) with
``charges`` in Kite's shape (agent/contract_note.py). The figures are one order's, from the
agent's built-in rate table for the exchange's day (``agent.charges.order_charges``,
unrounded as Kite states them); a CNC order is priced as delivery, MIS and NRML as
intraday or F&O. Loop thread only.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from agent.charges import DEFAULT_TABLES, Charges, Leg, order_charges, segment_of, table_for
from agent.models import Side
from agent.sim import errors, shapes
from agent.sim.rest_market import CORE, ok

ROUTE = "/charges/orders"


def _charges(c: Charges) -> dict[str, Any]:
    gst = float(c.gst)
    return {"transaction_tax": float(c.stt), "transaction_tax_type": "stt",
            "exchange_turnover_charge": float(c.exchange),
            "sebi_turnover_charge": float(c.sebi), "brokerage": shapes.num(c.brokerage),
            "stamp_duty": float(c.stamp),
            "gst": {"igst": gst, "cgst": 0, "sgst": 0, "total": gst},
            "total": float(c.total)}


def _item(core: Any, raw: Any, day: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise errors.input_error("Invalid orders: each order must be an object.")
    exchange = str(raw.get("exchange", "")).upper()
    symbol = str(raw.get("tradingsymbol", "")).upper()
    ins = core.market.index.by_symbol(f"{exchange}:{symbol}")
    if ins is None:
        raise errors.invalid("tradingsymbol")
    try:
        side = Side(str(raw.get("transaction_type", "")).upper())
    except ValueError:
        raise errors.invalid("transaction_type") from None
    quantity, price = raw.get("quantity"), raw.get("average_price")
    try:
        qty = int(quantity)
        value = Decimal(str(price)) * qty
    except (TypeError, ValueError, InvalidOperation):
        raise errors.invalid("quantity" if not isinstance(quantity, int) else "average_price") \
            from None
    if qty <= 0 or not value.is_finite() or value < 0:
        raise errors.invalid("quantity" if qty <= 0 else "average_price")
    product = str(raw.get("product", "MIS")).upper()
    segment = segment_of(ins, overnight=product == "CNC")
    table = table_for(DEFAULT_TABLES, day) or DEFAULT_TABLES[0]
    charges = (Charges() if segment is None
               else order_charges(table, segment, ins.exchange, Leg("", side, qty, value)))
    return {"transaction_type": side.value, "tradingsymbol": ins.tradingsymbol,
            "exchange": ins.exchange, "variety": raw.get("variety", "regular"),
            "product": product, "order_type": raw.get("order_type", "MARKET"),
            "quantity": qty, "price": price, "charges": _charges(charges)}


async def contract_note(request: web.Request) -> web.Response:
    core = request.app[CORE]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.input_error("Invalid JSON body.") from None
    if not isinstance(body, list):
        raise errors.input_error("Invalid orders: expected a list of orders.")
    day = core.now().date()
    return ok([_item(core, raw, day) for raw in body])


def add_routes(app: web.Application) -> None:
    app.router.add_post(ROUTE, contract_note)
