"""Handler tests with real ``telegram.Update`` objects (``Update.de_json``), processed by
the real ``TelegramBot`` against the fake Bot API (no polling)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram import Update

from agent.backtest import make_engine
from agent.events import PauseEntries, Query, QueryKind
from handlers.build import build_telegram
from handlers.services import Caller
from handlers.telegram_bot import TelegramBot, incoming_from_update
from tests.fakes.telegram_api import BOT_USER, FakeBotAPI
from tests.handlers.harness import (
    CHAT,
    FAST,
    STRANGER,
    USER,
    SpyRunner,
    chat_clock,
    chat_settings,
    run,
)
from tests.helpers import AAA


def _message(chat: int, user: int | None, text: str | None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": 5, "date": int(time.time()),
                           "chat": {"id": chat, "type": "private"}, **extra}
    if text is not None:
        msg["text"] = text
    if user is not None:
        msg["from"] = {"id": user, "is_bot": False, "first_name": "U"}
    return msg


def _button(chat: int, user: int, data: str) -> dict[str, Any]:
    return {"update_id": 2, "callback_query": {
        "id": "q1", "from": {"id": user, "is_bot": False, "first_name": "U"},
        "chat_instance": "x", "data": data,
        "message": {"message_id": 77, "date": int(time.time()), "text": "prompt",
                    "chat": {"id": chat, "type": "private"}, "from": BOT_USER}}}


def test_incoming_from_updates() -> None:
    text = Update.de_json({"update_id": 1, "message": _message(CHAT, USER, "/status")}, None)
    assert incoming_from_update(text).caller == Caller(CHAT, USER)  # type: ignore[union-attr]
    assert incoming_from_update(text).text == "/status"  # type: ignore[union-attr]
    press = incoming_from_update(Update.de_json(_button(CHAT, USER, "c:ab:0"), None))
    assert press is not None and press.button == "c:ab:0" and press.caller == Caller(CHAT, USER)
    photo = Update.de_json({"update_id": 3, "message": _message(
        CHAT, USER, None, photo=[{"file_id": "f", "file_unique_id": "u", "width": 1,
                                  "height": 1}])}, None)
    assert incoming_from_update(photo) is None
    edited = Update.de_json({"update_id": 4, "edited_message": _message(CHAT, USER, "/stop",
                                                                        edit_date=1)}, None)
    assert incoming_from_update(edited) is None  # an edit never re-runs a command
    anonymous = Update.de_json({"update_id": 5, "message": _message(CHAT, None, "/pause")},
                               None)
    assert incoming_from_update(anonymous).caller == Caller(CHAT, None)  # type: ignore[union-attr]


@asynccontextmanager
async def bare_bot(tmp: Path, users: tuple[int, ...] = ()) -> AsyncIterator[
        tuple[TelegramBot, FakeBotAPI, SpyRunner]]:
    fake = FakeBotAPI()
    await fake.start()
    settings = chat_settings(tmp, base_url=fake.base_url, users=users)
    engine = make_engine(settings, [AAA.instrument()])
    runner = SpyRunner(engine)
    runner.start()
    bot = build_telegram(settings, runner, clock=chat_clock(), options=FAST)
    await bot.application.initialize()
    try:
        yield bot, fake, runner
    finally:
        await bot.sender.close()
        await bot.application.shutdown()
        runner.stop()
        await fake.stop()


def test_a_command_update_runs_and_replies(tmp_path: Path) -> None:
    async def body() -> None:
        async with bare_bot(tmp_path) as (bot, fake, runner):
            update = Update.de_json({"update_id": 1, "message": _message(CHAT, USER, "/pause")},
                                    bot.application.bot)
            await bot.process(update)
            (call,) = await fake.wait_for("sendMessage")
            assert call.params["chat_id"] == CHAT
            assert call.params["parse_mode"] == "HTML"
            assert "paused: no new entries" in call.params["text"]
            assert runner.submitted == [PauseEntries()]
            assert runner.call(Query(QueryKind.STATUS)).data["state"] == "paused"

    run(body())


def test_a_user_not_on_the_user_list_is_refused_even_in_an_allowed_chat(tmp_path: Path) -> None:
    async def body() -> None:
        async with bare_bot(tmp_path, users=(USER,)) as (bot, fake, runner):
            for update_id in (1, 2):  # the second refusal within a minute is silent
                await bot.process(Update.de_json(
                    {"update_id": update_id, "message": _message(CHAT, STRANGER, "/pause")},
                    bot.application.bot))
            await bot.process(Update.de_json(_button(CHAT, STRANGER, "c:00:0"),
                                             bot.application.bot))
            (answer,) = await fake.wait_for("answerCallbackQuery")
            assert "Not authorised" in answer.params["text"]
            await bot.sender.drain()
            (refusal,) = fake.sent(CHAT)
            assert "Not authorised" in refusal.params["text"]
            assert runner.submitted == []
            assert bot.center.auth.refused == 3

    run(body())


def test_a_stale_button_update_is_answered_and_changes_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        async with bare_bot(tmp_path) as (bot, fake, runner):
            await bot.process(Update.de_json(_button(CHAT, USER, "c:deadbeef:0"),
                                             bot.application.bot))
            (answer,) = await fake.wait_for("answerCallbackQuery")
            assert answer.params["callback_query_id"] == "q1"
            assert "already used or is no longer valid" in answer.params["text"]
            assert fake.calls_of("editMessageText") == []
            assert runner.submitted == []

    run(body())
