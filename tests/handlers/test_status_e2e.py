"""/status, /status table with its Refresh button, and /status SYMBOL end to end: the real
PTB client polls the fake Bot API, the query goes through the real runner to a real engine
(paper broker) holding an open long and an armed sell alert."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from agent.events import Query, QueryKind, TickBatch
from agent.session import LoginState
from agent.timeutil import IST
from handlers.build import ChatServices
from handlers.services import FeedInfo
from handlers.status_table import whole
from handlers.text import html_to_plain, money
from tests.fakes.telegram_api import Call
from tests.handlers.harness import CHAT, STRANGER, USER, Env, run, telegram_env
from tests.helpers import AAA, BBB, DAY2, Feed, at, by_time, sell_candles, worked_long

SERVICES = ChatServices(feed_status=lambda: FeedInfo(True, 0.3),
                        login_state=lambda: LoginState("AB1234",
                                                       at(6, 0, day=DAY2)))


def _fits(text: str) -> None:
    for line in html_to_plain(text).split("\n"):
        cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        assert cols <= 40, line


def _row(text: str, symbol: str) -> list[str]:
    """The cells of the table's row of ``symbol``."""
    return next(line.split() for line in html_to_plain(text).split("\n")
                if line.startswith(symbol + " "))


def _buttons(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


async def _long_and_alert(env: Env, fa: Feed, fb: Feed) -> None:
    """NSE:AAA long 50 at 112.65 (stop 99.50), NSE:BBB with a sell alert below 87.55."""
    env.runner.put(TickBatch(by_time(worked_long(fa), sell_candles(fb))))
    env.runner.put(TickBatch([fb.tick(at(9, 25, 20), "90.10")]))
    await env.alerted("🟢 <b>BUY ")
    env.runner.call(Query(QueryKind.STATUS))  # the ticks are in


def test_status_says_what_it_is_doing_and_why(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB), services=SERVICES) as env:
            await _long_and_alert(env, Feed(1), Feed(2))
            status = await env.text("/status")
            _fits(status)
            # net: less the open long's estimated round trip (tests/core/test_status_view.py)
            assert status.split("\n")[:5] == [
                "🟢 <b>Running</b> · paper · 09:25:20 IST",
                "Entries until 15:00 · feed up, 0.3 s",
                "Kite AB1234 valid till 06:00 Tue",
                f"Day P&amp;L <b>{money(Decimal(0))}</b> gross, net {money(Decimal('-5.56'))}",
                "0 trades"]
            risk = money(Decimal("13.15") * 50, sign=False)  # (112.65 - 99.50) x 50
            assert (f"<b>AAA</b> LONG 50 · risk {risk}\n"
                    f"@ 112.65 → 112.65 · P&amp;L <b>{money(Decimal(0))}</b>\n"
                    "SL 99.50 -13.15 -11.67%") in status
            assert ("<b>BBB</b> flat at 90.10\nSELL below 87.55 -2.55 -2.83%\n"
                    "band 87.55–100.50") in status

            detail = await env.text("/status bbb")
            _fits(detail)
            assert "<b>NSE:BBB</b> flat at 90.10" in detail
            assert "sell alert: candle of 09:20" in detail
            unknown = await env.text("/status NSE:ZZZ")
            assert unknown.startswith("❌ 'NSE:ZZZ': expected 'table' or one of\nthe traded "
                                      "instruments (/instruments\nlists them)\n")
            assert "usage: <code>/status [table|SYMBOL]</code>" in unknown
            assert "usage:" in await env.text("/status table now")

    run(body())


def test_status_table_and_its_refresh_button(tmp_path: Path) -> None:
    async def body() -> None:
        fa = Feed(1)
        async with telegram_env(tmp_path, (AAA, BBB), services=SERVICES,
                                users=(USER,)) as env:
            await _long_and_alert(env, fa, Feed(2))
            (reply,) = await env.ask("/status table")
            text = reply.params["text"]
            _fits(text)
            assert "<pre>SYMBOL" in text
            assert _row(text, "AAA") == ["AAA", "+50", "112.65", "99.50", whole(Decimal(0))]
            assert _row(text, "BBB") == ["BBB", "-", "90.10", "<87.55", whole(Decimal(0))]
            assert _buttons(reply) == [("🔄 Refresh", "r:status:table")]
            message_id = reply.result["message_id"]

            # The price moves; a press edits the message in place, button kept.
            env.runner.put(TickBatch([fa.tick(at(9, 26), "114.65")]))
            env.runner.call(Query(QueryKind.STATUS))
            sent = len(env.fake.sent(CHAT))
            env.fake.push_button(CHAT, USER, "r:status:table", message_id)
            (edit,) = await env.fake.wait_for("editMessageText")
            (answer,) = await env.fake.wait_for("answerCallbackQuery")
            assert answer.params["text"] == "Refreshed"
            assert edit.params["message_id"] == message_id
            fresh = edit.params["text"]
            assert "09:26:00 IST" in fresh
            assert _row(fresh, "AAA") == ["AAA", "+50", "114.65", "99.50",
                                          whole(Decimal(100))]  # (114.65 - 112.65) x 50
            assert _buttons(edit) == [("🔄 Refresh", "r:status:table")]
            _fits(edit.params["text"])

            # Nothing changed: Telegram says "message is not modified"; the press is
            # answered and nothing is sent instead.
            env.fake.push_button(CHAT, USER, "r:status:table", message_id)
            edits = await env.fake.wait_for("editMessageText", count=2)
            assert edits[1].result is None  # refused by the fake Bot API
            await env.fake.wait_for("answerCallbackQuery", count=2)
            # A stranger's press does nothing but get its answer.
            env.fake.push_button(CHAT, STRANGER, "r:status:table", message_id)
            answers = await env.fake.wait_for("answerCallbackQuery", count=3)
            assert answers[2].params["text"] == "Not authorised: nothing done."
            # Updates run in order: the next reply is the first message since the table.
            assert "<b>NSE:AAA</b> LONG 50" in await env.text("/status NSE:AAA")
            assert len(env.fake.sent(CHAT)) == sent + 1
            assert len(env.fake.calls_of("editMessageText")) == 2
            # A forged refresh is answered too.
            env.fake.push_button(CHAT, USER, "r:status:everything", message_id)
            answers = await env.fake.wait_for("answerCallbackQuery", count=4)
            assert answers[3].params["text"] == "this button is not one of mine"

    run(body())


def test_status_with_the_real_session_clock_says_closed(tmp_path: Path) -> None:
    """Before any tick, the engine's clock decides the phase (the harness's starts on
    Saturday 1 Jan 2000): a closed day says why and the next trading day."""
    async def body() -> None:
        async with telegram_env(tmp_path, services=SERVICES) as env:
            status = await env.text("/status")
            assert "\nClosed: weekend (Saturday)\nnext trading day Mon 3 Jan\n" in status
            assert "<b>AAA</b> waiting for data" in status
            assert datetime(2000, 1, 1, tzinfo=IST).weekday() == 5

    run(body())
