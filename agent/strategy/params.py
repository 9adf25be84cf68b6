"""Strategy parameters: what a strategy declares, and how its values are checked.

A strategy class declares its own knobs in ``params``, a mapping of name to ``Param``::

    params = {"range_minutes": Param.whole(5, 120, 15, "minutes of the opening range")}

The config (``defaults`` and each instrument), ``/set`` and a restart's saved overrides
check a value with the parameter's converter, the same converters as every other config key,
so a bad value is an error naming the key path (``instruments[2].range_minutes: expected a
whole number 5..120, got 200``). The engine's own keys (``ENGINE_PARAMS``: interval, lots,
trade_side, max_trades_per_day, profit_target, loss_limit) apply to every strategy; a
strategy may not declare one of them. Pure data: any thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.config_values import Convert, boolean, choice, number, whole

# The keys every instrument has, whatever its strategy (the engine reads them itself).
ENGINE_PARAMS: frozenset[str] = frozenset(
    {"interval", "lots", "trade_side", "max_trades_per_day", "profit_target", "loss_limit"})
# a parameter's name: what a strategy may declare, /set may pass on, a restart may read
PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: its converter (the config's rules), its default, and what
    it means (``help``, for the reader of the strategy)."""

    convert: Convert
    default: Any
    help: str = ""

    @staticmethod
    def whole(low: int, high: int, default: int, help: str = "") -> Param:
        """A whole number in low..high."""
        convert = whole(low, high)
        return Param(convert, _checked(convert, default), help)

    @staticmethod
    def number(low: Decimal | int | str, high: Decimal | int | str,
               default: Decimal | int | str, help: str = "") -> Param:
        """An exact Decimal in low..high (``"0.5"`` rather than 0.5 keeps it exact)."""
        convert = number(low, high)
        return Param(convert, _checked(convert, str(default)), help)

    @staticmethod
    def boolean(default: bool, help: str = "") -> Param:
        return Param(boolean, _checked(boolean, default), help)

    @staticmethod
    def choice(options: Iterable[str], default: str, help: str = "") -> Param:
        convert = choice(tuple(options))
        return Param(convert, _checked(convert, default), help)


def _checked(convert: Convert, default: Any) -> Any:
    try:
        return convert(default)
    except ValueError as exc:
        raise StrategyDefinitionError(f"default {default!r}: {exc}") from None


class StrategyDefinitionError(ValueError):
    """A strategy class declares its parameters wrongly (a bad default, a reserved name)."""


def declared(cls: Any) -> Mapping[str, Param]:
    """The parameters a strategy class declares, checked: names are lowercase words and
    none is one of the engine's keys. StrategyDefinitionError names the bad one."""
    params = getattr(cls, "params", None) or {}
    if not isinstance(params, Mapping):
        raise StrategyDefinitionError("params: expected a mapping of name to Param")
    for name, param in params.items():
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
            raise StrategyDefinitionError(
                f"params: {name!r}: a name is a lowercase letter, then up to 39 lowercase "
                "letters, digits and _")
        if name in ENGINE_PARAMS or name == "strategy":
            raise StrategyDefinitionError(
                f"params: {name!r} is the engine's own key; choose another name")
        if not isinstance(param, Param):
            raise StrategyDefinitionError(
                f"params: {name!r}: expected a Param (Param.whole, Param.number, ...)")
    return params
