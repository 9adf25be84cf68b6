"""Strangers' floods end to end (real PTB client, fake Bot API): replies to callers who may
not act go through a bounded courtesy lane within per-user, per-chat and total budgets, and
never delay the owner's alerts or replies. Delays are measured with the loop times the fake
records; the chat's clock (the budgets' window) is advanced by hand, never slept on.

Before the lanes, 300 /whoami from a stranger in an allowed group queued 200 answers ahead of
the group's alerts (an alert emitted mid-flood was pushed out of the full queue and never
sent; one emitted after the flood went out 204 pacing slots later, 3.4 minutes at 1 s).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from agent.events import AlertKind, Notification, PauseEntries, TickBatch
from handlers.alerts import format_alert
from handlers.auth import Budgets
from tests.fakes.telegram_api import Call, Fault
from tests.handlers.harness import (
    CHAT,
    FAST,
    STRANGER,
    STRANGER_CHAT,
    USER,
    Env,
    run,
    telegram_env,
)
from tests.helpers import Feed, at, worked_long

GROUP = -100_777  # an allowed group: the owner and strangers in it
OTHER_STRANGER = 9998
OTHER_STRANGER_CHAT = 9010
PACE = 0.25  # seconds between two messages to one chat (1.0 with the real Telegram)
SLOTS = 3  # an alert or owner reply reaches its chat within this many pacing slots
BOUND = SLOTS * PACE
BUDGETS = Budgets()  # the defaults under test: 1 refusal, 3 /whoami per user a minute, ...
PACED = dataclasses.replace(FAST, pace=PACE)


def _texts(calls: list[Call], part: str) -> list[str]:
    return [c.params["text"] for c in calls if part in c.params["text"]]


async def _owner_reply_delay(env: Env, chat: int, text: str, expect: str) -> float:
    """Loop seconds from the owner's message reaching the fake to the reply being sent."""
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    env.fake.push_message(chat, USER, text)
    (reply,) = await env.fake.wait_for("sendMessage", lambda c: c.params["chat_id"] == chat
                                       and expect in c.params["text"])
    return reply.at - sent_at


def test_a_strangers_whoami_flood_in_an_allowed_group_never_delays_alerts(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, options=PACED, chats=(GROUP,),
                                users=(USER,)) as env:
            loop = asyncio.get_running_loop()
            emitted: dict[str, float] = {}  # alert text -> loop time the engine emitted it
            to_bot = env.engine.notify

            def engine_notify(note: Notification) -> None:  # the engine thread
                emitted.setdefault(format_alert(note), loop.time())
                to_bot(note)

            env.engine.notify = engine_notify
            delays: dict[str, float] = {}
            for round_ in range(10):  # 300 /whoami in ten bursts, alerts between them
                for _ in range(30):
                    env.fake.push_message(GROUP, STRANGER, "/whoami")
                if round_ == 4:  # a real entry: one message when it is filled
                    env.runner.put(TickBatch(worked_long(Feed(1))))
                    want = "🟢 <b>BUY"
                else:
                    want = f"trade alert {round_}"
                    engine_notify(Notification(AlertKind.ERROR, want, at(9, 31)))
                await env.fake.wait_for("sendMessage", lambda c, w=want: w in c.params["text"])
                for call in env.fake.sent(GROUP):
                    text = call.params["text"]
                    if text in emitted and text not in delays:
                        delays[text] = call.at - emitted[text]
            assert len(delays) == 10, delays  # nine alerts and the entry
            assert max(delays.values()) <= BOUND, (
                f"alert delays {sorted(delays.values())} over {SLOTS} slots of {PACE} s")
            # The owner's replies: after the whole flood (updates run in order), at once.
            assert await _owner_reply_delay(env, GROUP, "/pause", "paused") <= BOUND
            assert await _owner_reply_delay(env, GROUP, "/whoami", "allowed to act: yes") \
                <= BOUND
            await env.bot.sender.drain()
            group = env.fake.sent(GROUP)
            assert len(_texts(group, "allowed to act: no")) == BUDGETS.whoami_per_user
            assert len(_texts(group, "Slow down")) == 1
            courtesy = env.bot.center.auth.courtesy
            assert courtesy.silenced == 300 - BUDGETS.whoami_per_user - 1
            assert courtesy.tracked <= 3  # the stranger, the owner and the group
            sender = env.bot.sender
            assert sender.peak_courtesy <= BUDGETS.whoami_per_user + 1  # never more queued
            assert sender.peak_main <= 2  # alerts never waited behind anything
            assert sender.dropped == sender.courtesy_dropped == sender.failed == 0
            assert env.runner.submitted == [PauseEntries()]  # only the owner's
            # A minute later the stranger has a budget again (and one note more).
            env.clock.advance(timedelta(seconds=61))
            (answer,) = await env.ask("/whoami", chat=GROUP, user=STRANGER)
            assert "allowed to act: no" in answer.params["text"]

    run(body(), timeout=60)


def test_strangers_in_a_chat_not_allowed_are_refused_once_a_minute_per_user(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, options=PACED) as env:  # CHAT and USER allowed
            for _ in range(100):
                env.fake.push_message(STRANGER_CHAT, STRANGER, "/squareoff all")
            env.fake.push_message(STRANGER_CHAT, OTHER_STRANGER, "/start")  # a second user
            env.fake.push_message(OTHER_STRANGER_CHAT, STRANGER, "/start")  # same user
            # The owner in another chat, after all of it: answered within a few slots.
            assert await _owner_reply_delay(env, CHAT, "/pause", "paused") <= BOUND
            await env.fake.wait_for("sendMessage", lambda c: c.params["chat_id"] ==
                                    STRANGER_CHAT, count=2)
            await env.bot.sender.drain()
            refusals = env.fake.sent(STRANGER_CHAT)
            assert [c.params["text"] for c in refusals] == ["Not authorised.\n/whoami shows "
                                                            "your chat and user ids."] * 2
            assert env.fake.sent(OTHER_STRANGER_CHAT) == []  # this user was told a moment ago
            assert env.bot.center.auth.refused == 102
            assert env.runner.submitted == [PauseEntries()]
            assert env.bot.sender.peak_courtesy <= 2
            # A minute later: one refusal more for the user, then silence again.
            env.clock.advance(timedelta(seconds=61))
            env.fake.push_message(OTHER_STRANGER_CHAT, STRANGER, "/start")
            env.fake.push_message(OTHER_STRANGER_CHAT, STRANGER, "/start")
            assert await _owner_reply_delay(env, CHAT, "/resume", "resumed") <= BOUND
            (again,) = await env.fake.wait_for("sendMessage", lambda c: c.params[
                "chat_id"] == OTHER_STRANGER_CHAT)
            await env.bot.sender.drain()
            assert len(env.fake.sent(OTHER_STRANGER_CHAT)) == 1
            assert "Not authorised" in again.params["text"]

    run(body(), timeout=60)


def test_a_swarm_of_strangers_is_bounded_per_chat_and_in_total(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, options=PACED) as env:
            for user in range(20):  # twenty strangers in one chat
                env.fake.push_message(STRANGER_CHAT, 50_000 + user, "/start")
            for n in range(200):  # two hundred strangers, each in a chat of their own
                env.fake.push_message(700_000 + n, 80_000 + n, "/whoami")
            assert await _owner_reply_delay(env, CHAT, "/pause", "paused") <= BOUND
            await env.fake.wait_for("sendMessage", lambda c: c.params["chat_id"] != CHAT,
                                    count=BUDGETS.total)
            await env.bot.sender.drain()
            assert len(env.fake.sent(STRANGER_CHAT)) == BUDGETS.per_chat
            strangers = [c for c in env.fake.sent() if c.params["chat_id"] != CHAT]
            assert len(strangers) == BUDGETS.total  # 5 refusals and 25 /whoami answers
            courtesy = env.bot.center.auth.courtesy
            assert courtesy.silenced == 220 - BUDGETS.total
            assert courtesy.tracked <= 2 * BUDGETS.total  # what was answered, no more
            assert env.bot.sender.peak_courtesy <= BUDGETS.total
            assert env.bot.sender.chats <= BUDGETS.total + 1  # workers end when done
            # The owner's /whoami is never silenced by strangers spending the budgets.
            (mine,) = await env.ask("/whoami")
            assert "allowed to act: yes" in mine.params["text"]

    run(body(), timeout=60)


# PTB's own RetryAfter constructor reads its deprecated int attribute.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_flood_control_on_a_courtesy_reply_drops_it_and_the_alert_follows_the_wait(
        tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, options=PACED, chats=(GROUP,),
                                users=(USER,)) as env:
            env.fake.fail_next("sendMessage", Fault.RETRY_AFTER, retry_after=1)
            env.fake.push_message(GROUP, STRANGER, "/whoami")
            (limited,) = await env.fake.wait_for("sendMessage")
            assert limited.fault is Fault.RETRY_AFTER
            env.bot.notify(Notification(AlertKind.ERROR, "after the wait", at(9, 31)))
            (alert,) = await env.fake.wait_for(
                "sendMessage", lambda c: "after the wait" in c.params["text"])
            assert alert.at - limited.at >= 1.0  # the chat waited as Telegram asked
            await env.bot.sender.drain()
            tries = env.fake.calls_of("sendMessage")
            assert tries == [limited, alert]  # the courtesy reply was not sent again
            assert env.bot.sender.courtesy_dropped == 1

    run(body(), timeout=30)
