"""Builders for the opening_range tests (docs/strategies.md, ORB rules): an engine whose
instruments trade ``opening_range``, and the worked example's opening ticks. Test code only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.models import Tick
from agent.settings import StrategyParams
from agent.strategy.opening_range import OpeningRange
from tests.helpers import AAA, Feed, Run, Sym, at, d, run

# The worked example (ORB 11): H 101.50, L 99.20; long trigger 101.65, short trigger 99.10.
HIGH, LOW = d("101.50"), d("99.20")
LONG_TRIGGER, SHORT_TRIGGER = d("101.65"), d("99.10")


def orb_extra(range_minutes: int = 15, buffer_pct: Any = "0.1",
              stop_pct: Any = 0) -> tuple[tuple[str, Any], ...]:
    """The declared parameters that are not StrategyParams fields, typed as the loader
    gives them."""
    return (("buffer_pct", d(buffer_pct)), ("range_minutes", range_minutes),
            ("stop_pct", d(stop_pct)))


def orb_run(syms: tuple[Sym, ...] = (AAA,), *, range_minutes: int = 15,
            buffer_pct: Any = "0.1", stop_pct: Any = 0, target_multiple: Any = 0,
            **kwargs: Any) -> Run:
    """An engine (paper broker, SimClock) whose defaults say strategy opening_range."""
    return run(syms, strategy="opening_range",
               extra=orb_extra(range_minutes, buffer_pct, stop_pct),
               target_multiple=d(target_multiple), **kwargs)


def orb_params(**over: Any) -> StrategyParams:
    """Unit-test params: the declared defaults with ``over`` on top."""
    return StrategyParams(strategy="opening_range").with_defaults(
        OpeningRange.params).with_overrides(over)


def opening(f: Feed) -> list[Tick]:
    """The window of the worked example: 100.00, 101.50, 99.20, 100.40 (09:15-09:29:59)."""
    return [f.tick(at(9, 15), "100.00"), f.tick(at(9, 20), "101.50"),
            f.tick(at(9, 25), "99.20"), f.tick(at(9, 29, 59), "100.40")]


def rows(*items: tuple[str, str, Any]) -> list[tuple[str, int, str, Decimal, str]]:
    """Order rows of 50 (lot_size 50, lots 1), all COMPLETE: (side, reason, price)."""
    return [(side, 50, reason, d(p), "COMPLETE") for side, reason, p in items]
