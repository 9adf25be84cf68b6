"""The console chat: the same commands and alerts on stdin/stdout, numbered choices."""

from __future__ import annotations

import asyncio
import io
import queue
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.backtest import make_engine
from agent.clock import SimClock
from agent.events import StopTrading, TickBatch
from handlers.build import build_console
from handlers.console import ConsoleChat
from handlers.status_table import whole
from tests.handlers.harness import FAST, SpyRunner, chat_clock, chat_settings, run
from tests.helpers import AAA, Feed, worked_long


class Keyboard:
    """A stdin the test types into from the loop; the reader thread blocks on it."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()

    def type(self, line: str) -> None:
        self._lines.put(line + "\n")

    def close(self) -> None:
        self._lines.put(None)

    def __iter__(self) -> Iterator[str]:
        while (line := self._lines.get()) is not None:
            yield line


class Screen(io.StringIO):
    """stdout that wakes a waiting test on every write (loop thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    async def wait_for(self, needle: str, count: int = 1, timeout: float = 5.0) -> str:
        async def seen() -> None:
            while self.getvalue().count(needle) < count:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{needle!r} not printed; screen:\n{self.getvalue()}") from None
        return self.getvalue()


@dataclass
class Console:
    chat: ConsoleChat
    keys: Keyboard
    screen: Screen
    runner: SpyRunner
    clock: SimClock


@asynccontextmanager
async def console(tmp: Path, stdin: Any = None) -> AsyncIterator[Console]:
    settings = chat_settings(tmp, chats=())
    engine = make_engine(settings, [AAA.instrument()])
    runner = SpyRunner(engine)
    runner.start()
    keys, screen, clock = Keyboard(), Screen(), chat_clock()
    chat = build_console(settings, runner, clock=clock, options=FAST,
                         stdin=stdin if stdin is not None else keys, stdout=screen)
    engine.notify = chat.notify
    stop = asyncio.Event()
    task = asyncio.create_task(chat.run_until(stop))
    try:
        await screen.wait_for("type /help")
        yield Console(chat, keys, screen, runner, clock)
    finally:
        keys.close()
        stop.set()
        await asyncio.wait_for(task, 5)
        runner.stop()


def test_console_commands_plain_text_and_alerts(tmp_path: Path) -> None:
    async def body() -> None:
        async with console(tmp_path) as c:
            c.keys.type("/status")
            out = await c.screen.wait_for("AAA waiting for data")
            assert "<b>" not in out and "🟢 Running · paper" in out
            c.keys.type("/set lots x")
            assert "usage: /set KEY VALUE [SYMBOL]" in await c.screen.wait_for("usage:")
            c.runner.put(TickBatch(worked_long(Feed(1))))
            out = await c.screen.wait_for("[alert] 🟢 BUY 50 NSE:AAA @ 112.65")
            assert "above 112.60 · stop 99.50" in out and "entry placed" not in out

    run(body())


def test_console_numbered_choice_runs_the_button_and_expires(tmp_path: Path) -> None:
    async def body() -> None:
        async with console(tmp_path) as c:
            c.runner.put(TickBatch(worked_long(Feed(1))))
            await c.screen.wait_for("[alert] 🟢 BUY 50 NSE:AAA")
            c.keys.type("/stop")
            out = await c.screen.wait_for("(type the number within 60 s)")
            assert "  1) Square off and stop\n  2) Stop, keep managing\n  3) Cancel" in out
            c.keys.type("2")
            await c.screen.wait_for("Stop, keep managing:\n✅ stopped: no new entries;\n"
                                    "open positions still managed\n")
            assert c.runner.submitted[-1] == StopTrading(square_off=False)
            c.keys.type("/squareoff all")
            await c.screen.wait_for("(type the number", count=2)
            c.clock.advance(timedelta(seconds=61))
            c.keys.type("1")
            await c.screen.wait_for("expired")
            assert not any(type(cmd).__name__ == "SquareOff" for cmd in c.runner.submitted)

    run(body())


def test_console_without_input_only_prints_alerts(tmp_path: Path) -> None:
    async def body() -> None:
        async with console(tmp_path, stdin=io.StringIO("")) as c:
            await asyncio.wait_for(c.chat.input_ended.wait(), 5)
            c.runner.put(TickBatch(worked_long(Feed(1))))
            await c.screen.wait_for("[alert] 🟢 BUY 50 NSE:AAA")
            assert c.runner.submitted == []

    run(body())


def test_console_refresh_is_a_numbered_choice_that_never_expires(tmp_path: Path) -> None:
    async def body() -> None:
        async with console(tmp_path) as c:
            c.keys.type("/status table")
            out = await c.screen.wait_for("(type the number)")
            assert "  1) 🔄 Refresh\n  (type the number)\n" in out
            assert out.split("SYMBOL")[1].split("\n")[1].split() == ["AAA", "-", "-", "no",
                                                                  "data", whole(Decimal(0))]
            c.runner.put(TickBatch(worked_long(Feed(1))))
            await c.screen.wait_for("[alert] 🟢 BUY 50 NSE:AAA")
            c.clock.advance(timedelta(minutes=5))  # a refresh does not expire
            c.keys.type("1")
            out = await c.screen.wait_for("(type the number)", count=2)
            fresh = out[out.rindex("SYMBOL"):]
            assert fresh.split("\n")[1].split()[:4] == ["AAA", "+50", "112.65", "99.50"]

    run(body())
