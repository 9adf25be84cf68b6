"""What the chat says about the morning: whether Kite is logged in, which configured
instruments wait (for the login or for the day's instrument list), and when entries can
actually happen (``agent.entry_window``).

``Readiness`` is a frozen value the composition root builds on request (any thread); the
functions render it for replies. Pure, any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.calendar import TradingCalendar
from agent.entry_window import entries_note, entry_window
from agent.settings import ScheduleConfig
from handlers.text import esc


@dataclass(frozen=True, slots=True)
class Readiness:
    """``logged_in``: a valid Kite token is held (or none is needed: the simulator).
    ``pending``: configured symbols not traded yet, each with why. ``not_listed``: why
    ``/add SYMBOL`` finds nothing, given the symbol (None: the index's own words)."""

    logged_in: bool = True
    pending: tuple[tuple[str, str], ...] = ()
    instrument_list: str = ""  # "today's instrument list (loaded 08:45)"
    reload_hint: str = ""  # "/login reloads it"

    def not_listed(self, symbol: str) -> str | None:
        if not self.instrument_list:
            return None
        hint = f"; {self.reload_hint}" if self.reload_hint else ""
        return f"{symbol}: not in {self.instrument_list}{hint}"


def pending_lines(pending: Sequence[tuple[str, str]]) -> list[str]:
    """HTML lines naming the pending symbols, grouped by why: "waiting for login:
    NSE:INFY, NSE:TCS"."""
    groups: dict[str, list[str]] = {}
    for symbol, why in pending:
        groups.setdefault(why, []).append(symbol)
    return [f"⏳ {esc(why)}: {esc(', '.join(symbols))}" for why, symbols in groups.items()]


def entries_line(schedule: ScheduleConfig, now: datetime, readiness: Readiness | None,
                 data: Any = None) -> str:
    """When entries can happen, for a /start or /resume reply ("" when the engine's reply
    says the agent is stopped: it says so itself)."""
    if isinstance(data, dict) and data.get("running") is False:
        return ""
    if isinstance(data, dict) and data.get("paused"):
        return "paused: /resume allows entries"
    logged_in = readiness.logged_in if readiness is not None else True
    return entries_note(entry_window(now, TradingCalendar(schedule)), logged_in=logged_in)
