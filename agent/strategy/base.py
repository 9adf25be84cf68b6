"""The strategy interface: strategies see candles and ticks and return intents.

A strategy never touches a broker. It keeps one state object per instrument (made by
``new_state``) which the engine holds; every method is called on the engine thread.
The strategy updates its own view of the position at once when it returns an entry or
exit intent; the engine tells it when reality differs (a rejection, a forced exit, the
actual fill price).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from agent.models import Candle, EntryReason, ExitReason, Instrument, Side
from agent.settings import StrategyParams

# gate(side, t): may an entry on ``side`` be taken at time ``t``? (risk, schedule, state)
EntryGate = Callable[[Side, datetime], bool]


@dataclass(frozen=True, slots=True)
class Enter:
    side: Side
    reason: EntryReason
    stop: Decimal
    price: Decimal  # the price that triggered it
    level: Decimal | None = None  # the level it crossed (a trigger; a reverse: the stop)


@dataclass(frozen=True, slots=True)
class Exit:
    reason: ExitReason
    price: Decimal
    prior: Any  # the strategy's state before the exit, handed back if the exit is rejected
    level: Decimal | None = None  # the level it crossed (the stop, the target, a trigger)


@dataclass(frozen=True, slots=True)
class StopMoved:
    side: Side
    old: Decimal
    new: Decimal


@dataclass(frozen=True, slots=True)
class AlertChanged:
    side: Side  # BUY: the buy alert, SELL: the sell alert
    candle: Candle | None  # None: cleared
    upper: Decimal | None = None
    lower: Decimal | None = None
    vwap: Decimal | None = None


Intent = Enter | Exit | StopMoved | AlertChanged


@dataclass(frozen=True, slots=True)
class Session:
    """A trading day's hours for one instrument's exchange (IST): the session, the last
    time for entries and the square-off (a special session's times when the calendar has
    one). Handed to ``start_session`` when the engine starts a day."""

    day: date
    opens: datetime
    closes: datetime
    entry_cutoff: datetime
    square_off: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """An armed alert, for /status: an entry on ``side`` when the price goes strictly
    beyond ``trigger`` (above for BUY, below for SELL); ``lower``..``upper`` is the band of
    the alert candle that started at ``since``."""

    side: Side
    trigger: Decimal
    upper: Decimal
    lower: Decimal
    since: datetime


@dataclass(frozen=True, slots=True)
class PositionView:
    """What the engine may show about the strategy's open position."""

    side: Side
    entry_price: Decimal
    stop: Decimal
    entry_time: datetime
    reason: EntryReason
    target: Decimal | None


class Strategy(Protocol):
    name: str

    def new_state(self, instrument: Instrument, params: StrategyParams, slippage: Decimal,
                  gate: EntryGate) -> Any: ...

    def on_candle(self, state: Any, candle: Candle) -> list[Intent]: ...

    def on_tick(self, state: Any, price: Decimal, t: datetime,
                candle: Candle) -> list[Intent] | None: ...

    def stopped_out(self, state: Any, price: Decimal, t: datetime,
                    bucket: datetime) -> list[Intent]: ...

    def stop_reason(self, state: Any) -> ExitReason: ...

    def set_params(self, state: Any, params: StrategyParams) -> list[Intent]: ...

    def position(self, state: Any) -> PositionView | None: ...

    def alerts(self, state: Any) -> tuple[AlertView, ...]:
        """The armed alerts (what an entry waits for), BUY first; () when none."""
        ...

    def entry_filled(self, state: Any, price: Decimal) -> None: ...

    def entry_rejected(self, state: Any) -> None: ...

    def exit_rejected(self, state: Any, prior: Any) -> None: ...

    def force_flat(self, state: Any) -> None: ...

    def armed(self, state: Any, price: Decimal | None) -> bool:
        """True when a tick near ``price`` (the last one) may make an order: a trigger
        level within ``ARMED_DISTANCE`` of it. A hint for handling such ticks first (the
        live feed); never a rule: a wrong answer only costs time. Cheap: called for every
        instrument a few times a second."""
        ...

    def reset_day(self, state: Any) -> None: ...

    # Optional: ``start_session(state, session: Session) -> None``, called after
    # ``reset_day`` (and after a same-day restart's ``restore``) with the day's hours.

    def to_dict(self, state: Any) -> dict[str, Any]: ...

    def version(self, state: Any) -> Hashable:
        """Changes whenever ``to_dict(state)`` would (cheap: called per snapshot)."""
        ...

    def restore(self, state: Any, data: dict[str, Any]) -> None: ...


ARMED_DISTANCE = Decimal("0.01")  # a trigger within 1% of the last price arms an instrument


def round_up(x: Decimal, tick: Decimal) -> Decimal:
    """The smallest multiple of ``tick`` that is >= x (exact decimals)."""
    return (x / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def round_down(x: Decimal, tick: Decimal) -> Decimal:
    """The largest multiple of ``tick`` that is <= x (exact decimals)."""
    return (x / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
