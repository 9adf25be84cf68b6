"""Orders of the simulated exchange: parsed requests, order state, trades.

Pure data and parsing; the book is ``agent.sim.book``, the statuses an order goes through
``agent.sim.lifecycle``, the matching ``agent.sim.matching``. Objects here are owned by the
simulator's loop thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation

from agent.models import Instrument, Side
from agent.sim import errors

# Kite's order status strings, exactly.
OPEN = "OPEN"
COMPLETE = "COMPLETE"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
TRIGGER_PENDING = "TRIGGER PENDING"
PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
VALIDATION_PENDING = "VALIDATION PENDING"
OPEN_PENDING = "OPEN PENDING"
MODIFY_VALIDATION_PENDING = "MODIFY VALIDATION PENDING"
MODIFY_PENDING = "MODIFY PENDING"
MODIFIED = "MODIFIED"
CANCEL_PENDING = "CANCEL PENDING"
UPDATE = "UPDATE"  # never a row's status: what an order message says of a fill or a change
TERMINAL = frozenset({COMPLETE, CANCELLED, REJECTED})
# the order is on its way (Kite's OMS or the exchange is working on it): a modify or a
# cancel now is refused (``agent.sim.lifecycle``)
INTERIM = frozenset({PUT_ORDER_REQ_RECEIVED, VALIDATION_PENDING, OPEN_PENDING,
                     MODIFY_VALIDATION_PENDING, MODIFY_PENDING, MODIFIED, CANCEL_PENDING})
# not yet at the exchange: nothing can fill
NOT_SENT = frozenset({PUT_ORDER_REQ_RECEIVED, VALIDATION_PENDING, OPEN_PENDING})

ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("MIS", "CNC", "NRML", "MTF")
VALIDITIES = ("DAY", "IOC", "TTL")
VARIETIES = ("regular",)
TAG_RE = re.compile(r"^[A-Za-z0-9]*$")
MAX_TAG = 20


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated-for-form place request (business rules are checked by the book)."""

    variety: str
    exchange: str
    tradingsymbol: str
    side: Side
    quantity: int
    product: str
    order_type: str
    price: Decimal = Decimal(0)
    trigger_price: Decimal = Decimal(0)
    validity: str = "DAY"
    disclosed_quantity: int = 0
    tag: str | None = None
    market_protection: Decimal | None = None
    autoslice: bool = False


@dataclass(frozen=True, slots=True)
class OrderChange:
    """The fields of a modify request (None: unchanged)."""

    quantity: int | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_type: str | None = None
    validity: str | None = None
    disclosed_quantity: int | None = None
    market_protection: Decimal | None = None


@dataclass(slots=True)
class SimOrder:
    order_id: str
    instrument: Instrument
    variety: str
    side: Side
    order_type: str
    product: str
    validity: str
    quantity: int
    price: Decimal
    trigger_price: Decimal
    tag: str | None
    market_protection: Decimal
    order_timestamp: datetime
    placed_second: int
    status: str = PUT_ORDER_REQ_RECEIVED
    status_message: str | None = None
    exchange_order_id: str | None = None
    exchange_timestamp: datetime | None = None
    exchange_update_timestamp: datetime | None = None
    filled_quantity: int = 0
    average_price: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)  # the sum of price x quantity of its trades
    cancelled_quantity: int = 0
    disclosed_quantity: int = 0
    modifications: int = 0
    triggered: bool = False
    parent_order_id: str | None = None
    tags: tuple[str, ...] = ()
    guid: str = ""
    accepted_at: datetime | None = None  # when the API accepted it (the exchange's clock)
    changed_at: datetime | None = None  # the exchange time of this snapshot, to the microsecond
    seen_second: int = -2  # the last session second it was matched against
    event_status: str | None = None  # what the order message being sent says (UPDATE)
    history: list[SimOrder] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_interim(self) -> bool:
        return self.status in INTERIM

    @property
    def pending_quantity(self) -> int:
        # Kite keeps the unfilled quantity as pending on a cancelled order (see orders.json).
        if self.status in (COMPLETE, REJECTED):
            return 0
        return self.quantity - self.filled_quantity

    def snapshot(self) -> SimOrder:
        """A frozen-in-time copy for the order's history."""
        return replace(self, history=[])

    def set_status(self, status: str, when: datetime, message: str | None = None) -> None:
        self.status = status
        if message is not None:
            self.status_message = message
        self.record(when)

    def record(self, when: datetime) -> None:
        """A snapshot of the order as it is now (a fill, a change) in its history."""
        self.exchange_update_timestamp = when if self.exchange_order_id else None
        self.changed_at = when
        self.history.append(self.snapshot())


@dataclass(frozen=True, slots=True)
class SimTrade:
    trade_id: str
    order_id: str
    exchange_order_id: str
    instrument: Instrument
    product: str
    side: Side
    quantity: int
    price: Decimal
    time: datetime


def is_option(ins: Instrument) -> bool:
    return ins.instrument_type in ("CE", "PE") or ins.segment.endswith("-OPT")


def exchange_rejection(ins: Instrument, order_type: str, quantity: int, price: Decimal,
                       trigger: Decimal) -> str | None:
    """Why the exchange rejects an order (it then shows as REJECTED), or None."""
    if quantity % ins.lot_size:
        return errors.LOT_SIZE.format(quantity=quantity, lot=ins.lot_size)
    if order_type in ("LIMIT", "SL") and price % ins.tick_size:
        return errors.PRICE_TICK
    if order_type in ("SL", "SL-M") and trigger % ins.tick_size:
        return errors.TRIGGER_TICK
    return None


def _decimal(form: Mapping[str, str], name: str) -> Decimal | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise errors.invalid(name) from None
    if not value.is_finite():
        raise errors.invalid(name)
    return value


def _int(form: Mapping[str, str], name: str) -> int | None:
    value = _decimal(form, name)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise errors.invalid(name)
    return int(value)


def _choice(form: Mapping[str, str], name: str, allowed: tuple[str, ...],
            default: str | None = None) -> str:
    raw = form.get(name) or default
    if raw is None or raw not in allowed:
        raise errors.invalid(name)
    return raw


def parse_tag(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_TAG:
        raise errors.input_error(errors.TAG)
    if not TAG_RE.match(raw):
        raise errors.input_error(errors.TAG_CHARS)
    return raw


def parse_place(variety: str, form: Mapping[str, str]) -> OrderRequest:
    """A place request from the form fields kiteconnect sends; raises KiteError (400)."""
    if variety not in VARIETIES:
        raise errors.invalid("variety")
    for name in ("exchange", "tradingsymbol"):
        if not form.get(name):
            raise errors.invalid(name)
    quantity = _int(form, "quantity")
    if quantity is None or quantity <= 0:
        raise errors.invalid("quantity")
    side = Side(_choice(form, "transaction_type", ("BUY", "SELL")))
    price = _decimal(form, "price") or Decimal(0)
    trigger = _decimal(form, "trigger_price") or Decimal(0)
    if price < 0:
        raise errors.invalid("price")
    if trigger < 0:
        raise errors.invalid("trigger_price")
    return OrderRequest(
        variety=variety, exchange=form["exchange"], tradingsymbol=form["tradingsymbol"],
        side=side, quantity=quantity, product=_choice(form, "product", PRODUCTS),
        order_type=_choice(form, "order_type", ORDER_TYPES), price=price,
        trigger_price=trigger, validity=_choice(form, "validity", VALIDITIES, "DAY"),
        disclosed_quantity=_int(form, "disclosed_quantity") or 0,
        tag=parse_tag(form.get("tag")),
        market_protection=_decimal(form, "market_protection"),
        autoslice=form.get("autoslice", "").lower() == "true",
    )


def parse_change(form: Mapping[str, str]) -> OrderChange:
    """A modify request's fields; raises KiteError (400) on a malformed value."""
    order_type = form.get("order_type") or None
    if order_type is not None and order_type not in ORDER_TYPES:
        raise errors.invalid("order_type")
    validity = form.get("validity") or None
    if validity is not None and validity not in VALIDITIES:
        raise errors.invalid("validity")
    quantity = _int(form, "quantity")
    if quantity is not None and quantity <= 0:
        raise errors.invalid("quantity")
    return OrderChange(quantity=quantity, price=_decimal(form, "price"),
                       trigger_price=_decimal(form, "trigger_price"), order_type=order_type,
                       validity=validity,
                       disclosed_quantity=_int(form, "disclosed_quantity"),
                       market_protection=_decimal(form, "market_protection"))
