"""Connects an engine to storage: restore at start, snapshots and candles while running.

The composition root builds one ``EnginePersistence`` per data directory. ``snapshot`` and
``candle`` run on the engine thread and only hand data to the writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from agent import snapshot
from agent.engine import Engine
from agent.models import Candle, Instrument
from agent.serialize import candle_to_dict
from storage.candles import CandleLog
from storage.state import StateStore
from storage.writer import StorageWriter

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
CANDLES_DIR = "candles"


class EnginePersistence:
    def __init__(self, data_dir: Path, on_error: Callable[[str], None]) -> None:
        """Opens ``state.json`` (raises ``StateFileCorrupt`` naming the file, with a copy
        kept aside) and starts the writer thread."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = StateStore(data_dir / STATE_FILE)
        self.candles = CandleLog(data_dir / CANDLES_DIR)
        self.writer = StorageWriter(self.store, self.candles, on_error)

    def restore_into(self, engine: Engine, today: date) -> bool:
        """Load the saved state (settings always, the day's state if it is today's)."""
        saved = self.store.load()
        if saved is None:
            log.info("no saved state: a fresh start")
            return False
        return snapshot.restore(engine, saved, today)

    def snapshot(self, engine: Engine) -> None:
        """Engine thread: hand the whole state to the writer (it coalesces)."""
        self.writer.submit_state(snapshot.take(engine, engine.now()))

    def candle(self, instrument: Instrument, candle: Candle) -> None:
        """Engine thread: append a completed candle to its day's JSONL file."""
        minutes = int((candle.end - candle.start).total_seconds() // 60)
        self.writer.append_candle(candle.start.date(), instrument.token, minutes,
                                  candle_to_dict(candle))

    def close(self, timeout: float | None = 10.0) -> bool:
        return self.writer.close(timeout)
