"""/funds end to end through the fake Bot API: in paper mode from the paper account, live
from the simulated exchange's ``GET /user/margins`` through the real KiteBroker (its
reader pool, the real kiteconnect client), and what it says when Kite cannot answer. And
a future's lots, expiry and product in /positions, /orders and /instruments."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from agent.events import TickBatch
from agent.margin_watch import MarginWatch
from agent.margins import Funds, SegmentFunds
from agent.models import OrderStatus
from agent.timeutil import IST
from handlers.build import ChatServices
from handlers.text import html_to_plain, money
from tests.adapters.kite_broker_harness import ADANIPORTS, Harness
from tests.handlers.harness import Env, run, telegram_env
from tests.helpers import Feed, Sym, worked_long


def _fits_a_phone(reply: str) -> None:
    for line in html_to_plain(reply).splitlines():
        assert len(line) <= 40, line


async def _open_long(env: Env) -> None:
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.alerted("🟢 <b>BUY ")


def test_funds_in_paper_mode_follow_the_paper_account(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            MarginWatch.attach(env.engine, paper_capital=Decimal(1_000_000))
            flat = await env.text("/funds")
            assert flat.startswith("<b>Funds</b> (paper account, ")
            assert "<b>equity</b>: available ₹10,00,000.00\n  used ₹0.00\n" \
                   "  MIS exposure ₹0.00 (0 open)\n  opening balance ₹10,00,000.00" in flat
            assert "commodity" not in flat  # an empty commodity account is not shown
            await _open_long(env)  # long 50 NSE:AAA at 112.65, MIS
            held = await env.text("/funds")
            assert held.startswith("<b>Funds</b> (paper account, 09:25:10 IST)")
            # 50 x 112.65 = 5,632.50 held at 5x: 1,126.50 used
            assert "<b>equity</b>: available ₹9,98,873.50\n  used ₹1,126.50\n" \
                   "  MIS exposure ₹5,632.50 (1 open)" in held
            assert "next entry needs up to ₹1,126.50\n  (NSE:AAA, MIS)" in held
            assert "⚠️" not in held
            _fits_a_phone(held)
            MarginWatch.attach(env.engine, paper_capital=Decimal(1000))  # a poorer account
            short = await env.text("/funds")
            assert "<b>equity</b>: available -₹126.50\n" in short
            assert short.endswith("(NSE:AAA, MIS)\n⚠️ not enough: the broker may refuse it")
            _fits_a_phone(short)
            assert "usage: <code>/funds</code>" in await env.text("/funds now")
            help_text = await env.text("/help")
            assert "/funds\n  available and used margin,\n  MIS exposure\n" in help_text

    run(body())


def test_funds_without_a_margin_view_say_so(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:  # no watch attached, no broker read
            assert await env.text("/funds") == ("❌ Funds unknown: no read of Kite's\n"
                                                "margins yet. See /logs.")

    run(body())


def test_funds_live_from_the_simulated_exchange(tmp_path: Path) -> None:
    with Harness() as h:
        order = h.submit(h.order(ADANIPORTS, quantity=100))  # MIS, market
        h.until(lambda u: u.tag == order.tag and u.status is OrderStatus.COMPLETE)
        ltp = h.ltp(ADANIPORTS)
        (row,) = [p for p in h.eyes.positions()["net"] if p["instrument_token"] == ADANIPORTS]
        unrealised = Decimal(str(row["unrealised"]))
        blocked = 100 * ltp / 5  # MIS equity at Kite's 5x
        used = blocked - min(unrealised, Decimal(0))  # Kite's debits count the loss too
        available = Decimal(1_000_000) + unrealised - blocked

        funds_event = Funds(datetime(2026, 11, 23, 9, 59, 30, tzinfo=IST),
                            (SegmentFunds("equity", Decimal(5000), Decimal(100)),))

        async def body() -> None:
            services = ChatServices(funds=h.broker.read_funds)
            async with telegram_env(tmp_path, services=services) as env:
                reply = await env.text("/funds")
                assert re.match(r"<b>Funds</b> \(Kite, 10:\d\d:\d\d IST\)\n", reply), reply
                assert (f"<b>equity</b>: available {money(available, sign=False)}\n"
                        f"  used {money(used, sign=False)}\n") in reply
                assert "opening balance ₹10,00,000.00" in reply
                _fits_a_phone(reply)
                watch = MarginWatch.attach(env.engine)  # live: the broker's periodic reads
                h.broker.close(2.0)  # Kite out of reach: said, never a stale figure
                down = await env.text("/funds")
                assert down == ("❌ Funds unknown: Kite's margins could\nnot be read "
                                "(BrokerError: the broker is\nclosed). See /logs."), down
                # after a periodic read, the last one is shown with its time, and why
                env.runner.call(funds_event)
                assert watch.funds is funds_event
                stale = await env.text("/funds")
                assert stale.startswith("<b>Funds</b> (Kite, 09:59:30 IST)\n⚠️ the last read; "
                                        "Kite now:\n  BrokerError: the broker is closed\n"), stale
                assert "<b>equity</b>: available ₹5,000.00\n" in stale
                _fits_a_phone(stale)

        run(body())


def test_positions_orders_and_trades_of_a_future_show_lots_expiry_and_product(
        tmp_path: Path) -> None:
    fut = Sym("NFO:NIFTY24JANFUT", 1, lot=50)

    async def body() -> None:
        async with telegram_env(tmp_path, (fut,)) as env:
            rt = env.engine.runtimes[1]  # the dump's expiry (the runner is idle here)
            rt.instrument = dataclasses.replace(rt.instrument, expiry=date(2024, 1, 25))
            await _open_long(env)
            assert await env.text("/positions") == (
                "<b>NIFTY24JANFUT</b> exp 25 Jan\n"
                "LONG 1 lot (50) MIS · P&amp;L <b>₹0.00</b>\n"
                "@ 112.65 → 112.65 · SL 99.50")
            assert await env.text("/orders") == (
                "<b>Last 1 order</b> (IST)\n"
                "<pre>TIME     SYMBOL        SIDE  PRICE\n"
                "09:25:10 NIFTY24JANFUT BUY  112.65\n"
                "  1 lot (50) MIS filled · MARKET\n"
                "  exp 25 Jan · entry (signal)</pre>")
            assert await env.text("/instruments") == ("<b>NFO:NIFTY24JANFUT</b> exp 25 Jan\n"
                                                      "  token 1 · lot 50 · tick 0.05")

    run(body())


def test_product_is_named_where_it_matters() -> None:
    from handlers.formatting import product

    assert product({"symbol": "NSE:INFY", "product": "MIS"}) == ""  # intraday equity
    assert product({"symbol": "NSE:INFY", "product": "CNC"}) == " CNC"  # carried
    assert product({"exchange": "NFO", "product": "MIS"}) == " MIS"  # F&O: always
    assert product({"exchange": "NFO", "product": "NRML"}) == " NRML"
    assert product({"symbol": "NSE:INFY"}) == ""
