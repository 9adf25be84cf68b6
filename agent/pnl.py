"""Positions and the day's P&L in rupees, from fills and marks.

Per instrument: signed quantity, average entry price, realized and unrealized P&L.
The limit check runs on every tick, so group and account totals are kept incrementally
for the books a limit covers (``watched``): marking one costs O(its groups), not
O(instruments). An unwatched book only records its mark; its unrealized P&L is computed
when asked (``Book.pnl``, ``PnlBook.fresh_total``). Engine thread only (``read_books``,
which checks saved rows: any thread).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.fields import Fields, decimal, optional, stamp, text, whole
from agent.models import Fill, Order, Side, Trade

ZERO = Decimal(0)


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

    @property
    def unrealized(self) -> Decimal:
        if not self.quantity or self.mark is None:
            return ZERO
        return (self.mark - self.average) * self.quantity

    @property
    def pnl(self) -> Decimal:
        return self.realized + self.unrealized

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
        else:
            closing = min(fill.quantity, abs(book.quantity))
            gain = (price - book.average) * closing * (1 if book.quantity > 0 else -1)
            book.realized += gain
            book.trip_realized += gain
            book.exit_quantity += closing
            book.exit_value += price * closing
            self._shift(book, gain)
            book.quantity += closing * fill.side.sign
            if book.quantity == 0:
                trade = self._close_trip(book, fill, order)
            rest = fill.quantity - closing
            if rest:  # a flip: the remainder opens the other way
                self._open_trip(book, fill, order)
                book.average = price
                book.quantity = rest * fill.side.sign
        self._recount(book)
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

    @staticmethod
    def _close_trip(book: Book, fill: Fill, order: Order) -> Trade:
        qty = book.exit_quantity
        book.closed_trades += 1
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
        )

    def reset_day(self) -> None:
        """A new day: realized P&L starts at zero; open quantities (carried) stay."""
        for book in self.books.values():
            book.realized = ZERO
            book.closed_trades = 0
        self.recount()
        self.dirty.clear()

    def recount(self) -> None:
        """Recompute the totals from scratch (after the watched flags changed)."""
        self.total = ZERO
        self.group_pnl = dict.fromkeys(self.group_pnl, ZERO)
        for b in self.books.values():
            b.counted = b.unrealized if b.watched else ZERO
            value = b.realized + b.counted
            self.total += value
            for g in b.groups:
                self.group_pnl[g] = self.group_pnl.get(g, ZERO) + value
        self.dirty.clear()
        self.dirty.update(t for t, b in self.books.items() if b.watched)

    def fresh_total(self) -> Decimal:
        """Every book's realized + unrealized P&L now (for views)."""
        return sum((b.pnl for b in self.books.values()), ZERO)

    def fresh_group(self, name: str) -> Decimal:
        return sum((b.pnl for b in self.books.values() if name in b.groups), ZERO)

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
                 "entry_tag", "trip_realized", "exit_quantity", "exit_value", "closed_trades")


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
            closed_trades=f.opt("closed_trades", whole(0), 0)))
    return books


def book_matters(b: Book) -> bool:
    """Whether a book has anything a restart needs (a position or today's P&L)."""
    return bool(b.quantity or b.realized or b.closed_trades)


def book_version(b: Book) -> tuple[Any, ...]:
    """Changes whenever ``book_to_dict(b)`` would (the mark only counts with a position)."""
    return (b.quantity, b.average, b.realized, b.mark if b.quantity else None, b.entry_time,
            b.entry_reason, b.entry_tag, b.trip_realized, b.exit_quantity, b.exit_value,
            b.closed_trades)


def book_to_dict(b: Book) -> dict[str, Any]:
    return {
        "token": b.token, "symbol": b.symbol, "quantity": b.quantity,
        "average": str(b.average), "realized": str(b.realized),
        "mark": None if b.mark is None or not b.quantity else str(b.mark),
        "entry_time": None if b.entry_time is None else b.entry_time.isoformat(),
        "entry_reason": b.entry_reason, "entry_tag": b.entry_tag,
        "trip_realized": str(b.trip_realized), "exit_quantity": b.exit_quantity,
        "exit_value": str(b.exit_value), "closed_trades": b.closed_trades,
    }
