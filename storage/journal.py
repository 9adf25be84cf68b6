"""The trade journal: every closed trade, and each day's summary, kept across days.

Layout: ``<data_dir>/journal/YYYY-MM.jsonl``, the month of the trade's day (the IST date of
its exit), one JSON object per line, appended only (never rewritten):

- a trade, when it closes: ``{"type": "trade", "v": 1, "day": "2026-12-01", "key": ...}``
  with the trade's fields (``agent/serialize.trade_to_dict``: symbol, side, quantity, the
  entry and exit times, prices, reasons and order tags), ``segment`` and
  ``instrument_type`` (Kite's), ``gross``, ``charges``, ``net`` (rupees as text) and
  ``held_s`` (seconds held);
- a day, at the session's end: ``{"type": "day", "v": 1, "day": ..., "trades", "wins",
  "losses", "gross", "charges", "net", "written_at"}``.

Crash-only. A trade is appended when the engine books it (through the storage writer
thread: the engine never waits for the disk). A restart may book a trade again: the
restored state's trades are written if the journal lacks them, and the broker's
reconciliation re-creates trades whose fills the saved state missed. Each trade has a key,
(day, exit tag, entry tag, quantity): a trade whose key is known with the same figures
(prices, quantity, gross, charges; not the times, which a re-booking may change) is not
written again, and reading keeps one trade per key (the latest line: a trade recorded again
with other figures, e.g. its charges from the contract note, replaces the earlier line). A
close booked by the reconciler (``OUT...`` tags, minted anew by each run) is keyed by its
day, symbol, entry tag and time, quantity and exit price instead.

Reading never loses the rest for one bad line: a line that is not JSON, or not a valid
trade or day, is skipped and named with its file and line number (``journal/2026-12.jsonl
line 7: ...``, relative to the data directory: such text may reach the chat). An
unterminated last line that does not parse is a line being written (or cut short by a
crash: the next append ends it, and it is named from then on). Days are computed from
their trades; a day whose trade lines are all gone keeps its stored summary.

``JournalReader`` and ``JournalRepository`` (``storage/journal_records.py``, with the line
formats) are the interface another store (Redis) can implement. Threads: ``record`` on the
engine thread, ``close_day`` on any thread (both only queue lines for the writer);
``prime`` at start-up; the readers on any thread (files).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.fields import FieldError
from agent.journal_stats import DaySummary, day_summary, in_order, trade_day
from agent.models import Instrument, Trade
from agent.timeutil import IST
from storage.candles import parse_json_lines
from storage.errors import os_problem
from storage.journal_records import (
    JournalEntry,
    JournalRead,
    JournalReader,
    JournalRepository,
    day_record,
    entry_from_record,
    summary_from_record,
    trade_key,
    trade_record,
)

__all__ = ["JOURNAL_DIR", "Journal", "JournalEntry", "JournalRead", "JournalReader",
           "JournalRepository", "LineWriter", "trade_key", "trade_record"]

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
_FILE = re.compile(r"^(\d{4})-(\d{2})\.jsonl$")
# A trade recorded again under a known key is written only when one of these differs
_FIGURES = ("quantity", "entry_price", "exit_price", "gross", "charges", "net", "segment")


class LineWriter(Protocol):
    """Where journal lines go (``storage.writer.StorageWriter``); any thread."""

    def append_line(self, path: Path, record: dict[str, Any]) -> None: ...


class Journal:
    """The journal files under ``root`` (``data_dir / "journal"``). Without a ``writer`` it
    only reads (the chat, ``bot.py report``)."""

    def __init__(self, root: Path, writer: LineWriter | None = None) -> None:
        self.root = Path(root)
        self._writer = writer
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, Any]] = {}  # key -> its latest line, as written

    def path(self, day: date) -> Path:
        """The file of ``day``'s month."""
        return self.root / f"{day:%Y-%m}.jsonl"

    # ------------------------------------------------------------ writing

    def prime(self, today: date) -> None:
        """Start-up (before the engine runs): learn the lines of ``today``'s month, so a
        trade booked again after a restart is not written twice."""
        known: dict[str, dict[str, Any]] = {}
        for record in self._records(self.path(today), [])[0]:
            if record.get("type") == "trade" and isinstance(record.get("key"), str):
                known[record["key"]] = record
        with self._lock:
            self._known.update(known)

    def record(self, trade: Trade, instrument: Instrument | None = None) -> bool:
        """Queue ``trade``'s line unless its key is known with the same figures (prices,
        quantity, gross, charges: a fill booked again after a restart may carry another
        time, the first line is kept); True when queued. Engine thread (or any: it only
        queues)."""
        if self._writer is None:
            raise RuntimeError("this journal is read-only (no storage writer)")
        key = trade_key(trade)
        with self._lock:
            known = self._known.get(key)
            if instrument is not None:
                segment, kind = instrument.segment, instrument.instrument_type
            elif known is not None:
                segment, kind = known.get("segment", ""), known.get("instrument_type", "")
            else:
                segment = kind = ""
            record = trade_record(trade, segment, kind)
            if known is not None and all(known.get(k) == record[k] for k in _FIGURES):
                return False  # booked again (a restart): the first line stays
            self._known[key] = record
        self._writer.append_line(self.path(trade_day(trade)), record)
        return True

    def close_day(self, day: date, trades: Sequence[Trade], now: datetime | None = None
                  ) -> DaySummary:
        """The day's end: any of its trades the journal lacks (or holds with other figures)
        and the day's summary line. Any thread."""
        if self._writer is None:
            raise RuntimeError("this journal is read-only (no storage writer)")
        mine = [t for t in trades if trade_day(t) == day]
        for trade in in_order(mine):
            self.record(trade)
        summary = day_summary(day, mine)
        self._writer.append_line(self.path(day), day_record(summary, now or datetime.now(IST)))
        return summary

    # ------------------------------------------------------------ reading

    def months(self) -> list[Path]:
        """The month files, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if _FILE.match(p.name) and p.is_file())

    def read_bytes(self, path: Path) -> bytes:
        """One month's lines (FileNotFoundError: none); ``storage/redis_journal.py`` reads
        them from Redis instead. Any thread."""
        return path.read_bytes()

    def read(self, start: date | None = None, end: date | None = None) -> JournalRead:
        """The trades and day summaries of ``start``..``end`` (inclusive; None: open)."""
        out = JournalRead()
        by_key: dict[str, JournalEntry] = {}
        for path in self._files(start, end):
            records, numbers = self._records(path, out.problems)
            for record, number in zip(records, numbers, strict=True):
                self._take(record, f"{JOURNAL_DIR}/{path.name} line {number}", start, end,
                           by_key, out)
        out.entries = sorted(by_key.values(), key=lambda e: (
            e.trade.exit_time, e.trade.entry_time, e.trade.exit_tag))
        return out

    def days(self, start: date | None = None, end: date | None = None) -> list[DaySummary]:
        """Each day's summary in ``start``..``end``, oldest first (the journal chart's)."""
        return self.read(start, end).days()

    def _files(self, start: date | None, end: date | None) -> Iterable[Path]:
        first = None if start is None else (start.year, start.month)
        last = None if end is None else (end.year, end.month)
        for path in self.months():
            match = _FILE.match(path.name)
            assert match is not None
            month = (int(match.group(1)), int(match.group(2)))
            if (first is None or month >= first) and (last is None or month <= last):
                yield path

    def _take(self, record: dict[str, Any], where: str, start: date | None, end: date | None,
              by_key: dict[str, JournalEntry], out: JournalRead) -> None:
        kind = record.get("type")
        try:
            if kind == "trade":
                entry = entry_from_record(record)
                day = trade_day(entry.trade)
                if (start is None or day >= start) and (end is None or day <= end):
                    by_key[trade_key(entry.trade)] = entry  # the latest line of a key wins
            elif kind == "day":
                summary = summary_from_record(record)
                if (start is None or summary.date >= start) and (
                        end is None or summary.date <= end):
                    out.stored_days[summary.date] = summary
            else:
                raise FieldError("type", f"expected 'trade' or 'day', got {kind!r}"[:80])
        except FieldError as exc:
            out.problems.append(f"{where}: {exc}")
            log.warning("journal: skipped %s: %s", where, exc)

    def _records(self, path: Path, problems: list[str]
                 ) -> tuple[list[dict[str, Any]], list[int]]:
        """The JSON objects of one file with their line numbers; what is skipped is added
        to ``problems`` and logged."""
        name = f"{JOURNAL_DIR}/{path.name}"
        try:
            raw = self.read_bytes(path)
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            problems.append(f"{name}: cannot be read: {os_problem(exc)}")
            log.warning("journal: %s cannot be read: %s", path, exc)
            return [], []
        unterminated = not raw.endswith(b"\n")
        records, numbers, bad, count = parse_json_lines(raw)
        for number in bad:
            if unterminated and number == count:
                log.info("journal: %s line %d is incomplete (being written, or cut short by "
                         "a crash: the next append ends it)", path, number)
            else:
                problems.append(f"{name} line {number}: not a JSON object")
                log.warning("journal: skipped %s line %d: not a JSON object", path, number)
        return records, numbers
