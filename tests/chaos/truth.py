"""The crash test's inputs as typed data: the exchange's truth and the agent's own books.

``truth_from_rows`` reads Kite-shaped rows (what ``kite.orders()``, ``kite.order_history(id)``,
``kite.trades()`` and ``kite.positions()["net"]`` return, timestamps as strings or as the
datetimes kiteconnect makes of some of them) into ``Truth``; ``books_from_state`` reads the
agent's ``state.json`` snapshot (``storage.state.StateStore.load()``) into ``AgentBooks``.
Both read loosely (``.get`` with defaults): the order lifecycle is being redesigned and the
snapshot's sections may grow. Pure functions, any thread.

Times are naive IST datetimes to the second: Kite stamps orders and trades to the second,
so every figure computed from them has that resolution.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

# What counts as one of the agent's orders: its tags are <kind><yymmdd><seq> today
# (agent.orders.make_tag: E entry, X exit, S stop). Matched loosely on the kind letter, so
# a longer or differently numbered tag of the redesign is still recognized.
OUR_TAG = re.compile(r"^[ESX][A-Za-z0-9]{1,19}$")
ENTRY, EXIT, STOP = "E", "X", "S"
# The broker's own MIS square-off (agent/sim/squareoff.py): untagged orders with this
# status message. They close positions the agent left open after 15:20.
BROKER_SQUARE_OFF = re.compile(r"^\s*squared off by the broker", re.IGNORECASE)

FINAL = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
# Statuses in which an order rests at the exchange and can fill: it protects a position.
# A modification or cancellation on its way leaves the order working as it was until the
# exchange carries it out (agent/sim/lifecycle.py, as Kite does). Before OPEN / TRIGGER
# PENDING (PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING) it is not yet there.
WORKING = frozenset({"OPEN", "TRIGGER PENDING", "MODIFY VALIDATION PENDING", "MODIFY PENDING",
                     "MODIFIED", "CANCEL PENDING"})
AGENT_FINAL = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


def is_ours(tag: object) -> bool:
    return isinstance(tag, str) and OUR_TAG.match(tag) is not None


def kite_time(value: object) -> datetime | None:
    """A Kite timestamp (``YYYY-MM-DD HH:MM:SS`` or ISO, or a datetime) as a naive IST
    datetime to the second; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
        except ValueError:
            return None
    if when.tzinfo is not None:
        when = when.astimezone(IST).replace(tzinfo=None)
    return when.replace(microsecond=0)


def dec(value: object) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _int(value: object) -> int:
    try:
        return int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class Snap:
    """One entry of an order's history: its status and quantities from ``at`` on."""

    at: datetime
    status: str
    quantity: int
    filled: int

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def pending(self) -> int:
        return max(0, self.quantity - self.filled)


@dataclass(frozen=True, slots=True)
class KiteOrder:
    order_id: str
    tag: str  # "" when untagged
    token: int
    symbol: str  # EXCHANGE:TRADINGSYMBOL
    side: str  # BUY | SELL
    quantity: int
    filled: int
    average_price: Decimal
    status: str
    status_message: str
    history: tuple[Snap, ...]

    @property
    def ours(self) -> bool:
        return is_ours(self.tag)

    @property
    def kind(self) -> str:
        """E, X or S for ours, "" otherwise."""
        return self.tag[0] if self.ours else ""

    @property
    def broker_square_off(self) -> bool:
        return not self.ours and BROKER_SQUARE_OFF.match(self.status_message) is not None

    @property
    def placed_at(self) -> datetime | None:
        return self.history[0].at if self.history else None

    @property
    def final_at(self) -> datetime | None:
        """When it became final (None: still live)."""
        for snap in self.history:
            if snap.status in FINAL:
                return snap.at
        return None


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    token: int
    side: str
    quantity: int
    price: Decimal
    at: datetime

    @property
    def signed(self) -> int:
        return self.quantity if self.side == "BUY" else -self.quantity

    def sort_key(self) -> tuple[datetime, int, str]:
        number = int(self.trade_id) if self.trade_id.isdigit() else 0
        return (self.at, number, self.trade_id)


@dataclass(frozen=True, slots=True)
class Truth:
    """The exchange's account at the end of a run."""

    orders: tuple[KiteOrder, ...]
    fills: tuple[Fill, ...]  # every trade of the account, in time order
    net_positions: tuple[Mapping[str, Any], ...]
    close: datetime  # the market's close: exposure after it is not counted

    def by_id(self) -> dict[str, KiteOrder]:
        return {o.order_id: o for o in self.orders}


@dataclass(frozen=True, slots=True)
class AgentOrder:
    tag: str
    token: int
    symbol: str
    side: str
    quantity: int
    filled: int
    status: str

    @property
    def live(self) -> bool:
        return self.status.upper() not in AGENT_FINAL


@dataclass(frozen=True, slots=True)
class AgentPosition:
    token: int
    symbol: str
    quantity: int
    realized: Decimal


@dataclass(frozen=True, slots=True)
class AgentBooks:
    """What the agent's final state says it did."""

    orders: Mapping[str, AgentOrder]  # by tag
    positions: Mapping[int, AgentPosition]  # by instrument token
    trades: int
    found: bool = True  # False: no state file

    @property
    def realized(self) -> Decimal:
        return sum((p.realized for p in self.positions.values()), Decimal(0))


def _history(order_row: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> tuple[Snap, ...]:
    snaps = []
    last: datetime | None = None
    for row in rows:
        at = (kite_time(row.get("exchange_update_timestamp"))
              or kite_time(row.get("order_timestamp")) or last)
        if at is None:
            continue
        at = max(at, last) if last is not None else at  # a history never goes back in time
        last = at
        snaps.append(Snap(at, str(row.get("status") or ""), _int(row.get("quantity")),
                          _int(row.get("filled_quantity"))))
    if not snaps:  # no history read: the order's row alone, from its placement
        at = kite_time(order_row.get("order_timestamp"))
        if at is not None:
            snaps.append(Snap(at, str(order_row.get("status") or ""),
                              _int(order_row.get("quantity")),
                              _int(order_row.get("filled_quantity"))))
    return tuple(snaps)


def order_from_rows(row: Mapping[str, Any],
                    history: Iterable[Mapping[str, Any]] = ()) -> KiteOrder:
    return KiteOrder(
        order_id=str(row.get("order_id")), tag=str(row.get("tag") or ""),
        token=_int(row.get("instrument_token")),
        symbol=f"{row.get('exchange', '')}:{row.get('tradingsymbol', '')}",
        side=str(row.get("transaction_type") or ""), quantity=_int(row.get("quantity")),
        filled=_int(row.get("filled_quantity")), average_price=dec(row.get("average_price")),
        status=str(row.get("status") or ""), status_message=str(row.get("status_message") or ""),
        history=_history(row, history))


def fill_from_row(row: Mapping[str, Any]) -> Fill:
    at = (kite_time(row.get("fill_timestamp")) or kite_time(row.get("exchange_timestamp")))
    if at is None:
        raise ValueError(f"trade {row.get('trade_id')} has no time")
    return Fill(trade_id=str(row.get("trade_id")), order_id=str(row.get("order_id")),
                token=_int(row.get("instrument_token")),
                side=str(row.get("transaction_type") or ""), quantity=_int(row.get("quantity")),
                price=dec(row.get("average_price")), at=at)


def truth_from_rows(orders: Iterable[Mapping[str, Any]],
                    histories: Mapping[str, Iterable[Mapping[str, Any]]],
                    trades: Iterable[Mapping[str, Any]],
                    net_positions: Iterable[Mapping[str, Any]], *,
                    close: datetime) -> Truth:
    built = tuple(order_from_rows(r, histories.get(str(r.get("order_id")), ())) for r in orders)
    fills = tuple(sorted((fill_from_row(t) for t in trades), key=Fill.sort_key))
    return Truth(built, fills, tuple(net_positions), close)


def books_from_state(snapshot: Mapping[str, Any] | None) -> AgentBooks:
    """The agent's books from its state snapshot (None: it never saved one). A snapshot
    without the ``orders`` and ``positions`` sections (a new layout) counts as not found:
    this reader needs updating, the agent is not to blame."""
    if not snapshot or "orders" not in snapshot or "positions" not in snapshot:
        return AgentBooks({}, {}, 0, found=False)
    orders = {}
    for d in snapshot.get("orders") or []:
        tag = str(d.get("tag") or "")
        if not tag:
            continue
        orders[tag] = AgentOrder(tag=tag, token=_int(d.get("token")),
                                 symbol=str(d.get("symbol") or ""),
                                 side=str(d.get("side") or ""),
                                 quantity=_int(d.get("quantity")),
                                 filled=_int(d.get("filled_quantity")),
                                 status=str(d.get("status") or ""))
    positions = {}
    for d in snapshot.get("positions") or []:
        token = _int(d.get("token"))
        positions[token] = AgentPosition(token, str(d.get("symbol") or ""),
                                         _int(d.get("quantity")), dec(d.get("realized")))
    return AgentBooks(orders, positions, len(snapshot.get("trades") or []))
