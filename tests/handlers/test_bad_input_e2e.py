"""Bad input from a person never hangs, crashes or bricks the agent (issue 13), end to end
through the fake Bot API: numbers in other scripts' digits or out of range get a usage
reply and change nothing, every button press is answered whatever its data, and no reply
echoes a secret, not even in part."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.events import Query, QueryKind, SetLimit, SetParam, SquareOff, TickBatch
from agent.settings import Secrets
from handlers import commands as commands_module
from handlers.build import ChatServices
from handlers.confirm import Choice, Confirmations, Refusal
from tests.fakes.telegram_api import TOKEN
from tests.handlers.harness import CHAT, USER, Env, chat_clock, run, telegram_env
from tests.helpers import Feed, worked_long


async def _open_long(env: Env) -> None:
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.fake.wait_for("sendMessage", lambda c: "🟢 <b>BUY" in c.params["text"])


def _buttons(call: Any) -> list[tuple[str, str]]:
    markup = call.params["reply_markup"]
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


@pytest.mark.parametrize("text", ["/orders ²", "/trades ٣", "/logs ²", "/orders 1e2",
                                  "/trades -0", "/orders " + "9" * 5000])
def test_a_count_in_other_digits_or_out_of_range_gets_a_usage_reply(tmp_path: Path,
                                                                    text: str) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            reply = await env.text(text)
            assert reply.startswith("❌ n: expected a whole number 1..")
            assert "\nusage: <code>/" in reply and len(reply) < 300
            assert env.runner.submitted == []
            assert "paused" in await env.text("/pause")  # the chat still answers

    run(body())


def test_set_and_limits_out_of_range_are_refused_never_applied_nor_stored(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            params = env.engine.runtimes[1].params
            for text, says in (
                    ("/set percentage 1e999999",
                     "❌ percentage: expected a number 0..100,\ngot '1e999999'\n"),
                    ("/set percentage NaN",
                     "❌ percentage: expected a number 0..100,\ngot 'NaN'\n"),
                    ("/set percentage -0", "❌ percentage: expected a number 0..100,\ngot '-0'\n"),
                    ("/set percentage ²", "❌ percentage: expected a number 0..100,\ngot '²'\n"),
                    ("/set lots ٣ NSE:AAA",
                     "❌ lots: expected a whole number\n1..10000, got '٣'\n"),
                    ("/set max_trades_per_day 1001",
                     "❌ max_trades_per_day: expected a whole\nnumber 0..1000, got '1001'\n"),
                    ("/set loss_limit 1e888888 NSE:AAA",
                     "❌ loss_limit: expected a number\n0..100000000, got '1e888888'\n"),
                    ("/limits daily loss_limit 1e888888",
                     "❌ loss_limit: expected a number\n0..100000000, got '1e888888'\n"),
                    ("/limits daily profit_target 100000000.01",
                     "❌ profit_target: expected a number\n0..100000000, got '100000000.01'\n")):
                reply = await env.text(text)
                assert reply.startswith(says) and "\nusage: <code>/" in reply, (text, reply)
            assert env.runner.submitted == []
            # The engine checks by the same rules whatever sends the command: nothing out
            # of range is applied, so nothing out of range is ever saved.
            for command in (SetParam("percentage", Decimal("1e999999"), None),
                            SetParam("lots", 10**6, "NSE:AAA"),
                            SetLimit("daily", "loss_limit", Decimal("1e888888")),
                            SetLimit("daily", "loss_limit", Decimal("NaN"))):
                reply = env.runner.call(command)
                assert not reply.ok and ": expected a " in reply.text, reply.text
            assert env.engine.overrides["defaults"] == {}
            assert env.engine.overrides["instruments"] == {}
            assert env.engine.overrides["daily"] == {}
            assert env.engine.runtimes[1].params == params
            before = len(env.fake.sent(CHAT))
            pnl = await env.text("/pnl")
            assert pnl == ("<b>Day P&amp;L</b> <b>₹0.00</b> · no daily limits\n\n"
                           "<b>AAA</b> ₹0.00 · no limits")
            status = await env.text("/status NSE:AAA")  # /pnl was one message, this the next
            assert "5m, 0.5%, lots 1, lot 50, BOTH" in status
            assert len(env.fake.sent(CHAT)) == before + 2
            assert "percentage = 100 for all instruments" in await env.text(
                "/set percentage 100")  # the bound itself is fine
            assert await env.text("/limits daily loss_limit 100000000") == (
                "✅ daily loss_limit = 100000000,\neffective now")

    run(body())


def test_every_button_press_is_answered_whatever_its_data(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            await _open_long(env)
            (prompt,) = await env.ask("/squareoff nse:aaa")
            (yes, _cancel) = _buttons(prompt)
            key = yes[1].split(":")[1]
            message_id = prompt.result["message_id"]
            presses = [f"c:{key}:²", f"c:{key}:٣", f"c:{key}:99", f"c:{key}:0:0",
                       f"c:{key}:" + "0" * 60, "c:deadbeef:0", "c::", "garbage", "",
                       "x" * 300, "c:" + "²" * 20 + ":1"]
            for data in presses:
                env.fake.push_button(CHAT, USER, data, message_id)
            answers = await env.fake.wait_for("answerCallbackQuery", count=len(presses))
            assert len(answers) == len(presses)
            for answer in answers:
                assert "not one of mine" in answer.params["text"] or \
                    "no longer valid" in answer.params["text"], answer.params
            assert not any(isinstance(c, SquareOff) for c in env.runner.submitted)
            # The real button still works after the forged ones.
            env.fake.push_button(CHAT, USER, yes[1], message_id)
            (edit,) = await env.fake.wait_for("editMessageText")
            assert edit.params["text"].startswith("Square off:\n✅ NSE:AAA: squaring off; no new")
            assert SquareOff("NSE:AAA") in env.runner.submitted
            answers = await env.fake.wait_for("answerCallbackQuery", count=len(presses) + 1)
            # Pressed again after use: still answered, nothing runs twice.
            env.fake.push_button(CHAT, USER, yes[1], message_id)
            answers = await env.fake.wait_for("answerCallbackQuery", count=len(presses) + 2)
            assert "already used" in answers[-1].params["text"]
            assert env.runner.submitted.count(SquareOff("NSE:AAA")) == 1

    run(body())


def test_a_button_or_command_that_fails_inside_is_still_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            monkeypatch.setattr(env.bot.center.confirmations, "take", broken)
            env.fake.push_button(CHAT, USER, "c:whatever:0", 1)
            (answer,) = await env.fake.wait_for("answerCallbackQuery")
            assert answer.params["text"] == "failed (RuntimeError); see /logs"
            monkeypatch.setitem(commands_module.HANDLERS, "status", broken)
            reply = await env.text("/status")
            assert reply.startswith("❌ /status failed (RuntimeError)")
            monkeypatch.undo()
            assert "<b>AAA</b> waiting for data" in await env.text("/status")  # chat goes on

    run(body())


def test_confirmations_refuse_other_digits_without_raising() -> None:
    confirmations = Confirmations(chat_clock())
    (first,) = confirmations.offer(CHAT, "stop", (Choice("Cancel", None),))
    prefix = first.data.rsplit(":", 1)[0]
    for data in (f"{prefix}:²", f"{prefix}:٣", f"{prefix}:१", "c:²:²"):
        outcome = confirmations.take(CHAT, data)
        assert isinstance(outcome, Refusal) and "not one of mine" in outcome.reason
    assert confirmations.take(CHAT, first.data) == Choice("Cancel", None)


def test_replies_never_echo_the_bot_token_even_in_part(tmp_path: Path) -> None:
    secret_part = TOKEN.split(":", 1)[1]
    pieces = {secret_part[i:i + 8] for i in range(len(secret_part) - 7)}

    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            for text in (f"/set percentage {TOKEN}",
                         f"/set percentage {'1' * 30}{TOKEN}",
                         f"/add {'x' * 30}{TOKEN}",
                         f"/orders {TOKEN[:25]}",
                         f"/set lots 2 NSE{TOKEN}",
                         f"/side {'s' * 33}{TOKEN}",
                         f"/set {'k' * 35}{TOKEN} 1",
                         f"/limits daily loss_limit {'2' * 34}{TOKEN}",
                         f"/alerts {TOKEN} on",
                         f"/pause {TOKEN}"):
                reply = await env.text(text)
                assert "usage:" in reply or "❌" in reply, reply
                leaked = [p for p in pieces if p.casefold() in reply.casefold()]
                assert leaked == [], (text, reply)
            # the one well-formed command (a symbol NSE123456789:AA...) changed nothing
            assert [type(c).__name__ for c in env.runner.submitted] == ["SetParam"]
            assert env.engine.overrides["instruments"] == {}

    run(body())


def test_the_engine_still_answers_after_the_refusals(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            for text in ("/set percentage 1e999999", "/orders ²", "/limits daily loss_limit inf"):
                await env.text(text)
            reply = await asyncio.to_thread(env.runner.call, Query(QueryKind.LIMITS))
            assert reply.ok and reply.data["daily"]["loss_limit"] in ("0", "0.00")

    run(body())


class _Login:
    """A LoginService whose link carries the API key (as Kite's does)."""

    def login_url(self) -> str:
        return f"https://kite.zerodha.com/connect/login?v=3&api_key={API_KEY}"

    def complete(self, text: str) -> str:
        raise ValueError("not in this test")


API_KEY = "kiteapikey0123456789"
API_SECRET = "KiteApiSecretValue0123456789abcd"


def test_replies_mask_the_api_secret_but_not_the_api_key_of_the_login_link(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(login=_Login())) as env:
            center = env.bot.center
            secrets = Secrets(kite_api_key=API_KEY, kite_api_secret=API_SECRET,
                              telegram_bot_token=TOKEN)
            center.services = dataclasses.replace(center.services, settings=dataclasses.replace(
                center.services.settings, secrets=secrets))
            assert f"api_key={API_KEY}" in await env.text("/login")
            await env.text("/cancel")
            for text in (f"/set lots {API_SECRET}", f"/add NSE:{API_SECRET.lower()}",
                         f"/remove NSE:{API_SECRET}"):
                reply = await env.text(text)
                assert API_SECRET[4:12].casefold() not in reply.casefold(), reply

    run(body())
