"""Mornings through Telegram (issue 14): the whole agent (``AgentProcess``, as ``bot.py run``
wires it) in live mode against the simulated exchange as if it were Kite, without a valid
token, its chat the real python-telegram-bot client polling the fake Bot API.

- A login after the 08:45 refresh loads the day's instrument list: ``/add`` of a symbol
  outside the bundled sample says why it fails before, and works after.
- A configured symbol outside the sample waits for the login (named in /status), then
  trades: the engine has its ticks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.calendar import load_schedule
from agent.config import load_settings_from_dict
from agent.events import Query, QueryKind
from agent.instruments import BUNDLED_DUMP, load_dump
from agent.models import Instrument
from agent.sim import SimExchange
from agent.timeutil import IST
from handlers.build import ChatServices
from handlers.readiness import Readiness
from handlers.runtime import AgentProcess, RuntimeOptions
from tests.fakes.telegram_api import TOKEN, Call, FakeBotAPI
from tests.handlers.harness import run, telegram_env
from tests.helpers import DAY, at

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = load_schedule(ROOT / "schedules.yaml")
START = datetime(2026, 12, 7, 9, 10, tzinfo=IST)  # a Monday: after the 08:45 refresh
CHAT = 4242
INFY = Instrument(408065, "NSE", "INFY", tick_size=Decimal("0.05"), lot_size=1,
                  segment="NSE", name="INFOSYS")
TCS = Instrument(2953217, "NSE", "TCS", tick_size=INFY.tick_size, lot_size=1, segment="NSE",
                 name="TATA CONSULTANCY SERV")


@pytest.fixture(scope="module")
def sim():
    """Kite's market: the bundled sample and two symbols outside it."""
    exchange = SimExchange([*load_dump(BUNDLED_DUMP), INFY, TCS], start=START,
                           speed=20).start()
    yield exchange
    exchange.stop()


class Chat:
    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake

    async def said(self, pred: Callable[[str], bool], timeout: float = 15.0) -> str:
        """The first message whose text, its lines joined (alerts wrap at a phone's 40
        columns), satisfies ``pred``; returned as sent."""
        (call,) = await self.fake.wait_for(
            "sendMessage", lambda c: _ok(c) and pred(_text(c).replace("\n", " ")),
            timeout=timeout)
        return _text(call)

    async def ask(self, text: str, expect: str, timeout: float = 15.0) -> str:
        """Send ``text``; the first message sent after it that contains ``expect``."""
        before = len(self.fake.calls)
        self.fake.push_message(CHAT, CHAT, text)
        (call,) = await self.fake.wait_for(
            "sendMessage", lambda c: _ok(c) and c in self.fake.calls[before:]
            and expect in _text(c), timeout=timeout)
        return _text(call)


def _ok(call: Call) -> bool:
    return call.fault is None and call.params.get("chat_id") == CHAT


def _text(call: Call) -> str:
    return str(call.params.get("text", ""))


def _settings(sim: SimExchange, data_dir: Path, base_url: str, symbols: list[str],
              **more: Any) -> Any:
    raw = {"mode": "live", "feed": "kite", "data_dir": str(data_dir),
           "kite": {"root": sim.rest_root, "ws_root": sim.ws_root, "login_url": sim.login_url},
           "telegram": {"base_url": base_url, "allowed_chat_ids": [CHAT]},
           "defaults": {"interval": 1, "percentage": 0.05}, "instruments": symbols, **more}
    env = {"KITE_API_KEY": sim.api_key, "KITE_API_SECRET": sim.api_secret,
           "TELEGRAM_BOT_TOKEN": TOKEN}
    return load_settings_from_dict(raw, SCHEDULE, env)


@asynccontextmanager
async def agent(sim: SimExchange, data_dir: Path, symbols: list[str],
                options: RuntimeOptions | None = None, **raw: Any
                ) -> AsyncIterator[tuple[AgentProcess, Chat]]:
    """The agent up, its chat polling; ``raw``: config keys to set."""
    fake = FakeBotAPI()
    await fake.start()
    proc = AgentProcess(_settings(sim, data_dir, fake.base_url, symbols, **raw),
                        clock=sim.clock, options=options)
    try:
        await asyncio.to_thread(proc.open)
        task = asyncio.create_task(proc.run())
        try:
            await fake.wait_for("getUpdates")
            yield proc, Chat(fake)
        finally:
            proc.request_stop()
            await asyncio.wait_for(task, 20)
    finally:
        await asyncio.to_thread(proc.close)
        await fake.stop()


def _redirect(sim: SimExchange) -> str:
    return ("https://example.com/kite?action=login&type=login&status=success&request_token="
            + sim.issue_request_token())


def test_a_login_after_the_refresh_loads_the_days_list_for_add(sim, tmp_path) -> None:
    async def body() -> None:
        async with agent(sim, tmp_path, ["NSE:ADANIPORTS"]) as (_proc, chat):
            await chat.said(lambda t: "Kite login needed (no valid access token)" in t
                            and t.endswith("- /login"))
            before = await chat.ask("/add NSE:TCS", "NSE:TCS")
            assert before == ("❌ NSE:TCS: not in the bundled sample\nlist (no login yet);\n"
                              "/login loads today's")
            await chat.ask("/login", "Kite login")
            await chat.ask(_redirect(sim), "Logged in to Kite as <b>SIM001</b>")
            login = await chat.said(lambda t: "Kite login as SIM001" in t)
            assert "Kite login as SIM001: valid until 06:00\n" in login
            assert "instruments: today's instrument list (loaded 09:" in " ".join(login.split())
            assert "session started" not in login and "now trading" not in login
            added = await chat.ask("/add NSE:TCS", "NSE:TCS")
            assert added.startswith("✅ NSE:TCS: added"), added
            again = await chat.ask("/add NSE:NOPE", "NSE:NOPE")
            assert again == "❌ NSE:NOPE: not in today's instrument\nlist (loaded 09:" \
                + again.split("(loaded 09:", 1)[1]
            assert "reloads" not in again  # today's list: a login would not change it

    run(body(), timeout=90)


def test_a_configured_symbol_waits_for_the_login_then_trades(sim, tmp_path) -> None:
    async def body() -> None:
        async with agent(sim, tmp_path, ["NSE:ADANIPORTS", "NSE:INFY"]) as (proc, chat):
            await chat.said(lambda t: "NSE:INFY waits for it" in t and "- /login" in t)
            status = await chat.ask("/status", "ADANIPORTS")
            assert status.endswith("⏳ waiting for login: NSE:INFY"), status
            start = await chat.ask("/start", "trading started")
            assert start.endswith("\nentries from 09:15 once logged in") or start.endswith(
                "\nentries once logged in: /login"), start
            await chat.ask("/login", "Kite login")
            await chat.ask(_redirect(sim), "Logged in to Kite")
            login = await chat.said(lambda t: "Kite login as SIM001" in t)
            assert "\nnow trading NSE:INFY" in login
            status = await chat.ask("/status", "<b>INFY</b>")
            assert "waiting for login" not in status

            def infy_priced() -> bool:
                rows = proc.runner.call(Query(QueryKind.STATUS)).data["instruments"]
                return any(r["symbol"] == "NSE:INFY" and r["last_price"] for r in rows)

            for _ in range(300):  # the exchange opens at 09:15, 15 s of wall time away
                if await asyncio.to_thread(infy_priced):
                    break
                await asyncio.sleep(0.2)  # polling the engine's state, not racing it
            assert await asyncio.to_thread(infy_priced), "no tick of NSE:INFY reached the engine"

    run(body(), timeout=150)


def test_start_and_resume_say_when_entries_can_happen(tmp_path) -> None:
    """The chat's own clock (09:00 on a Monday in the harness), the login from readiness."""
    ready = {"now": Readiness(logged_in=False, pending=(("NSE:BBB", "waiting for login"),))}

    async def body() -> None:
        services = ChatServices(readiness=lambda: ready["now"])
        async with telegram_env(tmp_path, services=services) as env:
            assert await env.text("/start") == \
                "✅ trading started\nentries from 09:15 once logged in"
            assert (await env.text("/instruments")).endswith("\n⏳ waiting for login: NSE:BBB")
            ready["now"] = Readiness(logged_in=True)
            env.clock.advance_to(at(10, 0))
            assert await env.text("/resume") == "✅ resumed\nentries allowed now"
            env.clock.advance_to(at(15, 5))
            assert await env.text("/resume") == \
                "✅ resumed\nafter the 15:00 cutoff: no entries today"
            await env.text("/stop")
            assert await env.text("/resume") == \
                "✅ resumed, but the agent is stopped:\n/start to trade"
            env.clock.advance_to(at(16, 0, day=DAY + timedelta(days=5)))  # a Saturday
            assert await env.text("/start") == ("✅ trading started\nclosed: Saturday;\nnext "
                                                "trading day Monday 22 Jan")

    run(body())
