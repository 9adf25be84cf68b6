"""Positions and the day's P&L in rupees, from fills and marks.

Per instrument: signed quantity, average entry price, realized and unrealized P&L.
The limit check runs on every tick, so group and account totals are kept incrementally
for the books a limit covers (``watched``): marking one costs O(its groups), not
O(instruments). An unwatched book only records its mark; its unrealized P&L is computed
when asked (``Book.pnl``, ``PnlBook.fresh_total``). Charges (issue 15): each open trip
keeps its executed orders (``legs``); the ``charge`` hook (agent/charge_book.py) prices a
trip when it closes (the ``Trade``'s ``charges``; the book's ``fees`` for the day) and
estimates the open trip's round trip at each fill (``open_fees``); with ``net`` the totals
the limits read are net of both. Engine thread only (``read_books``, which checks saved
rows: any thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.charges import Leg
from agent.fields import (
    FieldError,
    Fields,
    at,
    decimal,
    member,
    optional,
    shown,
    stamp,
    text,
    whole,
)
from agent.models import Fill, Order, Side, Trade

ZERO = Decimal(0)
# (token, the trip's executed orders, its entry time, the time of its close) -> its charges
ChargeHook = Callable[[int, Sequence[Leg], datetime | None, datetime], Decimal]


@dataclass(slots=True)
class Book:
    """One instrument's position and day P&L."""

    token: int
    symbol: str
    groups: tuple[str, ...] = ()
    quantity: int = 0  # signed: > 0 long, < 0 short
    average: Decimal = ZERO  # average entry price of the open quantity
    realized: Decimal = ZERO  # today's closed P&L
    counted: Decimal = ZERO  # the unrealized P&L included in the totals (0 if unwatched)
    mark: Decimal | None = None
    # The open round trip, for the Trade record when it closes.
    entry_time: datetime | None = None
    entry_reason: str = ""
    entry_tag: str = ""
    trip_realized: Decimal = ZERO
    exit_quantity: int = 0
    exit_value: Decimal = ZERO
    closed_trades: int = 0
    watched: bool = False  # some limit covers this instrument: report P&L changes
    legs: list[Leg] = field(default_factory=list)  # the open trip's executed orders
    fees: Decimal = ZERO  # the charges of today's closed trades
    open_fees: Decimal = ZERO  # the open trip's estimated round-trip charges
    cost_counted: Decimal = ZERO  # fees + open_fees in the totals (net limits, watched)

    @property
    def unrealized(self) -> Decimal:
        if not self.quantity or self.mark is None:
            return ZERO
        return (self.mark - self.average) * self.quantity

    @property
    def pnl(self) -> Decimal:
        return self.realized + self.unrealized

    @property
    def charges(self) -> Decimal:
        """Today's charges: the closed trades', and the open trip's estimate."""
        return self.fees + self.open_fees

    @property
    def net(self) -> Decimal:
        return self.pnl - self.charges

    @property
    def side(self) -> Side | None:
        if self.quantity > 0:
            return Side.BUY
        if self.quantity < 0:
            return Side.SELL
        return None


@dataclass(slots=True)
class PnlBook:
    """All instruments' books plus incremental group and account totals."""

    books: dict[int, Book] = field(default_factory=dict)
    group_pnl: dict[str, Decimal] = field(default_factory=dict)
    total: Decimal = ZERO
    # Tokens of watched books whose P&L changed since the risk check last looked.
    dirty: set[int] = field(default_factory=set)
    net: bool = False  # the totals (what the limits compare) are net of charges
    charge: ChargeHook | None = None  # a trip's charges (agent/charge_book.py); None: 0
    last_legs: tuple[Leg, ...] = ()  # the orders of the trip closed last

    def add(self, token: int, symbol: str, groups: Iterable[str] = ()) -> Book:
        book = self.books.get(token)
        if book is None:
            book = self.books[token] = Book(token, symbol, tuple(groups))
            for g in book.groups:
                self.group_pnl.setdefault(g, ZERO)
        return book

    def mark(self, book: Book, price: Decimal) -> None:
        """A new last price for an instrument with an open position (a flat book's
        mark changes no P&L, so the engine need not call this for it)."""
        book.mark = price
        if book.watched:
            value = (price - book.average) * book.quantity
            delta = value - book.counted
            if delta:
                book.counted = value
                self._shift(book, delta)

    def _recount(self, book: Book) -> None:
        value = book.unrealized if book.watched else ZERO
        delta = value - book.counted
        if delta:
            book.counted = value
            self._shift(book, delta)

    def _shift(self, book: Book, delta: Decimal) -> None:
        self.total += delta
        for g in book.groups:
            self.group_pnl[g] += delta
        if book.watched:
            self.dirty.add(book.token)

    def apply_fill(self, fill: Fill, order: Order, mark: Decimal | None) -> Trade | None:
        """Book a fill (``mark``: the instrument's last price); returns the Trade when it
        closes a round trip."""
        book = self.books[fill.instrument_token]
        if mark is not None:
            book.mark = mark
        signed = fill.quantity * fill.side.sign
        price = fill.price
        trade = None
        if book.quantity == 0 or (book.quantity > 0) == (signed > 0):
            # Opening or adding.
            if book.quantity == 0:
                self._open_trip(book, fill, order)
                book.average = price
            else:
                held = abs(book.quantity)
                total = held + fill.quantity
                book.average = (book.average * held + price * fill.quantity) / total
            book.quantity += signed
            _add_leg(book, order.tag, fill.side, fill.quantity, price)
        else:
            closing = min(fill.quantity, abs(book.quantity))
            gain = (price - book.average) * closing * (1 if book.quantity > 0 else -1)
            book.realized += gain
            book.trip_realized += gain
            book.exit_quantity += closing
            book.exit_value += price * closing
            self._shift(book, gain)
            book.quantity += closing * fill.side.sign
            _add_leg(book, order.tag, fill.side, closing, price)
            if book.quantity == 0:
                trade = self._close_trip(book, fill, order)
            rest = fill.quantity - closing
            if rest:  # a flip: the remainder opens the other way
                self._open_trip(book, fill, order)
                book.average = price
                book.quantity = rest * fill.side.sign
                _add_leg(book, order.tag, fill.side, rest, price)
        self._estimate(book, fill.time)
        self._recount(book)
        self._recost(book)
        if book.watched:
            self.dirty.add(book.token)
        return trade

    @staticmethod
    def _open_trip(book: Book, fill: Fill, order: Order) -> None:
        book.entry_time = fill.time
        book.entry_reason = order.reason
        book.entry_tag = order.tag
        book.trip_realized = ZERO
        book.exit_quantity = 0
        book.exit_value = ZERO
        book.legs = []

    def _estimate(self, book: Book, now: datetime) -> None:
        """The open trip's charges with its exit at the average entry price (charges move
        by paise with the price: estimated at each fill, not at each tick)."""
        if not book.quantity or self.charge is None:
            book.open_fees = ZERO
            return
        held = abs(book.quantity)
        exit_leg = Leg("", Side.SELL if book.quantity > 0 else Side.BUY, held,
                       held * book.average)
        book.open_fees = self.charge(book.token, [*book.legs, exit_leg], book.entry_time, now)

    def _recost(self, book: Book) -> None:
        value = book.charges if self.net and book.watched else ZERO
        delta = value - book.cost_counted
        if delta:
            book.cost_counted = value
            self._shift(book, -delta)

    def set_fees(self, book: Book, fees: Decimal) -> None:
        """Today's closed trades' charges changed (Kite's contract note): the totals
        follow."""
        book.fees = fees
        self._recost(book)

    def limit_pnl(self, book: Book) -> Decimal:
        """What an instrument's limits compare: its P&L, net of charges when ``net``."""
        return book.net if self.net else book.pnl

    def _close_trip(self, book: Book, fill: Fill, order: Order) -> Trade:
        qty = book.exit_quantity
        book.closed_trades += 1
        charges = ZERO if self.charge is None else self.charge(
            book.token, book.legs, book.entry_time, fill.time)
        book.fees += charges
        self.last_legs, book.legs = tuple(book.legs), []
        return Trade(
            symbol=book.symbol,
            instrument_token=book.token,
            side=fill.side.opposite,
            quantity=qty,
            entry_time=book.entry_time or fill.time,
            entry_price=book.average,
            entry_reason=book.entry_reason,
            exit_time=fill.time,
            exit_price=book.exit_value / qty,
            exit_reason=order.reason,
            pnl=book.trip_realized,
            entry_tag=book.entry_tag,
            exit_tag=order.tag,
            charges=charges,
        )

    def reset_day(self) -> None:
        """A new day: realized P&L starts at zero; open quantities (carried) stay."""
        for book in self.books.values():
            book.realized = ZERO
            book.closed_trades = 0
            book.fees = ZERO
        self.recount()
        self.dirty.clear()

    def recount(self) -> None:
        """Recompute the totals from scratch (after the watched flags changed)."""
        self.total = ZERO
        self.group_pnl = dict.fromkeys(self.group_pnl, ZERO)
        for b in self.books.values():
            b.counted = b.unrealized if b.watched else ZERO
            b.cost_counted = b.charges if b.watched and self.net else ZERO
            value = b.realized + b.counted - b.cost_counted
            self.total += value
            for g in b.groups:
                self.group_pnl[g] = self.group_pnl.get(g, ZERO) + value
        self.dirty.clear()
        self.dirty.update(t for t, b in self.books.items() if b.watched)

    def fresh_total(self, net: bool = False) -> Decimal:
        """Every book's realized + unrealized P&L now (for views); ``net`` of charges."""
        return sum((b.net if net else b.pnl for b in self.books.values()), ZERO)

    def fresh_group(self, name: str, net: bool = False) -> Decimal:
        return sum((b.net if net else b.pnl for b in self.books.values() if name in b.groups),
                   ZERO)

    # ------------------------------------------------------------ persistence

    def to_list(self) -> list[dict[str, Any]]:
        return [book_to_dict(b) for b in self.books.values() if book_matters(b)]

    def restore(self, rows: Iterable[dict[str, Any]]) -> None:
        """Load saved rows (the snapshot's ``positions``) into books already added; unknown
        tokens are skipped. Raises ``FieldError`` naming the row's field, changing nothing."""
        self.restore_books(read_books((f"positions[{i}]", row) for i, row in enumerate(rows)))

    def restore_books(self, saved: Iterable[Book]) -> None:
        """Checked saved books (``read_books``) into the books already added."""
        for row in saved:
            book = self.books.get(row.token)
            if book is None:
                continue
            for name in _SAVED_FIELDS:
                setattr(book, name, getattr(row, name))
        self.recount()


_SAVED_FIELDS = ("quantity", "average", "realized", "mark", "entry_time", "entry_reason",
                 "entry_tag", "trip_realized", "exit_quantity", "exit_value", "closed_trades",
                 "legs", "fees", "open_fees")


def _add_leg(book: Book, tag: str, side: Side, quantity: int, price: Decimal) -> None:
    """A fill into the open trip's legs (one per order: partial fills add up)."""
    for i, leg in enumerate(book.legs):
        if leg.tag == tag and leg.side is side:
            book.legs[i] = replace(leg, quantity=leg.quantity + quantity,
                                   value=leg.value + quantity * price)
            return
    book.legs.append(Leg(tag, side, quantity, quantity * price))


def _legs(rows: Any, path: str) -> list[Leg]:
    """A saved book's ``legs`` (absent in older files: none)."""
    if not isinstance(rows, list):
        raise FieldError(at(path, "legs"), f"expected a list, got {shown(rows)}")
    legs = []
    for i, row in enumerate(rows):
        f = Fields(row, f"{path}.legs[{i}]")
        legs.append(Leg(f.opt("tag", text, ""), f.req("side", member(Side)),
                        f.req("quantity", whole(1)), f.req("value", decimal(0))))
    return legs


def read_books(rows: Iterable[tuple[str, Any]]) -> list[Book]:
    """(path, saved row) pairs as standalone Books, every field checked: a quantity or a P&L
    that is not a finite number of its kind raises ``FieldError`` naming it
    (``positions[2].realized: expected a finite number, got 'NaN'``). Any thread."""
    books = []
    price, money = decimal(0), decimal()
    for path, row in rows:
        f = Fields(row, path)
        books.append(Book(
            f.req("token", whole(0)), f.opt("symbol", text, ""),
            quantity=f.req("quantity", whole()), average=f.req("average", price),
            realized=f.req("realized", money), mark=f.opt("mark", optional(price)),
            entry_time=f.opt("entry_time", optional(stamp)),
            entry_reason=f.opt("entry_reason", text, ""), entry_tag=f.opt("entry_tag", text, ""),
            trip_realized=f.opt("trip_realized", money, ZERO),
            exit_quantity=f.opt("exit_quantity", whole(0), 0),
            exit_value=f.opt("exit_value", price, ZERO),
            closed_trades=f.opt("closed_trades", whole(0), 0),
            legs=_legs(row.get("legs", []) if isinstance(row, dict) else [], path),
            fees=f.opt("fees", decimal(0), ZERO), open_fees=f.opt("open_fees", decimal(0), ZERO)))
    return books


def book_matters(b: Book) -> bool:
    """Whether a book has anything a restart needs (a position or today's P&L)."""
    return bool(b.quantity or b.realized or b.closed_trades or b.fees)


def book_version(b: Book) -> tuple[Any, ...]:
    """Changes whenever ``book_to_dict(b)`` would (the mark only counts with a position)."""
    return (b.quantity, b.average, b.realized, b.mark if b.quantity else None, b.entry_time,
            b.entry_reason, b.entry_tag, b.trip_realized, b.exit_quantity, b.exit_value,
            b.closed_trades, tuple(b.legs), b.fees, b.open_fees)


def book_to_dict(b: Book) -> dict[str, Any]:
    return {
        "token": b.token, "symbol": b.symbol, "quantity": b.quantity,
        "average": str(b.average), "realized": str(b.realized),
        "mark": None if b.mark is None or not b.quantity else str(b.mark),
        "entry_time": None if b.entry_time is None else b.entry_time.isoformat(),
        "entry_reason": b.entry_reason, "entry_tag": b.entry_tag,
        "trip_realized": str(b.trip_realized), "exit_quantity": b.exit_quantity,
        "exit_value": str(b.exit_value), "closed_trades": b.closed_trades,
        "legs": [{"tag": leg.tag, "side": leg.side.value, "quantity": leg.quantity,
                  "value": str(leg.value)} for leg in b.legs],
        "fees": str(b.fees), "open_fees": str(b.open_fees),
    }
