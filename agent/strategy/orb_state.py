"""The per-instrument state of ``opening_range`` and its plain-JSON form (what a restart
within the day restores). Engine thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.models import Instrument, Side
from agent.settings import StrategyParams
from agent.strategy.base import EntryGate

_ONE = Decimal(1)
_ZERO = Decimal(0)


@dataclass(slots=True)
class OrbPosition:
    """The strategy's view of its position. ``reach``: m x the range height at the entry
    (None: no target); the target is ``entry_price`` +- ``reach``."""

    side: Side
    entry_price: Decimal
    stop: Decimal
    entry_time: datetime
    reach: Decimal | None = None
    target: Decimal | None = None

    def aim(self) -> None:
        """The target from the entry price (again after the actual fill)."""
        r = self.reach
        self.target = None if r is None else (
            self.entry_price + r if self.side is Side.BUY else self.entry_price - r)


@dataclass(slots=True)
class OrbState:
    instrument: Instrument
    params: StrategyParams
    tick: Decimal
    slip: Decimal
    gate: EntryGate
    up_factor: Decimal = _ONE  # 1 + buffer_pct/100
    down_factor: Decimal = _ONE  # 1 - buffer_pct/100
    stop_pct: Decimal = _ZERO
    multiple: Decimal = _ZERO  # target_multiple
    minutes: int | None = None  # the day's range_minutes (fixed when the day starts)
    opens: datetime | None = None  # the session open (start_session)
    range_end: datetime | None = None  # opens + minutes
    cutoff: datetime | None = None  # the session's entry_cutoff
    high: Decimal | None = None  # the range so far (None: no tick in the window yet)
    low: Decimal | None = None
    complete: bool = False  # the window has ended (at the first tick at or after its end)
    long_used: bool = False  # one trade per side per day (counted when decided)
    short_used: bool = False
    long_trigger: Decimal | None = None  # armed triggers: None when not armed
    short_trigger: Decimal | None = None
    position: OrbPosition | None = None


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def state_to_dict(state: OrbState) -> dict[str, Any]:
    pos = state.position
    return {
        "minutes": state.minutes,
        "high": None if state.high is None else str(state.high),
        "low": None if state.low is None else str(state.low),
        "complete": state.complete,
        "long_used": state.long_used,
        "short_used": state.short_used,
        "position": None if pos is None else {
            "side": pos.side.value,
            "entry_price": str(pos.entry_price),
            "stop": str(pos.stop),
            "entry_time": pos.entry_time.isoformat(),
            "reach": None if pos.reach is None else str(pos.reach),
        },
    }


def state_restore(state: OrbState, data: dict[str, Any]) -> None:
    """The day's range, sides used and position; missing keys take the fresh day's value
    (a position without ``reach`` takes today's target_multiple x the range height)."""
    minutes = data.get("minutes")
    if minutes is not None:
        state.minutes = int(minutes)
    state.high, state.low = _dec(data.get("high")), _dec(data.get("low"))
    if state.high is None or state.low is None:
        state.high = state.low = None
    state.complete = bool(data.get("complete", False))
    state.long_used = bool(data.get("long_used", False))
    state.short_used = bool(data.get("short_used", False))
    p = data.get("position")
    if p is None:
        state.position = None
        return
    if "reach" in p:
        reach = _dec(p["reach"])
    elif state.multiple > 0 and state.high is not None and state.low is not None \
            and state.high > state.low:
        reach = state.multiple * (state.high - state.low)
    else:
        reach = None
    pos = OrbPosition(Side(p["side"]), Decimal(p["entry_price"]), Decimal(p["stop"]),
                      datetime.fromisoformat(p["entry_time"]), reach)
    pos.aim()
    state.position = pos
