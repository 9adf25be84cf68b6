"""Owner commands end to end: /login, /schedule, /alerts, /logs, /version, /help, and a
busy engine that must not freeze the chat."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

from agent.events import AlertKind, ClockTick, Notification, Query, QueryKind
from agent.logsetup import log_path
from handlers.build import ChatServices
from handlers.text import TELEGRAM_LIMIT
from tests.handlers.harness import (
    CHAT,
    FAST,
    STRANGER,
    STRANGER_CHAT,
    USER,
    run,
    telegram_env,
)
from tests.helpers import at

LOGIN_URL = "https://kite.zerodha.com/connect/login?v=3&api_key=kk"


class FakeLogin:
    """A LoginService: accepts a redirect URL holding request_token=GOOD."""

    def __init__(self) -> None:
        self.pasted: list[str] = []

    def login_url(self) -> str:
        return LOGIN_URL

    def complete(self, text: str) -> str:
        self.pasted.append(text)
        if "request_token=GOOD" not in text:
            raise ValueError("no valid request_token in what you pasted")
        return "AB1234"


def test_login_flow_link_bad_paste_then_good_paste(tmp_path: Path, caplog: Any) -> None:
    login = FakeLogin()

    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(login=login)) as env:
            link = await env.text("/login")
            assert '<a href="https://kite.zerodha.com/connect/login?v=3&amp;api_key=kk">' in link
            assert "request_token" in link
            bad = await env.text("https://example.com/?request_token=WRONG")
            assert "Login failed: no valid request_token" in bad
            ok = await env.text("https://example.com/?action=login&request_token=GOOD")
            assert "Logged in to Kite as <b>AB1234</b>" in ok
            assert login.pasted[-1].endswith("request_token=GOOD")
            assert await env.text("request_token=GOOD") == "Send /help for the commands."
            # A stranger's paste never reaches the login service.
            await env.text("/login", chat=STRANGER_CHAT, user=STRANGER)
            assert len(login.pasted) == 2

    run(body())
    assert "GOOD" not in caplog.text and "WRONG" not in caplog.text  # tokens never logged


def test_login_cancel_and_unavailable(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(login=FakeLogin())) as env:
            await env.text("/login")
            assert await env.text("/cancel") == "Cancelled the pending login."
            assert await env.text("request_token=GOOD") == "Send /help for the commands."
        async with telegram_env(tmp_path) as env:
            assert "/login is not available here" in await env.text("/login")

    run(body())


def test_schedule_of_the_chat_clock_day(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            text = await env.text("/schedule")
            assert text.startswith("<b>Monday 2024-01-15</b> (IST)")
            assert text == ("<b>Monday 2024-01-15</b> (IST)\n"
                            "NSE, NFO, BSE, BFO: 09:15-15:30\n"
                            "15:00 <b>entry_cutoff</b>\n  no new entries from here on\n"
                            "15:15 <b>square_off</b>\n  close every open position at market")
            assert "usage: <code>/schedule</code>" in await env.text("/schedule tomorrow")

    run(body())


def test_alerts_show_set_persist_and_apply(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            shown = await env.text("/alerts")
            assert "stop_moved: <b>off</b>" in shown and "entry_filled: on" in shown
            assert "entry_placed: <b>off</b>" in shown  # placements are quiet by default
            reply = await env.text("/alerts STOP_MOVED silent")
            assert reply == "✅ stop_moved: <b>silent</b>\neffective now (saved)"
            assert "stop_moved: <b>silent</b>" in await env.text("/alerts")
            assert "on, silent or off,\ngot 'loud'" in await env.text("/alerts error loud")
            assert "alert type" in await env.text("/alerts nope off")
            await env.text("/alerts entry_placed off")
            env.bot.notify(_note("entry_placed", "placed"))
            env.bot.notify(_note("stop_moved", "NSE:AAA stop moved 1 -> 2"))
            (call,) = await env.fake.wait_for("sendMessage", lambda c: "<b>Stop moved</b>"
                                              in c.params["text"])
            assert call.params["text"] == "↕️ <b>Stop moved</b> · 09:30:00\nNSE:AAA 1.00 → 2.00"
            assert call.params["disable_notification"] is True
            assert not env.fake.calls_of("sendMessage",
                                         lambda c: "<b>entry placed</b>" in c.params["text"])
        saved = json.loads((tmp_path / "prefs.json").read_text())
        assert saved["alerts"] == {"stop_moved": "silent", "entry_placed": "off"}

    run(body())


def _note(kind: str, text: str) -> Notification:
    return Notification(AlertKind(kind), text, at(9, 30), "NSE:AAA",
                        data={"old": "1", "stop": "2"})


def test_logs_tail_and_long_replies_split(tmp_path: Path) -> None:
    path = log_path(tmp_path)
    path.parent.mkdir(parents=True)
    lines = [f"2024-01-15 09:{i % 60:02d}:00 INFO agent: line {i} <tag> " + "z" * 150
             for i in range(200)]
    path.write_text("\n".join(lines) + "\n")

    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            last2 = await env.text("/logs 2")
            zs = "z" * 38  # a word wider than a line goes on in pieces, indented
            assert last2 == ("<b>Log</b> Mon 15 Jan · last 2 lines · IST\n"
                             "<pre>09:18:00 INF line 198 &lt;tag&gt;\n"
                             f"  {zs}\n  {zs}\n  {zs}\n  {'z' * 36}\n"
                             "09:19:00 INF line 199 &lt;tag&gt;\n"
                             f"  {zs}\n  {zs}\n  {zs}\n  {'z' * 36}</pre>")
            before = len(env.fake.sent())
            env.fake.push_message(CHAT, USER, "/logs 200")
            await env.fake.wait_for("sendMessage", lambda c: "line 199 " in c.params["text"],
                                    count=2)  # the first was the reply to /logs 2
            texts = [c.params["text"] for c in env.fake.sent()[before:]]
            assert len(texts) >= 9
            assert all(len(t) < TELEGRAM_LIMIT for t in texts)
            assert texts[0].startswith("<b>Log</b> Mon 15 Jan · last 200 lines · IST\n<pre>")
            assert all(t.startswith("<pre>") for t in texts[1:])
            assert all(t.endswith("</pre>") for t in texts)
            # no record is cut between two messages: every block starts with a record
            blocks = [b for t in texts for b in t.split("<pre>")[1:]]
            assert all(re.match(r"09:\d\d:00 INF line \d+ ", b) for b in blocks)
            assert sum(t.count(" INF line ") for t in texts) == 200
            assert "got 'abc'" in await env.text("/logs abc")

    run(body())


def test_version_help_and_whoami(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert "agent 0.1.0 (paper mode)" in await env.text("/version")
            assert "python-telegram-bot 22.8" in await env.text("/version")
            (help_,) = await env.ask("/help")
            assert "/squareoff [SYMBOL|all]" in help_.params["text"]
            assert "/status" in json.dumps(help_.params["reply_markup"])
            assert "allowed to act: yes" in await env.text("/whoami")
            commands = [c["command"] for c in env.fake.commands]
            assert {"status", "squareoff", "login", "alerts"} <= set(commands)

    run(body())


def test_a_busy_engine_does_not_freeze_the_chat_and_a_withdrawn_command_never_runs(
        tmp_path: Path) -> None:
    release = threading.Event()

    async def body() -> None:
        options = dataclasses.replace(FAST, engine_timeout=0.2)
        async with telegram_env(tmp_path, options=options) as env:
            original = env.engine.handle

            def slow(event: Any) -> Any:
                if isinstance(event, ClockTick):
                    release.wait(10)
                return original(event)

            env.engine.handle = slow  # type: ignore[method-assign]
            env.runner.put(ClockTick(at(9, 30)))
            reply = await env.text("/pause")
            assert reply == ("⏳ The engine did not answer in 0.2 s:\nthe command was withdrawn, "
                             "nothing\nchanged. Try again.")
            assert "allowed to act: yes" in await env.text("/whoami")  # still answering
            release.set()
            status = env.runner.call(Query(QueryKind.STATUS))
            assert status.data["state"] == "running"  # the withdrawn /pause never ran

    try:
        run(body())
    finally:
        release.set()
