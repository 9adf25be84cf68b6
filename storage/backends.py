"""The two storage backends behind one set of stores (``storage.backend``, issue 16).

A ``Stores`` is what ``EnginePersistence`` and the readers need: the state store
(``save``/``load``: ``StateStore`` or ``RedisStateStore``), the candle log (``CandleLog``
or ``RedisCandleLog``: also the writer's sink for journal lines), a journal for a writer
(``Journal`` or ``RedisJournal``) and the storage writer's policy. ``open_stores`` builds
the embedded default (TinyDB and JSONL files under ``data_dir``) or, with ``backend:
redis``, connects to Redis (``RedisUnavailable`` naming the URL when it cannot) and, for a
running agent (``presence``), takes the account's lock and starts the heartbeat
(``storage/redis_presence.py``). ``close`` stops what it started.

Threads: the main thread opens and closes; see each store for the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.clock import Clock
from agent.settings import Settings, StorageBackend
from storage.candles import CandleLog
from storage.journal import JOURNAL_DIR, Journal, LineWriter
from storage.state import StateStore
from storage.writer_policy import WriterPolicy

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
CANDLES_DIR = "candles"
REDIS_BACKOFF = (1.0, 30.0)  # seconds between attempts while Redis does not answer


@dataclass
class Stores:
    state: Any  # StateStore | RedisStateStore
    candles: CandleLog
    make_journal: Callable[[LineWriter | None], Journal]
    policy: WriterPolicy = field(default_factory=WriterPolicy)
    closers: list[Callable[[], None]] = field(default_factory=list)
    where: str = ""  # for logs: the data directory, or Redis's URL and account

    def journal(self, writer: LineWriter | None = None) -> Journal:
        return self.make_journal(writer)

    def close(self) -> None:
        while self.closers:
            try:
                self.closers.pop()()
            except Exception:  # closing must go on
                log.exception("storage: closing %s failed", self.where)


def file_stores(data_dir: Path) -> Stores:
    """The embedded default: ``state.json`` and the JSONL files under ``data_dir``."""
    root = Path(data_dir)
    return Stores(StateStore(root / STATE_FILE), CandleLog(root / CANDLES_DIR),
                  lambda writer: Journal(root / JOURNAL_DIR, writer), where=str(root))


def open_stores(settings: Settings, *, clock: Clock | None = None,
                presence: bool = False,
                on_recovered: Callable[[str], None] | None = None) -> Stores:
    """The stores ``settings.storage`` asks for. With Redis and ``presence`` (``bot.py
    run``), the account's lock is taken (``AccountLocked``) and the heartbeat started."""
    config = settings.storage
    if config.backend is not StorageBackend.REDIS:
        return file_stores(settings.data_dir)
    from storage.redis_conn import connect, shown_url
    from storage.redis_keys import Keys
    from storage.redis_lines import RedisCandleLog, RedisJournal
    from storage.redis_state import RedisStateStore

    url = config.redis_url
    client = connect(url, settings.secrets.redis_password,
                     name=f"kite-agent:{config.account}")
    keys = Keys(config.account)
    state = RedisStateStore(client, keys, url=url, clock=clock)
    where = f"Redis at {shown_url(url)} (account {config.account})"
    stores = Stores(state, RedisCandleLog(client, keys, config.candle_ttl_days),
                    lambda writer: RedisJournal(client, keys, writer),
                    WriterPolicy(backoff=REDIS_BACKOFF, max_lines=config.queue_limit,
                                 target=where, on_recovered=on_recovered),
                    [client.close], where)
    if presence:
        from storage.redis_presence import AgentPresence

        beat = AgentPresence(client, keys, settings.mode.value, state.summary, clock=clock)
        try:
            beat.start()
        except Exception:
            stores.close()
            raise
        stores.closers.append(beat.stop)
    log.info("storage: %s", where)
    return stores
