"""The trading core's value types: instruments, ticks, candles, orders, fills, trades.

Prices are ``Decimal`` rupees on the instrument's tick grid; quantities are ``int``
shares or contracts; times are IST-aware datetimes. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for a buy (long), -1 for a sell (short)."""
        return 1 if self is Side.BUY else -1


class TradeSide(StrEnum):
    """Which entries an instrument may take."""

    BUY = "BUY"
    SELL = "SELL"
    BOTH = "BOTH"

    def allows(self, side: Side) -> bool:
        return self is TradeSide.BOTH or self.value == side.value


class StopMode(StrEnum):
    EXCHANGE = "exchange"  # an SL order rests at the broker (Kite, or the paper broker)
    SYNTHETIC = "synthetic"  # the engine watches the stop and exits at market


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # created here, not yet acknowledged by the broker
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    COMPLETE = "COMPLETE"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.COMPLETE, OrderStatus.REJECTED, OrderStatus.CANCELLED})


class OrderPurpose(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"
    STOP = "STOP"  # an exchange-side stop-loss order protecting a position


class EntryReason(StrEnum):
    SIGNAL = "signal"
    REVERSE = "reverse"


class ExitReason(StrEnum):
    STOP = "stop"
    TRAILING_STOP = "trailing_stop"
    TARGET = "target"
    SIGNAL_REVERSE = "signal_reverse"
    SIGNAL = "signal"  # the strategy's own exit (agent/strategy/kit.py ``Close``)
    INSTRUMENT_LIMIT = "instrument_limit"
    GROUP_LIMIT = "group_limit"
    DAILY_LIMIT = "daily_limit"
    SQUARE_OFF = "square_off"
    END_OF_DATA = "end_of_data"
    MANUAL = "manual"  # /squareoff or "square off and stop" from the owner
    CUTOFF = "cutoff"  # a strategy's time exit at the entry cutoff (opening_range)
    # a restart found the config naming another strategy for an instrument that held a
    # position: the new strategy does not know it, so it is closed (agent/restore.py)
    STRATEGY_CHANGED = "strategy_changed"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable (or index) instrument as the Kite instruments dump describes it."""

    token: int
    exchange: str
    tradingsymbol: str
    tick_size: Decimal
    lot_size: int = 1
    freeze_quantity: int = 0  # 0: no freeze limit known
    segment: str = ""
    instrument_type: str = "EQ"
    name: str = ""
    expiry: date | None = None  # a future's or option's last day (the dump's ``expiry``)

    @property
    def symbol(self) -> str:
        """'EXCHANGE:TRADINGSYMBOL', the name used in config and Telegram."""
        return f"{self.exchange}:{self.tradingsymbol}"


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: Decimal
    quantity: int
    orders: int


@dataclass(slots=True)
class Tick:
    """One market update for one instrument. Treat as immutable once made.

    ``timestamp`` is the exchange timestamp (full mode), ``received_at`` the time the
    feed received it; the strategy uses ``time`` (the first of the two that is set).
    The optional fields mirror what KiteTicker reports in quote and full modes.
    """

    instrument_token: int
    last_price: Decimal
    timestamp: datetime | None = None
    received_at: datetime | None = None
    last_traded_quantity: int | None = None
    volume_traded: int | None = None
    mode: str = "ltp"
    tradable: bool = True
    average_traded_price: Decimal | None = None
    total_buy_quantity: int | None = None
    total_sell_quantity: int | None = None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Decimal | None = None
    change: float | None = None
    last_trade_time: datetime | None = None
    oi: int | None = None
    oi_day_high: int | None = None
    oi_day_low: int | None = None
    depth_buy: tuple[DepthLevel, ...] = ()
    depth_sell: tuple[DepthLevel, ...] = ()

    @property
    def time(self) -> datetime | None:
        return self.timestamp if self.timestamp is not None else self.received_at


@dataclass(slots=True)
class Candle:
    """A grid candle [start, end). Mutated only while it is its instrument's current one."""

    instrument_token: int
    start: datetime
    end: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0
    ticks: int = 1

    @property
    def range(self) -> Decimal:
        return self.high - self.low


@dataclass(slots=True)
class Order:
    """An order this agent placed; owned and mutated by the engine thread only."""

    tag: str
    instrument_token: int
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    purpose: OrderPurpose
    reason: str  # an EntryReason or ExitReason value
    created_at: datetime
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    product: str = "MIS"
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: int = 0
    average_price: Decimal | None = None
    broker_order_id: str | None = None
    message: str = ""
    updated_at: datetime | None = None
    modifications: int = 0

    @property
    def pending_quantity(self) -> int:
        return 0 if self.status.is_terminal else self.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """A quantity of one order executed at one price."""

    tag: str
    instrument_token: int
    side: Side
    quantity: int
    price: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip: the entry and the exit of one position."""

    symbol: str
    instrument_token: int
    side: Side  # the entry side: BUY for a long, SELL for a short
    quantity: int
    entry_time: datetime
    entry_price: Decimal
    entry_reason: str
    exit_time: datetime
    exit_price: Decimal
    exit_reason: str
    pnl: Decimal
    entry_tag: str = ""
    exit_tag: str = ""
    charges: Decimal = Decimal(0)  # Zerodha's charges of both orders (agent/charges.py)

    @property
    def net_pnl(self) -> Decimal:
        return self.pnl - self.charges
