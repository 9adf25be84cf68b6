"""The per-instrument state of ``alert_breakout`` and its plain-JSON form (what a restart
within the day restores). Engine thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.models import Candle, EntryReason, Instrument, Side
from agent.serialize import candle_from_dict, candle_to_dict
from agent.settings import StrategyParams
from agent.strategy.base import EntryGate, round_down, round_up

_ZERO = Decimal(0)


@dataclass(slots=True)
class OpenPosition:
    """The strategy's view of its position; replaced (not mutated) except for ``stop``."""

    side: Side
    entry_price: Decimal
    stop: Decimal
    initial_stop: Decimal
    alert: Candle  # X: the alert candle that gave the entry (kept through reverses)
    entry_time: datetime
    entry_bucket: datetime  # start of the candle that contains the entry tick
    reason: EntryReason
    target: Decimal | None = None  # entry +- m x range(X); None when m = 0


@dataclass(slots=True)
class BreakoutState:
    instrument: Instrument
    params: StrategyParams
    tick: Decimal
    slip: Decimal
    gate: EntryGate
    up_factor: Decimal
    down_factor: Decimal
    buy_alert: Candle | None = None
    sell_alert: Candle | None = None
    buy_upper: Decimal | None = None  # upper(buy alert): the long trigger
    sell_lower: Decimal | None = None  # lower(sell alert): the short trigger
    position: OpenPosition | None = None
    sum_hlcv: Decimal = _ZERO  # sum of (H + L + C) x V over completed candles
    sum_v: int = 0
    sum_hlc: Decimal = _ZERO  # sum of (H + L + C), for the zero-volume mean
    candles: int = 0

    def upper(self, c: Candle) -> Decimal:
        return round_up(c.high * self.up_factor, self.tick)

    def lower(self, c: Candle) -> Decimal:
        return round_down(c.low * self.down_factor, self.tick)

    def vwap(self) -> Decimal | None:
        if self.candles == 0:
            return None
        if self.sum_v:
            return self.sum_hlcv / (3 * self.sum_v)
        return self.sum_hlc / (3 * self.candles)


def state_to_dict(state: BreakoutState) -> dict[str, Any]:
    pos = state.position
    return {
        "buy_alert": None if state.buy_alert is None else candle_to_dict(state.buy_alert),
        "sell_alert": None if state.sell_alert is None else candle_to_dict(state.sell_alert),
        "sum_hlcv": str(state.sum_hlcv),
        "sum_v": state.sum_v,
        "sum_hlc": str(state.sum_hlc),
        "candles": state.candles,
        "position": None if pos is None else {
            "side": pos.side.value,
            "entry_price": str(pos.entry_price),
            "stop": str(pos.stop),
            "initial_stop": str(pos.initial_stop),
            "alert": candle_to_dict(pos.alert),
            "entry_time": pos.entry_time.isoformat(),
            "entry_bucket": pos.entry_bucket.isoformat(),
            "reason": pos.reason.value,
        },
    }

def state_restore(state: BreakoutState, data: dict[str, Any]) -> None:
    buy = data.get("buy_alert")
    sell = data.get("sell_alert")
    state.buy_alert = None if buy is None else candle_from_dict(buy)
    state.sell_alert = None if sell is None else candle_from_dict(sell)
    state.sum_hlcv = Decimal(data.get("sum_hlcv", "0"))
    state.sum_v = int(data.get("sum_v", 0))
    state.sum_hlc = Decimal(data.get("sum_hlc", "0"))
    state.candles = int(data.get("candles", 0))
    p = data.get("position")
    state.position = None if p is None else OpenPosition(
        side=Side(p["side"]),
        entry_price=Decimal(p["entry_price"]),
        stop=Decimal(p["stop"]),
        initial_stop=Decimal(p["initial_stop"]),
        alert=candle_from_dict(p["alert"]),
        entry_time=datetime.fromisoformat(p["entry_time"]),
        entry_bucket=datetime.fromisoformat(p["entry_bucket"]),
        reason=EntryReason(p["reason"]),
    )
