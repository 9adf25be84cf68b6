"""Charges in the chat (issue 15): /pnl shows gross, charges and net (live, after asking
Kite's contract note in a worker thread; the table's figures when that fails), /trades each
trade's net, /limits whether the limits compare the gross or the net P&L."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from pathlib import Path

from agent.events import SquareOff, TickBatch
from agent.settings import LimitsOn, RiskConfig
from handlers.build import ChatServices
from handlers.text import html_to_plain, money
from tests.handlers.harness import Env, run, telegram_env
from tests.helpers import Feed, worked_long

# The worked long (50 @ 112.65) priced by the 2024 table: its estimated round trip 5.56;
# closed at 112.65 by /squareoff: brokerage 3.38, STT 1, exchange 0.33, SEBI 0.01, stamp
# 0.17, GST 0.67 = 5.56 too.
ROUND_TRIP = Decimal("5.56")


async def _open_long(env: Env) -> None:
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.fake.wait_for("sendMessage", lambda c: "🟢 <b>BUY" in c.params["text"])


def test_pnl_asks_kite_first_then_shows_gross_charges_and_net(tmp_path: Path) -> None:
    asked: list[str] = []

    def refresh() -> str:
        asked.append(threading.current_thread().name)
        return "Kite priced 0 order(s); 0 trade(s) take its charges"

    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(charges=refresh)) as env:
            await _open_long(env)
            pnl = await env.text("/pnl")
            assert len(asked) == 1 and asked[0] != threading.current_thread().name
            assert pnl.startswith(f"<b>Day P&amp;L</b> <b>{money(0)}</b> · no daily limits\n"
                                  f"charges {money(ROUND_TRIP, sign=False)} · net "
                                  f"{money(-ROUND_TRIP)}\n\n")
            assert "limits on" not in pnl  # gross: as always
            assert all(len(line) <= 40 for line in html_to_plain(pnl).split("\n")[:2])

    run(body())


def test_pnl_answers_with_the_tables_figures_when_kite_cannot(tmp_path: Path) -> None:
    def refresh() -> str:
        raise TimeoutError("no answer")

    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(charges=refresh)) as env:
            await _open_long(env)
            pnl = await env.text("/pnl")
            assert f"net {money(-ROUND_TRIP)}" in pnl

    run(body())


def test_trades_show_each_trades_net(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            await _open_long(env)
            await asyncio.wrap_future(env.runner.submit(SquareOff("NSE:AAA")))
            await env.fake.wait_for("sendMessage", lambda c: "✋" in c.params["text"])
            trades = await env.text("/trades")
            assert (f"closed by /squareoff\n  charges {money(ROUND_TRIP, sign=False)} · net "
                    f"{money(-ROUND_TRIP)}\n") in trades  # the trade's own
            assert trades.endswith(f"charges {money(ROUND_TRIP, sign=False)} · net "
                                   f"{money(-ROUND_TRIP)}</pre>")  # the totals

    run(body())


def test_limits_say_whether_they_compare_gross_or_net(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert "limits on gross P&amp;L, before charges" in await env.text(
                "/limits")
        async with telegram_env(tmp_path / "net",
                                risk=RiskConfig(limits_on=LimitsOn.NET)) as env:
            assert "limits on net P&amp;L, after charges" in await env.text(
                "/limits")

    run(body())
