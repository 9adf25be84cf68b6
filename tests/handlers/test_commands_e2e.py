"""Trading commands end to end: the real PTB client polls the fake Bot API, commands go
through the real runner to a real engine (paper broker), replies come back over HTTP."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agent.events import SetParam, TickBatch
from agent.instruments import InstrumentIndex
from agent.models import Instrument, TradeSide
from handlers.build import ChatServices
from handlers.services import FeedInfo
from handlers.text import money
from tests.handlers.harness import Env, run, telegram_env
from tests.helpers import AAA, BBB, Feed, worked_long


async def _open_long(env: Env) -> None:
    """The worked example's entry: long 50 NSE:AAA at 112.65, stop 99.50; returns once its
    alerts went out (so they do not interleave with the replies a test waits for)."""
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.fake.wait_for("sendMessage", lambda c: "🟢 <b>BUY" in c.params["text"])


def test_start_pause_resume_and_status(tmp_path: Path) -> None:
    feed = FeedInfo(connected=True, lag_seconds=0.4)

    async def body() -> None:
        services = ChatServices(feed_status=lambda: feed)
        async with telegram_env(tmp_path, services=services) as env:
            (start,) = await env.ask("/start")
            assert "trading started" in start.params["text"]
            assert "keyboard" in start.params["reply_markup"]  # the everyday keyboard
            assert "paused" in await env.text("/pause")
            status = await env.text("/status")
            assert status.startswith("🟡 <b>Paused</b> · paper · ")
            assert "\nPaused: no new entries (/resume)\n" in status
            assert "feed up, 0.4 s" in status
            assert "<b>AAA</b> waiting for data" in status
            assert await env.text("/resume") == "✅ resumed\nentries from 09:15"  # 09:00
            assert "usage: <code>/pause</code>" in await env.text("/pause now")
            await _open_long(env)
            status = await env.text("/status")
            assert status.startswith("🟢 <b>Running</b> · paper · 09:25:10 IST\n"
                                     "Entries until 15:00 · feed up, 0.4 s\n")
            risk = money(Decimal("657.50"), sign=False)  # (112.65 - 99.50) x 50
            assert f"<b>AAA</b> LONG 50 · risk {risk}\n@ 112.65 → 112.65" in status

    run(body())


def test_status_without_a_feed_says_na(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert "feed n/a" in await env.text("/status")

    run(body())


def test_positions_orders_trades_pnl_after_a_fill(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, loss_limit=Decimal(1000)) as env:
            assert await env.text("/positions") == "no open positions"
            assert await env.text("/orders") == "no orders today"
            await _open_long(env)
            assert await env.text("/positions") == ("<b>AAA</b> LONG 50 · P&amp;L <b>₹0.00</b>\n"
                                                    "@ 112.65 → 112.65 · SL 99.50")
            assert await env.text("/orders 5") == (
                "<b>Last 1 order</b> (IST)\n"
                "<pre>TIME     SYMBOL SIDE  PRICE\n"
                "09:25:10 AAA    BUY  112.65\n"
                "  50 filled · MARKET · entry (signal)</pre>")
            assert await env.text("/trades") == "no trades today"
            assert await env.text("/pnl") == (
                "<b>Day P&amp;L</b> <b>₹0.00</b> · no daily limits\n"
                "charges ₹5.56 · net -₹5.56\n\n"  # the entry's, and the exit's foreseen
                "<b>AAA</b> ₹0.00\ncharges ₹5.56 · net -₹5.56\n₹1,000.00 to loss limit")
            assert await env.text("/orders 0") == ("❌ n: expected a whole number 1..500,\n"
                                                   "got '0'\nusage: <code>/orders [n]</code>")
            assert "got 'many'" in await env.text("/trades many")

    run(body())


def test_side_and_set_change_the_engine_and_say_when(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            reply = await env.text("/side sell nse:aaa")
            assert reply == ("✅ trade_side = SELL for NSE:AAA,\neffective now; alerts of sides "
                             "no longer\nallowed are cleared")
            assert env.engine.runtimes[1].params.trade_side is TradeSide.SELL
            reply = await env.text("/set percentage 0.4 NSE:AAA")
            assert reply == "✅ percentage = 0.4 for NSE:AAA,\neffective now"
            assert env.engine.runtimes[1].params.percentage == Decimal("0.4")
            reply = await env.text("/set interval 15")
            assert reply == ("✅ interval = 15 for all instruments,\n"
                             "effective from the next trading day")
            assert SetParam("interval", 15, None) in env.runner.submitted
            before = len(env.runner.submitted)
            bad = await env.text("/set interval 7")
            assert bad.startswith("❌ interval: expected one of")
            assert "usage: <code>/set KEY VALUE [SYMBOL]</code>" in bad
            assert "(use\n/side for trade_side)" in await env.text("/set trade_side BUY")
            assert "missing argument" in await env.text("/set lots")
            assert "BUY, SELL or BOTH,\ngot 'up'" in await env.text("/side up")
            assert "expected EXCHANGE:TRADINGSYMBOL" in await env.text("/set lots 2 AAA")
            reply = await env.text("/set lots 2 NSE:ZZZ")  # well formed, the engine refuses
            assert reply == "❌ NSE:ZZZ: not one of the agent's\ninstruments"
            assert len(env.runner.submitted) == before + 1  # only the well-formed one

    run(body())


def test_limits_show_and_set(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            how = ("Change: /limits daily|GROUP KEY VALUE\none instrument: /set KEY VALUE "
                   "SYMBOL\nKEY: profit_target or loss_limit")
            assert await env.text("/limits") == (
                "<b>Limits</b>: profit target, loss limit\n"
                "<pre>      TARGET LOSS\n"
                "daily   none none\n"
                "AAA     none none</pre>\n"
                "limits on gross P&amp;L, before charges\n" + how)
            reply = await env.text("/limits daily loss_limit 5000")
            assert reply == "✅ daily loss_limit = 5000,\neffective now"
            assert env.engine.risk.daily.loss_limit == Decimal(5000)
            assert await env.text("/limits") == (
                "<b>Limits</b>: profit target, loss limit\n"
                "<pre>      TARGET      LOSS\n"
                "daily   none ₹5,000.00\n"
                "AAA     none      none</pre>\n"
                "limits on gross P&amp;L, before charges\n" + how)
            reply = await env.text("/limits banks profit_target 3000")
            assert reply == "❌ banks: expected 'daily' or a group\n(none configured)"
            assert "expected profit_target or\nloss_limit" in await env.text(
                "/limits daily stop 5")
            assert await env.text("/limits daily loss_limit -1") == (
                "❌ loss_limit: expected a number\n0..100000000, got '-1'\n"
                "usage: <code>/limits [daily|GROUP</code>\n"
                "  <code>profit_target|loss_limit VALUE]</code>")

    run(body())


def test_instruments_add_remove(tmp_path: Path) -> None:
    added: list[Instrument] = []
    removed: list[Instrument] = []

    async def body() -> None:
        index = InstrumentIndex([AAA.instrument(), BBB.instrument()])
        services = ChatServices(instruments=index, on_added=added.append,
                                on_removed=removed.append)
        async with telegram_env(tmp_path, services=services) as env:
            assert await env.text("/instruments") == "<b>NSE:AAA</b> token 1 · lot 50 · tick 0.05"
            assert await env.text("/add nse:bbb") == ("✅ NSE:BBB: added,\n"
                                                      "trading from its next tick")
            assert added == [BBB.instrument()] and 2 in env.engine.runtimes
            assert await env.text("/add NSE:NOPE") == (
                "❌ 'NSE:NOPE' is not in the\ninstruments dump\n"
                "usage: <code>/add EXCHANGE:SYMBOL</code>")
            assert "NSE:BBB: removed" in await env.text("/remove NSE:BBB")
            assert removed == [BBB.instrument()] and 2 not in env.engine.runtimes
            await _open_long(env)
            reply = await env.text("/remove NSE:AAA")
            assert reply == "❌ NSE:AAA: a position is open;\n/squareoff NSE:AAA first"
            assert removed == [BBB.instrument()]

    run(body())


def test_add_without_a_dump_and_unhalt(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert await env.text("/add NSE:BBB") == ("❌ /add is not available:\n"
                                                      "no instruments dump is loaded.")
            assert "❌ NSE:AAA: not halted" in await env.text("/unhalt NSE:AAA")
            assert "missing argument" in await env.text("/unhalt")

    run(body())


def test_unknown_commands_and_plain_text(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            assert "/frobnicate: unknown command" in await env.text("/frobnicate now")
            assert await env.text("hello") == "Send /help for the commands."
            assert len(env.runner.submitted) == 0

    run(body())
