"""The console twin of issue 14's actions: the /squareoff list's follow-up prompt as new
numbered choices, a chart as one line saying what it shows, and "did you mean"."""

from __future__ import annotations

from pathlib import Path

from agent.events import SquareOff, TickBatch
from agent.money import money
from tests.handlers.harness import run
from tests.handlers.test_console import console
from tests.helpers import Feed, worked_long


def test_console_squareoff_list_asks_again_and_a_chart_is_one_line(tmp_path: Path) -> None:
    async def body() -> None:
        async with console(tmp_path) as c:
            c.runner.put(TickBatch(worked_long(Feed(1))))
            await c.screen.wait_for("[alert] 🟢 BUY 50 NSE:AAA")
            c.keys.type("/squareoff")
            out = await c.screen.wait_for("(type the number within 60 s)")
            assert "Square off which? 1 position open\nYou confirm next.\n  1) SELL 50 AAA " \
                in out
            assert "  2) All\n  3) Cancel\n" in out
            c.keys.type("1")
            out = await c.screen.wait_for("(type the number within 60 s)", count=2)
            assert "Square off NSE:AAA?\n\nAAA LONG 50 · P&L ₹0.00\n@ 112.65 → 112.65" in out
            assert "  1) Square off\n  2) Cancel\n" in out
            assert not any(isinstance(cmd, SquareOff) for cmd in c.runner.submitted)
            c.keys.type("1")
            await c.screen.wait_for("Square off:\n✅ NSE:AAA: squaring off; no new entries\n"
                                    "until /resume NSE:AAA or the next day\n")
            assert c.runner.submitted.count(SquareOff("NSE:AAA")) == 1
            await c.screen.wait_for("Closed by /squareoff")
            c.keys.type("/report")
            out = await c.screen.wait_for(  # what the picture is: the day's equity chart
                f"[chart] Net P&L through 15 Jan 2024: 1 trade,\nnet {money(-5.56)}, max drawdown "
                f"{money(5.56, sign=False)} (PNG, ")
            assert "Day report 2024-01-15\n1 trade, 0 winners\nrealized P&L" in out
            assert "KB; Telegram shows it)" in out  # no candles stored here: no other chart
            assert str(tmp_path) not in out
            c.keys.type("/pl")
            await c.screen.wait_for("/pl is not a command here;\ndid you mean /pnl "
                                    "(today's P&L)?")

    run(body())
