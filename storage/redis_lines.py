"""Candles, the chart marks and the journal on Redis (``storage.backend: redis``).

``RedisCandleLog`` is ``CandleLog`` (``storage/candles.py``) with Redis underneath: the same
logical paths (``redis:{account}/candles/{day}/{token}_{interval}m.jsonl``, see
``storage/redis_keys.py``), the same readers (a day's candles in order, with what could not
be used named), and ``append_lines``, which the storage writer calls for every queued batch:
candles become one hash each plus their day's sorted set, marks and journal lines are pushed
on lists. A batch goes in one MULTI/EXEC (all of it or nothing); a Redis error leaves the
lines with the writer, which keeps them and retries with a backoff. Candles and marks
expire after ``ttl_days``; the journal never does.

``RedisJournal`` is ``Journal`` (``storage/journal.py``) reading its months from Redis.

Threads: ``append_lines`` on the storage writer thread; the readers on any thread (redis-py's
client is thread-safe).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

from storage.candles import CandleLog
from storage.journal import JOURNAL_DIR, Journal, LineWriter
from storage.redis_conn import describe
from storage.redis_keys import CandleTarget, JournalTarget, Keys, MarksTarget

log = logging.getLogger(__name__)

_INT_FIELDS = ("token", "volume", "ticks")


def _unreadable(exc: RedisError) -> OSError:
    """A Redis error as the ``OSError`` the file readers report ("cannot be read: ...")."""
    return OSError(0, f"Redis: {describe(exc)}")


def _lines(values: Sequence[bytes]) -> bytes:
    if not values:
        raise FileNotFoundError
    return b"\n".join(values) + b"\n"


class RedisCandleLog(CandleLog):
    """One account's candles and marks on Redis, and the writer's line sink for its journal
    too. See the module doc."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_days: int = 5) -> None:
        super().__init__(Path(f"{keys.root}/candles"))
        self._client = client
        self._keys = keys
        self.ttl = timedelta(days=ttl_days)

    # ---------------------------------------------------------------- reading

    def days(self) -> list[date]:
        try:
            members = self._client.zrange(self._keys.days, 0, -1)
        except RedisError as exc:
            log.warning("candles on Redis: the days cannot be read: %s", describe(exc))
            return []
        return sorted(date.fromisoformat(m.decode()) for m in members)

    def series(self, day: date) -> list[tuple[int, int]]:
        try:
            members = self._client.smembers(self._keys.series(day))
        except RedisError as exc:
            log.warning("candles on Redis: %s cannot be read: %s", day, describe(exc))
            return []
        found = []
        for member in members:
            token, _, interval = member.decode().partition(":")
            found.append((int(token), int(interval)))
        return sorted(found)

    def read_bytes(self, path: Path) -> bytes:
        target = self._keys.target(path)
        try:
            if isinstance(target, CandleTarget):
                return self._candle_lines(target)
            if isinstance(target, MarksTarget):
                return _lines(self._client.lrange(self._keys.marks(target.token, target.day),
                                                  0, -1))
            return _lines(self._client.lrange(self._keys.journal(target.month), 0, -1))
        except RedisError as exc:
            raise _unreadable(exc) from None

    def _candle_lines(self, target: CandleTarget) -> bytes:
        day_key = self._keys.candle_day(target.token, target.interval, target.day)
        starts = self._client.zrange(day_key, 0, -1)
        if not starts:
            raise FileNotFoundError
        with self._client.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(self._keys.candle_at(target.token, target.interval,
                                                  int(start)))
            hashes = pipe.execute()
        lines = []
        for fields in hashes:
            if not fields:  # expired between the two reads: a gap, not an error
                continue
            record: dict[str, Any] = {k.decode(): v.decode() for k, v in fields.items()}
            for key in _INT_FIELDS:
                if key in record and record[key].lstrip("-").isdigit():
                    record[key] = int(record[key])
            lines.append(json.dumps(record, separators=(",", ":")).encode())
        return _lines(lines)

    # ---------------------------------------------------------------- writing

    def append_lines(self, path: Path, lines: Sequence[str]) -> None:
        """Write one batch of encoded lines (each ending in a newline) for ``path``, all or
        nothing. Writer thread only; raises RedisError (the writer retries)."""
        if not lines:
            return
        target = self._keys.target(path)
        ttl = int(self.ttl.total_seconds())
        with self._client.pipeline(transaction=True) as pipe:
            if isinstance(target, CandleTarget):
                self._queue_candles(pipe, target, lines, ttl)
            elif isinstance(target, MarksTarget):
                key = self._keys.marks(target.token, target.day)
                pipe.rpush(key, *(line.rstrip("\n") for line in lines))
                pipe.expire(key, ttl)
            else:
                assert isinstance(target, JournalTarget)
                pipe.rpush(self._keys.journal(target.month),
                           *(line.rstrip("\n") for line in lines))
                pipe.sadd(self._keys.journal_months, target.month)
            pipe.execute()

    def _queue_candles(self, pipe: Any, target: CandleTarget, lines: Sequence[str],
                       ttl: int) -> None:
        day_key = self._keys.candle_day(target.token, target.interval, target.day)
        starts: dict[str, int] = {}
        for line in lines:
            record = json.loads(line)
            start = int(datetime.fromisoformat(record["start"]).timestamp())
            key = self._keys.candle_at(target.token, target.interval, start)
            pipe.hset(key, mapping={k: str(v) for k, v in record.items()})
            pipe.expire(key, ttl)
            starts[str(start)] = start
        pipe.zadd(day_key, starts)
        pipe.expire(day_key, ttl)
        series = self._keys.series(target.day)
        pipe.sadd(series, f"{target.token}:{target.interval}")
        pipe.expire(series, ttl)
        ordinal = target.day.toordinal()
        pipe.zadd(self._keys.days, {target.day.isoformat(): ordinal})
        pipe.zremrangebyscore(self._keys.days, "-inf", ordinal - self.ttl.days - 1)


class RedisJournal(Journal):
    """The trade journal of one account on Redis: ``journal:{account}:{YYYY-MM}`` lists of
    the same lines as the files, read and judged by ``Journal``'s own code."""

    def __init__(self, client: redis.Redis, keys: Keys, writer: LineWriter | None = None
                 ) -> None:
        super().__init__(Path(f"{keys.root}/{JOURNAL_DIR}"), writer)
        self._client = client
        self._keys = keys

    def months(self) -> list[Path]:
        try:
            members = self._client.smembers(self._keys.journal_months)
        except RedisError as exc:
            log.warning("journal on Redis: the months cannot be read: %s", describe(exc))
            return []
        return sorted(self.root / f"{m.decode()}.jsonl" for m in members)

    def read_bytes(self, path: Path) -> bytes:
        target = self._keys.target(path)
        assert isinstance(target, JournalTarget)
        try:
            return _lines(self._client.lrange(self._keys.journal(target.month), 0, -1))
        except RedisError as exc:
            raise _unreadable(exc) from None
