"""Statistics of closed trades across days: what ``/profit``, ``/daily``, ``/weekly``,
``/monthly``, ``/performance`` and ``bot.py report`` show. Every figure is net of charges
(``Trade.net_pnl``) unless its name says gross.

Definitions (README "Journal"):

- A trade's day is the IST date of its exit. A win is a trade whose net P&L is above zero,
  a loss one below zero; a trade of exactly zero is neither (``even``). The win rate is wins
  over all trades.
- Expectancy: the net P&L per trade (net total / trades).
- Profit factor: the net of the winning trades over the net lost by the losing ones.
  ``INFINITE`` when there are wins and no losses (shown "∞"), ``None`` when there are
  neither (shown "n/a").
- Max drawdown: the largest fall of the cumulative net P&L, trade by trade in exit order,
  below its highest point so far; the curve starts at zero, so a first losing trade is a
  drawdown. In rupees, never negative (0 when the curve never fell).
- Average holding time: the mean of exit time minus entry time.
- Periods: days; ISO weeks starting on Monday (a week is named by its Monday); calendar
  months (named by their first day).

Pure functions on ``Trade`` values; any thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from agent.models import Trade
from agent.timeutil import IST

ZERO = Decimal(0)
INFINITE = Decimal("Infinity")


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One day's closed trades in figures (the journal's day line, the journal chart's bar)."""

    date: dt.date
    trades: int
    gross: Decimal
    charges: Decimal
    net: Decimal
    wins: int
    losses: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The figures of a set of trades (see the module doc for each definition)."""

    trades: int
    wins: int
    losses: int
    gross: Decimal
    charges: Decimal
    net: Decimal
    win_rate: Decimal | None  # percent; None without trades
    expectancy: Decimal | None  # net per trade; None without trades
    profit_factor: Decimal | None  # INFINITE without losses, None without wins or losses
    max_drawdown: Decimal  # rupees below the running peak of the cumulative net
    best: Trade | None  # the highest net P&L (the earliest of equals)
    worst: Trade | None  # the lowest net P&L (the earliest of equals)
    average_hold: dt.timedelta | None

    @property
    def even(self) -> int:
        return self.trades - self.wins - self.losses


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """The figures of one day, week or month; ``start`` is its first day."""

    period: Period
    start: dt.date
    stats: Stats


def trade_day(trade: Trade) -> dt.date:
    """The IST date of a trade's exit: the day it belongs to."""
    return trade.exit_time.astimezone(IST).date()


def in_order(trades: Iterable[Trade]) -> list[Trade]:
    """Trades in exit order (then entry time and tag: a stable order for equal times)."""
    return sorted(trades, key=lambda t: (t.exit_time, t.entry_time, t.exit_tag))


def stats(trades: Iterable[Trade]) -> Stats:
    """Every figure of ``trades`` (any order: they are put in exit order first)."""
    ordered = in_order(trades)
    nets = [t.net_pnl for t in ordered]
    won = sum((n for n in nets if n > 0), ZERO)
    lost = -sum((n for n in nets if n < 0), ZERO)
    wins = sum(1 for n in nets if n > 0)
    losses = sum(1 for n in nets if n < 0)
    count = len(ordered)
    net = sum(nets, ZERO)
    if losses:
        factor: Decimal | None = won / lost
    else:
        factor = INFINITE if wins else None
    holds = [t.exit_time - t.entry_time for t in ordered]
    return Stats(
        trades=count, wins=wins, losses=losses,
        gross=sum((t.pnl for t in ordered), ZERO),
        charges=sum((t.charges for t in ordered), ZERO),
        net=net,
        win_rate=Decimal(wins * 100) / count if count else None,
        expectancy=net / count if count else None,
        profit_factor=factor,
        max_drawdown=max_drawdown(nets),
        best=max(ordered, key=lambda t: t.net_pnl) if ordered else None,
        worst=min(ordered, key=lambda t: t.net_pnl) if ordered else None,
        average_hold=sum(holds, dt.timedelta()) / count if count else None,
    )


def max_drawdown(nets: Sequence[Decimal]) -> Decimal:
    """The largest fall of the running sum of ``nets`` below its peak (which starts at 0)."""
    peak = running = worst = ZERO
    for n in nets:
        running += n
        peak = max(peak, running)
        worst = max(worst, peak - running)
    return worst


def period_start(day: dt.date, period: Period) -> dt.date:
    """The first day of ``day``'s period: itself, its week's Monday, its month's first."""
    if period is Period.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day


def by_period(trades: Iterable[Trade], period: Period) -> list[PeriodStats]:
    """One ``PeriodStats`` per period that has trades, oldest first."""
    groups: dict[dt.date, list[Trade]] = {}
    for t in trades:
        groups.setdefault(period_start(trade_day(t), period), []).append(t)
    return [PeriodStats(period, start, stats(groups[start])) for start in sorted(groups)]


def by_symbol(trades: Iterable[Trade]) -> list[tuple[str, Stats]]:
    """(symbol, its figures), the best net first (then by name)."""
    groups: dict[str, list[Trade]] = {}
    for t in trades:
        groups.setdefault(t.symbol, []).append(t)
    rows = [(symbol, stats(group)) for symbol, group in groups.items()]
    return sorted(rows, key=lambda row: (-row[1].net, row[0]))


def day_summary(day: dt.date, trades: Iterable[Trade]) -> DaySummary:
    """The summary of ``day`` from its trades (the trades of other days are left out)."""
    s = stats(t for t in trades if trade_day(t) == day)
    return DaySummary(day, s.trades, s.gross, s.charges, s.net, s.wins, s.losses)


def day_summaries(trades: Iterable[Trade]) -> list[DaySummary]:
    """One summary per day that has trades, oldest first."""
    return [DaySummary(p.start, p.stats.trades, p.stats.gross, p.stats.charges, p.stats.net,
                       p.stats.wins, p.stats.losses) for p in by_period(trades, Period.DAY)]


def sum_days(first: dt.date, days: Sequence[DaySummary]) -> DaySummary:
    """The days' figures added up (dated ``first``): the TOTAL of a table of days."""
    return DaySummary(first, sum(s.trades for s in days), sum((s.gross for s in days), ZERO),
                      sum((s.charges for s in days), ZERO), sum((s.net for s in days), ZERO),
                      sum(s.wins for s in days), sum(s.losses for s in days))


def period_starts(last: dt.date, period: Period, count: int) -> list[dt.date]:
    """The first days of the ``count`` periods ending with ``last``'s, oldest first."""
    starts = [period_start(last, period)]
    while len(starts) < count:
        first = starts[0]
        if period is Period.DAY:
            starts.insert(0, first - dt.timedelta(days=1))
        elif period is Period.WEEK:
            starts.insert(0, first - dt.timedelta(days=7))
        else:
            starts.insert(0, (first - dt.timedelta(days=1)).replace(day=1))
    return starts
