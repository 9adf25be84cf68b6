"""Benchmark (issue 16): the Redis backend against the embedded files, in one run.

Starts its own ``redis-server`` on a free loopback port (persistence off, as a cache
would run; ``NotMeasured`` when the binary is not installed) and measures, each against
the file store in the same run:

- ``candle_writes_per_s``: a day of completed 5-minute candles (75) of 50 instruments
  through the storage writer, one flush at the end (Redis: a hash and a sorted-set entry
  each, in batched transactions; files: JSONL appends with an fsync per file per batch);
- ``day_read_ms``: one instrument's day of 5-minute candles (75) read back in order;
- ``state_saves_per_s``: whole snapshots saved (Redis: one MULTI/EXEC replacing the
  hash; TinyDB: the atomic file replace).

The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.settings import Settings, StorageBackend, StorageConfig
from agent.timeutil import IST
from bench import NotMeasured
from storage.backends import Stores, file_stores, open_stores
from storage.writer import StorageWriter
from tests.redis_server import binary, redis_server
from tests.storage.snapshots import make_snapshot

DAY = date(2026, 12, 7)
INSTRUMENTS = 50


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def _candle(token: int, i: int) -> dict[str, Any]:
    start = datetime(2026, 12, 7, 9, 15, tzinfo=IST) + timedelta(minutes=5 * i)
    return {"token": token, "start": start.isoformat(),
            "end": (start + timedelta(minutes=5)).isoformat(), "open": "1520.05",
            "high": "1525.00", "low": "1519.10", "close": "1523.40", "volume": 1200 + i,
            "ticks": 37}


def _measure(stores: Stores, candles: int, saves: int) -> dict[str, float]:
    errors: list[str] = []
    with StorageWriter(stores.state, stores.candles, errors.append,
                       policy=stores.policy) as writer:
        start = time.perf_counter()
        for i in range(candles):
            writer.append_candle(DAY, 100 + i % INSTRUMENTS, 5,
                                 _candle(100 + i % INSTRUMENTS, i // INSTRUMENTS))
        if not writer.flush(60):
            raise RuntimeError(f"the writer did not finish: {errors}")
        written = time.perf_counter() - start
    start = time.perf_counter()
    reads = 20
    for _ in range(reads):
        day = stores.candles.read_day(DAY, 100, 5)
    read = time.perf_counter() - start
    if len(day) != candles // INSTRUMENTS:
        raise RuntimeError(f"read back {len(day)} candles")
    snapshot = make_snapshot(orders=60)
    start = time.perf_counter()
    for _ in range(saves):
        stores.state.save(snapshot)
    saved = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"storage errors during the benchmark: {errors}")
    return {"candle_writes_per_s": _rate(candles, written),
            "day_read_ms": round(read / reads * 1000, 2),
            "state_saves_per_s": _rate(saves, saved)}


def run(quick: bool) -> dict[str, Any]:
    if binary() is None:
        raise NotMeasured("redis-server is not installed (Debian package redis-server)")
    candles, saves = (INSTRUMENTS * 20, 20) if quick else (INSTRUMENTS * 75, 200)
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, redis_server() as server:
        root = Path(tmp)
        files = _measure(file_stores(root / "files"), candles, saves)
        redis_stores = open_stores(Settings(data_dir=root / "redis", storage=StorageConfig(
            backend=StorageBackend.REDIS, redis_url=server.url, account="bench")))
        try:
            on_redis = _measure(redis_stores, candles, saves)
        finally:
            redis_stores.close()
    return {"candles": candles, "instruments": INSTRUMENTS, "saves": saves,
            "redis": on_redis, "files": files}
