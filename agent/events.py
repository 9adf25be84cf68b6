"""What goes into the engine (events and commands) and what comes out (notifications).

All frozen dataclasses. Producers on any thread put inbound items on the engine's inbox;
the engine thread alone handles them. Commands get a reply (see ``agent.runner.EngineRunner``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from agent.models import Instrument, OrderStatus, OrderType, Side, Tick, TradeSide

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# ---------------------------------------------------------------- inbound events


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Ticks of one feed frame, in arrival order."""

    ticks: tuple[Tick, ...] | list[Tick]


@dataclass(frozen=True, slots=True)
class ClockTick:
    """The clock passed ``now``: completes candles whose end has passed (live timer)."""

    now: datetime


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The broker's view of one of our orders. Repeats and stale updates are harmless."""

    tag: str
    status: OrderStatus
    filled_quantity: int
    average_price: Decimal | None
    time: datetime
    broker_order_id: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class BrokerOrderRow:
    """One order in the broker's book, ours or not (the owner's, the broker's own
    square-off). ``tag``: ours when it has our format (``agent.lifecycle.tags``), else None.
    ``status`` None: an interim status (Kite's PUT ORDER REQ RECEIVED, MODIFY PENDING, ...)
    or one the adapter does not know; ``raw_status`` keeps Kite's word."""

    order_id: str
    tag: str | None
    instrument_token: int
    product: str
    side: Side
    quantity: int
    filled_quantity: int
    average_price: Decimal | None  # None: no usable price yet (0 or missing)
    status: OrderStatus | None
    raw_status: str
    order_type: OrderType
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time: datetime | None = None  # the row's order or exchange timestamp
    message: str = ""


@dataclass(frozen=True, slots=True)
class BrokerPositionRow:
    """A net position at the broker (MIS or NRML), signed: + long, - short.
    ``overnight``: the part carried from earlier days (Kite's ``overnight_quantity``)."""

    instrument_token: int
    product: str
    quantity: int
    average_price: Decimal
    overnight: int = 0


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """What the broker holds, read together: every order row of the day (one read of the
    order book) and the net positions. The live adapter posts one after each order-book
    poll (every few seconds), after every ticker reconnect and at start-up; the engine's
    reconciler makes its books agree (``agent.lifecycle``). ``complete`` is False when a
    read failed (then only what it carries may be used, absence proves nothing)."""

    time: datetime
    orders: tuple[BrokerOrderRow, ...]
    positions: tuple[BrokerPositionRow, ...]
    complete: bool = True


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The feed connected (``up``) or dropped; ``detail`` says why."""

    up: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoginNeeded:
    """Kite refused the access token (403 / TokenException): no new entries until a login."""

    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """A new access token is in use: entries are allowed again. ``until``: the new token's
    expiry when a login just made it (whoever ran the login announces it); None when a
    check found the held token valid."""

    user_id: str = ""
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EndOfData:
    """Backtest: the tick file ended; close what is open (reason end_of_data)."""


# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Command:
    """Base of everything that asks the engine to do or tell something."""


@dataclass(frozen=True, slots=True)
class StartTrading(Command):
    pass


@dataclass(frozen=True, slots=True)
class StopTrading(Command):
    square_off: bool = False  # True: close every open position first


@dataclass(frozen=True, slots=True)
class PauseEntries(Command):
    pass


@dataclass(frozen=True, slots=True)
class ResumeEntries(Command):
    symbol: str | None = None  # one instrument held after a manual close; None: all


@dataclass(frozen=True, slots=True)
class SquareOff(Command):
    symbol: str | None = None  # None: every open position


@dataclass(frozen=True, slots=True)
class Unhalt(Command):
    symbol: str


@dataclass(frozen=True, slots=True)
class SetTradeSide(Command):
    side: TradeSide
    symbol: str | None = None  # None: every instrument (the default)


@dataclass(frozen=True, slots=True)
class SetParam(Command):
    """``/set KEY VALUE [SYMBOL]``; the value is already validated and typed."""

    key: str
    value: Any
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class SetLimit(Command):
    """Daily (scope 'daily'), group (scope = group name) profit_target / loss_limit."""

    scope: str
    key: str
    value: Decimal


@dataclass(frozen=True, slots=True)
class AddInstrument(Command):
    instrument: Instrument
    configured: bool = False  # a config.yaml symbol resolved late (after a login), not /add


@dataclass(frozen=True, slots=True)
class RemoveInstrument(Command):
    symbol: str


class QueryKind(StrEnum):
    STATUS = "status"
    POSITIONS = "positions"
    ORDERS = "orders"
    TRADES = "trades"
    PNL = "pnl"
    INSTRUMENTS = "instruments"
    LIMITS = "limits"
    FUNDS = "funds"  # the engine's funds view (agent.views.funds_view)


@dataclass(frozen=True, slots=True)
class Query(Command):
    kind: QueryKind
    limit: int = 0


class Job(StrEnum):
    """The scheduled jobs of the trading day (schedules.yaml)."""

    TOKEN_EXPIRY = "token_expiry"
    LOGIN_CHECK = "login_check"
    INSTRUMENTS_REFRESH = "instruments_refresh"
    SESSION_START = "session_start"
    ENTRY_CUTOFF = "entry_cutoff"
    SQUARE_OFF = "square_off"
    SESSION_END = "session_end"
    DAY_REPORT = "day_report"


@dataclass(frozen=True, slots=True)
class RunJob(Command):
    job: Job
    at: datetime | None = None
    trading: bool = True  # SESSION_START: whether entries are allowed (a /stop of the day)


# ---------------------------------------------------------------- outbound


class AlertKind(StrEnum):
    ENTRY_PLACED = "entry_placed"
    ENTRY_FILLED = "entry_filled"
    EXIT_PLACED = "exit_placed"
    EXIT_FILLED = "exit_filled"
    ORDER_REJECTED = "order_rejected"
    STOP_PLACED = "stop_placed"
    STOP_MOVED = "stop_moved"
    STOP_HIT = "stop_hit"
    TARGET_HIT = "target_hit"
    LIMIT_HIT = "limit_hit"
    REVERSAL = "reversal"
    SQUARE_OFF = "square_off"
    FEED_DOWN = "feed_down"
    FEED_UP = "feed_up"
    LOGIN_NEEDED = "login_needed"
    KITE_ACCESS = "kite_access"  # the key lacks market data, or orders are refused for the IP
    BROKER_SYNC = "broker_sync"  # the broker's books differed: adopted, settled, booked
    TOKEN_EXPIRED = "token_expired"
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    ERROR = "error"
    DAY_REPORT = "day_report"
    MARGIN_LOW = "margin_low"  # the available margin is below what the next entry needs
    LOGIN = "login"  # a Kite login completed: who, until when, what it resolved
    STORAGE_UP = "storage_up"  # Redis writes again after failing (the loss was an ERROR)


@dataclass(frozen=True, slots=True)
class Notification:
    """Something the owner should hear about. ``text`` is plain, one line."""

    kind: AlertKind
    text: str
    time: datetime
    symbol: str = ""
    tag: str = ""
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
