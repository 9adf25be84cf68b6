"""/remove drops the instrument from the live feed, end to end: the whole agent
(``AgentProcess``, paper money) against the simulated exchange, steered through the fake
Bot API. After ``/remove`` the ticker server no longer streams the token and no tick of it
reaches the agent; ``/add`` of another instrument, sent after it, is the marker: every frame
after its first tick left the server after the unsubscribe."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from agent.calendar import load_schedule
from agent.events import TickBatch
from agent.instruments import BUNDLED_DUMP, load_dump
from agent.settings import Mode, Secrets, StrategyParams, TelegramConfig
from agent.sim import SimExchange
from agent.timeutil import IST
from bot import DEFAULT_SCHEDULES
from handlers.run_cli import demo_settings
from handlers.runtime import AgentProcess, RuntimeOptions
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

DAY = date(2026, 11, 23)  # a Monday
CHAT, USER = 1001, 2002
WAIT = 30.0


class Ticks:
    """The tokens of every TickBatch the feed hands the agent, in order (reactor thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.batches: list[frozenset[int]] = []

    def spy(self, forward: Callable[[Any], None]) -> Callable[[Any], None]:
        def put(event: Any) -> None:
            if isinstance(event, TickBatch):
                with self._cond:
                    self.batches.append(frozenset(t.instrument_token for t in event.ticks))
                    self._cond.notify_all()
            forward(event)
        return put

    def wait(self, condition: Callable[[list[frozenset[int]]], bool]) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: condition(self.batches), WAIT)


def test_remove_unsubscribes_the_token_from_the_live_feed(tmp_path) -> None:
    stocks = [i for i in load_dump(BUNDLED_DUMP)
              if i.exchange == "NSE" and i.instrument_type == "EQ"]
    kept, removed, added = stocks[0], stocks[1], stocks[2]
    sim = SimExchange(start=datetime.combine(DAY, time(10, 0), tzinfo=IST), speed=30).start()
    ticks = Ticks()

    async def body() -> None:
        fake = FakeBotAPI()
        await fake.start()
        base = demo_settings(load_schedule(DEFAULT_SCHEDULES), tmp_path)
        settings = dataclasses.replace(
            base, mode=Mode.PAPER, instruments=tuple(
                c for c in base.instruments if c.symbol in (kept.symbol, removed.symbol)),
            # a band no price reaches: no position, so /remove is not refused
            defaults=dataclasses.replace(base.defaults, params=StrategyParams(
                percentage=Decimal(50))),
            telegram=TelegramConfig(base_url=fake.base_url, allowed_chat_ids=(CHAT,)),
            secrets=Secrets(telegram_bot_token=TOKEN))
        assert {c.symbol for c in settings.instruments} == {kept.symbol, removed.symbol}
        proc = AgentProcess(settings, sim=sim, options=RuntimeOptions())
        proc.open()
        proc._from_feed = ticks.spy(proc._from_feed)  # type: ignore[method-assign]
        task = asyncio.create_task(proc.run())
        try:
            await fake.wait_for("getUpdates")
            assert await asyncio.to_thread(
                ticks.wait, lambda b: any(removed.token in s for s in b))

            async def ask(text: str, expect: str) -> str:
                fake.push_message(CHAT, USER, text)
                (reply,) = await fake.wait_for(
                    "sendMessage", lambda c: expect in c.params["text"], timeout=WAIT)
                return str(reply.params["text"])

            assert f"✅ {removed.symbol}: removed" in await ask(f"/remove {removed.symbol}",
                                                               "removed")
            mark = len(ticks.batches)
            assert f"✅ {added.symbol}: added" in await ask(f"/add {added.symbol}", "added")

            def first_added(batches: list[frozenset[int]]) -> int | None:
                return next((i for i, s in enumerate(batches) if i >= mark
                             and added.token in s), None)

            assert await asyncio.to_thread(ticks.wait, lambda b: first_added(b) is not None)
            first = first_added(ticks.batches)
            assert first is not None
            assert await asyncio.to_thread(ticks.wait, lambda b: len(b) > first + 20)
            after = set().union(*ticks.batches[first + 1:])
            assert after == {kept.token, added.token}  # nothing of the removed one
            feed = proc.feed
            assert feed is not None and feed.tokens == {kept.token, added.token}
            streamed = sim.call(lambda core: [set(c.modes) for c in core.hub.connections])
            assert streamed and all(removed.token not in s for s in streamed)
            assert removed.token not in proc.engine.runtimes
        finally:
            proc.request_stop()
            await asyncio.wait_for(task, WAIT)
            proc.close()
            await fake.stop()

    try:
        asyncio.run(asyncio.wait_for(body(), 120))
    finally:
        sim.stop()
