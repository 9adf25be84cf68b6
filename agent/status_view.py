"""What /status shows: the engine's state as typed, read-only data.

``status_view(engine)`` runs on the engine thread (inside the STATUS query) and returns a
frozen ``StatusView`` that any thread may format (handlers/status_format.py): a header
(time, mode, the day's phase, day P&L, why entries may be blocked) and one
``InstrumentStatus`` per instrument (position, stop, target, armed alerts, halts). The
derived figures (distances, rupees at risk, lots) are properties, so the formatter only
formats. ``day_phase`` is a pure function of the calendar and a time (any thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from agent.calendar import TradingCalendar
from agent.entry_window import entry_window
from agent.events import Job
from agent.models import Instrument, Side
from agent.settings import StrategyParams
from agent.strategy.base import AlertView
from agent.timeutil import to_ist

if TYPE_CHECKING:
    from agent.engine import Engine
    from agent.runtime_state import InstrumentRuntime

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Exchanges whose instruments are futures and options (quantities are shown in lots).
DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO", "MCX", "CDS", "BCD", "NCO"})


class Phase(StrEnum):
    CLOSED = "closed"  # not a trading day (weekend, holiday)
    PRE_OPEN = "pre_open"  # before the session opens
    ENTRIES = "entries"  # open, before the entry cutoff
    CUTOFF = "cutoff"  # the entry cutoff passed, square-off still to come
    SQUARED_OFF = "squared_off"  # the square-off time passed, the session still open
    AFTER_CLOSE = "after_close"  # the session closed for the day


@dataclass(frozen=True, slots=True)
class DayPhase:
    """Where the trading day stands (NSE hours and the schedule's jobs)."""

    phase: Phase
    opens: datetime | None = None
    cutoff: datetime | None = None
    square_off: datetime | None = None
    closes: datetime | None = None
    why_closed: str = ""  # CLOSED: 'weekend (Saturday)' or the holiday's name
    next_day: date | None = None  # CLOSED and AFTER_CLOSE: the next trading day


def day_phase(calendar: TradingCalendar, now: datetime) -> DayPhase:
    """The phase of the day at ``now`` (IST): ``agent.entry_window``'s, the one /start and
    /resume speak from, with the square-off time passed split off. Pure; any thread."""
    window = entry_window(now, calendar)
    if window.opens is None or window.closes is None:
        return DayPhase(Phase.CLOSED, why_closed=window.why_closed or "",
                        next_day=window.next_day)
    jobs = dict(calendar.timetable(window.now.date()))
    square_off = jobs.get(Job.SQUARE_OFF.value, window.closes)
    phase = Phase(window.phase.value)
    if phase is Phase.CUTOFF and window.now >= square_off:
        phase = Phase.SQUARED_OFF
    following = window.next_day if phase is Phase.AFTER_CLOSE else None
    return DayPhase(phase, window.opens, window.cutoff, square_off, window.closes,
                    next_day=following)


@dataclass(frozen=True, slots=True)
class StatusHeader:
    now: datetime  # the engine's time (IST)
    state: str  # running | paused | stopped
    mode: str  # paper | live
    feed: str  # kite | sim (the in-process simulated exchange: no login needed)
    phase: DayPhase
    login_needed: bool  # Kite refused the token: no entries until a login
    broker_synced: bool  # False: entries wait for the first read of the broker's books
    realized: Decimal
    unrealized: Decimal
    trades: int  # closed trades today
    positions: int = 0  # instruments with a position open (or an entry working)
    # Net P&L after charges (brokerage, STT, exchange fees, GST, stamp duty: the closed
    # trades' and the open positions' estimated round trip; agent/charges.py). None: the
    # formatter shows the gross only.
    net: Decimal | None = None

    @property
    def gross(self) -> Decimal:
        return self.realized + self.unrealized


@dataclass(frozen=True, slots=True)
class PositionStatus:
    side: Side
    quantity: int  # shares or contracts, > 0
    entry: Decimal
    stop: Decimal | None  # None: the strategy holds no view of it (e.g. carried overnight)
    target: Decimal | None
    unrealized: Decimal
    entry_time: datetime | None = None
    reason: str = ""  # signal | reverse


@dataclass(frozen=True, slots=True)
class InstrumentStatus:
    symbol: str  # EXCHANGE:TRADINGSYMBOL
    tick_size: Decimal
    lot_size: int
    derivative: bool  # F&O: quantities in lots
    last: Decimal | None  # None: no tick yet today ("waiting for data")
    position: PositionStatus | None
    alerts: tuple[AlertView, ...]
    realized: Decimal
    trades_today: int
    params: StrategyParams
    halted: str = ""  # why no entries for the day ('' : none)
    working: str = ""  # what its orders are doing ('' : nothing)

    @property
    def tradingsymbol(self) -> str:
        return self.symbol.split(":", 1)[-1]

    @property
    def day_pnl(self) -> Decimal:
        return self.realized + (self.position.unrealized if self.position else ZERO)

    @property
    def lots(self) -> int | None:
        """The open quantity in whole lots (F&O), else None."""
        pos = self.position
        if (pos is None or not self.derivative or self.lot_size <= 0
                or pos.quantity % self.lot_size):
            return None
        return pos.quantity // self.lot_size

    @property
    def stop_gap(self) -> Decimal | None:
        """stop - last: the price move that reaches the stop (negative below the price)."""
        pos = self.position
        if pos is None or pos.stop is None or self.last is None:
            return None
        return pos.stop - self.last

    @property
    def stop_gap_percent(self) -> Decimal | None:
        return _percent(self.stop_gap, self.last)

    @property
    def locked(self) -> Decimal | None:
        """The profit a fill at the stop keeps once the stop is past the entry, else None."""
        pos = self.position
        if pos is None or pos.stop is None:
            return None
        gain = (pos.stop - pos.entry) * pos.side.sign
        return gain * pos.quantity if gain > 0 else None

    @property
    def at_risk(self) -> Decimal | None:
        """Rupees given back if the stop fills from the last price: |last - stop| x qty."""
        gap = self.stop_gap
        if gap is None or self.position is None:
            return None
        return abs(gap) * self.position.quantity

    def alert_gap(self, alert: AlertView) -> Decimal | None:
        """trigger - last: the price move that reaches the trigger."""
        return None if self.last is None else alert.trigger - self.last

    def alert_gap_percent(self, alert: AlertView) -> Decimal | None:
        return _percent(self.alert_gap(alert), self.last)


def _percent(gap: Decimal | None, last: Decimal | None) -> Decimal | None:
    return None if gap is None or not last else gap * HUNDRED / last


@dataclass(frozen=True, slots=True)
class StatusView:
    header: StatusHeader
    instruments: tuple[InstrumentStatus, ...]

    def find(self, name: str) -> InstrumentStatus | None:
        """The instrument named 'NSE:INFY' or, when only one has it, 'INFY' (any case)."""
        name = name.upper()
        exact = [i for i in self.instruments if i.symbol.upper() == name]
        if exact:
            return exact[0]
        short = [i for i in self.instruments if i.tradingsymbol.upper() == name]
        return short[0] if len(short) == 1 else None


def is_derivative(ins: Instrument) -> bool:
    return (ins.exchange in DERIVATIVE_EXCHANGES
            or ins.instrument_type in ("FUT", "CE", "PE")
            or ins.segment.endswith(("-FUT", "-OPT")))


def status_view(engine: Engine) -> StatusView:
    """The whole view (engine thread)."""
    now = to_ist(engine.now())
    rows = tuple(_instrument(engine, rt, now) for rt in engine.runtimes.values())
    state = ("running" if not engine.paused else "paused") if engine.running else "stopped"
    settings = engine.settings
    header = StatusHeader(
        now=now, state=state, mode=settings.mode.value, feed=settings.feed.value,
        phase=day_phase(engine.calendar, now), login_needed=engine.login_needed,
        broker_synced=engine.broker_synced,
        realized=sum((b.realized for b in engine.pnl.books.values()), ZERO),
        unrealized=sum((b.unrealized for b in engine.pnl.books.values()), ZERO),
        trades=len(engine.trades), positions=sum(1 for r in rows if r.position is not None),
        net=engine.pnl.fresh_total(net=True))
    return StatusView(header, rows)


def _instrument(engine: Engine, rt: InstrumentRuntime, now: datetime) -> InstrumentStatus:
    ins = rt.instrument
    return InstrumentStatus(
        symbol=rt.symbol, tick_size=ins.tick_size, lot_size=ins.lot_size,
        derivative=is_derivative(ins), last=rt.last_price, position=_position(engine, rt),
        alerts=rt.strategy.alerts(rt.state), realized=rt.book.realized,
        trades_today=rt.trades_today, params=rt.params,
        halted=_halted(rt, now), working=_working(rt, rt.book.quantity))


def _position(engine: Engine, rt: InstrumentRuntime) -> PositionStatus | None:
    """The position the books hold (the strategy's stop and target when it agrees on the
    side, else the last stop sent); with nothing held, an entry at work."""
    book = rt.book
    view = rt.strategy.position(rt.state)
    if book.quantity:
        side = Side.BUY if book.quantity > 0 else Side.SELL
        if view is not None and view.side is side:
            return PositionStatus(side, abs(book.quantity), book.average, view.stop,
                                  view.target, book.unrealized, view.entry_time,
                                  view.reason.value)
        return PositionStatus(side, abs(book.quantity), book.average, rt.orders.stop_level,
                              None, book.unrealized, book.entry_time, book.entry_reason)
    if view is None:
        return None
    return PositionStatus(view.side, rt.quantity, view.entry_price, view.stop, view.target,
                          ZERO, view.entry_time, view.reason.value)


def _halted(rt: InstrumentRuntime, now: datetime) -> str:
    """Why this instrument takes no new entries today ('' when it may)."""
    if rt.halted:
        return _halt_reason(rt.halted)
    if rt.error:
        return f"strategy error: {rt.error}"
    o = rt.orders
    if o.hold:
        return f"{o.hold}; /resume {rt.symbol}"
    limit = rt.params.max_trades_per_day
    if limit and rt.trades_today >= limit:
        return f"{rt.trades_today} of {limit} trades used"
    if o.entry_backoff is not None and now < o.entry_backoff:
        return f"entry refused; retry after {to_ist(o.entry_backoff):%H:%M:%S}"
    return ""


def _halt_reason(text: str) -> str:
    """'instrument NSE:AAA loss_limit' (engine_days) -> 'its loss limit reached'."""
    parts = text.split(" ")
    if len(parts) != 3 or parts[2] not in ("loss_limit", "profit_target"):
        return text
    scope, name, which = parts
    what = which.replace("_", " ")
    if scope == "instrument":
        return f"its {what} reached"
    if scope == "daily":
        return f"the daily {what} reached"
    return f"group {name}'s {what} reached"


def _working(rt: InstrumentRuntime, held: int) -> str:
    o = rt.orders
    if o.close is not None and (held or o.entry or o.exit):
        return f"exiting ({o.close.reason.value})"
    if o.entry is not None:
        return "entry order working"
    if o.next_entry is not None:
        return "reverse entry waiting"
    return ""
