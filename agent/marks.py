"""The strategy's marks of a day, for the charts: an alert candle's band set or cleared, the
stop's level while a position is open (at the entry, then each move), the target.

One ``Mark`` per change, never per tick: the executor makes them from the strategy's
intents and its entry notification (``Engine.on_mark``); live they are appended beside the
day's candles (``storage.candles.CandleLog.marks_path``: ``<token>_marks.jsonl``), a
backtest keeps the day's in memory. ``mark_to_dict`` / ``mark_from_dict`` are their plain
JSON form (a bad record raises ``FieldError`` naming the field). Value types and pure
functions: any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.fields import Fields, decimal, member, optional, stamp
from agent.models import Side


class MarkKind(StrEnum):
    ALERT = "alert"  # an alert candle set: its band lower..upper (the trigger is an edge)
    CLEARED = "cleared"  # the side's alert cleared
    STOP = "stop"  # the open position's stop is at ``level`` from ``time`` on
    TARGET = "target"  # the open position's target


@dataclass(frozen=True, slots=True)
class Mark:
    kind: MarkKind
    time: datetime  # when it happened (IST)
    side: Side  # the alert's side, or the position's (BUY: long)
    level: Decimal | None = None  # STOP, TARGET
    upper: Decimal | None = None  # ALERT: the band
    lower: Decimal | None = None
    candle: datetime | None = None  # ALERT: the alert candle's start


def mark_to_dict(mark: Mark) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": mark.kind.value, "time": mark.time.isoformat(),
                           "side": mark.side.value}
    for key in ("level", "upper", "lower"):
        value = getattr(mark, key)
        if value is not None:
            out[key] = str(value)
    if mark.candle is not None:
        out["candle"] = mark.candle.isoformat()
    return out


def mark_from_dict(data: Any, path: str = "") -> Mark:
    """A mark from its plain form; ``FieldError`` names what is wrong (under ``path``)."""
    f = Fields(data, path)
    number = optional(decimal(0, above=True))
    return Mark(f.req("kind", member(MarkKind)), f.req("time", stamp),
                f.req("side", member(Side)), f.opt("level", number),
                f.opt("upper", number), f.opt("lower", number),
                f.opt("candle", optional(stamp)))
