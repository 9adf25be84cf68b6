"""The trade journal's values, line formats and interface, shared by every store of it
(the files of ``storage/journal.py``; a Redis store would keep the same records).

``trade_key`` is a trade's identity across restarts (see ``storage/journal.py``);
``trade_record``/``day_record`` the JSON objects of a trade and a day, and
``entry_from_record``/``summary_from_record`` read them back, raising ``FieldError``
naming the field. Pure functions; any thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from agent.fields import Fields, decimal, text, whole
from agent.fields import day as iso_day
from agent.journal_stats import DaySummary, day_summaries, trade_day
from agent.lifecycle.tags import is_agent_tag
from agent.models import Instrument, Trade
from agent.serialize import trade_from_dict, trade_to_dict

log = logging.getLogger("storage.journal")

VERSION = 1


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journalled trade and what the journal adds to it."""

    trade: Trade
    segment: str = ""
    instrument_type: str = ""


@dataclass
class JournalRead:
    """What the journal holds for a range of days: one entry per trade key, in exit order;
    the stored day summaries; and the lines skipped (file and line number, why)."""

    entries: list[JournalEntry] = field(default_factory=list)
    stored_days: dict[date, DaySummary] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def trades(self) -> list[Trade]:
        return [e.trade for e in self.entries]

    def days(self) -> list[DaySummary]:
        """Each day's summary from its trades; a day without readable trades keeps its
        stored summary (a stored one that disagrees with the trades is logged)."""
        computed = {s.date: s for s in day_summaries(self.trades)}
        for day, stored in self.stored_days.items():
            mine = computed.get(day)
            if mine is None:
                computed[day] = stored
            elif mine != stored:
                log.info("journal: the stored summary of %s (%d trades, net %s) differs from "
                         "its trades' (%d, %s): the trades are used", day, stored.trades,
                         stored.net, mine.trades, mine.net)
        return [computed[day] for day in sorted(computed)]


class JournalReader(Protocol):
    """The read side (the chat's commands, ``bot.py report``): any thread, may do I/O."""

    def read(self, start: date | None = None, end: date | None = None) -> JournalRead: ...

    def days(self, start: date | None = None, end: date | None = None) -> list[DaySummary]: ...


class JournalRepository(JournalReader, Protocol):
    """The whole interface of a journal store."""

    def prime(self, today: date) -> None: ...

    def record(self, trade: Trade, instrument: Instrument | None = None) -> bool: ...

    def close_day(self, day: date, trades: Sequence[Trade]) -> DaySummary: ...


def trade_key(trade: Trade) -> str:
    """The identity of a trade across restarts (see the module doc)."""
    day = trade_day(trade).isoformat()
    if is_agent_tag(trade.exit_tag):
        return f"{day}|{trade.exit_tag}|{trade.entry_tag}|{trade.quantity}"
    return (f"{day}|{trade.symbol}|{trade.entry_tag}|{trade.entry_time.isoformat()}|"
            f"{trade.quantity}|{trade.exit_price}")


def trade_record(trade: Trade, segment: str = "", instrument_type: str = "") -> dict[str, Any]:
    held = int((trade.exit_time - trade.entry_time).total_seconds())
    return {"type": "trade", "v": VERSION, "day": trade_day(trade).isoformat(),
            "key": trade_key(trade), **trade_to_dict(trade), "segment": segment,
            "instrument_type": instrument_type, "gross": str(trade.pnl),
            "charges": str(trade.charges), "net": str(trade.net_pnl), "held_s": max(0, held)}


def day_record(summary: DaySummary, written_at: datetime) -> dict[str, Any]:
    return {"type": "day", "v": VERSION, "day": summary.date.isoformat(),
            "trades": summary.trades, "wins": summary.wins, "losses": summary.losses,
            "gross": str(summary.gross), "charges": str(summary.charges),
            "net": str(summary.net), "written_at": written_at.isoformat()}


def entry_from_record(data: Any) -> JournalEntry:
    """A trade line back; ``FieldError`` naming the field when it is not one."""
    f = Fields(data, "")
    trade = trade_from_dict(data)
    trade = replace(trade, charges=f.opt("charges", decimal(), trade.charges))
    return JournalEntry(trade, f.opt("segment", text, ""), f.opt("instrument_type", text, ""))


def summary_from_record(data: Any) -> DaySummary:
    f = Fields(data, "")
    count = whole(0)
    return DaySummary(f.req("day", iso_day), f.req("trades", count), f.req("gross", decimal()),
                      f.req("charges", decimal()), f.req("net", decimal()),
                      f.req("wins", count), f.req("losses", count))
