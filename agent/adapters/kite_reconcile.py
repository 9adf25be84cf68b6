"""Start-up reconciliation: what the broker holds that the engine should know about.

``reconcile_rows`` turns Kite's order book (``kite.orders()``) and net positions
(``kite.positions()["net"]``) into typed data: our open orders (tags of the
``agent.lifecycle.tags.make_tag`` format, grouped by tag: one engine order may be several Kite
orders) and every MIS/NRML position with a non-zero quantity, with how much of it today's
fills under our tags explain. The composition root decides what to adopt. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.adapters.kite_rows import (
    POSITION_PRODUCTS,
    decimal_of,
    int_of,
    is_agent_tag,
    kite_status,
    purpose_of,
)
from agent.models import OrderPurpose, OrderStatus, OrderType, Side


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """One of our orders still open at the broker (its Kite orders summed)."""

    tag: str
    purpose: OrderPurpose
    instrument_token: int
    symbol: str  # "EXCHANGE:TRADINGSYMBOL"
    side: Side
    quantity: int  # live orders' quantities plus what finished ones filled
    filled_quantity: int
    average_price: Decimal | None
    order_type: OrderType
    price: Decimal | None
    trigger_price: Decimal | None
    product: str
    status: OrderStatus  # OPEN, TRIGGER_PENDING or PENDING
    broker_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A net position at the broker. Quantities are signed: + long, - short."""

    instrument_token: int
    symbol: str
    product: str
    quantity: int
    average_price: Decimal
    agent_quantity: int  # the net of today's fills under our tags

    @property
    def foreign_quantity(self) -> int:
        """The part of the position the agent did not open (0: all ours)."""
        return self.quantity - self.agent_quantity


@dataclass(frozen=True, slots=True)
class Reconciliation:
    open_orders: tuple[BrokerOrder, ...]
    positions: tuple[BrokerPosition, ...]
    foreign_open_orders: tuple[str, ...]  # Kite order ids of open orders that are not ours

    @property
    def foreign_positions(self) -> tuple[BrokerPosition, ...]:
        """Positions (or parts of them) that the agent did not open: report, leave alone."""
        return tuple(p for p in self.positions if p.foreign_quantity)


def _int(row: Mapping[str, Any], key: str) -> int:
    return int_of(row.get(key)) or 0  # 10, 10.0, "10.0"; 0 when absent or bad


def _symbol(row: Mapping[str, Any]) -> str:
    return f"{row.get('exchange', '')}:{row.get('tradingsymbol', '')}"


def _is_open(row: Mapping[str, Any]) -> bool:
    known, status = kite_status(row.get("status"))
    return not known or status is None or not status.is_terminal


def _broker_order(tag: str, rows: list[Mapping[str, Any]]) -> BrokerOrder:
    live = [r for r in rows if _is_open(r)]
    first, last = rows[0], live[-1]
    quantity = sum(_int(r, "quantity") if _is_open(r) else _int(r, "filled_quantity")
                   for r in rows)
    filled = sum(_int(r, "filled_quantity") for r in rows)
    value = sum((decimal_of(r.get("average_price")) or Decimal(0)) * _int(r, "filled_quantity")
                for r in rows)
    statuses = [kite_status(r.get("status"))[1] for r in live]
    status = (OrderStatus.OPEN if filled or OrderStatus.OPEN in statuses
              else OrderStatus.TRIGGER_PENDING if OrderStatus.TRIGGER_PENDING in statuses
              else OrderStatus.PENDING)
    order_type = OrderType(str(last.get("order_type", "MARKET")))
    price = decimal_of(last.get("price"))
    trigger = decimal_of(last.get("trigger_price"))
    return BrokerOrder(
        tag=tag, purpose=purpose_of(tag), instrument_token=_int(first, "instrument_token"),
        symbol=_symbol(first), side=Side(str(first.get("transaction_type"))),
        quantity=quantity, filled_quantity=filled,
        average_price=value / filled if filled else None, order_type=order_type,
        price=price if order_type in (OrderType.LIMIT, OrderType.SL) else None,
        trigger_price=trigger if order_type in (OrderType.SL, OrderType.SL_M) else None,
        product=str(first.get("product", "")), status=status,
        broker_order_ids=tuple(str(r["order_id"]) for r in rows))


def reconcile_rows(orders: Iterable[Mapping[str, Any]],
                   net_positions: Iterable[Mapping[str, Any]]) -> Reconciliation:
    """Our open orders by tag, and the MIS/NRML positions with a non-zero quantity."""
    by_tag: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    agent_net: dict[tuple[int, str], int] = defaultdict(int)
    foreign: list[str] = []
    for row in orders:
        tag = row.get("tag")
        if not is_agent_tag(tag):
            if _is_open(row):
                foreign.append(str(row.get("order_id")))
            continue
        by_tag[str(tag)].append(row)
        sign = 1 if row.get("transaction_type") == "BUY" else -1
        key = (_int(row, "instrument_token"), str(row.get("product", "")))
        agent_net[key] += sign * _int(row, "filled_quantity")
    open_orders = tuple(_broker_order(tag, rows) for tag, rows in by_tag.items()
                        if any(_is_open(r) for r in rows))
    positions = []
    for row in net_positions:
        quantity, product = _int(row, "quantity"), str(row.get("product", ""))
        if not quantity or product not in POSITION_PRODUCTS:
            continue
        token = _int(row, "instrument_token")
        positions.append(BrokerPosition(
            instrument_token=token, symbol=_symbol(row), product=product, quantity=quantity,
            average_price=decimal_of(row.get("average_price")) or Decimal(0),
            agent_quantity=agent_net.get((token, product), 0)))
    return Reconciliation(open_orders, tuple(positions), tuple(foreign))
