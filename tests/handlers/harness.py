"""Shared set-up of the handler tests: a real engine + runner (paper broker), the chat built
by the real builders, and the fake Bot API. Async tests run through ``run`` (asyncio.run
with an overall timeout); nothing sleeps for correctness: tests wait on recorded calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Coroutine, Iterable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.backtest import make_engine
from agent.clock import SimClock
from agent.engine import Engine
from agent.events import Command
from agent.runner import EngineRunner
from agent.settings import Secrets, Settings, TelegramConfig
from agent.timeutil import IST
from handlers.build import ChatOptions, ChatServices, build_telegram
from handlers.telegram_bot import TelegramBot
from tests.fakes.telegram_api import TOKEN, Call, FakeBotAPI
from tests.helpers import AAA, DAY, Sym, make_settings

CHAT = 1001  # the owner's chat
USER = 2002  # the owner
STRANGER_CHAT = 9009
STRANGER = 9999

FAST = ChatOptions(engine_timeout=5.0, pace=0.0, backoff=(0.05, 0.05, 0.05),
                   poll_timeout=1.0)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class SpyRunner(EngineRunner):
    """The real runner, recording every command submitted to it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, engine.clock, timer_seconds=None)
        self.submitted: list[Command] = []

    def submit(self, command: Command) -> Future[Any]:
        self.submitted.append(command)
        return super().submit(command)


def chat_settings(tmp: Path, syms: Iterable[Sym] = (AAA,), *, base_url: str = "",
                  chats: tuple[int, ...] = (CHAT,), users: tuple[int, ...] = (),
                  keyboard: tuple[tuple[str, ...], ...] | None = None,
                  **kwargs: Any) -> Settings:
    base = make_settings(syms, **kwargs)
    shown = {} if keyboard is None else {"keyboard": keyboard}  # telegram.keyboard
    return dataclasses.replace(
        base, data_dir=tmp,
        telegram=TelegramConfig(base_url=base_url or "http://127.0.0.1:9/bot",
                                allowed_chat_ids=chats, allowed_user_ids=users, **shown),
        secrets=Secrets(telegram_bot_token=TOKEN))


def chat_clock() -> SimClock:
    """The chat's clock (expiry, refusals, /schedule): 09:00 IST on the test day."""
    return SimClock(datetime.combine(DAY, datetime.min.time(), tzinfo=IST)
                    + timedelta(hours=9))


@dataclass
class Env:
    fake: FakeBotAPI
    engine: Engine
    runner: SpyRunner
    bot: TelegramBot
    clock: SimClock
    settings: Settings

    async def ask(self, text: str, *, chat: int = CHAT, user: int | None = USER,
                  replies: int = 1, timeout: float = 5.0) -> list[Call]:
        """Send ``text`` as ``user`` in ``chat``; the next ``replies`` messages to it."""
        before = len(self.fake.sent(chat))
        self.fake.push_message(chat, user, text)
        calls = await self.fake.wait_for(
            "sendMessage", lambda c: c.fault is None and c.params["chat_id"] == chat,
            count=before + replies, timeout=timeout)
        # The bot has the answers too (a prompt's buttons live from then on).
        await asyncio.wait_for(self.bot.sender.drain(), timeout)
        return calls[before:]

    async def alerted(self, *needles: str, timeout: float = 5.0) -> None:
        """Until every one of ``needles`` is in some message sent so far (alerts of one
        batch may go as one message or several)."""
        def all_seen(_call: Any) -> bool:
            texts = [str(c.params.get("text", "")) for c in self.fake.calls_of("sendMessage")]
            return all(any(n in t for t in texts) for n in needles)

        await self.fake.wait_for("sendMessage", all_seen, timeout=timeout)

    async def text(self, text: str, **kwargs: Any) -> str:
        """The text of the single reply to ``text``."""
        (call,) = await self.ask(text, **kwargs)
        return str(call.params["text"])


@asynccontextmanager
async def telegram_env(tmp: Path, syms: Iterable[Sym] = (AAA,), *,
                       options: ChatOptions = FAST, services: ChatServices | None = None,
                       chats: tuple[int, ...] = (CHAT,), users: tuple[int, ...] = (),
                       on_conflict: Any = None, **settings_kwargs: Any) -> AsyncIterator[Env]:
    """Fake API, engine and runner, and the bot polling; torn down in order."""
    syms = tuple(syms)
    fake = FakeBotAPI()
    await fake.start()
    settings = chat_settings(tmp, syms, base_url=fake.base_url, chats=chats, users=users,
                             **settings_kwargs)
    engine = make_engine(settings, [s.instrument() for s in syms])
    runner = SpyRunner(engine)
    runner.start()
    clock = chat_clock()
    bot = build_telegram(settings, runner, clock=clock, services=services, options=options,
                         on_conflict=on_conflict)
    engine.notify = bot.notify
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run_until(stop))
    try:
        await fake.wait_for("getUpdates")
        yield Env(fake, engine, runner, bot, clock, settings)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        runner.stop()
        await fake.stop()
