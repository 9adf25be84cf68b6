"""One instrument's order lifecycle, in one record, with its states named.

The whole of what the agent is doing with an instrument's orders lives here (and nowhere
else): the working entry, exit and stop orders (by tag), the exit the position needs (and
why), the entry waiting behind it, and the deadlines and back-offs of each. Everything
else is derived: the **phase** and the **stop's state**.

Phase (``Phase``)::

    FLAT ──entry sent──> ENTERING ──filled──> OPEN ──exit wanted──> EXITING ──flat──> FLAT
               └────────── rejected / cancelled ─────────┘            (a reverse entry may
                                                                        follow from FLAT)

- FLAT: nothing held, nothing working (an entry may be waiting behind an exit: ``next_entry``).
- ENTERING: an entry order is working (a part may be filled already: then protected too).
- OPEN: a position is held and no exit is wanted: a stop order guards it (exchange stops).
- EXITING: an exit is wanted (``close``): the stop order is the exit, the stop is being
  cancelled to make way for an exit order, or an exit order is working; until flat.

The stop's state (``StopState``): NONE, WORKING (resting at the broker for the open
quantity), EXIT (the stop was crossed: its own fill is the exit, due by ``stop_due``; past
it, its limit is moved to a marketable price once, then it is cancelled for a market exit),
CANCELLING (a cancel was asked: to make way for an exit, or because nothing is held).

Engine thread only. ``to_dict``/``from_dict`` carry it through a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.models import EntryReason, ExitReason, Side
from agent.strategy.base import Enter


class Phase(StrEnum):
    FLAT = "flat"
    ENTERING = "entering"
    OPEN = "open"
    EXITING = "exiting"


class StopState(StrEnum):
    NONE = "none"
    WORKING = "working"
    EXIT = "exit"
    CANCELLING = "cancelling"


# Forced closes (limits, square-off, the owner, end of data) are never given up: they are
# retried until the instrument is flat. A strategy exit that fails hands the strategy back
# its prior state instead (the strategy decides again on a later tick).
FORCED = frozenset({ExitReason.INSTRUMENT_LIMIT, ExitReason.GROUP_LIMIT, ExitReason.DAILY_LIMIT,
                    ExitReason.SQUARE_OFF, ExitReason.MANUAL, ExitReason.END_OF_DATA,
                    ExitReason.STRATEGY_CHANGED})
STOP_REASONS = frozenset({ExitReason.STOP, ExitReason.TRAILING_STOP})


@dataclass(slots=True)
class Close:
    """An exit the position needs: why, and for a strategy exit its state before it."""

    reason: ExitReason
    prior: Any = None
    forced: bool = False
    level: Decimal | None = None  # the level crossed (a stop, a target), for its alert


@dataclass(slots=True)
class InstrumentOrders:
    entry: str | None = None  # tag of the working entry order
    exit: str | None = None  # tag of the working exit order
    stop: str | None = None  # tag of the protective stop order (exchange stops)
    close: Close | None = None  # the exit the position needs
    next_entry: Enter | None = None  # an entry (a reverse) waiting until flat
    stop_due: datetime | None = None  # stop crossed: its fill is due by then, else market
    stop_cancel: bool = False  # a cancel of the stop order was asked
    stop_pushed: bool = False  # its limit was moved to a marketable price (the stop as exit)
    stop_rejections: int = 0  # refused stop orders for this position (then synthetic)
    entry_cancel: bool = False  # a cancel of the entry order was asked
    entry_due: datetime | None = None  # a working entry not filled by then is cancelled
    exit_due: datetime | None = None  # a working exit not filled by then is re-priced
    exit_cancel: bool = False  # a cancel of the exit order was asked (to re-price it)
    exit_backoff: datetime | None = None  # after a refused exit: none before then
    entry_backoff: datetime | None = None  # after a refused entry: none before then
    entry_rejections: int = 0  # today's refused entries (a few: halted for the day)
    hold: str = ""  # entries held until /resume SYMBOL or the next day, and why
    outside: int = 0  # today's orders of others (the owner's) already booked as closing ours
    stop_level: Decimal | None = None  # the last stop sent (kept when the strategy forgets)
    modify_again: datetime | None = None  # the broker refused the stop's change: again then
    cancels: dict[str, datetime] = field(default_factory=dict)  # cancels asked: again then
    noted: str = ""  # the last condition logged (one line per change, not per tick)

    # ------------------------------------------------------------ derived

    def phase(self, held: int) -> Phase:
        if self.close is not None and (held or self.entry or self.exit):
            return Phase.EXITING
        if self.entry is not None:
            return Phase.ENTERING
        return Phase.OPEN if held else Phase.FLAT

    @property
    def stop_state(self) -> StopState:
        if self.stop is None:
            return StopState.NONE
        if self.stop_cancel:
            return StopState.CANCELLING
        return StopState.EXIT if self.stop_due is not None else StopState.WORKING

    @property
    def busy(self) -> bool:
        """An order is working, or an exit is wanted (the instrument is armed)."""
        return bool(self.entry or self.exit or self.close is not None)

    def start_day(self) -> None:
        """A new trading day: back-offs, holds and waiting entries go; working orders stay
        (a live position carried over is still guarded)."""
        self.next_entry = None
        self.exit_backoff = self.entry_backoff = None
        self.entry_rejections = 0
        self.hold = ""
        self.outside = 0
        if self.close is not None and not self.close.forced:
            self.close = None

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        nxt = self.next_entry
        return {
            "entry": self.entry, "exit": self.exit, "stop": self.stop,
            "close": None if self.close is None else
            {"reason": self.close.reason.value, "forced": self.close.forced},
            "next_entry": None if nxt is None else
            {"side": nxt.side.value, "reason": nxt.reason.value, "stop": str(nxt.stop),
             "price": str(nxt.price), "level": None if nxt.level is None else str(nxt.level)},
            "stop_due": _t(self.stop_due), "stop_cancel": self.stop_cancel,
            "stop_pushed": self.stop_pushed,
            "stop_rejections": self.stop_rejections, "entry_cancel": self.entry_cancel,
            "entry_due": _t(self.entry_due),
            "exit_due": _t(self.exit_due), "exit_cancel": self.exit_cancel,
            "exit_backoff": _t(self.exit_backoff), "entry_backoff": _t(self.entry_backoff),
            "entry_rejections": self.entry_rejections, "hold": self.hold,
            "outside": self.outside,
            "stop_level": None if self.stop_level is None else str(self.stop_level),
            "modify_again": _t(self.modify_again),
            "cancels": {tag: at.isoformat() for tag, at in self.cancels.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstrumentOrders:
        close = d.get("close")
        nxt = d.get("next_entry")
        return cls(
            entry=d.get("entry"), exit=d.get("exit"), stop=d.get("stop"),
            # a strategy exit's prior state does not survive a restart: treat it as forced
            close=None if close is None else Close(ExitReason(close["reason"]), None, True),
            next_entry=None if nxt is None else Enter(
                Side(nxt["side"]), EntryReason(nxt["reason"]), Decimal(nxt["stop"]),
                Decimal(nxt["price"]), None if nxt.get("level") is None
                else Decimal(nxt["level"])),
            stop_due=_dt(d.get("stop_due")), stop_cancel=bool(d.get("stop_cancel")),
            stop_pushed=bool(d.get("stop_pushed")),
            stop_rejections=int(d.get("stop_rejections", 0)),
            entry_cancel=bool(d.get("entry_cancel")), entry_due=_dt(d.get("entry_due")),
            exit_due=_dt(d.get("exit_due")),
            exit_cancel=bool(d.get("exit_cancel")), exit_backoff=_dt(d.get("exit_backoff")),
            entry_backoff=_dt(d.get("entry_backoff")),
            entry_rejections=int(d.get("entry_rejections", 0)), hold=str(d.get("hold", "")),
            outside=int(d.get("outside", 0)),
            stop_level=None if d.get("stop_level") is None else Decimal(d["stop_level"]),
            modify_again=_dt(d.get("modify_again")),
            cancels={tag: datetime.fromisoformat(at)
                     for tag, at in (d.get("cancels") or {}).items()})

    def version(self) -> tuple[Any, ...]:
        """Changes whenever ``to_dict`` would (the snapshot's cache key)."""
        nxt = self.next_entry
        return (self.entry, self.exit, self.stop,
                None if self.close is None else (self.close.reason, self.close.forced),
                None if nxt is None else (nxt.side, nxt.reason, nxt.stop, nxt.price),
                self.stop_due, self.stop_cancel, self.stop_pushed, self.stop_rejections,
                self.entry_cancel,
                self.entry_due, self.exit_due, self.exit_cancel, self.exit_backoff,
                self.entry_backoff, self.entry_rejections, self.hold, self.outside,
                self.stop_level, self.modify_again, tuple(self.cancels.items()))


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)
