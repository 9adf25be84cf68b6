"""/report and /chart end to end through the fake Bot API: the engine's real candles (stored
as the agent stores them), the day report's text and charts again as photos, one
instrument's chart at its interval or a multiple, and neither blocks the chat or the engine
while it is drawn."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from agent.charts import candle_chart
from agent.events import Query, QueryKind, SquareOff, TickBatch
from agent.marks import Mark, mark_from_dict, mark_to_dict
from agent.models import Candle, Instrument
from agent.money import money
from agent.serialize import candle_from_dict, candle_to_dict, trade_from_dict
from handlers.build import ChatServices
from storage.candles import CandleLog
from storage.hookup import CANDLES_DIR
from storage.plainjson import dumps_line
from tests.handlers.harness import CHAT, USER, Env, run, telegram_env
from tests.helpers import AAA, BBB, DAY, Feed, Sym, at, d, worked_long

PNG = b"\x89PNG\r\n\x1a\n"


def _store_candles(env: Env, root: Path) -> None:
    """The engine's completed candles and its marks go to the day's files, as
    ``EnginePersistence`` writes them (here on the engine thread, synchronously)."""
    log = CandleLog(root)

    def write(instrument: Instrument, candle: Candle) -> None:
        minutes = int((candle.end - candle.start).total_seconds() // 60)
        path = log.path(candle.start.date(), instrument.token, minutes)
        log.append_lines(path, [dumps_line(candle_to_dict(candle), str(path))])

    def mark(instrument: Instrument, mark: Mark) -> None:
        path = log.marks_path(mark.time.date(), instrument.token)
        log.append_lines(path, [dumps_line(mark_to_dict(mark), str(path))])

    env.engine.on_candle = write
    env.engine.on_mark = mark


async def _a_trade(env: Env) -> None:
    """The worked example's long, closed by a square-off at 112.65: one trade, two candles
    (09:15 and 09:20) stored."""
    env.runner.put(TickBatch(worked_long(Feed(1))))
    await env.alerted("BUY 50 NSE:AAA</b> @")
    await asyncio.wrap_future(env.runner.submit(SquareOff("NSE:AAA")))
    await env.alerted("Closed by /squareoff")


async def _photos(env: Env, before: int, count: int) -> list[Any]:
    calls = await env.fake.wait_for("sendPhoto", count=before + count)
    return calls[before:]


def _flat(text: str) -> str:
    """A caption with its lines joined: captions are wrapped to a phone's 40 columns."""
    return " ".join(text.split())


def _no_paths(env: Env, tmp: Path) -> None:
    for call in env.fake.calls:
        for key in ("text", "caption"):
            assert str(tmp) not in str(call.params.get(key, "")), call


def test_report_sends_the_day_report_so_far_with_its_charts(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB)) as env:
            _store_candles(env, tmp_path / CANDLES_DIR)
            empty = await env.text("/report")
            assert empty == ("<b>So far, 09:00 IST</b>\nDay report 2024-01-15\n0 trades, 0 "
                             "winners\nrealized P&amp;L ₹0.00\n"
                             "No charts yet: no completed candles\nor trades today.")
            assert env.fake.calls_of("sendPhoto") == []
            await _a_trade(env)
            (text,) = await env.ask("/report")
            assert text.params["text"] == ("<b>So far, 09:00 IST</b>\nDay report 2024-01-15\n"
                                           "1 trade, 0 winners\nrealized P&amp;L ₹0.00\n"
                                           "charges ₹5.56, net P&amp;L -₹5.56\n"
                                           "  NSE:AAA: 1 trade, ₹0.00, net -₹5.56\n"
                                           "  exits: manual 1")
            pnl, chart = await _photos(env, 0, 2)
            assert _flat(pnl.params["caption"]) == (
                f"Net P&amp;L through 15 Jan 2024: 1 trade, net {money(-5.56)}, max drawdown "
                f"{money(5.56, sign=False)}")
            assert _flat(chart.params["caption"]) == (  # NSE:BBB: no candles, no chart
                f"NSE:AAA 5-minute candles, 15 Jan 2024: 1 trade, net {money(-5.56)}")
            assert pnl.params["photo"].startswith(PNG) and chart.params["photo"].startswith(PNG)
            assert text.at <= pnl.at <= chart.at  # the text first, then the charts
            assert "usage" in await env.text("/report today")
            _no_paths(env, tmp_path)

    run(body(), timeout=40)


def test_chart_of_one_symbol_at_its_interval_or_a_multiple(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, BBB)) as env:
            _store_candles(env, tmp_path / CANDLES_DIR)
            assert await env.text("/chart NSE:AAA") == ("No completed candles of NSE:AAA\n"
                                                        "yet today.")
            await _a_trade(env)
            sent = len(env.fake.sent())
            env.fake.push_message(CHAT, USER, "/chart nse:aaa")
            (own,) = await _photos(env, 0, 1)
            assert _flat(own.params["caption"]) == (
                f"NSE:AAA 5-minute candles, 15 Jan 2024: 1 trade, net {money(-5.56)} 09:15-09:25 "
                "IST, 2 candles")
            assert own.params["photo"].startswith(PNG)
            log = CandleLog(tmp_path / CANDLES_DIR)  # drawn with the day's marks
            candles = [candle_from_dict(r) for r in log.read_day(DAY, 1, 5)]
            marks = [mark_from_dict(r) for r in log.read_marks(DAY, 1).records]
            assert [m.kind.value for m in marks] == ["alert", "stop"]  # no target: 0x
            reply = await asyncio.wrap_future(env.runner.submit(Query(QueryKind.TRADES)))
            trades = [trade_from_dict(t) for t in reply.data]
            assert own.params["photo"] == candle_chart("NSE:AAA", candles, trades, marks)
            env.fake.push_message(CHAT, USER, "/chart NSE:AAA 10")
            (merged,) = await _photos(env, 1, 1)
            assert _flat(merged.params["caption"]) == (
                f"NSE:AAA 10-minute candles, 15 Jan 2024: 1 trade, net {money(-5.56)} "
                "09:15-09:25 IST, 1 candle")
            assert len(env.fake.sent()) == sent  # a chart is a photo with its caption only
            finer = await env.text("/chart NSE:AAA 3")
            assert finer == ("❌ NSE:AAA has 5-minute candles today,\nso a chart of 3 minutes "
                             "cannot be drawn;\nintervals: 5, 10, 15, 30, 60.")
            bad = await env.text("/chart NSE:AAA 7")
            assert bad.startswith("❌ interval: expected one of 1, 2, 3, 5,\n10, 15, 30, 60, got")
            assert "usage: <code>/chart SYMBOL [interval]</code>" in bad
            assert await env.text("/chart NSE:ZZZ") == (
                "❌ NSE:ZZZ is not traded here;\n/instruments lists them.")
            assert await env.text("/chart NSE:BBB") == (
                "No completed candles of NSE:BBB\nyet today.")
            assert "missing argument" in await env.text("/chart")
            assert "expected EXCHANGE:TRADINGSYMBOL" in await env.text("/chart AAA")
            _no_paths(env, tmp_path)

    run(body(), timeout=40)


class SlowCandles:
    """A candle store whose reads wait until the test lets them go."""

    def __init__(self, root: Path) -> None:
        self.log = CandleLog(root)
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self, day: Any, token: int, interval: int) -> Any:
        self.entered.set()
        assert self.release.wait(20), "never released"
        return self.log.read(day, token, interval)


def test_drawing_blocks_neither_the_chat_nor_the_engine(tmp_path: Path) -> None:
    slow = SlowCandles(tmp_path / CANDLES_DIR)

    async def body() -> None:
        async with telegram_env(tmp_path, services=ChatServices(candles=slow)) as env:
            _store_candles(env, tmp_path / CANDLES_DIR)
            await _a_trade(env)
            env.fake.push_message(CHAT, USER, "/report")
            assert await asyncio.to_thread(slow.entered.wait, 10)  # the report is reading
            env.fake.push_message(CHAT, USER, "/chart NSE:AAA")  # waits for its turn
            status = await env.text("/status")  # answered meanwhile, engine included
            assert "<b>AAA</b> flat at 112.65" in status
            assert env.fake.calls_of("sendPhoto") == []
            slow.release.set()
            photos = await _photos(env, 0, 3)  # the report's two, then the chart
            assert photos[-1].params["caption"].startswith("NSE:AAA 5-minute candles")
            reports = env.fake.sent()
            assert any("Day report 2024-01-15\n1 trade, 0 winners\n" in c.params["text"]
                       for c in reports)

    run(body(), timeout=40)


def test_report_names_bad_candle_data_without_the_servers_path(tmp_path: Path) -> None:
    async def body() -> None:
        async with telegram_env(tmp_path) as env:
            _store_candles(env, tmp_path / CANDLES_DIR)
            await _a_trade(env)
            stored = CandleLog(tmp_path / CANDLES_DIR).path(DAY, 1, 5)
            stored.write_text(stored.read_text() + "{cut sho\n")
            (text,) = await env.ask("/report")
            shown = " ".join(text.params["text"].split())
            assert "NSE:AAA 5-minute candles line 3: not a JSON object" in shown  # the
            assert "jsonl" not in shown  # instrument, not the file (the log has it)
            await _photos(env, 0, 2)  # the report is made from the rest
            _no_paths(env, tmp_path)

    run(body())


def test_report_sends_at_most_ten_photos_traded_instruments_first(tmp_path: Path) -> None:
    others = [Sym(f"NSE:S{i:02d}", 10 + i) for i in range(10)]
    log = CandleLog(tmp_path / CANDLES_DIR)
    for sym in others:  # a candle each, so each could have a chart
        candle = Candle(sym.token, at(9, 15), at(9, 20), d(10), d(11), d(9), d(10), 5, 2)
        path = log.path(DAY, sym.token, 5)
        log.append_lines(path, [dumps_line(candle_to_dict(candle), str(path))])

    async def body() -> None:
        async with telegram_env(tmp_path, (*others, AAA)) as env:  # NSE:AAA listed last
            _store_candles(env, tmp_path / CANDLES_DIR)
            await _a_trade(env)
            (text,) = await env.ask("/report")
            assert text.params["text"].endswith(
                "\nCharts of 2 more instruments:\n/chart SYMBOL for each.")
            photos = await _photos(env, 0, 10)
            captions = [_flat(p.params["caption"]) for p in photos]
            assert captions[0].startswith("Net P&amp;L through 15 Jan 2024: 1 trade")
            assert captions[1].startswith("NSE:AAA 5-minute candles, 15 Jan 2024: 1 trade")
            assert captions[2:] == [f"NSE:S{i:02d} 5-minute candles, 15 Jan 2024: no trades"
                                    for i in range(8)]

    run(body(), timeout=40)
