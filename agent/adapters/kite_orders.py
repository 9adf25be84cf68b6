"""Pure rules of the live Kite adapter: tick rounding, lots, freeze slices, one Kite order's
state as its rows tell it, and one engine order's aggregate over the Kite orders that carry
its tag (what the rows say, parsed: ``kite_rows``).

One engine order (one tag) may be several Kite orders ("children"): the slices of an order
above the freeze quantity, and the fresh SL orders that replace a stop before Kite's
25-modification cap. The engine sees their sum: ``aggregate``. Nothing here does I/O or
takes a lock; the objects are owned by the broker's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from typing import Any

from agent.adapters.kite_rows import RowView
from agent.models import Instrument, OrderStatus, OrderType, Side

MARKET_TYPES = (OrderType.MARKET, OrderType.SL_M)  # these need market_protection
_ENDED_WITH_REASON = {OrderStatus.REJECTED, OrderStatus.CANCELLED}


# ---------------------------------------------------------------- prices and quantities


def to_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    """``price`` on the tick grid, rounded up or down (unchanged if the tick is unknown)."""
    if tick <= 0:
        return price
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


def round_limit(price: Decimal, side: Side, tick: Decimal) -> Decimal:
    """A limit price towards execution: a buy's up, a sell's down (at most one tick worse,
    never a limit that would not fill where the engine's would)."""
    return to_tick(price, tick, up=side is Side.BUY)


def round_trigger(trigger: Decimal, side: Side, tick: Decimal) -> Decimal:
    """A stop trigger towards the market: a sell stop (protecting a long) up, a buy stop
    (protecting a short) down, so it fires no later than the engine's level."""
    return to_tick(trigger, tick, up=side is Side.SELL)


def lot_problem(quantity: int, ins: Instrument) -> str | None:
    """Why a quantity cannot be sent (not positive, or not a whole number of lots)."""
    if quantity <= 0:
        return f"quantity must be positive, got {quantity} for {ins.symbol}"
    lot = max(ins.lot_size, 1)
    if quantity % lot:
        return (f"quantity {quantity} is not a multiple of the lot size {lot} of "
                f"{ins.symbol}")
    return None


def slices(quantity: int, ins: Instrument) -> list[int]:
    """Quantities of the Kite orders for one engine order: whole lots of at most the freeze
    quantity each (a freeze below one lot cannot be honoured: one lot per slice)."""
    freeze, lot = ins.freeze_quantity, max(ins.lot_size, 1)
    if freeze <= 0 or quantity <= freeze:
        return [quantity]
    size = max(freeze - freeze % lot, lot)
    out = [size] * (quantity // size)
    if quantity % size:
        out.append(quantity % size)
    return out


# ---------------------------------------------------------------- children and aggregate


class ChildState(Enum):
    QUEUED = "queued"  # to be placed (maybe after a backoff)
    SENDING = "sending"  # its placement is on its way (a row may find it first)
    UNRESOLVED = "unresolved"  # a placement may have reached Kite: look it up before anything
    PLACED = "placed"  # Kite has it under ``order_id``
    FAILED = "failed"  # never placed: refused, given up, or cancelled before it was sent


class CancelState(Enum):
    NONE = "none"
    WANTED = "wanted"
    SENT = "sent"


@dataclass(eq=False)
class Child:
    """One Kite order under an engine order's tag. Worker thread only."""

    quantity: int
    state: ChildState = ChildState.QUEUED
    order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled: int = 0
    average: Decimal | None = None
    message: str = ""
    want_price: Decimal | None = None  # what the engine wants (rounded)
    want_trigger: Decimal | None = None
    price: Decimal | None = None  # what Kite has
    trigger: Decimal | None = None
    attempts: int = 0  # placement attempts
    not_before: float = 0.0  # placement or lookup not before (timer seconds)
    ambiguous_at: float = 0.0
    modifications: int = 0
    next_modify_at: float = 0.0
    modify_attempts: int = 0
    modify_not_before: float = 0.0
    cancel: CancelState = CancelState.NONE
    cancel_attempts: int = 0
    cancel_not_before: float = 0.0
    replace: bool = False  # cancelled in order to be placed afresh
    replaced: bool = False
    rejected: bool = False  # FAILED because Kite refused it (vs. dropped unsent)
    inflight: bool = False  # a write for it (place, modify, cancel) is out: one at a time
    row_filled: int = 0  # the most any row said was filled (maybe without a price yet)
    held: OrderStatus | None = None  # a final status waiting for its fill's price
    reading: bool = False  # its trades or history are being read
    trades_reads: int = 0
    trades_not_before: float = 0.0
    unknown: str = ""  # the latest row's status when Kite's word is unknown to us
    unknown_polls: int = 0
    history_wanted: bool = False

    @property
    def final(self) -> bool:
        return self.state is ChildState.FAILED or (
            self.state is ChildState.PLACED and self.status.is_terminal)

    @property
    def live(self) -> bool:
        return self.state is ChildState.PLACED and not self.status.is_terminal

    @property
    def needs_modify(self) -> bool:
        return self.live and self.cancel is CancelState.NONE and not self.replace and (
            (self.want_price is not None and self.want_price != self.price)
            or (self.want_trigger is not None and self.want_trigger != self.trigger))

    @property
    def needs_price(self) -> bool:
        """A row said more was filled than we have a price for: read the trades."""
        return self.state is ChildState.PLACED and not self.final and \
            self.row_filled > self.filled

    def apply(self, row: RowView) -> bool:
        """Take a Kite row's view; final states and fills never go back. A fill without a
        usable price waits for one (a later row, or the order's trades), and so does a
        final status that comes with it: COMPLETE means the whole quantity filled, never
        "ended with nothing". An unknown status changes nothing (``unknown`` notes it).
        True if changed."""
        if self.final:
            return False
        self.unknown = "" if row.known else (row.raw or "?")
        if row.known:
            self.unknown_polls = 0
        changed = False
        filled = row.filled or 0
        whole = filled
        if row.status is OrderStatus.COMPLETE:
            whole = max(filled, row.quantity or self.quantity)
        self.row_filled = max(self.row_filled, whole)
        if filled > self.filled and row.average is not None:
            self.filled, self.average, changed = filled, row.average, True
        status = row.status
        if status is not None and status.is_terminal and self.row_filled > self.filled:
            self.held, status = status, None  # final once the fill's price is known
        if status is not None and status is not self.status and (
                status is not OrderStatus.PENDING or self.status is OrderStatus.PENDING):
            self.status, changed = status, True
        if row.message and {self.status, self.held} & _ENDED_WITH_REASON:
            self.message = row.message
        return self._release() or changed

    def apply_trades(self, total: int, average: Decimal | None, settle: bool) -> bool:
        """The order's trades: ``total`` filled at ``average``. ``settle``: take them as the
        truth even if a row said more was filled (they did not catch up in time)."""
        if self.final:
            return False
        changed = False
        total = min(total, max(self.quantity, self.row_filled))
        if total > self.filled and average is not None:
            self.filled, self.average, changed = total, average, True
        if settle and total > 0:
            self.row_filled = self.filled
        return self._release() or changed

    def _release(self) -> bool:
        if self.held is None or self.filled < self.row_filled:
            return False
        self.status, self.held = self.held, None
        return True


@dataclass(frozen=True, slots=True)
class Aggregate:
    status: OrderStatus
    filled: int
    average: Decimal | None
    message: str


@dataclass(eq=False)
class Tracked:
    """An engine order as the worker knows it. Worker thread only."""

    tag: str
    instrument: Instrument
    side: Side
    quantity: int
    order_type: OrderType
    product: str
    price: Decimal | None  # the latest the engine wants (rounded); new children take these
    trigger: Decimal | None
    children: list[Child] = field(default_factory=list)
    cancel_requested: bool = False
    note: str = ""  # what the engine should read in the update's message
    posted: tuple[Any, ...] | None = None
    done: bool = False

    def child_of(self, order_id: str) -> Child | None:
        return next((c for c in self.children if c.order_id == order_id), None)

    @property
    def busy(self) -> bool:
        """Work remains that may change the outcome (placements, lookups, replacements)."""
        return any(c.state in (ChildState.QUEUED, ChildState.SENDING, ChildState.UNRESOLVED)
                   or c.live or (c.replace and not c.replaced) for c in self.children)

    @property
    def urgent(self) -> bool:
        """An exit or a stop (tags X..., S...): its writes go before entries' (E...)."""
        return not self.tag.startswith("E")


def aggregate(t: Tracked) -> Aggregate:
    """One engine order's status over its children: filled is the sum, the average the
    fill-weighted mean; final only when every child is final and nothing is pending."""
    filled = sum(c.filled for c in t.children)
    value = sum((c.average * c.filled for c in t.children if c.average is not None and c.filled),
                Decimal(0))
    average = value / filled if filled else None
    if filled >= t.quantity:
        return Aggregate(OrderStatus.COMPLETE, filled, average, t.note)
    if t.busy or not t.children:
        live = [c.status for c in t.children if c.live]
        if filled or OrderStatus.OPEN in live:
            status = OrderStatus.OPEN
        elif OrderStatus.TRIGGER_PENDING in live:
            status = OrderStatus.TRIGGER_PENDING
        else:
            status = OrderStatus.PENDING
        return Aggregate(status, filled, average, t.note)
    # a stop cancelled unfilled for its replacement is not a slice of its own
    counted = [c for c in t.children if not (c.replace and not c.filled)]
    rejected = [c for c in counted if c.rejected or c.status is OrderStatus.REJECTED]
    if rejected and len(rejected) == len(counted):
        return Aggregate(OrderStatus.REJECTED, 0, None, rejected[-1].message or t.note)
    if rejected:
        what = (f"{len(rejected)} of {len(counted)} slices rejected "
                f"({rejected[0].message}); filled {filled} of {t.quantity}")
        return Aggregate(OrderStatus.CANCELLED, filled, average, what)
    return Aggregate(OrderStatus.CANCELLED, filled, average, t.note)
