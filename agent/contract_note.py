"""Kite's virtual contract note: the day's executed orders' charges as Kite computes them.

``kite.get_virtual_contract_note(params)`` (kiteconnect 5.2.2; ``POST /charges/orders``,
a JSON list) takes one object per executed order: ``order_id``, ``exchange``,
``tradingsymbol``, ``transaction_type``, ``variety``, ``product``, ``order_type``,
``quantity`` and ``average_price``. It answers a list in the same order; each item echoes
the order's fields (``price`` for the average price, no ``order_id``: Kite's forum,
discussion comment/52568, says to match them by position) with ``charges``:
``transaction_tax``, ``transaction_tax_type``, ``exchange_turnover_charge``,
``sebi_turnover_charge``, ``brokerage``, ``stamp_duty``, ``gst`` {``igst``, ``cgst``,
``sgst``, ``total``} and ``total`` (zerodha/kiteconnect-mocks' sample shape).

The refresh (``refresh_charges``) runs on a worker thread: it asks the engine for the
executed orders not yet noted (``NoteOrders``), reads the note through the broker's reader
pool (``KiteBroker.read_contract_note``; the engine thread never waits on HTTP), and hands
the totals back (``ApplyNote``): each trade whose orders Kite priced takes Kite's figures
(agent/charge_book.py), the others keep the table's. An answer item that does not echo its
order (symbol, side, quantity) is ignored for that order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from agent.events import Command
from agent.models import Side

if TYPE_CHECKING:
    from agent.commands import Reply
    from agent.engine import Engine

log = logging.getLogger(__name__)
CHUNK = 50  # orders per request (Kite states no limit: UNVERIFIED, so ask in parts)


@dataclass(frozen=True, slots=True)
class NoteOrder:
    """One executed order to price (``quantity``: what it filled)."""

    tag: str
    order_id: str
    exchange: str
    tradingsymbol: str
    side: Side
    product: str
    order_type: str
    quantity: int
    average_price: Decimal

    def params(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "exchange": self.exchange,
                "tradingsymbol": self.tradingsymbol, "transaction_type": self.side.value,
                "variety": "regular", "product": self.product, "order_type": self.order_type,
                "quantity": self.quantity, "average_price": float(self.average_price)}


@dataclass(frozen=True, slots=True)
class NoteTotal:
    """Kite's charges of one whole order, for the quantity it was asked about."""

    total: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class NoteOrders(Command):
    """The executed orders of the day whose charges Kite has not priced yet."""


@dataclass(frozen=True, slots=True)
class ApplyNote(Command):
    totals: Mapping[str, NoteTotal]  # by order tag


def note_totals(orders: Sequence[NoteOrder], answer: Any) -> dict[str, NoteTotal]:
    """Kite's answer, item by item in the order asked, as totals by tag; an item that does
    not echo its order, or has no usable total, is left out (the table prices it)."""
    if not isinstance(answer, list):
        raise ValueError(f"expected a list, got {type(answer).__name__}")
    found: dict[str, NoteTotal] = {}
    for order, item in zip(orders, answer, strict=False):
        if not isinstance(item, Mapping) or not _echoes(order, item):
            log.warning("contract note: an answer does not match %s %s %d: ignored",
                        order.tradingsymbol, order.side, order.quantity)
            continue
        charges = item.get("charges")
        total = _number(charges.get("total")) if isinstance(charges, Mapping) else None
        if total is None:
            continue
        found[order.tag] = NoteTotal(total, order.quantity)
    if len(answer) != len(orders):
        log.warning("contract note: %d answers for %d orders", len(answer), len(orders))
    return found


def _echoes(order: NoteOrder, item: Mapping[str, Any]) -> bool:
    return (str(item.get("tradingsymbol", "")).upper() == order.tradingsymbol.upper()
            and str(item.get("transaction_type", "")).upper() == order.side.value
            and _number(item.get("quantity")) == order.quantity)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def refresh_charges(call: Callable[[Command], Reply],
                    read: Callable[[Sequence[NoteOrder]], Future[dict[str, NoteTotal]]],
                    timeout: float = 10.0) -> str:
    """Price the day's executed orders with Kite's contract note and apply it; a line
    saying what happened. Kite failing leaves the table's charges (logged). Any thread but
    the engine's and the event loop's: it waits."""
    orders: list[NoteOrder] = list(call(NoteOrders()).data or ())
    if not orders:
        return "no executed orders to price"
    totals: dict[str, NoteTotal] = {}
    try:
        for start in range(0, len(orders), CHUNK):
            totals |= read(orders[start:start + CHUNK]).result(timeout)
    except Exception as exc:
        log.warning("Kite's contract note could not be read (%s: %s): the charges stay "
                    "the table's", type(exc).__name__, exc)
        if not totals:
            return f"Kite's contract note unavailable ({type(exc).__name__}): table charges"
    return str(call(ApplyNote(totals)).text)


# ---------------------------------------------------------------- engine side


def note_orders(engine: Engine, cmd: NoteOrders) -> Reply:
    """Engine thread: the finished orders with fills that Kite has not priced."""
    from agent.commands import Reply

    found = engine.charge_book.unpriced(engine.book.orders.values(), engine.runtimes)
    return Reply(True, f"{len(found)} order(s) to price", found)


def apply_note(engine: Engine, cmd: ApplyNote) -> Reply:
    """Engine thread: Kite's figures into the trades and the books."""
    from agent.commands import Reply

    changed = engine.apply_charges(cmd.totals)
    return Reply(True, f"Kite priced {len(cmd.totals)} order(s); {changed} trade(s) "
                       "take its charges", {"orders": len(cmd.totals), "trades": changed})
