"""Several agents on one Redis (issue 16): each under its own account, seen from outside by
``bot.py status --redis URL`` without touching their processes; a second agent with an
account already running is refused, with the reason."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from agent.calendar import load_schedule
from agent.settings import Settings, StorageBackend, StorageConfig
from agent.sim import SimExchange
from agent.sim.realism import Realism
from bot import DEFAULT_SCHEDULES
from handlers.run_cli import demo_settings
from handlers.runtime import AgentProcess, RuntimeOptions
from handlers.status_cli import status_command
from storage.lock import DataDirLock
from storage.redis_conn import RedisUnavailable
from storage.redis_presence import AccountLocked
from storage.state import StateFileCorrupt
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 23)


@pytest.fixture
def sim():
    # three agents on one simulated account crowd Kite's request rates: not this test's point
    exchange = SimExchange(start=DAY, speed=1, realism=Realism.all_but("rate_limits")).start()
    yield exchange
    exchange.stop()


def _agent(sim: SimExchange, tmp: Path, url: str, account: str) -> AgentProcess:
    settings = replace(demo_settings(load_schedule(DEFAULT_SCHEDULES), tmp / account),
                       storage=StorageConfig(backend=StorageBackend.REDIS, redis_url=url,
                                             account=account))
    proc = AgentProcess(settings, sim=sim, options=RuntimeOptions(
        stdin=io.StringIO(), stdout=io.StringIO()))
    proc.open()
    return proc


def _settings(tmp: Path) -> Settings:
    return demo_settings(load_schedule(DEFAULT_SCHEDULES), tmp)


def _process(settings: Settings, sim: SimExchange) -> AgentProcess:
    return AgentProcess(settings, sim=sim, options=RuntimeOptions(stdin=io.StringIO(),
                                                                  stdout=io.StringIO()))


def _ours(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()
            and t.name.startswith(("storage-writer", "engine", "kite-broker", "sim-jobs",
                                   "redis-heartbeat"))]


def _lock_is_free(data_dir: Path) -> bool:
    with DataDirLock(data_dir):
        return True


def _status(url: str) -> dict[str, dict]:
    out = io.StringIO()
    assert status_command(url, as_json=True, out=out) == 0
    return {a["account"]: a for a in json.loads(out.getvalue())["agents"]}


def test_two_agents_share_one_redis_and_status_lists_them(sim, tmp_path: Path,
                                                         redis_db: RedisServer) -> None:
    url = redis_db.url
    one = _agent(sim, tmp_path, url, "AB1234")
    try:
        two = _agent(sim, tmp_path, url, "XY9876")
    except BaseException:
        one.close()
        raise
    try:
        seen = _status(url)
        assert set(seen) == {"AB1234", "XY9876"}
        # the demo trades the simulated exchange as live
        assert all(a["alive"] and a["mode"] == "live" for a in seen.values()), seen
        with pytest.raises(AccountLocked, match="AB1234"):
            _agent(sim, tmp_path / "elsewhere", url, "AB1234")  # its account is in use
        keys = {k.decode() for k in redis_db.client().keys("*")}
        for key in keys - {"agents"}:  # every key is one account's
            assert (":AB1234" in key) != (":XY9876" in key), key
    except BaseException:
        two.close()
        raise
    finally:
        one.close()
    seen = _status(url)
    assert (seen["AB1234"]["alive"], seen["XY9876"]["alive"]) == (False, True)
    two.close()
    proc = subprocess.run([sys.executable, str(ROOT / "bot.py"), "status", "--redis", url],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["ACCOUNT", "MODE", "STATE", "LAST"]
    assert [line.split()[:3] for line in lines[1:]] == [["AB1234", "live", "stopped"],
                                                       ["XY9876", "live", "stopped"]]


def test_status_of_a_redis_that_is_not_there_is_one_error_line() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.run([sys.executable, str(ROOT / "bot.py"), "status", "--redis", url],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: Redis at {url}: cannot be reached")
    assert "Traceback" not in proc.stderr


def test_a_redis_that_is_down_or_holds_a_bad_state_stops_the_start_cleanly(
        sim, tmp_path, redis_db) -> None:
    """Issue 16: Redis down at start is one error naming the URL; a bad state hash is
    refused like a bad state.json (kept aside); either way nothing is left running, the
    data directory's lock and the account's lock are given back."""
    before = set(threading.enumerate())
    down = f"redis://127.0.0.1:{free_port()}/0"
    storage = StorageConfig(backend=StorageBackend.REDIS, redis_url=down, account="AB1234")
    proc = _process(replace(_settings(tmp_path), storage=storage), sim)
    with pytest.raises(RedisUnavailable, match=rf"^Redis at {down}: cannot be reached"):
        proc.open()
    assert _ours(before) == [] and _lock_is_free(tmp_path)
    redis_db.client().hset("state:AB1234", mapping={
        "_sections": json.dumps({"version": 1, "sections": {"meta": "dict"}}),
        "meta": json.dumps({"version": 1, "seq": "abc"})})
    storage = replace(storage, redis_url=redis_db.url)
    proc = _process(replace(_settings(tmp_path), storage=storage), sim)
    with pytest.raises(StateFileCorrupt, match=r"redis:AB1234/state: meta\.seq: expected"):
        proc.open()
    assert _ours(before) == [] and _lock_is_free(tmp_path)
    assert redis_db.client().get("lock:AB1234") is None  # the account's lock given back
    assert any(k.startswith(b"state:AB1234:corrupt-") for k in redis_db.client().keys("*"))
