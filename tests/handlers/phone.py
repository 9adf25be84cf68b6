"""Judging replies on a phone 40 columns wide, and a trading day to ask about.

``columns`` measures a line as a phone shows it, independently of the code under test:
the reply rendered as plain text (``html_to_plain``; a link as the text a phone shows,
not its address) and each character counted by its display width, wide ones (emoji, CJK)
as two. ``assert_fits`` cuts a reply as the transports do (``split_message``) and checks
every line of every message, and that no message holds half a ``<pre>``.

``day`` is the real engine and runner (paper broker) with the real ``CommandCenter`` (as
the console builds it): long NSE:AAA, a short NSE:BBB closed by its loss limit and halted
(one trade), long 2 lots of an option, BSE:AAA flat (so "AAA" is ambiguous), a group,
daily limits, the paper account's funds, a log file with long lines and a traceback, a
login service and two configured symbols waiting. Single-threaded test code on the loop.
"""

from __future__ import annotations

import dataclasses
import io
import re
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from agent.backtest import make_engine
from agent.events import Query, QueryKind, TickBatch
from agent.margin_watch import MarginWatch
from agent.models import Instrument
from agent.settings import GroupConfig, RiskConfig
from handlers.build import ChatServices, build_console
from handlers.commands import CommandCenter
from handlers.console import CONSOLE
from handlers.readiness import Readiness
from handlers.services import Button, Response
from handlers.text import html_to_plain, split_message
from tests.handlers.harness import FAST, SpyRunner, chat_clock, chat_settings
from tests.helpers import AAA, Feed, Sym, at, by_time, sell_short, worked_long

WIDTH = 40
_LINK = re.compile(r'<a href="[^"]*">')

BBB = Sym("NSE:BBB", 2, overrides={"loss_limit": Decimal(100)})
OPTION = Sym("NFO:NIFTY24JAN21500CE", 3, lot=50, overrides={"lots": 2})
BSE_AAA = Sym("BSE:AAA", 4)
LOG_LINES = [
    "2024-01-15 09:25:10,123 IST INFO    agent.engine: NSE:AAA entry BUY 50 at 112.65, "
    "stop 99.50, because the price crossed above 112.60 (the alert candle's high)",
    "2024-01-15 09:26:00,001 IST WARNING handlers.sender: chat 1001: Telegram asked to "
    "wait 3 s (retry_after)",
    "2024-01-15 09:27:00,500 IST ERROR   agent.runner: the engine failed on an event",
    "Traceback (most recent call last):",
    '  File "/srv/agent/agent/engine.py", line 238, in handle_something_with_a_long_name',
    "ValueError: " + "x" * 70,
]
LOGIN_URL = "https://kite.zerodha.com/connect/login?v=3&api_key=kk"


def columns(line: str) -> int:
    """Display columns of one line of a reply on a phone."""
    shown = html_to_plain(_LINK.sub("<a>", line))
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in shown)


def assert_fits(text: str, what: str = "") -> None:
    """Every line of every message ``text`` is sent as fits 40 columns; no message holds
    half a <pre>."""
    for chunk in split_message(text):
        assert chunk.count("<pre>") == chunk.count("</pre>"), (what, chunk)
        for line in chunk.split("\n"):
            assert columns(line) <= WIDTH, (
                f"{what}: {columns(line)} columns: {html_to_plain(line)!r}")


def assert_response_fits(response: Response, what: str = "") -> None:
    assert_fits(response.text, what)
    for photo in response.photos:
        assert_fits(photo.caption, f"{what} (caption)")
    for button in response.buttons:
        assert columns(button.label) <= WIDTH, (what, button.label)


class FakeLogin:
    """A LoginService: a redirect holding request_token=GOOD logs in as AB1234."""

    def login_url(self) -> str:
        return LOGIN_URL

    def complete(self, text: str) -> str:
        if "request_token=GOOD" not in text:
            raise ValueError("no valid request_token in what you pasted; paste the whole "
                             "address the Kite login sent you to")
        return "AB1234"


@dataclass
class Day:
    center: CommandCenter
    runner: SpyRunner

    async def ask(self, text: str) -> list[Response]:
        return await self.center.handle_text(CONSOLE, text)

    async def press(self, buttons: tuple[Button, ...], label: str) -> Response:
        (button,) = [b for b in buttons if b.label == label]
        outcome = await self.center.handle_button(CONSOLE, button.data)
        return Response(outcome.text or outcome.answer, outcome.buttons)


def _instruments() -> list[Instrument]:
    option = dataclasses.replace(OPTION.instrument(), expiry=date(2024, 1, 25),
                                 instrument_type="CE", segment="NFO-OPT")
    return [AAA.instrument(), BBB.instrument(), option, BSE_AAA.instrument()]


@asynccontextmanager
async def day(tmp: Path) -> AsyncIterator[Day]:
    """The trading day above at 09:26, its chat's commands at hand."""
    syms = (AAA, BBB, OPTION, BSE_AAA)
    settings = chat_settings(
        tmp, syms, chats=(),
        groups=(GroupConfig("banks", ("NSE:AAA", "NSE:BBB"), Decimal(5000), Decimal(2000)),),
        risk=RiskConfig(Decimal(10000), Decimal(5000)))
    engine = make_engine(settings, _instruments())
    MarginWatch.attach(engine, paper_capital=Decimal(1_000_000))
    runner = SpyRunner(engine)
    runner.start()
    log = tmp / "logs" / "agent.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(LOG_LINES) + "\n")
    ready = Readiness(pending=(("NSE:INFY", "waiting for login"),
                               ("NSE:TATAMOTORS", "not in today's instrument list "
                                                  "(loaded 08:45)")))
    services = ChatServices(login=FakeLogin(), log_file=log, readiness=lambda: ready)
    chat = build_console(settings, runner, clock=chat_clock(), options=FAST,
                         stdin=io.StringIO(""), stdout=io.StringIO(), services=services)
    try:
        bbb = Feed(2)
        runner.put(TickBatch(by_time(worked_long(Feed(1)), sell_short(bbb),
                                     worked_long(Feed(3)))))
        runner.put(TickBatch([bbb.tick(at(9, 26), "90")]))  # BBB's loss limit: halted
        runner.call(Query(QueryKind.PNL))  # the ticks are in
        yield Day(chat.center, runner)
    finally:
        runner.stop()
