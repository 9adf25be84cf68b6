"""Fixtures for every test directory: the real Redis server (``tests/redis_server.py``)
and the storage backends the storage and restart tests run on (``backend``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.settings import Settings, StorageBackend, StorageConfig
from storage.backends import Stores, open_stores
from storage.hookup import EnginePersistence
from tests.redis_server import SKIP_REASON, RedisServer, binary, redis_server


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One redis-server for the session; tests take their own account (key prefix)."""
    if binary() is None:
        pytest.skip(SKIP_REASON)
    with redis_server() as server:
        yield server


@pytest.fixture
def redis_db(redis_session: RedisServer) -> Iterator[RedisServer]:
    """The session's server, emptied before the test."""
    redis_session.client().flushall()
    yield redis_session


class Backend:
    """One storage backend for the tests that run on both (``backend`` fixture): the
    stores for a data directory, as ``bot.py run`` would open them."""

    def __init__(self, name: str, server: RedisServer | None) -> None:
        self.name, self.server = name, server

    def __repr__(self) -> str:
        return f"Backend({self.name})"

    def settings(self, data_dir: Path, account: str = "test") -> Settings:
        if self.server is None:
            return Settings(data_dir=data_dir)
        return Settings(data_dir=data_dir, storage=StorageConfig(
            backend=StorageBackend.REDIS, redis_url=self.server.url, account=account))

    def stores(self, data_dir: Path, account: str = "test") -> Stores:
        return open_stores(self.settings(data_dir, account))

    def persistence(self, data_dir: Path, on_error: Callable[[str], None],
                    account: str = "test") -> EnginePersistence:
        return EnginePersistence(data_dir, on_error, stores=self.stores(data_dir, account))


@pytest.fixture(params=["tinydb", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each storage backend in turn; the Redis one on the session's server, emptied (it
    skips, saying why, when redis-server is not installed)."""
    if request.param == "redis":
        return Backend("redis", request.getfixturevalue("redis_db"))
    return Backend("tinydb", None)
