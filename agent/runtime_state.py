"""Per-instrument runtime state held by the engine (one object per subscribed instrument).

Engine thread only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.candles import CandleSeries
from agent.lifecycle.state import InstrumentOrders
from agent.models import Instrument, Side
from agent.settings import StrategyParams
from agent.strategy.base import EntryGate


@dataclass(slots=True)
class InstrumentRuntime:
    instrument: Instrument
    params: StrategyParams
    series: CandleSeries
    state: Any  # the strategy's per-instrument state
    gate: EntryGate
    token: int = 0
    book: Any = None  # the instrument's pnl.Book
    last_price: Decimal | None = None
    last_candle_end: datetime | None = None  # today's last completed candle (in the state)
    trades_today: int = 0
    halted: str = ""  # why entries are halted for the day ('' = not halted)
    error: str = ""  # the strategy raised: no entries until the next day
    errors: int = 0
    squared_off: bool = False
    strategy: Any = None  # the instrument's Strategy (agent/strategy/base.py)
    # The instrument's orders, wants and deadlines (agent/lifecycle/state.py).
    orders: InstrumentOrders = field(default_factory=InstrumentOrders)
    # Ticks ignored (docs/strategy.md 8), since start: stale, outside the session.
    stale: int = 0
    outside: int = 0

    def __post_init__(self) -> None:
        self.token = self.instrument.token

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def quantity(self) -> int:
        """Shares or contracts of one entry: lots x lot size."""
        return self.params.lots * self.instrument.lot_size

    def start_day(self) -> None:
        self.trades_today = 0
        self.halted = ""
        self.error = ""
        self.squared_off = False
        self.last_candle_end = None
        self.orders.start_day()

    def entry_side_ok(self, side: Side) -> bool:
        return self.params.trade_side.allows(side)
