"""Alerts and transport faults end to end: a real fill's alert, 429 retry_after, a dropped
connection, rejected HTML, pacing, a Conflict, and polling over a network error."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.backtest import make_engine
from agent.events import AlertKind, Notification, Query, QueryKind, TickBatch
from agent.settings import Secrets
from handlers.build import build_telegram
from handlers.text import money
from tests.fakes.telegram_api import TOKEN, FakeBotAPI, Fault
from tests.handlers.harness import (
    CHAT,
    FAST,
    USER,
    SpyRunner,
    chat_clock,
    chat_settings,
    run,
    telegram_env,
)
from tests.helpers import AAA, Feed, at, worked_long

OTHER_CHAT = 1002


def _error(text: str) -> Notification:
    return Notification(AlertKind.ERROR, text, at(9, 31))


def test_a_real_fill_alerts_every_allowed_chat(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, chats=(CHAT, OTHER_CHAT)) as env:
            env.runner.put(TickBatch(worked_long(Feed(1))))
            for chat in (CHAT, OTHER_CHAT):
                await env.fake.wait_for("sendMessage", lambda c, chat=chat: c.params[
                    "chat_id"] == chat and "🟢 <b>BUY" in c.params["text"])
            texts = [c.params["text"] for c in env.fake.sent(CHAT)]
            # One message for the entry (its placement is a quiet kind, off by default).
            risk = money(Decimal("657.50"), sign=False)  # (112.65 - 99.50) x 50
            assert texts == [f"🟢 <b>BUY 50 NSE:AAA</b> @ 112.65\nabove 112.60 · stop 99.50"
                             f"\nrisk {risk} · 09:25:10"]
            assert [c.params["text"] for c in env.fake.sent(OTHER_CHAT)] == texts
            assert env.engine.pnl.books[1].quantity == 50  # the paper broker really filled

    run(body())


# PTB's own RetryAfter constructor reads its deprecated int attribute.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_retry_after_is_honoured_and_the_message_sent(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            env.fake.fail_next("sendMessage", Fault.RETRY_AFTER, retry_after=1)
            env.bot.notify(_error("disk full"))
            first, second = await env.fake.wait_for(
                "sendMessage", lambda c: "disk full" in c.params["text"], count=2)
            assert first.fault is Fault.RETRY_AFTER and second.fault is None
            assert second.at - first.at >= 1.0  # waited as Telegram asked
            await env.bot.sender.drain()
            assert env.bot.sender.sent == 1 and env.bot.sender.failed == 0

    run(body())


def test_a_dropped_connection_is_retried(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            env.fake.fail_next("sendMessage", Fault.DROP, count=2)
            reply = await env.ask("/pause")  # a reply goes through the same sender
            assert "paused" in reply[0].params["text"]
            tries = env.fake.calls_of("sendMessage")
            assert [c.fault for c in tries] == [Fault.DROP, Fault.DROP, None]
            assert tries[1].at - tries[0].at >= FAST.backoff[0]

    run(body())


def test_rejected_html_falls_back_to_plain_text(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            env.fake.fail_next("sendMessage", Fault.BAD_HTML)
            env.bot.notify(_error("P&L <odd>"))
            bad, plain = await env.fake.wait_for(
                "sendMessage", lambda c: "P&" in c.params["text"], count=2)
            assert bad.params["parse_mode"] == "HTML"
            assert "parse_mode" not in plain.params
            assert plain.params["text"] == "ERROR 09:31:00 P&L <odd>"
            await env.bot.sender.drain()
            assert env.bot.sender.plain_fallbacks == 1

    run(body())


def test_sending_is_paced_per_chat_and_waiting_alerts_are_joined(tmp_path: Path) -> None:
    async def body() -> None:
        options = dataclasses.replace(FAST, pace=0.25)
        async with telegram_env(tmp_path, options=options) as env:
            for word in ("/help", "/version", "/whoami"):  # replies: one message each
                env.fake.push_message(CHAT, USER, word)
            calls = await env.fake.wait_for("sendMessage", count=3)
            gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
            assert all(gap >= 0.24 for gap in gaps), gaps
            for i in range(3):  # alerts waiting together: one message
                env.bot.notify(_error(f"paced {i}"))
            (joined,) = await env.fake.wait_for("sendMessage",
                                                lambda c: "paced" in c.params["text"])
            assert joined.at - calls[-1].at >= 0.24
            assert joined.params["text"] == "\n\n".join(
                f"<b>ERROR</b> 09:31:00 paced {i}" for i in range(3))
            await env.bot.sender.drain()
            assert env.bot.sender.joined == 2
            assert len(env.fake.calls_of("sendMessage", lambda c: "paced" in
                                         c.params["text"])) == 1

    run(body())


def test_a_conflict_stops_polling_and_trading_carries_on(tmp_path: Path, caplog) -> None:
    async def body() -> None:
        told = asyncio.Event()
        async with telegram_env(tmp_path, on_conflict=told.set) as env:
            env.fake.fail_next("getUpdates", Fault.CONFLICT)
            await env.text("/whoami")  # ends the poll in progress; the next one conflicts
            await asyncio.wait_for(told.wait(), 5)
            assert env.bot.conflict
            await asyncio.wait_for(env.bot.polling_stopped.wait(), 5)
            assert not env.bot.polling
            polls = len(env.fake.calls_of("getUpdates"))
            # Trading carries on: ticks fill, alerts still go out, the runner answers.
            env.runner.put(TickBatch(worked_long(Feed(1))))
            await env.fake.wait_for("sendMessage", lambda c: "🟢 <b>BUY" in c.params["text"])
            assert env.runner.alive
            assert env.runner.call(Query(QueryKind.POSITIONS)).data[0]["quantity"] == 50
            assert len(env.fake.calls_of("getUpdates")) == polls  # no more polling

    run(body())
    assert "another process polls with this bot token" in caplog.text


def test_polling_survives_a_network_error(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            env.fake.fail_next("getUpdates", Fault.DROP)
            await env.text("/whoami")  # ends the poll in progress; the next one is dropped
            await env.fake.wait_for("getUpdates", lambda c: c.fault is Fault.DROP)
            assert "paused" in await env.text("/pause", timeout=8)
            assert env.bot.polling and not env.bot.conflict

    run(body())


async def _bot_against(fake: FakeBotAPI, tmp: Path, token: str = TOKEN) -> tuple[Any, Any]:
    settings = dataclasses.replace(chat_settings(tmp, base_url=fake.base_url),
                                   secrets=Secrets(telegram_bot_token=token))
    engine = make_engine(settings, [AAA.instrument()])
    runner = SpyRunner(engine)
    runner.start()
    return build_telegram(settings, runner, clock=chat_clock(), options=FAST), runner


def test_telegram_down_at_start_is_retried_and_queued_alerts_follow(tmp_path: Path) -> None:
    async def body() -> None:
        fake = FakeBotAPI()
        await fake.start()
        fake.fail_next("getMe", Fault.DROP, count=2)
        bot, runner = await _bot_against(fake, tmp_path)
        bot.notify(_error("before telegram was up"))  # the engine may speak first
        stop = asyncio.Event()
        task = asyncio.create_task(bot.run_until(stop))
        try:
            (sent,) = await fake.wait_for("sendMessage")
            assert "before telegram was up" in sent.params["text"]
            assert [c.fault for c in fake.calls_of("getMe")][:3] == [Fault.DROP, Fault.DROP,
                                                                      None]
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            runner.stop()
            await fake.stop()

    run(body())


def test_a_refused_token_disables_the_bot_without_raising(tmp_path: Path, caplog) -> None:
    async def body() -> None:
        fake = FakeBotAPI()
        await fake.start()
        bot, runner = await _bot_against(fake, tmp_path, token="999:not-the-token")
        stop = asyncio.Event()
        refused = asyncio.create_task(_logged("Telegram refused the bot token"))
        await asyncio.sleep(0)  # the watch is in place before the bot starts
        task = asyncio.create_task(bot.run_until(stop))
        try:
            await asyncio.wait_for(refused, 5)
            bot.notify(_error("nobody hears this"))
            assert runner.call(Query(QueryKind.STATUS)).ok  # trading carries on
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)  # returns without raising
            runner.stop()
            await fake.stop()
        assert fake.calls_of("sendMessage") == [] and fake.calls_of("getUpdates") == []
        assert "999:not-the-token" not in caplog.text

    run(body())


async def _logged(text: str) -> None:
    """Wait until a log record containing ``text`` is emitted (on this loop's thread)."""
    seen = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                seen.set()

    watch = Watch()
    logging.getLogger().addHandler(watch)
    try:
        await seen.wait()
    finally:
        logging.getLogger().removeHandler(watch)


def test_the_day_report_sends_its_charts_as_photos(tmp_path: Path) -> None:
    from agent.charts_pnl import equity_chart, equity_title
    from agent.reports import Chart
    from agent.serialize import trade_from_dict

    trade = trade_from_dict({
        "symbol": "NSE:AAA", "instrument_token": 1, "side": "BUY", "quantity": 50,
        "entry_time": at(9, 25).isoformat(), "entry_price": "112.65", "entry_reason": "signal",
        "exit_time": at(10, 0).isoformat(), "exit_price": "115", "exit_reason": "target",
        "pnl": "117.50"})
    chart = Chart("2024-01-15_pnl.png", equity_title([trade]), equity_chart([trade]))

    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            env.bot.notify(Notification(AlertKind.DAY_REPORT, "Day report 2024-01-15: 1 trade",
                                        at(15, 40), data={"charts": (chart,)}))
            (text,) = await env.fake.wait_for(
                "sendMessage", lambda c: "Day report" in c.params["text"])
            (photo,) = await env.fake.wait_for("sendPhoto")
            assert photo.params["caption"] == (  # what it shows, never a file's name or path
                f"Net P&amp;L through 15 Jan 2024: 1 trade, net {money('117.50')}, max "
                "drawdown ₹0.00")
            assert photo.params["photo"] == chart.png
            assert photo.at > text.at  # after the text, paced like any message

    run(body())
