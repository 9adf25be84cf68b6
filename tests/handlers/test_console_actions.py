"""The console twin of issue 14's actions: the /squareoff list's follow-up prompt as new
numbered choices, a chart as one line saying what it shows, and "did you mean"."""

from __future__ import annotations

from pathlib import Path

from agent.events import SquareOff, TickBatch
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
            assert "Square off which? 1 open; you confirm next.\n  1) SELL 50 AAA " in out
            assert "  2) All\n  3) Cancel\n" in out
            c.keys.type("1")
            out = await c.screen.wait_for("(type the number within 60 s)", count=2)
            assert "Square off NSE:AAA?\nNSE:AAA LONG 50 @ 112.65" in out
            assert "  1) Square off\n  2) Cancel\n" in out
            assert not any(isinstance(cmd, SquareOff) for cmd in c.runner.submitted)
            c.keys.type("1")
            await c.screen.wait_for("Square off: ✅ NSE:AAA: squaring off")
            assert c.runner.submitted.count(SquareOff("NSE:AAA")) == 1
            await c.screen.wait_for("Closed by /squareoff")
            c.keys.type("/report")
            out = await c.screen.wait_for("[chart] cumulative realized P&L, 2024-01-15 (PNG, ")
            assert "Day report 2024-01-15: 1 trades, 0 winners" in out
            assert "KB; Telegram shows it)" in out  # no candles stored here: no other chart
            assert str(tmp_path) not in out
            c.keys.type("/pl")
            await c.screen.wait_for("/pl is not a command here; did you mean /pnl "
                                    "(today's P&L)?")

    run(body())
