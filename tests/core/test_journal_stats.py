"""The journal's statistics (agent/journal_stats.py), each recomputed here from the trades
another way: a hand-worked example with its figures written out, then seeded trades over
three months checked figure by figure against a plain recomputation (brute-force
drawdown, ISO calendar weeks, sums in integer paise)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from agent.journal_stats import (
    INFINITE,
    DaySummary,
    Period,
    by_period,
    by_symbol,
    day_summaries,
    day_summary,
    max_drawdown,
    period_starts,
    stats,
    sum_days,
)
from agent.models import Trade
from tests.journal_helpers import paise as _paise
from tests.journal_helpers import random_trades, recompute, trade

D1 = date(2026, 11, 30)  # a Monday
D2 = date(2026, 12, 1)


def _hand() -> list[Trade]:
    """Net: +480, -230, 0 (gross 10, charges 10), +95, -1000 (in exit order)."""
    return [trade(D1, 10, 0, "500", "20", seq=1, held=300),
            trade(D1, 11, 0, "-200", "30", seq=2, held=900, symbol="NSE:BBB"),
            trade(D2, 9, 30, "10", "10", seq=3, held=60),
            trade(D2, 10, 0, "100", "5", seq=4, held=3600, symbol="NSE:BBB"),
            trade(D2, 14, 0, "-980", "20", seq=5, held=7200)]


def test_the_hand_worked_example() -> None:
    s = stats(reversed(_hand()))  # any order in: exit order inside
    assert (s.trades, s.wins, s.losses, s.even) == (5, 2, 2, 1)
    assert (s.gross, s.charges, s.net) == (Decimal("-570"), Decimal("85"), Decimal("-655"))
    assert s.win_rate == Decimal(40)
    assert s.expectancy == Decimal("-131")
    assert s.profit_factor == Decimal(575) / Decimal(1230)  # (480 + 95) / (230 + 1000)
    # curve 480, 250, 250, 345, -655: peak 480, lowest after it -655
    assert s.max_drawdown == Decimal(1135)
    assert s.best is not None and s.best.net_pnl == Decimal(480)
    assert s.worst is not None and s.worst.net_pnl == Decimal(-1000)
    assert s.average_hold == timedelta(seconds=(300 + 900 + 60 + 3600 + 7200) / 5)
    days = day_summaries(_hand())
    assert [(d.date, d.trades, d.gross, d.charges, d.net, d.wins, d.losses) for d in days] == [
        (D1, 2, Decimal(300), Decimal(50), Decimal(250), 1, 1),
        (D2, 3, Decimal(-870), Decimal(35), Decimal(-905), 1, 1)]
    assert day_summary(D2, _hand()) == days[1]
    assert sum_days(D1, days) == DaySummary(D1, 5, Decimal(-570), Decimal(85), Decimal(-655),
                                            2, 2)
    (week,) = by_period(_hand(), Period.WEEK)  # Monday 30 Nov and Tuesday 1 Dec
    assert week.start == D1 and week.stats.trades == 5
    nov, dec = by_period(_hand(), Period.MONTH)
    assert (nov.start, nov.stats.net, dec.start, dec.stats.net) == (
        date(2026, 11, 1), Decimal(250), date(2026, 12, 1), Decimal(-905))
    assert [(sym, st.trades, st.net) for sym, st in by_symbol(_hand())] == [
        ("NSE:BBB", 2, Decimal(-135)), ("NSE:AAA", 3, Decimal(-520))]


def test_profit_factor_without_losses_is_infinite_and_without_either_is_none() -> None:
    assert stats([trade(D1, 10, 0, "50", "10")]).profit_factor == INFINITE
    assert stats([trade(D1, 10, 0, "10", "10")]).profit_factor is None  # one even trade
    empty = stats([])
    assert (empty.trades, empty.win_rate, empty.expectancy, empty.profit_factor,
            empty.max_drawdown, empty.best, empty.average_hold) == (
        0, None, None, None, Decimal(0), None, None)


def test_a_first_losing_trade_is_a_drawdown_from_zero() -> None:
    assert max_drawdown([Decimal(-5), Decimal(3), Decimal(-4)]) == Decimal(6)
    assert max_drawdown([Decimal(5), Decimal(5)]) == Decimal(0)


def test_period_starts_count_back_weeks_from_monday_and_months_across_a_year() -> None:
    assert period_starts(date(2026, 12, 6), Period.WEEK, 3) == [
        date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)]
    assert period_starts(date(2027, 1, 15), Period.MONTH, 3) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    assert period_starts(date(2026, 12, 6), Period.DAY, 2) == [date(2026, 12, 5),
                                                               date(2026, 12, 6)]


def _check(trades: list[Trade]) -> None:
    s = stats(trades)
    e = recompute(trades)
    assert (s.trades, s.wins, s.losses) == (e["trades"], e["wins"], e["losses"])
    assert (_paise(s.gross), _paise(s.charges), _paise(s.net)) == (
        e["gross"], e["charges"], e["net"])
    assert float(s.win_rate) == pytest.approx(e["win_rate"])
    assert float(s.expectancy) == pytest.approx(e["expectancy"])
    if e["profit_factor"] is None or e["profit_factor"] == INFINITE:
        assert s.profit_factor == e["profit_factor"]
    else:
        assert float(s.profit_factor) == pytest.approx(e["profit_factor"])
    assert _paise(s.max_drawdown) == e["max_drawdown"]
    assert s.best is e["best"] and s.worst is e["worst"]
    assert s.average_hold.total_seconds() == pytest.approx(e["hold"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_of_seeded_trades_matches_a_plain_recomputation(seed: int) -> None:
    trades = random_trades(seed, date(2026, 10, 20), 75)
    assert len(trades) > 150
    _check(trades)
    days: dict[date, list[Trade]] = defaultdict(list)
    weeks: dict[tuple[int, int], list[Trade]] = defaultdict(list)
    months: dict[tuple[int, int], list[Trade]] = defaultdict(list)
    symbols: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        day = t.exit_time.date()
        days[day].append(t)
        weeks[day.isocalendar()[:2]].append(t)
        months[(day.year, day.month)].append(t)
        symbols[t.symbol].append(t)
    for period, groups, name in ((Period.DAY, days, lambda d: d),
                                 (Period.WEEK, weeks, lambda d: d.isocalendar()[:2]),
                                 (Period.MONTH, months, lambda d: (d.year, d.month))):
        found = by_period(trades, period)
        assert [name(p.start) for p in found] == sorted(groups)
        for p in found:
            assert p.stats == stats(groups[name(p.start)])
            if period is Period.WEEK:
                assert p.start.weekday() == 0  # named by its Monday
            _check(groups[name(p.start)])
    rows = by_symbol(trades)
    assert sorted(sym for sym, _ in rows) == sorted(symbols)
    assert [st.net for _, st in rows] == sorted((st.net for _, st in rows), reverse=True)
    for sym, st in rows:
        _check(symbols[sym])
        assert st.trades == len(symbols[sym])
    summaries = day_summaries(trades)
    assert [s.date for s in summaries] == sorted(days)
    for s in summaries:
        mine = days[s.date]
        assert (s.trades, _paise(s.gross), _paise(s.charges), _paise(s.net)) == (
            len(mine), sum(_paise(t.pnl) for t in mine), sum(_paise(t.charges) for t in mine),
            sum(_paise(t.pnl) - _paise(t.charges) for t in mine))
        assert (s.wins, s.losses) == (sum(t.net_pnl > 0 for t in mine),
                                      sum(t.net_pnl < 0 for t in mine))
