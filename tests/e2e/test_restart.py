"""A restart mid-position of the whole agent (issue 5): stop it while it holds positions,
start a new one on the same data directory against the same (simulated) exchange. The day
resumes from the saved state, agrees with the broker, and places no duplicate order."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
from kiteconnect import KiteConnect

from agent.calendar import load_schedule
from agent.events import Query, QueryKind
from agent.sim import SimExchange
from agent.sim.realism import Realism
from bot import DEFAULT_SCHEDULES
from handlers.run_cli import demo_settings
from handlers.runtime import AgentProcess, RuntimeOptions
from storage.journal import trade_key

DAY = date(2026, 11, 23)  # a Monday


def _wait(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.1)):
        if cond():
            return
        done.wait(0.1)  # polling the agent's own state, not racing a result
    raise AssertionError("the condition never held")


class Running:
    def __init__(self, settings, sim) -> None:
        self.proc = AgentProcess(settings, sim=sim, options=RuntimeOptions(
            stdin=io.StringIO(), stdout=io.StringIO()))
        self.proc.open()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.proc.run()),
                                       daemon=True)

    def start(self) -> Running:
        self.thread.start()
        _wait(lambda: self.proc._loop is not None and self.proc.stop_event is not None)
        return self

    def stop(self) -> None:
        self.proc.request_stop()
        self.thread.join(30)
        self.proc.close()

    def positions(self) -> dict[str, int]:
        rows = self.proc.runner.call(Query(QueryKind.POSITIONS)).data
        return {r["symbol"]: r["quantity"] for r in rows if r["quantity"]}


def _our_orders(sim: SimExchange) -> list[dict]:
    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    kite.set_access_token(sim.new_access_token())
    return [o for o in kite.orders() if o.get("tag")]


@pytest.fixture
def sim():
    # at 300x the agent's (and this test's) calls crowd into wall seconds: Kite's wall-time
    # request rates are not what a restart test is about
    exchange = SimExchange(start=DAY, speed=300, realism=Realism.all_but("rate_limits")).start()
    yield exchange
    exchange.stop()


def test_restart_mid_position_resumes_without_duplicate_orders(sim, tmp_path, backend) -> None:
    """On either storage backend (issue 16): a restart on Redis resumes as one on TinyDB."""
    settings = replace(demo_settings(load_schedule(DEFAULT_SCHEDULES), tmp_path),
                       storage=backend.settings(tmp_path).storage)
    first = Running(settings, sim).start()
    try:
        _wait(lambda: bool(first.positions()), timeout=120)
        trades_before = first.proc.runner.call(Query(QueryKind.TRADES)).data
    finally:
        first.stop()
    if backend.server is None:
        assert (tmp_path / "state.json").exists()
    else:
        assert backend.server.client().exists("state:test")
        assert not (tmp_path / "state.json").exists()

    placed = len(_our_orders(sim))
    second = Running(settings, sim)  # open(): restore, then reconcile with the broker
    assert len(_our_orders(sim)) == placed, "the restart placed orders by itself"
    engine = second.proc.engine
    assert engine.day == DAY
    restored = [t["entry_tag"] for t in trades_before]
    assert [t.entry_tag for t in engine.trades][:len(restored)] == restored
    for token, rt in engine.runtimes.items():
        if engine.pnl.books[token].quantity:
            # every open position is protected by its exchange stop, still live at the broker
            stop = engine.book.get(rt.orders.stop or "")
            assert stop is not None and not stop.status.is_terminal, rt.symbol
    second.start()
    try:
        # the day goes on: the next decision of the strategy reaches the exchange
        _wait(lambda: len(_our_orders(sim)) > placed, timeout=120)
    finally:
        second.stop()
    tags = [o["tag"] for o in _our_orders(sim) if o["status"] == "COMPLETE"]
    entries = [t for t in tags if t.startswith("E")]
    assert len(entries) == len(set(entries))  # no entry tag filled twice
    # the journal (issue 15): each trade of the day once, across the restart
    stores = backend.stores(tmp_path)
    journal = stores.journal()
    try:
        raw = journal.read_bytes(journal.path(DAY))
    except FileNotFoundError:
        raw = b""
    lines = [json.loads(x) for x in raw.decode().splitlines()]
    keys = [x["key"] for x in lines if x["type"] == "trade"]
    assert len(keys) == len(set(keys))  # no trade written twice
    assert set(keys) == {trade_key(t) for t in engine.trades}
    assert journal.read().problems == []
    stores.close()
