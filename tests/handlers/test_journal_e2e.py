"""/profit, /daily, /weekly, /monthly and /performance end to end through the fake Bot API,
over a journal of two months of seeded trades: every number of the replies recomputed here
from the trades it summarises (tests/journal_helpers.recompute), every line within 40
columns, a long reply split between tables, bad arguments answered with the usage, a
corrupt journal line named, and today's trade of the engine in the figures as soon as it
closes."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from agent.events import SquareOff, TickBatch
from agent.models import Trade
from agent.timeutil import IST
from handlers.build import ChatServices
from handlers.text import money
from storage.journal import JOURNAL_DIR, Journal
from tests.handlers.harness import CHAT, USER, Env, run, telegram_env
from tests.helpers import DAY, Feed, worked_long
from tests.journal_helpers import SYMBOLS, SyncWriter, journal_with, random_trades, recompute

FIRST = DAY - timedelta(days=70)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _trades() -> list[Trade]:
    """Seeded trades on the 70 days before DAY and on DAY itself (weekends too: a special
    session now and then)."""
    return random_trades(11, FIRST, 71)


def _tables(text: str) -> list[list[str]]:
    return [html.unescape(block).split("\n") for block in re.findall(r"<pre>(.*?)</pre>",
                                                                      text, re.S)]


def _width_ok(text: str) -> None:
    for line in html.unescape(re.sub(r"</?(pre|b)>", "", text)).split("\n"):
        assert len(line) <= 40, line


def _pairs(lines: list[str]) -> dict[str, str]:
    """'Win rate        64.3%' -> {'Win rate': '64.3%'}; details under the line before."""
    out: dict[str, str] = {}
    last = ""
    for line in lines:
        if line.startswith("  "):
            out[f"{last} detail"] = line.strip()
        else:
            label, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            out[label] = value
            last = label
    return out


def _hold(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def _half_up(value: Decimal, places: str) -> str:
    return str(value.quantize(Decimal(places), ROUND_HALF_UP))


def _expected_profit(trades: list[Trade]) -> dict[str, str]:
    e = recompute(trades)
    n, wins, losses = e["trades"], e["wins"], e["losses"]
    rupees = {k: Decimal(e[k]) / 100 for k in ("gross", "charges", "net", "max_drawdown")}
    even = n - wins - losses
    factor = e["profit_factor"]
    out = {
        "Trades": str(n),
        "Wins/losses": f"{wins}/{losses}" + (f" ({even} even)" if even else ""),
        "Win rate": _half_up(Decimal(wins * 100) / n, "0.1") + "%",
        "Gross P&L": money(rupees["gross"]), "Charges": money(rupees["charges"], sign=False),
        "Net P&L": money(rupees["net"]),
        "Expectancy": money(Decimal(e["net"]) / 100 / n),
        "Profit factor": "n/a" if factor is None else "∞" if not e["lost"] else _half_up(
            Decimal(e["won"]) / Decimal(e["lost"]), "0.01"),
        "Max drawdown": money(-rupees["max_drawdown"]),
        "Avg hold": _hold(e["hold"]),
    }
    for label, t in (("Best trade", e["best"]), ("Worst trade", e["worst"])):
        out[label] = money(t.net_pnl)
        when = t.exit_time.astimezone(IST)
        out[f"{label} detail"] = (f"{t.symbol} {when.day:02d} {_MONTHS[when.month - 1]} "
                                  f"{when:%H:%M}")
    return out


def _nets(trades: list[Trade]) -> list[int]:
    return [int((t.pnl - t.charges) * 100) for t in trades]


def _in(trades: list[Trade], first: date, last: date) -> list[Trade]:
    return [t for t in trades if first <= t.exit_time.date() <= last]


def _row(label_words: int, line: str) -> tuple[str, int, str, str]:
    """(label, trades, W/L, net) of a table line whose label has ``label_words`` words."""
    words = line.split()
    return " ".join(words[:label_words]), int(words[label_words]), words[-2], words[-1]


def _figures(trades: list[Trade]) -> tuple[int, str, str]:
    nets = _nets(trades)
    return (len(nets), f"{sum(n > 0 for n in nets)}/{sum(n < 0 for n in nets)}",
            money(Decimal(sum(nets)) / 100))


async def _env_ready(env: Env) -> None:
    env.clock.advance_to(datetime.combine(DAY, time(15, 40), tzinfo=IST))


def test_profit_every_figure_recomputed_from_its_trades(tmp_path: Path) -> None:
    trades = _trades()
    services = ChatServices(journal=journal_with(tmp_path, trades))

    async def body() -> None:
        async with telegram_env(tmp_path, services=services) as env:
            await _env_ready(env)
            for days, text in ((30, "/profit"), (7, "/profit 7"), (71, "/profit 71")):
                reply = await env.text(text)
                _width_ok(reply)
                first = DAY - timedelta(days=days - 1)
                head = (f"<b>Profit · last {days} days</b>\n{first.day:02d} "
                        f"{_MONTHS[first.month - 1]}")
                assert reply.startswith(head), reply
                assert "net of charges" in reply.split("\n")[1]
                (table,) = _tables(reply)
                assert _pairs(table) == _expected_profit(_in(trades, first, DAY))
            empty = await env.text("/profit 1") if not _in(trades, DAY, DAY) else None
            assert empty is None or "No closed trades" in empty

    run(body())


def test_daily_weekly_monthly_rows_recomputed(tmp_path: Path) -> None:
    trades = _trades()
    services = ChatServices(journal=journal_with(tmp_path, trades))

    async def body() -> None:
        async with telegram_env(tmp_path, services=services) as env:
            await _env_ready(env)
            reply = await env.text("/daily")
            _width_ok(reply)
            (table,) = _tables(reply)
            assert table[0].split() == ["DAY", "TRADES", "W/L", "NET"]
            # the last 7 trading days (weekdays here) and any weekend day with trades
            shown = []
            day = DAY
            while len(shown) < 7:
                if day.weekday() < 5 or _in(trades, day, day):
                    shown.append(day)
                day -= timedelta(days=1)
            rows = [_row(3, line) for line in table[1:-1]]
            assert [r[0] for r in rows] == [
                f"{('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[d.weekday()]} "
                f"{d.day:02d} {_MONTHS[d.month - 1]}" for d in shown]
            for (_, n, wl, net), d in zip(rows, shown, strict=True):
                assert (n, wl, net) == _figures(_in(trades, d, d))
            assert _row(1, table[-1]) == ("TOTAL", *_figures(_in(trades, shown[-1], DAY)))

            reply = await env.text("/weekly 3")
            _width_ok(reply)
            (table,) = _tables(reply)
            mondays = [DAY - timedelta(days=7 * k) for k in range(3)]  # DAY is a Monday
            rows = [_row(3, line) for line in table[1:-1]]
            for (label, n, wl, net), monday in zip(rows, mondays, strict=True):
                assert label == (f"W{monday.isocalendar().week:02d} {monday.day:02d} "
                                 f"{_MONTHS[monday.month - 1]}")
                week = _in(trades, monday, monday + timedelta(days=6))
                assert (n, wl, net) == _figures(week)
            assert _row(1, table[-1]) == ("TOTAL", *_figures(_in(trades, mondays[-1], DAY)))

            reply = await env.text("/monthly")
            _width_ok(reply)
            (table,) = _tables(reply)
            rows = [_row(2, line) for line in table[1:-1]]
            months = [date(2024, 1, 1), date(2023, 12, 1), date(2023, 11, 1)]
            assert [r[0] for r in rows] == ["Jan 2024", "Dec 2023", "Nov 2023"]
            ends = [DAY, date(2023, 12, 31), date(2023, 11, 30)]
            for (_, n, wl, net), first, last in zip(rows, months, ends, strict=True):
                assert (n, wl, net) == _figures(_in(trades, first, last))
            gross = sum((t.pnl for t in _in(trades, months[-1], DAY)), Decimal(0))
            assert f"Gross {money(gross)}" in reply

    run(body())


def test_performance_per_symbol_recomputed_and_a_long_one_split_between_tables(
        tmp_path: Path) -> None:
    trades = _trades()
    many = [t for i, t in enumerate(_trades()) if t.exit_time.date() == DAY - timedelta(days=1)]
    crowd = [Trade(f"NSE:S{i:03d}", 9, t.side, t.quantity, t.entry_time, t.entry_price,
                   t.entry_reason, t.exit_time, t.exit_price, t.exit_reason, t.pnl,
                   f"E240114999999{i:05d}", f"X240114999999{i:05d}", t.charges)
             for i, t in enumerate(many * 40, start=100)]
    services = ChatServices(journal=journal_with(tmp_path, trades + crowd))

    async def body() -> None:
        async with telegram_env(tmp_path, services=services) as env:
            await _env_ready(env)
            before = len(env.fake.sent(CHAT))
            env.fake.push_message(CHAT, USER, "/performance 30")
            await env.fake.wait_for("sendMessage", lambda c: "TOTAL" in str(
                c.params.get("text", "")))
            await asyncio.wait_for(env.bot.sender.drain(), 5)
            parts = [str(c.params["text"]) for c in env.fake.sent(CHAT)[before:]]
            assert len(parts) >= 2  # more than 4,000 characters
            window = _in(trades + crowd, DAY - timedelta(days=29), DAY)
            rows: dict[str, tuple[int, str, str]] = {}
            for part in parts:
                _width_ok(part)
                assert part.count("<pre>") == part.count("</pre>")
                for table in _tables(part):  # each piece of a table has its column names
                    assert table[0].split() == ["SYMBOL", "TRADES", "W/L", "NET"]
                    for line in table[1:]:
                        label, n, wl, net = _row(1, line)
                        rows[label] = (n, wl, net)
            assert rows.pop("TOTAL") == _figures(window)
            for symbol in SYMBOLS[:3]:
                assert rows[symbol] == _figures([t for t in window if t.symbol == symbol])
            assert len(rows) == len({t.symbol for t in window})

    run(body())


def test_bad_arguments_get_the_usage_and_a_corrupt_line_is_named(tmp_path: Path) -> None:
    trades = [t for t in _trades() if t.exit_time.date() >= DAY - timedelta(days=3)]
    journal = journal_with(tmp_path, trades)
    path = tmp_path / JOURNAL_DIR / "2024-01.jsonl"
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    services = ChatServices(journal=journal)

    async def body() -> None:
        async with telegram_env(tmp_path, services=services) as env:
            await _env_ready(env)
            for text, usage in (("/profit 0", "/profit [days]"), ("/profit ²", "/profit [days]"),
                                ("/daily 91", "/daily [n]"), ("/weekly 1 2", "/weekly [n]"),
                                ("/monthly 25", "/monthly [n]"),
                                ("/performance -3", "/performance [days]")):
                reply = await env.text(text)
                assert reply.startswith("❌ ") and f"usage: <code>{usage}</code>" in reply
            reply = await env.text("/profit")
            lines = len(path.read_text().splitlines())
            assert reply.endswith(f"⚠️ Skipped, unreadable (1):\n"
                                  f"journal/2024-01.jsonl line {lines}\n/logs says why")
            assert str(tmp_path) not in reply

    run(body())


def test_todays_trade_counts_as_soon_as_the_engine_closes_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL_DIR, SyncWriter())
    services = ChatServices(journal=journal)

    async def body() -> None:
        async with telegram_env(tmp_path, services=services) as env:
            env.engine.on_trade_closed = journal.record  # the persistence's job, in line
            assert "No closed trades in these days." in await env.text("/profit")
            env.runner.put(TickBatch(worked_long(Feed(1))))
            await env.alerted("BUY 50 NSE:AAA</b> @")
            await asyncio.wrap_future(env.runner.submit(SquareOff("NSE:AAA")))
            await env.alerted("Closed by /squareoff")
            (t,) = env.engine.trades
            (table,) = _tables(await env.text("/profit"))
            figures = _pairs(table)
            assert (figures["Trades"], figures["Net P&L"]) == ("1", money(t.net_pnl))
            (table,) = _tables(await env.text("/daily 1"))
            assert _row(3, table[1]) == ("Mon 15 Jan", *_figures([t]))

    run(body())
