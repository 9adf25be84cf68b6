"""The saved form of a kit strategy's state (agent/strategy/kit.py): the trader's ``State``
dataclass, the position view and the recent candles, as plain JSON, and back.

``State`` fields may hold int, float, bool, str, Decimal, datetime, date, None, and lists
and string-keyed dicts of those. Decimals, datetimes and dates are saved tagged
(``{"$decimal": "101.05"}``) so they come back as the same type, exactly. ``check_state``
refuses a ``State`` whose annotations name another type when the strategy loads, so a
trader learns at ``check-config`` rather than at the first save. Engine thread (saving and
restoring); any thread (checking).
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.models import Candle, EntryReason, ExitReason, Side
from agent.serialize import candle_from_dict, candle_to_dict

log = logging.getLogger(__name__)

_PLAIN = (bool, int, float, str, type(None))
_TAGGED = {"$decimal": Decimal, "$datetime": datetime.fromisoformat,
           "$date": date.fromisoformat}


@dataclass(slots=True)
class NoState:
    """The State of a strategy that keeps nothing of its own."""


@dataclass(slots=True)
class KitPosition:
    """The kit's view of the open position (the stop is moved in place)."""

    side: Side
    entry_price: Decimal
    stop: Decimal
    initial_stop: Decimal
    target: Decimal | None
    entry_time: datetime
    reason: EntryReason
    why: str = ""

    @property
    def stop_reason(self) -> ExitReason:
        return ExitReason.TRAILING_STOP if self.stop != self.initial_stop else ExitReason.STOP


def check_state(cls: Any) -> str:
    """"" when ``cls`` is a dataclass whose fields can all be saved, else why not."""
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        return "State: expected a @dataclass (from dataclasses import dataclass)"
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        return f"State: cannot read its annotations ({exc})"
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            return f"State.{f.name}: needs a default (the kit makes State() for each day)"
        bad = _unsaveable(hints.get(f.name, Any))
        if bad:
            return (f"State.{f.name}: {bad} cannot be saved (use int, float, bool, str, "
                    "Decimal, datetime, date, None, and lists or dicts of those)")
    return ""


def _unsaveable(hint: Any) -> str:
    if hint is Any or hint in (*_PLAIN, Decimal, datetime, date):
        return ""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is list or origin in (list, typing.Union, types.UnionType):
        return next((b for b in map(_unsaveable, args) if b), "")
    if hint is dict or origin is dict:
        if args and args[0] is not str:
            return f"dict keyed by {args[0]!r}"
        return next((b for b in map(_unsaveable, args[1:]) if b), "")
    return repr(hint)  # a tuple, a set, a deque, a class of its own: not as it was


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("$") for k in value):
            raise TypeError(f"{where}: dict keys must be text not starting with $")
        return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"{where}: {type(value).__name__} cannot be saved")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, raw), = value.items()
            make = _TAGGED.get(key)
            if make is not None:
                return make(raw)
        return {k: _decode(v) for k, v in value.items()}
    return value


def save_kit(state: Any, position: KitPosition | None, candles: Iterable[Candle],
             name: str) -> dict[str, Any]:
    """The saved form. A field that cannot be saved (a value of another type than its
    annotation promised) is left out with an ERROR in the log: it restarts at its default;
    the save itself never fails."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(state):
        try:
            fields[f.name] = _encode(getattr(state, f.name), f"State.{f.name}")
        except TypeError as exc:
            log.error("%s: %s; not saved (a restart starts it at its default)", name, exc)
    p = position
    return {
        "state": fields,
        "position": None if p is None else {
            "side": p.side.value, "entry_price": str(p.entry_price), "stop": str(p.stop),
            "initial_stop": str(p.initial_stop),
            "target": None if p.target is None else str(p.target),
            "entry_time": p.entry_time.isoformat(), "reason": p.reason.value, "why": p.why},
        "candles": [candle_to_dict(c) for c in candles],
    }


def restore_kit(state_cls: type, data: dict[str, Any]
                ) -> tuple[Any, KitPosition | None, list[Candle]]:
    """The State, the position and the candles from ``save_kit``'s form (missing parts take
    their defaults; a wrong one raises ValueError/KeyError naming nothing: the caller's
    ``guarded`` names the path)."""
    saved = data.get("state") or {}
    names = {f.name for f in dataclasses.fields(state_cls)}
    state = state_cls(**{k: _decode(v) for k, v in saved.items() if k in names})
    p = data.get("position")
    position = None if p is None else KitPosition(
        Side(p["side"]), Decimal(p["entry_price"]), Decimal(p["stop"]),
        Decimal(p["initial_stop"]), None if p.get("target") is None else Decimal(p["target"]),
        datetime.fromisoformat(p["entry_time"]), EntryReason(p["reason"]), p.get("why", ""))
    candles = [candle_from_dict(c) for c in data.get("candles") or ()]
    return state, position, candles
