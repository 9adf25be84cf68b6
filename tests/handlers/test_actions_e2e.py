"""Issue 14's actions end to end through the fake Bot API: /squareoff alone (a button per
position, each asking once more), /unhalt all, the configured reply keyboard, and "did you
mean" for the commands traders bring from other bots."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.events import Query, QueryKind, SquareOff, TickBatch, Unhalt
from handlers.args import COMMANDS
from handlers.text import money
from tests.handlers.harness import CHAT, USER, Env, run, telegram_env
from tests.helpers import AAA, BBB, Feed, at, by_time, sell_short, worked_long


def _buttons(call: Any) -> list[tuple[str, str]]:
    markup = call.params["reply_markup"]
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


async def _open_two(env: Env) -> tuple[Feed, Feed]:
    """Long 50 NSE:AAA at 112.65 and short 50 NSE:BBB at 87.50; returns once their alerts
    went out (so they do not interleave with the replies a test waits for)."""
    aaa, bbb = Feed(1), Feed(2)
    env.runner.put(TickBatch(by_time(worked_long(aaa), sell_short(bbb))))
    await env.alerted("BUY 50 NSE:AAA</b> @", "SELL 50 NSE:BBB</b> @")
    return aaa, bbb


async def _press(env: Env, prompt: Any, label: str, edits: int) -> Any:
    """Press the button ``label`` of ``prompt``; the ``edits``-th edit of a prompt."""
    data = dict(_buttons(prompt))[label]
    env.fake.push_button(CHAT, USER, data, prompt.result["message_id"])
    return (await env.fake.wait_for("editMessageText", count=edits))[-1]


def _open(env: Env) -> dict[str, int]:
    rows = env.runner.call(Query(QueryKind.POSITIONS)).data
    return {r["symbol"]: r["quantity"] for r in rows if r["quantity"]}


def test_squareoff_alone_lists_the_positions_and_each_asks_once_more(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB)) as env:
            assert await env.text("/squareoff") == "no open positions"
            await _open_two(env)
            (menu,) = await env.ask("/squareoff")
            assert menu.params["text"] == ("<b>Square off which?</b> 2 positions open\n"
                                           "You confirm next.")
            labels = [label for label, _ in _buttons(menu)]
            pnl = {r["symbol"]: r["unrealized"]
                   for r in env.runner.call(Query(QueryKind.POSITIONS)).data}
            assert labels == [f"SELL 50 AAA {money(pnl['NSE:AAA'])}",
                              f"BUY 50 BBB {money(pnl['NSE:BBB'])}", "All", "Cancel"]
            # A position's button asks again (the list itself squares nothing off).
            ask = await _press(env, menu, labels[0], edits=1)
            (answer,) = await env.fake.wait_for("answerCallbackQuery")
            assert answer.params["text"] == "Confirm below"
            assert ask.params["text"] == ("<b>Square off NSE:AAA?</b>\n\n<b>AAA</b> LONG 50 · "
                                          f"P&amp;L <b>{money(pnl['NSE:AAA'])}</b>\n"
                                          "@ 112.65 → 112.65 · SL 99.50")
            assert [label for label, _ in _buttons(ask)] == ["Square off", "Cancel"]
            assert not any(isinstance(c, SquareOff) for c in env.runner.submitted)
            assert _open(env) == {"NSE:AAA": 50, "NSE:BBB": -50}
            done = await _press(env, ask, "Square off", edits=2)
            assert done.params["text"] == ("Square off:\n✅ NSE:AAA: squaring off; no new entries\n"
                                           "until /resume NSE:AAA or the next day")
            assert "reply_markup" not in done.params  # the buttons went away
            assert env.runner.submitted.count(SquareOff("NSE:AAA")) == 1
            await env.alerted("Closed by /squareoff")
            assert _open(env) == {"NSE:BBB": -50}
            # The list's buttons work once: the same position again does nothing.
            env.fake.push_button(CHAT, USER, _buttons(menu)[0][1], menu.result["message_id"])
            answers = await env.fake.wait_for("answerCallbackQuery", count=3)
            assert "already used" in answers[-1].params["text"]

            # All asks like /squareoff all; Cancel there leaves everything open.
            (menu,) = await env.ask("/squareoff")
            assert [label for label, _ in _buttons(menu)][1:] == ["All", "Cancel"]
            ask = await _press(env, menu, "All", edits=3)
            assert ask.params["text"].startswith("<b>Square off every position?</b>")
            cancelled = await _press(env, ask, "Cancel", edits=4)
            assert cancelled.params["text"] == "Cancelled: nothing done."
            assert SquareOff(None) not in env.runner.submitted
            # The list's own Cancel.
            (menu,) = await env.ask("/squareoff")
            cancelled = await _press(env, menu, "Cancel", edits=5)
            assert cancelled.params["text"] == "Cancelled: nothing done."
            # A list left for over a minute has expired buttons.
            (menu,) = await env.ask("/squareoff")
            env.clock.advance(timedelta(seconds=61))
            expired = await _press(env, menu, _buttons(menu)[0][0], edits=6)
            assert "expired" in expired.params["text"]
            # The position closed meanwhile: its button says so instead of asking.
            (menu,) = await env.ask("/squareoff")
            await asyncio.wrap_future(env.runner.submit(SquareOff("NSE:BBB")))  # elsewhere
            await env.alerted("Closed by /squareoff", "NSE:BBB</b>\nshort 50")
            gone = await _press(env, menu, _buttons(menu)[0][0], edits=7)
            assert gone.params["text"] == ("Nothing to square off:\n"
                                           "no open position in NSE:BBB.")
            assert env.runner.submitted.count(SquareOff("NSE:BBB")) == 1  # only the test's

    run(body(), timeout=40)


def test_squareoff_all_keeps_its_confirmation(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB)) as env:
            await _open_two(env)
            (prompt,) = await env.ask("/squareoff all")
            assert prompt.params["text"].startswith("<b>Square off every position?</b>")
            assert [label for label, _ in _buttons(prompt)] == ["Square off all", "Cancel"]
            assert SquareOff(None) not in env.runner.submitted
            done = await _press(env, prompt, "Square off all", edits=1)
            assert done.params["text"] == "Square off all:\n✅ squaring off 2 open position(s)"

    run(body())


def test_unhalt_all_lists_each_halt_and_lifts_what_it_may(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB), loss_limit=Decimal(100)) as env:
            assert await env.text("/unhalt all") == "Nothing is halted."
            aaa, bbb = await _open_two(env)
            # Both lose more than their 100 rupee limit: closed and halted for the day.
            env.runner.put(TickBatch([aaa.tick(at(9, 26), "110"), bbb.tick(at(9, 26), "90")]))
            await env.alerted("Instrument limit")
            refused = await env.text("/unhalt all")
            loss = money(Decimal("-132.50"))  # 50 x (110 - 112.65)
            assert refused.startswith(
                "<b>Unhalted 0 of 2</b>\n\n"
                "<b>NSE:AAA</b> halted: instrument NSE:AAA\n  loss_limit\n"
                f"❌ its loss_limit is still reached (P&amp;L\n  {loss}); raise it with "
                "/set\n  loss_limit VALUE NSE:AAA first\n\n")
            assert refused.endswith("\n  loss_limit VALUE NSE:BBB first")
            assert env.engine.runtimes[1].halted and env.engine.runtimes[2].halted
            assert "loss_limit = 5000" in await env.text("/set loss_limit 5000")
            lifted = await env.text("/unhalt ALL")
            assert lifted == (
                "<b>Unhalted 2 of 2</b>\n\n"
                "<b>NSE:AAA</b> halted: instrument NSE:AAA\n  loss_limit\n"
                "✅ unhalted, entries allowed again\n\n"
                "<b>NSE:BBB</b> halted: instrument NSE:BBB\n  loss_limit\n"
                "✅ unhalted, entries allowed again")
            assert not env.engine.runtimes[1].halted and not env.engine.runtimes[2].halted
            assert env.runner.submitted.count(Unhalt("NSE:AAA")) == 2
            # The per-symbol form is kept.
            assert "❌ NSE:AAA: not halted" in await env.text("/unhalt NSE:AAA")
            assert "usage: <code>/unhalt SYMBOL|all</code>" in await env.text("/unhalt")

    run(body())


def test_the_configured_reply_keyboard_comes_with_help_and_start(tmp_path: Path) -> None:
    rows = (("/status", "/pnl"), ("/orders 5", "/report"))

    async def body() -> None:
        async with telegram_env(tmp_path, keyboard=rows) as env:
            (help_,) = await env.ask("/help")
            keyboard = help_.params["reply_markup"]["keyboard"]
            assert [[b["text"] for b in row] for row in keyboard] == [list(r) for r in rows]
            assert help_.params["reply_markup"]["is_persistent"] is True
            (start,) = await env.ask("/start")
            assert start.params["reply_markup"] == help_.params["reply_markup"]
            # A button sends its text: "/orders 5" is that command with its argument.
            assert await env.text("/orders 5") == "no orders today"

    run(body())


def test_the_default_keyboard_and_none(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            (help_,) = await env.ask("/help")
            words = [b["text"] for row in help_.params["reply_markup"]["keyboard"] for b in row]
            assert {w.lstrip("/") for w in words} == {
                w for w, info in COMMANDS.items() if info.everyday}
            assert "/report\n  today's report so far, with charts\n" in help_.params["text"]
            assert "/chart SYMBOL [interval]\n  today's candles of SYMBOL\n" in help_.params[
                "text"]
        (tmp_path / "none").mkdir()
        async with telegram_env(tmp_path / "none", keyboard=()) as env:
            (help_,) = await env.ask("/help")
            assert "reply_markup" not in help_.params

    run(body())


def test_did_you_mean_for_other_bots_commands_and_typos(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert await env.text("/profit_long") == (
                "/profit_long is not a command here;\ndid you mean /profit (results\n"
                "across days)?")
            assert await env.text("/count") == (
                "/count is not a command here;\ndid you mean /positions (open\npositions)?")
            assert await env.text("/forceexit 3") == (
                "/forceexit is not a command here;\ndid you mean /squareoff (close a\n"
                "position)?")
            assert await env.text("/tradebook") == (
                "/tradebook is not a command here;\ndid you mean /trades (today's trades)?")
            assert await env.text("/stopbuy@fake_bot") == (
                "/stopbuy is not a command here;\ndid you mean /pause (no new entries)?")
            balance = await env.text("/balance")
            if "funds" in COMMANDS:  # /funds comes with its own branch of issue 14
                assert balance == ("/balance is not a command here;\ndid you mean /funds "
                                   "(margins)?")
            else:
                assert balance == "/balance: unknown command.\n/help lists them."
            assert await env.text("/staus") == (
                "/staus: unknown command;\ndid you mean /status?\n/help lists them.")
            assert await env.text("/squareof all") == (
                "/squareof: unknown command;\ndid you mean /squareoff?\n/help lists them.")
            assert await env.text("/frobnicate") == (
                "/frobnicate: unknown command.\n/help lists them.")
            assert env.runner.submitted == []  # none of them ran anything

    run(body())


def test_help_registers_the_new_commands_with_telegram(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            commands = {c["command"]: c["description"] for c in env.fake.commands}
            assert {"report", "chart", "squareoff", "unhalt"} <= set(commands)
            assert commands["report"] == "today's report so far, with charts"

    run(body())
