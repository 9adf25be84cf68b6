"""The journal's figures as aligned text tables of at most 40 columns (a phone's width):
``/profit``, ``/daily``, ``/weekly``, ``/monthly``, ``/performance`` wrap them in ``<pre>``
(escaped), ``bot.py report`` prints them as they are.

A long table is cut into blocks of ``BLOCK_ROWS`` rows, each with its column names, so a
reply split between blocks never cuts a table. Money through ``money()``. Pure functions,
any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from agent.journal_stats import INFINITE, DaySummary, Period, Stats, period_start
from agent.timeutil import IST
from handlers.status_table import short_symbol
from handlers.text import money


class Counted(Protocol):
    """A table row's figures: a ``Stats`` or a ``DaySummary``."""

    @property
    def trades(self) -> int: ...

    @property
    def wins(self) -> int: ...

    @property
    def losses(self) -> int: ...

    @property
    def net(self) -> Decimal: ...


WIDTH = 40
BLOCK_ROWS = 40
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def day_text(day: date, year: bool = False) -> str:
    """'14 Dec', or '14 Dec 2026'."""
    text = f"{day.day:02d} {_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def span(start: date, end: date) -> str:
    """'16 Nov–15 Dec 2026', '15 Dec 2026', '16 Dec 2025–14 Jan 2026'."""
    if start == end:
        return day_text(end, True)
    return f"{day_text(start, start.year != end.year)}–{day_text(end, True)}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def factor(value: Decimal | None) -> str:
    """The profit factor: '1.85', '∞' (wins and no losses), 'n/a' (neither)."""
    if value is None:
        return "n/a"
    if value == INFINITE:
        return "∞"
    return str(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


def hold(value: timedelta | None) -> str:
    """'45s', '23m 10s', '2h 05m', '1d 02h'; 'n/a' without trades."""
    if value is None:
        return "n/a"
    seconds = int(value.total_seconds() + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def profit_lines(s: Stats) -> list[str]:
    """The /profit table: label and value per line, then the best and worst trades."""
    pairs = [
        ("Trades", str(s.trades)),
        ("Wins/losses", f"{s.wins}/{s.losses}" + (f" ({s.even} even)" if s.even else "")),
        ("Win rate", percent(s.win_rate)),
        ("Gross P&L", money(s.gross)),
        ("Charges", money(s.charges, sign=False)),
        ("Net P&L", money(s.net)),
        ("Expectancy", "n/a" if s.expectancy is None else money(s.expectancy)),
        ("Profit factor", factor(s.profit_factor)),
        ("Max drawdown", money(-s.max_drawdown)),
        ("Avg hold", hold(s.average_hold)),
    ]
    for label, trade in (("Best trade", s.best), ("Worst trade", s.worst)):
        if trade is not None:
            pairs.append((label, money(trade.net_pnl)))
            when = trade.exit_time.astimezone(IST)
            stamp = f" {day_text(when.date())} {when:%H:%M}"
            pairs.append(("", f"{short_symbol(trade.symbol, WIDTH - 2 - len(stamp))}{stamp}"))
    return _pairs(pairs)


def _pairs(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Labels left, values right-aligned; a pair without a label is a detail of the line
    above, indented by two."""
    label = max(len(k) for k, _ in pairs)
    value = max(len(v) for k, v in pairs if k)
    return [f"{k:<{label}} {v:>{value}}" if k else f"  {v}" for k, v in pairs]


def period_label(start: date, period: Period) -> str:
    """'Mon 14 Dec' (a day), 'W51 14 Dec' (an ISO week by its Monday), 'Dec 2026'."""
    if period is Period.DAY:
        return f"{_DAYS[start.weekday()]} {day_text(start)}"
    if period is Period.WEEK:
        return f"W{start.isocalendar().week:02d} {day_text(start)}"
    return f"{_MONTHS[start.month - 1]} {start.year}"


_PERIOD_HEAD = {Period.DAY: "DAY", Period.WEEK: "WEEK", Period.MONTH: "MONTH"}


def period_blocks(rows: Sequence[tuple[date, Counted]], total: Counted, period: Period
                  ) -> list[list[str]]:
    """The /daily, /weekly, /monthly table (newest first) with a TOTAL line, in blocks."""
    cells = [(period_label(period_start(start, period), period), s) for start, s in rows]
    return _stat_blocks(_PERIOD_HEAD[period], cells, total)


def symbol_blocks(rows: Sequence[tuple[str, Counted]], total: Counted) -> list[list[str]]:
    """The /performance table: one line per symbol (best net first), a TOTAL line."""
    return _stat_blocks("SYMBOL", [(symbol, s) for symbol, s in rows], total, names=True)


def _stat_blocks(head: str, rows: Sequence[tuple[str, Counted]], total: Counted,
                 names: bool = False) -> list[list[str]]:
    body = [(name, str(s.trades), f"{s.wins}/{s.losses}", money(s.net)) for name, s in rows]
    last = ("TOTAL", str(total.trades), f"{total.wins}/{total.losses}", money(total.net))
    heads = (head, "TRADES", "W/L", "NET")
    every = [heads, *body, last]
    numbers = [max(len(r[i]) for r in every) for i in (1, 2, 3)]
    room = min(WIDTH - 3 - sum(numbers), max(len(r[0]) for r in every))

    def line(r: tuple[str, str, str, str]) -> str:
        name = short_symbol(r[0], room) if names else r[0]
        return (f"{name:<{room}} {r[1]:>{numbers[0]}} {r[2]:>{numbers[1]}} "
                f"{r[3]:>{numbers[2]}}")

    blocks = [[line(heads), *(line(r) for r in body[i:i + BLOCK_ROWS])]
              for i in range(0, max(len(body), 1), BLOCK_ROWS)]
    blocks[-1].append(line(last))
    return blocks


def footer(s: Stats | DaySummary) -> list[str]:
    """Under a table: the gross and the charges the net comes from."""
    one = f"Gross {money(s.gross)} · charges {money(s.charges, sign=False)}"
    if len(one) <= WIDTH:
        return [one]
    return [f"Gross {money(s.gross)}", f"Charges {money(s.charges, sign=False)}"]
