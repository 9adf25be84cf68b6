"""Who may act, and confirmation buttons, end to end through the fake Bot API."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from agent.events import Query, QueryKind, SquareOff, StopTrading, TickBatch
from tests.handlers.harness import (
    CHAT,
    FAST,
    STRANGER,
    STRANGER_CHAT,
    USER,
    Env,
    chat_clock,
    run,
    telegram_env,
)
from tests.helpers import Feed, worked_long


async def _open_long(env: Env) -> None:
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.fake.wait_for("sendMessage", lambda c: "🟢 <b>BUY" in c.params["text"])


def _buttons(call: object) -> list[tuple[str, str]]:
    markup = call.params["reply_markup"]  # type: ignore[attr-defined]
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


def test_a_stranger_chat_is_refused_once_per_minute_and_reaches_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            refusal = await env.text("/start", chat=STRANGER_CHAT, user=STRANGER)
            assert refusal.startswith("Not authorised")
            env.fake.push_message(STRANGER_CHAT, STRANGER, "/squareoff all")
            env.fake.push_message(STRANGER_CHAT, STRANGER, "/set lots 9")
            # /whoami answers anyone; updates run in order, so the two above are done.
            who = await env.text("/whoami", chat=STRANGER_CHAT, user=STRANGER)
            assert f"chat id <code>{STRANGER_CHAT}</code>" in who
            assert f"user id <code>{STRANGER}</code>" in who and "allowed to act: no" in who
            assert len(env.fake.sent(STRANGER_CHAT)) == 2  # one refusal, one /whoami
            assert env.runner.submitted == []
            assert env.bot.center.auth.refused == 3
            env.clock.advance(timedelta(seconds=61))  # a minute later: one more refusal
            assert "Not authorised" in await env.text("/pause", chat=STRANGER_CHAT,
                                                      user=STRANGER)
            assert env.runner.submitted == []
            assert "paused" in await env.text("/pause")  # the owner still may

    run(body())


def test_user_list_checks_the_user_not_only_the_chat(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, users=(USER,)) as env:
            assert "Not authorised" in await env.text("/pause", user=STRANGER)
            assert env.runner.submitted == []
            assert "paused" in await env.text("/pause", user=USER)
            assert len(env.runner.submitted) == 1

    run(body())


def test_an_empty_allow_list_lets_nobody_act_and_warns(tmp_path: Path, caplog) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, chats=()) as env:
            assert "Not authorised" in await env.text("/status")
            assert env.runner.submitted == []

    run(body())
    assert "NOBODY may run commands" in caplog.text


def test_stop_with_a_position_asks_and_square_off_and_stop_runs_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            await _open_long(env)
            (prompt,) = await env.ask("/stop")
            assert prompt.params["text"] == ("<b>Stop trading?</b> 1 position open:\n\n"
                                             "<b>AAA</b> LONG 50 · P&amp;L <b>₹0.00</b>\n"
                                             "@ 112.65 → 112.65 · SL 99.50")
            buttons = _buttons(prompt)
            assert [label for label, _ in buttons] == [
                "Square off and stop", "Stop, keep managing", "Cancel"]
            message_id = prompt.result["message_id"]
            env.fake.push_button(CHAT, USER, buttons[0][1], message_id)
            (edit,) = await env.fake.wait_for("editMessageText")
            assert edit.params["message_id"] == message_id
            assert edit.params["text"] == ("Square off and stop:\n✅ stopped; squaring off 1 open\n"
                                           "position(s)")
            assert "reply_markup" not in edit.params or not edit.params["reply_markup"]
            assert StopTrading(square_off=True) in env.runner.submitted
            status = env.runner.call(Query(QueryKind.POSITIONS))
            assert status.data == []
            # Pressed again (a second tap, or another device): nothing runs twice.
            env.fake.push_button(CHAT, USER, buttons[1][1], message_id)
            answers = await env.fake.wait_for("answerCallbackQuery", count=2)
            assert "already used" in answers[1].params["text"]
            assert env.runner.submitted.count(StopTrading(square_off=False)) == 0

    run(body())


def test_an_expired_button_does_nothing_and_says_so(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            await _open_long(env)
            (prompt,) = await env.ask("/squareoff nse:aaa")
            assert "<b>Square off NSE:AAA?</b>" in prompt.params["text"]
            (yes, _cancel) = _buttons(prompt)
            env.clock.advance(timedelta(seconds=61))
            env.fake.push_button(CHAT, USER, yes[1], prompt.result["message_id"])
            (answer,) = await env.fake.wait_for("answerCallbackQuery")
            assert "expired" in answer.params["text"]
            (edit,) = await env.fake.wait_for("editMessageText")  # the buttons go away
            assert "expired" in edit.params["text"]
            assert SquareOff("NSE:AAA") not in env.runner.submitted
            assert env.engine.pnl.books[1].quantity == 50

    run(body())


def test_squareoff_all_cancel_and_nothing_open(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert await env.text("/squareoff all") == ("Nothing to square off:\n"
                                                       "no open positions.")
            assert "no open position in NSE:AAA" in await env.text("/squareoff NSE:AAA")
            assert await env.text("/squareoff") == "no open positions"  # alone: the list
            assert "unexpected extra argument" in await env.text("/squareoff NSE:AAA now")
            stopped = await env.text("/stop")  # flat: no question asked
            assert "stopped: no new entries" in stopped
            await env.text("/start")
            await _open_long(env)
            (prompt,) = await env.ask("/squareoff all")
            (_yes, cancel) = _buttons(prompt)
            env.fake.push_button(CHAT, USER, cancel[1], prompt.result["message_id"])
            (edit,) = await env.fake.wait_for("editMessageText")
            assert edit.params["text"] == "Cancelled: nothing done."
            assert SquareOff(None) not in env.runner.submitted
            (prompt,) = await env.ask("/squareoff all")
            env.fake.push_button(STRANGER_CHAT, STRANGER, _buttons(prompt)[0][1],
                                 prompt.result["message_id"])
            answers = await env.fake.wait_for("answerCallbackQuery", count=2)
            assert "Not authorised" in answers[1].params["text"]
            assert SquareOff(None) not in env.runner.submitted
            env.fake.push_button(CHAT, USER, _buttons(prompt)[0][1],
                                 prompt.result["message_id"])
            edits = await env.fake.wait_for("editMessageText", count=2)
            assert edits[1].params["text"] == ("Square off all:\n✅ squaring off 1 open "
                                               "position(s)")
            assert SquareOff(None) in env.runner.submitted

    run(body())


def test_a_button_lives_a_minute_of_wall_time_when_trading_time_runs_fast(
        tmp_path: Path) -> None:
    """The demo and ``clock: exchange`` run trading time scaled; a person still gets the
    button's minute (``ChatOptions.human_clock``)."""
    people = chat_clock()

    async def body() -> None:
        async with telegram_env(tmp_path, options=dataclasses.replace(
                FAST, human_clock=people)) as env:
            await _open_long(env)
            (prompt,) = await env.ask("/squareoff nse:aaa")
            (yes, _cancel) = _buttons(prompt)
            env.clock.advance(timedelta(minutes=30))  # trading time raced ahead
            people.advance(timedelta(seconds=30))  # half a minute for the owner
            env.fake.push_button(CHAT, USER, yes[1], prompt.result["message_id"])
            await env.fake.wait_for("answerCallbackQuery")
            assert SquareOff("NSE:AAA") in env.runner.submitted

    run(body())
