"""Late mornings through Telegram (issue 14): the whole agent (``AgentProcess``) in live mode
against the simulated exchange as if it were Kite, its chat the real python-telegram-bot
client polling the fake Bot API.

- A restart the same day with an expired token and a configured symbol outside the bundled
  sample list, holding a position in it: the position, its stop order and the strategy's
  state come back from the saved state at once (its definition was saved with it), and
  the login after it doubles nothing.
- A login at 09:22 rebuilds the candles of 09:15 on from Kite's minute candles.
- ``bot.py login`` run in another process is taken as a /login in the chat.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect

from agent.events import Query, QueryKind
from agent.instruments import BUNDLED_DUMP, load_dump
from agent.sim import SimExchange
from agent.sim.realism import Realism
from agent.timeutil import IST
from handlers.runtime import RuntimeOptions
from tests.handlers.harness import run
from tests.handlers.test_mornings_e2e import INFY, _redirect, agent

ROOT = Path(__file__).resolve().parents[2]
DAY_OPEN = datetime(2026, 12, 7, 9, 14, 40, tzinfo=IST)  # a Monday, just before the open


def _sim(start: datetime, speed: float) -> SimExchange:
    """Kite's market (the bundled sample and NSE:INFY, which the sample lacks)."""
    return SimExchange([*load_dump(BUNDLED_DUMP), INFY], start=start, speed=speed,
                       realism=Realism.all_but("rate_limits")).start()


def _session(data_dir: Path, token: str, issued: datetime) -> None:
    """session.json as a login writes it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "session.json").write_text(json.dumps({
        "access_token": token, "user_id": "SIM001", "issued_at": issued.isoformat()}),
        encoding="utf-8")


async def _until(cond: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll the agent's own state (off the loop) until ``cond()`` is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await asyncio.to_thread(cond)
        if value:
            return value
        await asyncio.sleep(0.1)  # polling the agent's state, not racing it
    raise AssertionError(f"never: {what}")


def _infy(proc: Any) -> dict[str, Any] | None:
    rows = proc.runner.call(Query(QueryKind.STATUS)).data["instruments"]
    return next((r for r in rows if r["symbol"] == "NSE:INFY"), None)


def _our_orders(sim: SimExchange) -> list[dict[str, Any]]:
    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    kite.set_access_token(sim.new_access_token())
    return [o for o in kite.orders() if o.get("tag")]


def _exchange_position(sim: SimExchange) -> int:
    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    kite.set_access_token(sim.new_access_token())
    return sum(int(p["quantity"]) for p in kite.positions()["net"]
               if p["tradingsymbol"] == "INFY")


def _protected(proc: Any) -> tuple[int, str] | None:
    """(quantity, its stop order's tag) once NSE:INFY holds a position with a stop."""
    rt = proc.engine.runtimes.get(INFY.token)
    if rt is None or not rt.book.quantity or not rt.orders.stop:
        return None
    return rt.book.quantity, rt.orders.stop


@pytest.fixture
def sim():
    exchange = _sim(DAY_OPEN, speed=30)
    yield exchange
    exchange.stop()


def test_a_restart_with_an_expired_token_restores_a_waiting_symbols_position(
        sim, tmp_path) -> None:
    async def body() -> None:
        _session(tmp_path, sim.new_access_token(), sim.clock.now())
        async with agent(sim, tmp_path, ["NSE:INFY"]) as (proc, _chat):
            held, stop_tag = await _until(lambda: _protected(proc),
                                          "a position in NSE:INFY with its stop", 120)
        # the next morning's token is not there yet: yesterday's
        _session(tmp_path, "yesterdaystoken", sim.clock.now() - timedelta(days=1))
        async with agent(sim, tmp_path, ["NSE:INFY"]) as (proc, chat):
            needed = await chat.said(lambda t: "Kite login needed" in t)
            assert "waits for it" not in needed, needed
            assert _protected(proc) == (held, stop_tag)  # restored, before any login
            stop = proc.engine.book.orders[stop_tag]
            assert not stop.status.is_terminal, stop
            status = await chat.ask("/status", "<b>INFY</b>")
            assert "waiting for login" not in status
            row = await asyncio.to_thread(_infy, proc)
            assert row is not None and row["quantity"] == held
            await chat.ask("/login", "Kite login")
            await chat.ask(_redirect(sim), "Logged in to Kite")
            await chat.said(lambda t: "Kite login as SIM001" in t)
            await _until(lambda: proc.engine.broker_synced, "the broker's books read")

            def agreed() -> bool:
                engine_qty = proc.engine.runtimes[INFY.token].book.quantity
                return engine_qty == _exchange_position(sim)

            await _until(agreed, "the engine and the exchange agree on the position")
            ours = await asyncio.to_thread(_our_orders, sim)
            tags = [o["tag"] for o in ours]
            assert len(tags) == len(set(tags)), tags  # no order sent twice
            known = {o["tag"] for o in proc.runner.call(Query(QueryKind.ORDERS)).data}
            assert set(tags) <= known, set(tags) - known
            working = [o for o in ours if o["status"] == "TRIGGER PENDING"]
            assert len(working) <= 1, working  # one stop at most, never a second one

    run(body(), timeout=240)


def test_a_late_login_rebuilds_the_candles_missed_since_the_open(tmp_path) -> None:
    """Up since before the open without a token; the login comes at 09:2x: the candles of
    09:15 on are rebuilt from Kite's minute candles before the feed goes on, for the symbol
    traded all along and for the one the login brought, so the strategy's VWAP and alerts
    are those of the whole day."""
    sim = _sim(DAY_OPEN, speed=60)
    try:
        _session(tmp_path, "yesterdaystoken", DAY_OPEN - timedelta(days=1))

        async def body() -> None:
            async with agent(sim, tmp_path, ["NSE:ADANIPORTS", "NSE:INFY"]) as (proc, chat):
                await chat.said(lambda t: "NSE:INFY waits for it" in t)
                late = DAY_OPEN.replace(minute=22, second=0)
                await _until(lambda: sim.clock.now() >= late, "09:22 at the exchange")
                await chat.ask("/login", "Kite login")
                await chat.ask(_redirect(sim), "Logged in to Kite")
                login = await chat.said(lambda t: "Kite login as SIM001" in t)
                assert "now trading NSE:INFY" in login
                adani = proc.index.by_symbol("NSE:ADANIPORTS")
                for token in (adani.token, INFY.token):
                    # written in order: once one of 09:21 or later is there, all before it are
                    starts = await _until(lambda t=token: _candle_starts(proc, t, "09:21"),
                                          f"a candle of {token} from 09:21 on")
                    assert starts[:7] == ["09:15", "09:16", "09:17", "09:18", "09:19",
                                          "09:20", "09:21"], starts

        run(body(), timeout=120)
    finally:
        sim.stop()


def _candle_starts(proc: Any, token: int, until: str) -> list[str]:
    """The minutes of the day's 1-minute candles written for ``token``, once one of them
    starts at ``until`` or later ([] before)."""
    rows = proc.persistence.candles.read_day(DAY_OPEN.date(), token, 1)
    starts = [datetime.fromisoformat(r["start"]).strftime("%H:%M") for r in rows]
    return starts if any(start >= until for start in starts) else []


LOGIN_CONFIG = """\
mode: live
feed: kite
clock: exchange
data_dir: "{data_dir}"
kite: {{root: "{root}", ws_root: "{ws_root}", login_url: "{login_url}"}}
instruments: ["NSE:ADANIPORTS"]
"""


def _bot_py_login(sim: SimExchange, data_dir: Path, where: Path) -> str:
    """``python bot.py login`` in another terminal: its own process, the redirect pasted."""
    where.mkdir()
    config = where / "config.yaml"
    config.write_text(LOGIN_CONFIG.format(data_dir=data_dir, root=sim.rest_root,
                                          ws_root=sim.ws_root, login_url=sim.login_url),
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "KITE_ACCESS_TOKEN", "KITE_PROXY")}
    env.update(KITE_API_KEY=sim.api_key, KITE_API_SECRET=sim.api_secret)
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "login", "--config",
                           str(config)], cwd=where, env=env, input=_redirect(sim) + "\n",
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_login_made_by_bot_py_login_elsewhere_is_taken_as_a_chat_login(sim,
                                                                        tmp_path) -> None:
    """No /login in the chat: ``bot.py login`` in another terminal writes session.json;
    the running agent notices it (while a login is needed it looks every
    ``session_poll`` seconds) and takes it exactly as /login: the day's list, the waiting
    symbol traded and streamed, the LOGIN alert."""
    data = tmp_path / "data"
    _session(data, "yesterdaystoken", DAY_OPEN - timedelta(days=1))

    async def body() -> None:
        async with agent(sim, data, ["NSE:ADANIPORTS", "NSE:INFY"],
                         RuntimeOptions(session_poll=0.2)) as (proc, chat):
            await chat.said(lambda t: "NSE:INFY waits for it" in t)
            printed = await asyncio.to_thread(_bot_py_login, sim, data, tmp_path / "other")
            assert "Kite login as SIM001: valid until 06:00 IST" in printed
            login = await chat.said(lambda t: "Kite login as SIM001" in t, timeout=30)
            assert "instruments: today's instrument list (loaded 09:" in " ".join(login.split())
            assert "\nnow trading NSE:INFY" in login
            assert proc.session.access_token() is not None
            status = await chat.ask("/status", "<b>INFY</b>")
            assert "waiting for login" not in status
            await _until(lambda: _infy(proc) and _infy(proc)["last_price"],
                         "a tick of NSE:INFY in the engine")

    run(body(), timeout=120)
