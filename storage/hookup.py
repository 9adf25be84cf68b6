"""Connects an engine to storage: restore at start, snapshots, candles and the trade
journal while running.

The composition root builds one ``EnginePersistence`` per data directory. ``snapshot``,
``candle``, ``mark`` and ``trade`` run on the engine thread and only hand data to the
writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from agent import snapshot
from agent.engine import Engine
from agent.fields import FieldError
from agent.journal_stats import trade_day
from agent.marks import Mark, mark_to_dict
from agent.models import Candle, Instrument, Trade
from agent.restore import read_state
from agent.serialize import candle_to_dict
from agent.timeutil import IST
from storage.backends import CANDLES_DIR, STATE_FILE, Stores, file_stores
from storage.writer import StorageWriter

__all__ = ["CANDLES_DIR", "STATE_FILE", "EnginePersistence"]

log = logging.getLogger(__name__)

class EnginePersistence:
    def __init__(self, data_dir: Path, on_error: Callable[[str], None], *,
                 stores: Stores | None = None) -> None:
        """Opens ``state.json`` under ``data_dir`` (or the given ``stores``: Redis, see
        storage/backends.py; raises ``StateFileCorrupt`` naming the file, with a copy kept
        aside, or ``DataFileError`` when it cannot be read) and then starts the writer
        thread (non-daemon: ``close`` stops it; nothing is started when opening fails)."""
        self.stores = stores or file_stores(data_dir)
        self.store = self.stores.state
        self.candles = self.stores.candles
        self.writer = StorageWriter(self.store, self.candles, on_error,
                                    policy=self.stores.policy)
        self.journal = self.stores.journal(self.writer)
        self._loaded: tuple[dict[str, Any] | None] | None = None  # start-up: read once

    def _saved(self) -> dict[str, Any] | None:
        if self._loaded is None:
            self._loaded = (self.store.load(),)
        return self._loaded[0]

    def day_instruments(self, today: date) -> list[Instrument]:
        """The definitions of the instruments today's saved state traded (none when it is
        not today's): the whole file is checked here, a bad field raises ``StateFileCorrupt``
        naming the file and the field. Main thread, at start, before the engine is built."""
        saved = self._saved()
        if saved is None:
            return []
        try:
            return snapshot.day_instruments(saved, today)
        except FieldError as exc:
            self.store.refuse(str(exc))
        raise AssertionError("unreachable: refuse() raises")  # pragma: no cover

    def restore_into(self, engine: Engine, today: date) -> bool:
        """Load the saved state (settings always, the day's state if it is today's), then
        journal the restored trades the journal lacks (a crash between the state's write
        and the journal's) and learn today's journal, so a trade booked again (the
        broker's reconciliation) is not journalled twice.

        Anything in it the engine cannot take raises ``StateFileCorrupt`` naming the file
        and the field (``data/state.json: orders[3].tag: missing``), with a copy kept aside:
        a bad field is refused, never half-restored or passed over. Main thread, at start.
        """
        saved = self._saved()
        restored = self._restore(engine, today)
        # an earlier day's state: its trades were not restored, but are journalled
        trades = engine.trades if restored or saved is None else read_state(saved).trades
        for month in sorted({d.replace(day=1) for d in {today} | {trade_day(t) for t in trades}}):
            self.journal.prime(month)
        for trade in trades:
            rt = engine.runtimes.get(trade.instrument_token)
            if self.journal.record(trade, rt.instrument if rt is not None else None):
                log.warning("journal: %s %s was missing: written from the saved state",
                            trade.symbol, trade.exit_tag)
        return restored

    def _restore(self, engine: Engine, today: date) -> bool:
        saved, self._loaded = self._saved(), None
        if saved is None:
            log.info("no saved state: a fresh start")
            return False
        try:
            return snapshot.restore(engine, saved, today)
        except FieldError as exc:
            self.store.refuse(str(exc))
        except Exception as exc:  # not foreseen: still this file's content, still refused
            log.error("restoring %s failed", self.store.path, exc_info=True)
            self.store.refuse(f"cannot be restored ({type(exc).__name__}: {exc})")
        raise AssertionError("unreachable: refuse() raises")  # pragma: no cover

    def snapshot(self, engine: Engine) -> None:
        """Engine thread: hand the whole state to the writer (it coalesces)."""
        self.writer.submit_state(snapshot.take(engine, engine.now()))

    def candle(self, instrument: Instrument, candle: Candle) -> None:
        """Engine thread: append a completed candle to its day's JSONL file."""
        minutes = int((candle.end - candle.start).total_seconds() // 60)
        self.writer.append_candle(candle.start.date(), instrument.token, minutes,
                                  candle_to_dict(candle))

    def mark(self, instrument: Instrument, mark: Mark) -> None:
        """Engine thread: append one of the strategy's marks to its day's marks file."""
        self.writer.append_mark(mark.time.astimezone(IST).date(), instrument.token,
                                mark_to_dict(mark))

    def trade(self, trade: Trade, instrument: Instrument | None) -> None:
        """Engine thread (``Engine.on_trade_closed``): journal a closed trade."""
        try:
            self.journal.record(trade, instrument)
        except Exception:  # the journal must never stop the engine (a closed writer)
            log.exception("journal: %s %s could not be queued", trade.symbol, trade.exit_tag)

    def close_day(self, day: date, trades: list[Trade], now: datetime) -> None:
        """The session's end (any thread): the day's summary line, and any of its trades
        the journal lacks or holds with other figures."""
        summary = self.journal.close_day(day, trades, now)
        log.info("journal: day %s closed: %d trade(s), net %s", day, summary.trades,
                 summary.net)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Write what is queued and stop the writer, then close the stores (Redis: the
        heartbeat stops, the account's lock is given back). True if everything was
        written."""
        written = self.writer.close(timeout)
        self.stores.close()
        return written
