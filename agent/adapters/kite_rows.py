"""What Kite's order and position rows say, read leniently, and typed for the engine.

Order rows come from ``kite.orders()``, ticker order messages and ``kite.order_history``;
they are read the same way: statuses (``KITE_STATUS``; an unknown word is "not final"),
our tags (``agent_tag``), numbers that may be JSON numbers or strings ("10.0"), a price of
0 that means "none yet". ``order_row`` and ``position_row`` type them for
``agent.events.BrokerSnapshot``: every order row of the day, ours and foreign, and the
MIS/NRML net positions. Pure: any thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.events import BrokerOrderRow, BrokerPositionRow
from agent.models import OrderPurpose, OrderStatus, OrderType, Side
from agent.timeutil import IST

POSITION_PRODUCTS = ("MIS", "NRML")
_TIME_FIELDS = ("order_timestamp", "exchange_update_timestamp", "exchange_timestamp")

# Kite's status strings -> ours. None: a transition that says nothing about the outcome
# (the previous status stands; a fill it carries still counts).
KITE_STATUS: dict[str, OrderStatus | None] = {
    "OPEN": OrderStatus.OPEN,
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "TRIGGER PENDING": OrderStatus.TRIGGER_PENDING,
    "PUT ORDER REQ RECEIVED": OrderStatus.PENDING,
    "VALIDATION PENDING": OrderStatus.PENDING,
    "OPEN PENDING": OrderStatus.PENDING,
    "AMO REQ RECEIVED": OrderStatus.PENDING,
    "MODIFY VALIDATION PENDING": None,
    "MODIFY PENDING": None,
    "MODIFIED": None,
    "CANCEL PENDING": None,
    "UPDATE": None,
}

# Our tags (agent.lifecycle.tags.make_tag): E/X/S, yymmdd, a sequence of at least five digits.
TAG_RE = re.compile(r"^[EXS]\d{6}\d{5,}$")
_PURPOSE = {"E": OrderPurpose.ENTRY, "X": OrderPurpose.EXIT, "S": OrderPurpose.STOP}


def is_agent_tag(tag: object) -> bool:
    return isinstance(tag, str) and len(tag) <= 20 and TAG_RE.match(tag) is not None


def agent_tag(row: Mapping[str, Any]) -> str | None:
    """The row's tag when it has our format, else one of its ``tags`` that has (Kite adds
    its own, ``mktp``, ``autoslice``, after the user's; that the user's always stays in
    ``tag`` is not documented), else None: not ours."""
    tag = row.get("tag")
    if is_agent_tag(tag):
        return str(tag)
    tags = row.get("tags")
    if isinstance(tags, list):
        return next((str(t) for t in tags if is_agent_tag(t)), None)
    return None


def purpose_of(tag: str) -> OrderPurpose:
    return _PURPOSE[tag[0]]


def kite_status(raw: object) -> tuple[bool, OrderStatus | None]:
    """(known, status) for a Kite status string."""
    if not isinstance(raw, str) or raw not in KITE_STATUS:
        return False, None
    return True, KITE_STATUS[raw]


def guess_status(raw: str) -> OrderStatus | None:
    """How an order ended, read from the words of a status Kite has not documented (when
    its history did not settle it): REJECT... is REJECTED; CANCEL..., LAPSE..., EXPIRE...
    are CANCELLED, unless the word says it is still in progress (PENDING, REQ, RECEIVED,
    PARTIAL, ...). None for anything else: taken as still working. Never COMPLETE: a fill
    shows in ``filled_quantity``, and a fully filled order is complete whatever its status
    says (``kite_orders.aggregate``)."""
    word = raw.upper()
    if "REJECT" in word:
        return OrderStatus.REJECTED
    if any(w in word for w in ("PENDING", "REQ", "RECEIVED", "PARTIAL", "MODIF", "TRIGGER",
                               "OPEN")):
        return None
    if any(w in word for w in ("CANCEL", "LAPSE", "EXPIRE")):
        return OrderStatus.CANCELLED
    return None


def decimal_of(value: Any) -> Decimal | None:
    """A Kite JSON number (int, float or str) as an exact Decimal; None if absent/bad."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        out = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def price_of(value: Any) -> Decimal | None:
    """A price, None when absent, bad, zero or negative (Kite's 0: no price yet)."""
    out = decimal_of(value)
    return out if out is not None and out > 0 else None


def int_of(value: Any) -> int | None:
    """A Kite quantity (10, 10.0, "10", "10.0") as an int; None if absent, bad or not whole."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    out = decimal_of(value)
    if out is None or out != out.to_integral_value():
        return None
    return int(out)


@dataclass(frozen=True, slots=True)
class RowView:
    """What one Kite order row (poll, ticker message or history) says, parsed leniently."""

    status: OrderStatus | None  # None: says nothing about the outcome (interim or unknown)
    known: bool  # a status string Kite documents (``KITE_STATUS``)
    raw: str
    quantity: int | None
    filled: int | None
    average: Decimal | None  # None: no usable price (0, missing, bad)
    message: str


def row_view(row: Mapping[str, Any], status: OrderStatus | None = None) -> RowView:
    """Parse ``row``; ``status`` overrides an unknown status (a guess from its words)."""
    raw = row.get("status")
    known, parsed = kite_status(raw)
    if status is not None:
        known, parsed = True, status
    return RowView(parsed, known, str(raw or ""), int_of(row.get("quantity")),
                   int_of(row.get("filled_quantity")), price_of(row.get("average_price")),
                   str(row.get("status_message") or ""))


# ---------------------------------------------------------------- typed for the snapshot


def row_time(row: Mapping[str, Any]) -> datetime | None:
    """The row's time: ``order_timestamp`` (Kite moves it at each change of state), else
    the exchange's; IST-aware. kiteconnect turns 19-character stamps into naive datetimes
    in ``orders()``; ticker messages carry the text."""
    for key in _TIME_FIELDS:
        value = row.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=IST)
        if isinstance(value, str) and value:
            try:
                return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
            except ValueError:
                continue
    return None


def order_row(row: Mapping[str, Any]) -> BrokerOrderRow | None:
    """One order row typed, or None when it cannot be (no id, token, side or order type,
    or a quantity that is not a number): the snapshot is then not ``complete``. Read as
    the adapter reads rows: numbers from text; an average of 0 is None (no usable price
    yet); COMPLETE means the whole quantity filled, whatever ``filled_quantity`` says."""
    order_id = str(row.get("order_id") or "")
    token, quantity = int_of(row.get("instrument_token")), int_of(row.get("quantity"))
    filled = int_of(row.get("filled_quantity") or 0)
    try:
        side = Side(str(row.get("transaction_type")))
        order_type = OrderType(str(row.get("order_type")))
    except ValueError:
        return None
    if not order_id or token is None or quantity is None or filled is None:
        return None
    view = row_view(row)
    if view.status is OrderStatus.COMPLETE:
        filled = max(filled, quantity)
    return BrokerOrderRow(
        order_id=order_id, tag=agent_tag(row), instrument_token=token,
        product=str(row.get("product") or ""), side=side, quantity=quantity,
        filled_quantity=filled, average_price=view.average, status=view.status,
        raw_status=view.raw, order_type=order_type, price=price_of(row.get("price")),
        trigger_price=price_of(row.get("trigger_price")), time=row_time(row),
        message=view.message)


def order_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[tuple[BrokerOrderRow, ...], bool]:
    """Every row typed, and whether every row could be."""
    typed = [order_row(r) if isinstance(r, Mapping) else None for r in rows]
    return tuple(r for r in typed if r is not None), None not in typed


def position_rows(net: Iterable[Mapping[str, Any]]
                  ) -> tuple[tuple[BrokerPositionRow, ...], bool]:
    """The MIS and NRML net positions (flat ones too) typed, and whether every one could
    be (other products are left out: not the agent's)."""
    out: list[BrokerPositionRow] = []
    ok = True
    for row in net:
        if not isinstance(row, Mapping) or str(row.get("product") or "") not in \
                POSITION_PRODUCTS:
            ok = ok and isinstance(row, Mapping)
            continue
        token, quantity = int_of(row.get("instrument_token")), int_of(row.get("quantity"))
        overnight = int_of(row.get("overnight_quantity") or 0)
        if token is None or quantity is None or overnight is None:
            ok = False
            continue
        out.append(BrokerPositionRow(
            instrument_token=token, product=str(row["product"]), quantity=quantity,
            average_price=decimal_of(row.get("average_price")) or Decimal(0),
            overnight=overnight))
    return tuple(out), ok
