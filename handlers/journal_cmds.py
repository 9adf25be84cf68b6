"""Results across days, from the trade journal: ``/profit [days]``, ``/daily [n]``,
``/weekly [n]``, ``/monthly [n]``, ``/performance [days]``, all net of charges.

The engine is not asked: the journal's files are read in a worker thread
(``asyncio.to_thread``), today's trades included as far as they are written. Replies are
aligned ``<pre>`` tables of at most 40 columns (``handlers/journal_text.py``); a long one is
cut into tables with their own column names, separated by blank lines, where the transport
splits it. Lines of the journal that could not be read are named under the reply. Loop
thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from agent.calendar import TradingCalendar
from agent.journal_stats import (
    ZERO,
    DaySummary,
    Period,
    by_period,
    by_symbol,
    period_starts,
    stats,
    sum_days,
)
from handlers.args import UsageError, arity, ascii_digits, shorten
from handlers.journal_text import (
    footer,
    period_blocks,
    profit_lines,
    span,
    symbol_blocks,
)
from handlers.services import Caller, Response
from handlers.text import b, esc

if TYPE_CHECKING:
    from handlers.commands import CommandCenter
    from storage.journal import JournalRead

Handler = Callable[["CommandCenter", Caller, list[str]], Awaitable[Response]]

MAX_DAYS = 3650  # /profit and /performance: ten years
MAX_COUNT = {Period.DAY: 90, Period.WEEK: 52, Period.MONTH: 24}
DEFAULT_COUNT = {Period.DAY: 7, Period.WEEK: 4, Period.MONTH: 3}
SKIPPED_SHOWN = 3
NO_TRADES = "No closed trades in these days."


def _number(args: list[str], what: str, default: int, maximum: int) -> int:
    """The optional argument: a whole number 1..maximum in digits 0-9."""
    arity(args, 0, 1)
    if not args:
        return default
    text = args[0]
    if not ascii_digits(text) or not 1 <= int(text) <= maximum:
        raise UsageError(f"{what}: expected a whole number 1..{maximum}, got {shorten(text)!r}")
    return int(text)


async def _read(center: CommandCenter, start: date, end: date) -> JournalRead | None:
    journal = center.services.journal
    if journal is None:
        return None
    return await asyncio.to_thread(journal.read, start, end)


def _pre(lines: Sequence[str]) -> str:
    return f"<pre>{esc(chr(10).join(lines))}</pre>"


def _reply(title: str, subtitle: str, blocks: Sequence[Sequence[str]], after: Sequence[str],
           read: JournalRead) -> Response:
    """Title, the tables (blank lines between them: where a long reply is cut), the lines
    after them, and the journal lines skipped."""
    parts = [f"{b(title)}\n{esc(subtitle)}", *(_pre(block) for block in blocks)]
    if after:
        parts.append(esc("\n".join(after)))
    if read.problems:  # where, in short; what was wrong is in the log (/logs)
        shown = [p.split(": ", 1)[0] for p in read.problems[:SKIPPED_SHOWN]]
        more = len(read.problems) - len(shown)
        lines = [f"⚠️ Skipped, unreadable ({len(read.problems)}):", *shown,
                 f"and {more} more; /logs says why" if more else "/logs says why"]
        parts.append(esc("\n".join(lines)))
    return Response("\n\n".join(parts))


UNAVAILABLE = Response("❌ The trade journal is not available here.")


async def _last_days(center: CommandCenter, args: list[str], name: str
                     ) -> tuple[str, str, JournalRead | None]:
    """/profit and /performance: ``[days]`` (30) read back to today: the title, the
    span line and the journal's read (None: no journal here)."""
    days = _number(args, "days", 30, MAX_DAYS)
    today = center.services.clock.now().date()
    start = today - timedelta(days=days - 1)
    title = f"{name} · last {days} day{'s' if days > 1 else ''}"
    return title, f"{span(start, today)}, net of charges", await _read(center, start, today)


async def profit(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/profit [days]: the figures of the last ``days`` days (today included)."""
    title, spanned, read = await _last_days(center, args, "Profit")
    if read is None:
        return UNAVAILABLE
    blocks = [profit_lines(stats(read.trades))] if read.trades else []
    return _reply(title, spanned, blocks, [] if read.trades else [NO_TRADES], read)


async def daily(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/daily [n]: the last n trading days (and any other day with trades), newest first."""
    n = _number(args, "n", DEFAULT_COUNT[Period.DAY], MAX_COUNT[Period.DAY])
    today = center.services.clock.now().date()
    earliest = today - timedelta(days=2 * n + 14)  # room for weekends and holidays
    read = await _read(center, earliest, today)
    if read is None:
        return UNAVAILABLE
    calendar = TradingCalendar(center.services.settings.schedule)
    summaries = {s.date: s for s in read.days()}
    shown: list[date] = []
    day = today
    while len(shown) < n and day >= earliest:
        if day in summaries or calendar.is_trading_day(day):
            shown.append(day)
        day -= timedelta(days=1)
    if not shown:  # no trading day in the window (a calendar of holidays): today alone
        shown = [today]
    rows = [(d, summaries.get(d) or DaySummary(d, 0, ZERO, ZERO, ZERO, 0, 0)) for d in shown]
    total = sum_days(shown[-1], [s for _, s in rows])
    title = f"Daily · last {len(shown)} trading day{'s' if len(shown) > 1 else ''}"
    return _reply(title, f"{span(shown[-1], today)}, net of charges",
                  period_blocks(rows, total, Period.DAY), footer(total), read)


async def _periods(center: CommandCenter, args: list[str], period: Period, name: str
                   ) -> Response:
    n = _number(args, "n", DEFAULT_COUNT[period], MAX_COUNT[period])
    today = center.services.clock.now().date()
    starts = period_starts(today, period, n)
    read = await _read(center, starts[0], today)
    if read is None:
        return UNAVAILABLE
    groups = {p.start: p.stats for p in by_period(read.trades, period)}
    rows = [(start, groups.get(start) or stats([])) for start in reversed(starts)]
    total = stats(read.trades)
    unit = name.lower().removesuffix("ly")  # week, month
    title = f"{name} · last {n} {unit}{'s' if n > 1 else ''}"
    return _reply(title, f"{span(starts[0], today)}, net of charges",
                  period_blocks(rows, total, period), footer(total), read)


async def weekly(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/weekly [n]: this ISO week (from Monday) and the n-1 before, newest first."""
    return await _periods(center, args, Period.WEEK, "Weekly")


async def monthly(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/monthly [n]: this month and the n-1 before, newest first."""
    return await _periods(center, args, Period.MONTH, "Monthly")


async def performance(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/performance [days]: per symbol over the last ``days`` days, the best net first."""
    title, spanned, read = await _last_days(center, args, "Performance")
    if read is None:
        return UNAVAILABLE
    if not read.trades:
        return _reply(title, spanned, [], [NO_TRADES], read)
    total = stats(read.trades)
    return _reply(title, spanned, symbol_blocks(by_symbol(read.trades), total),
                  footer(total), read)


HANDLERS: dict[str, Handler] = {"profit": profit, "daily": daily, "weekly": weekly,
                                "monthly": monthly, "performance": performance}
