"""Benchmark: state saves and candle appends through the storage package.

``run(quick)`` works in a temporary directory (on the default temp file system, so the
figures depend on its fsync cost) and returns rates per second:

- ``state_saves_per_s``: :meth:`StateStore.save` of a realistic snapshot (one atomic
  replace: temp file, fsync, ``os.replace``, directory fsync);
- ``tinydb_default_saves_per_s``: the same TinyDB operations (drop the tables, insert each
  section) on TinyDB's default ``JSONStorage``, which rewrites the file in place and fsyncs
  on every operation (``tinydb_default_writes_per_save`` of them), not atomically;
- ``jsonstorage_single_write_per_s``: the lower bound: ``JSONStorage.write`` of the whole
  document once (in place, fsync, not atomic);
- ``plain_json_check_us``: the value check alone, per snapshot, in microseconds;
- ``candle_enqueue_per_s``: :meth:`StorageWriter.append_candle` calls on the caller side;
- ``candle_appends_per_s_batched``: appends to 50 files then one flush, end to end;
- ``candle_appends_per_s_flush_each``: append and flush one at a time (an fsync each).

The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import JSONStorage

from storage.candles import CandleLog
from storage.plainjson import check_plain_json
from storage.state import StateStore
from storage.writer import StorageWriter
from tests.storage.snapshots import make_snapshot

DAY = date(2024, 1, 5)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def _tinydb_default_save(db: TinyDB, snapshot: dict[str, Any]) -> None:
    db.drop_tables()
    for name, value in snapshot.items():
        if isinstance(value, list):
            db.table(name).insert_multiple(value)
        else:
            db.table(name).insert(value)
    db.table("_sections").insert({"version": 1})


def _candle(i: int) -> dict[str, Any]:
    return {"token": 408065, "start": f"2024-01-05T09:{i % 60:02d}:00+05:30",
            "end": "2024-01-05T09:20:00+05:30", "open": "1520.05", "high": "1525.00",
            "low": "1519.10", "close": "1523.40", "volume": 1200 + i, "ticks": 37}


def _state(root: Path, saves: int, snapshot: dict[str, Any]) -> dict[str, Any]:
    store = StateStore(root / "state.json")
    start = time.perf_counter()
    for _ in range(saves):
        store.save(snapshot)
    ours = time.perf_counter() - start

    db = TinyDB(root / "default.json")
    storage = db.storage
    writes = 0
    real_write = storage.write

    def counting_write(data: Any) -> None:
        nonlocal writes
        writes += 1
        real_write(data)

    storage.write = counting_write  # type: ignore[method-assign]
    start = time.perf_counter()
    for _ in range(saves):
        _tinydb_default_save(db, snapshot)
    default = time.perf_counter() - start
    db.close()

    single = JSONStorage(str(root / "single.json"))
    document = json.loads(store.path.read_text())
    start = time.perf_counter()
    for _ in range(saves):
        single.write(document)
    single_time = time.perf_counter() - start
    single.close()

    start = time.perf_counter()
    for _ in range(saves):
        check_plain_json(snapshot, "bench")
    check = time.perf_counter() - start
    return {
        "snapshot_bytes": store.path.stat().st_size,
        "state_saves_per_s": _rate(saves, ours),
        "tinydb_default_saves_per_s": _rate(saves, default),
        "tinydb_default_writes_per_save": writes // saves,
        "jsonstorage_single_write_per_s": _rate(saves, single_time),
        "plain_json_check_us": round(check / saves * 1e6, 1),
    }


def _candles(root: Path, appends: int, flushed: int) -> dict[str, Any]:
    errors: list[str] = []
    store = StateStore(root / "unused-state.json")
    with StorageWriter(store, CandleLog(root / "candles"), errors.append) as writer:
        start = time.perf_counter()
        for i in range(appends):
            writer.append_candle(DAY, 100 + i % 50, 5, _candle(i))
        enqueued = time.perf_counter() - start
        writer.flush()
        batched = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(flushed):
            writer.append_candle(DAY, 99, 1, _candle(i))
            writer.flush()
        each = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"storage errors during the benchmark: {errors}")
    return {
        "candle_enqueue_per_s": _rate(appends, enqueued),
        "candle_appends_per_s_batched": _rate(appends, batched),
        "candle_appends_per_s_flush_each": _rate(flushed, each),
    }


def run(quick: bool) -> dict[str, Any]:
    saves, appends, flushed = (20, 2_000, 50) if quick else (200, 50_000, 500)
    snapshot = make_snapshot(orders=60)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        root = Path(tmp)
        return {
            "orders_in_snapshot": len(snapshot["orders"]),
            **_state(root, saves, snapshot),
            **_candles(root, appends, flushed),
        }
