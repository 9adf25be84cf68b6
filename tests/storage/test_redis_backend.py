"""The Redis backend (issue 16) against a real redis-server: the key layout, expiry, two
accounts side by side, a corrupt state refused, the account lock, and a Redis that goes
away and comes back while the agent writes."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.models import Candle
from agent.serialize import candle_to_dict
from agent.settings import Settings, StorageBackend, StorageConfig
from agent.timeutil import IST
from storage.backends import open_stores
from storage.hookup import EnginePersistence
from storage.redis_conn import RedisUnavailable, shown_url
from storage.redis_keys import Keys
from storage.redis_presence import AccountLocked, AgentPresence
from storage.state import StateFileCorrupt
from tests.redis_server import RedisServer, free_port, redis_server
from tests.storage.snapshots import make_snapshot

DAY = date(2026, 12, 7)
WAIT = 5.0


def _settings(tmp: Path, url: str, account: str = "AB1234", **kw: object) -> Settings:
    return Settings(data_dir=tmp, storage=StorageConfig(
        backend=StorageBackend.REDIS, redis_url=url, account=account, **kw))


def _candle(token: int, minute: int, close: str = "100.5") -> Candle:
    start = datetime(2026, 12, 7, 9, 15, tzinfo=IST) + timedelta(minutes=minute)
    return Candle(token, start, start + timedelta(minutes=5), Decimal("100"), Decimal("101"),
                  Decimal("99.5"), Decimal(close), 1200 + minute, 7)


def _write_candles(stores, token: int, minutes: list[int]) -> None:  # type: ignore[no-untyped-def]
    path = stores.candles.path(DAY, token, 5)
    stores.candles.append_lines(path, [json.dumps(candle_to_dict(_candle(token, m))) + "\n"
                                       for m in minutes])


def test_candles_are_hashes_under_the_token_and_interval_and_read_back_in_order(
        tmp_path: Path, redis_db: RedisServer) -> None:
    stores = open_stores(_settings(tmp_path, redis_db.url, candle_ttl_days=3))
    _write_candles(stores, 256265, [10, 0, 5])  # written out of order
    client = redis_db.client()
    start = int(_candle(256265, 0).start.timestamp())
    key = f"candle:AB1234:256265:5:{start}"
    fields = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
    assert {"open", "high", "low", "close", "volume", "start"} <= set(fields)
    assert (fields["open"], fields["close"], fields["volume"]) == ("100", "100.5", "1200")
    assert 3 * 86400 - 60 < client.ttl(key) <= 3 * 86400
    assert client.ttl("candles:AB1234:256265:5:2026-12-07") > 0
    records = stores.candles.read_day(DAY, 256265, 5)
    assert [r["start"] for r in records] == [_candle(256265, m).start.isoformat()
                                            for m in (0, 5, 10)]
    assert records[0] == candle_to_dict(_candle(256265, 0))  # the same record as a file's
    assert stores.candles.series(DAY) == [(256265, 5)] and stores.candles.days() == [DAY]
    stores.close()


def test_two_accounts_on_one_redis_never_see_each_others_keys(tmp_path: Path,
                                                             redis_db: RedisServer) -> None:
    one = open_stores(_settings(tmp_path, redis_db.url, "AB1234"))
    two = open_stores(_settings(tmp_path, redis_db.url, "XY9876"))
    _write_candles(one, 1, [0])
    one.state.save(make_snapshot())
    assert two.state.load() is None and two.candles.series(DAY) == []
    assert two.candles.read_day(DAY, 1, 5) == []
    keys = {k.decode() for k in redis_db.client().keys("*")}
    assert keys and all(":AB1234" in k for k in keys)
    one.close()
    two.close()


def test_the_state_round_trips_and_a_corrupt_one_is_refused_with_a_copy(
        tmp_path: Path, redis_db: RedisServer) -> None:
    stores = open_stores(_settings(tmp_path, redis_db.url))
    snapshot = make_snapshot()
    stores.state.save(snapshot)
    assert stores.state.load() == snapshot
    assert stores.state.summary()["trades"] == len(snapshot.get("trades", []))
    redis_db.client().hset("state:AB1234", "orders", b"{not json")
    with pytest.raises(StateFileCorrupt, match=r"redis:AB1234/state: section 'orders' is "
                                               r"not JSON") as caught:
        stores.state.load()
    copy = str(caught.value.copy)
    assert copy.startswith("state:AB1234:corrupt-")
    assert redis_db.client().hget(copy, "orders") == b"{not json"  # kept as it was
    stores.close()


def test_a_redis_that_is_down_at_start_is_a_clear_error_naming_the_url(tmp_path: Path
                                                                        ) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable, match=rf"Redis at {url}: cannot be reached"):
        open_stores(_settings(tmp_path, url))
    assert shown_url("redis://me:s3cret@host:6379/0") == "redis://me:***@host:6379/0"


def test_the_password_comes_from_the_environment_and_a_unix_socket_works(tmp_path: Path
                                                                          ) -> None:
    pytest.importorskip("redis")
    from tests.redis_server import binary
    if binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_server(password="pa55-word", unix_socket=True) as server:
        settings = _settings(tmp_path, server.url)
        with pytest.raises(RedisUnavailable, match="REDIS_PASSWORD") as caught:
            open_stores(settings)
        assert "pa55" not in str(caught.value)
        secret = Settings(data_dir=tmp_path, storage=settings.storage,
                          secrets=type(settings.secrets)(redis_password="pa55-word"))
        stores = open_stores(secret)
        stores.state.save({"meta": {"day": "2026-12-07"}})
        assert stores.state.load() == {"meta": {"day": "2026-12-07"}}
        stores.close()


def test_one_agent_per_account_and_a_dead_holder_on_this_host_is_taken_over(
        redis_db: RedisServer) -> None:
    client = redis_db.client()
    keys = Keys("AB1234")
    first = AgentPresence(client, keys, "paper", dict, interval=3600)
    first.start()
    second = AgentPresence(client, keys, "paper", dict, interval=3600)
    second.me = "elsewhere:1"  # another process (on another host)
    with pytest.raises(AccountLocked, match=r"storage\.account 'AB1234'"):
        second.start()
    first.stop()
    second.start()  # given back: taken
    second.stop()
    # a kill -9 leaves the lock behind: a restart on this host takes it over at once
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    client.set(keys.lock, f"{first.me.split(':')[0]}:{dead}:0badc0de", ex=30)
    again = AgentPresence(client, keys, "live", lambda: {"positions": []}, interval=3600)
    again.start()
    assert client.get(keys.lock).decode() == again.me
    info = json.loads(client.get("agent-info:AB1234"))
    assert (info["account"], info["mode"], info["alive"]) == ("AB1234", "live", True)
    assert client.ttl(keys.heartbeat) > 0
    again.stop()
    assert client.get(keys.lock) is None and client.get(keys.heartbeat) is None
    assert json.loads(client.get("agent-info:AB1234"))["alive"] is False


def test_redis_lost_and_back_nothing_lost_within_the_bound_told_once_each_way(
        tmp_path: Path) -> None:
    from tests.redis_server import binary
    if binary() is None:
        pytest.skip("redis-server is not installed")
    errors: list[str] = []
    backs: list[str] = []
    with redis_server() as server:
        stores = open_stores(_settings(tmp_path, server.url), on_recovered=backs.append)
        stores.policy = replace(stores.policy, max_lines=100)
        persistence = EnginePersistence(tmp_path, errors.append, stores=stores)
        writer = persistence.writer
        for m in range(3):
            writer.append_candle(DAY, 1, 5, candle_to_dict(_candle(1, 5 * m)))
        assert writer.flush(WAIT) and errors == []

        server.stop()  # Redis goes away while the agent trades
        writer.submit_state(make_snapshot())
        for m in range(3, 153):  # 150 more candles: 50 over the bound
            writer.append_candle(DAY, 1, 5, candle_to_dict(_candle(1, 5 * m)))
        trade_line = {"type": "trade", "key": "k1", "day": DAY.isoformat()}
        writer.append_line(persistence.journal.path(DAY), trade_line)
        assert not writer.flush(WAIT)
        assert not writer.flush(WAIT)  # still down: retried, not told again
        lost = [e for e in errors if "failed" in e]
        assert len(lost) == 1 and "Redis at redis://127.0.0.1:" in lost[0]
        assert "(account AB1234)" in lost[0] and "kept and retried" in lost[0]
        over = [e for e in errors if "storage queue over 100 lines" in e]
        # 151 lines held (150 candles, 1 journal line) for a bound of 100: the 51 oldest
        # candles go, and that is told once
        assert len(over) == 1 and writer.stats().dropped_lines == 51
        assert backs == []

        server.start()  # back on the same port
        assert writer.flush(WAIT)
        assert len(backs) == 1 and "works again" in backs[0]
        stored = stores.candles.read_day(DAY, 1, 5)
        kept = [candle_to_dict(_candle(1, 5 * m))["start"] for m in range(54, 153)]
        assert [r["start"] for r in stored] == [r["start"] for r in stored[:3]] + kept
        assert stores.state.load() == make_snapshot()  # the snapshot kept while down
        assert json.loads(stores.candles.read_bytes(persistence.journal.path(DAY))) == (
            trade_line)  # a journal line is never dropped
        server.stop()  # a second outage: its overflow is told again
        for m in range(153, 273):
            writer.append_candle(DAY, 1, 5, candle_to_dict(_candle(1, 5 * m)))
        assert not writer.flush(WAIT)
        assert len([e for e in errors if "storage queue over 100 lines" in e]) == 2
        server.start()
        assert writer.flush(WAIT) and len(backs) == 2
        assert persistence.close()
        assert len([e for e in errors if "failed" in e]) == 2  # once per outage
