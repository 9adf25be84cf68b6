"""``bot.py optimize``: a run's figures from hand-made trades, the ranking, progress, split."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest

from agent.journal_stats import INFINITE
from agent.models import Side, Trade
from agent.optimize.metrics import Figures, Metric, Run, figures, number, ranked, text
from agent.optimize.runner import Progress, clock_text
from agent.optimize.split import SplitError, parse_split, split_days
from agent.timeutil import IST


def _trade(entry: str, exit_: str, pnl: str, charges: str) -> Trade:
    day = "2026-11-23T"
    return Trade("NSE:AAA", 1, Side.BUY, 1, datetime.fromisoformat(day + entry).replace(
        tzinfo=IST), Decimal(100), "signal", datetime.fromisoformat(day + exit_).replace(
        tzinfo=IST), Decimal(100), "stop", Decimal(pnl), charges=Decimal(charges))


# Exit order: +90, -35, -5, +45 (net) -> the curve 90, 55, 50, 95: a drawdown of 40. In
# entry order (-5 first) it would be 35; on gross P&L, 3 would be a win.
TRADES = [
    _trade("09:40:00", "10:20:00", "-30", "5"),   # net -35, exits 2nd
    _trade("09:20:00", "10:40:00", "3", "8"),     # net -5 (gross +3), entered 1st, exits 3rd
    _trade("09:30:00", "10:00:00", "100", "10"),  # net +90, exits 1st
    _trade("11:00:00", "11:30:00", "50", "5"),    # net +45, exits 4th
]


def test_figures_are_net_of_charges_in_exit_order() -> None:
    f = figures(TRADES)
    assert (f.trades, f.wins, f.losses) == (4, 2, 2)
    assert (f.gross_pnl, f.charges, f.net_pnl) == (Decimal(123), Decimal(28), Decimal(95))
    assert f.win_rate == Decimal(50)
    assert f.profit_factor == Decimal("3.375")  # 135 won / 40 lost
    assert f.max_drawdown == Decimal(40)
    assert f.expectancy == Decimal("23.75")


def test_no_losses_is_an_infinite_profit_factor_and_no_trades_none() -> None:
    f = figures(TRADES[2:])
    assert f.profit_factor == INFINITE and f.max_drawdown == 0
    assert text(f.profit_factor, Metric.PROFIT_FACTOR) == "∞"
    assert number(f.profit_factor) == "inf"
    empty = figures([])
    assert (empty.trades, empty.profit_factor, empty.win_rate) == (0, None, None)
    assert text(empty.win_rate, Metric.WIN_RATE) == "n/a" and number(None) is None


def test_texts_and_numbers() -> None:
    assert text(Decimal("1234.5"), Metric.NET_PNL) == "+1,234.50"
    assert text(Decimal("-5"), Metric.NET_PNL) == "-5.00"
    assert text(Decimal("62.5"), Metric.WIN_RATE) == "62.5%"
    assert text(Decimal("3.375"), Metric.PROFIT_FACTOR) == "3.38"
    assert text(Decimal("40"), Metric.MAX_DRAWDOWN) == "40.00"
    assert text(1234, Metric.TRADES) == "1,234"
    assert number(Decimal("95")) == 95 and number(Decimal("3.375")) == 3.375


def _run(name: str, net: str, *, pf: Decimal | None = Decimal(1), dd: str = "0",
         failed: bool = False) -> Run:
    if failed:
        return Run((("k", name),), None, error="boom")
    f = Figures(1, 1, 0, Decimal(net), Decimal(0), Decimal(net), Decimal(100), pf,
                Decimal(dd), Decimal(net))
    return Run((("k", name),), f)


def test_ranking_best_first_ties_in_grid_order_then_no_value_then_failed() -> None:
    runs = [_run("a", "10", pf=None), _run("b", "30", dd="50"), _run("c", "0", failed=True),
            _run("d", "30", dd="20"), _run("e", "-5", pf=INFINITE, dd="5")]
    names = lambda rs: [r.params[0][1] for r in rs]  # noqa: E731
    assert names(ranked(runs, Metric.NET_PNL)) == ["b", "d", "a", "e", "c"]
    assert names(ranked(runs, Metric.PROFIT_FACTOR)) == ["e", "b", "d", "a", "c"]
    assert names(ranked(runs, Metric.MAX_DRAWDOWN)) == ["a", "e", "d", "b", "c"]
    assert names(ranked(list(reversed(runs)), Metric.NET_PNL)) == ["d", "b", "a", "e", "c"]


def test_progress_is_throttled_and_always_says_the_end() -> None:
    now = [100.0]
    out = io.StringIO()
    p = Progress(30, out, every=2.0, clock=lambda: now[0])
    now[0] = 101.0
    assert p.step() is None  # within 2 s of the start
    now[0] = 165.0
    assert p.step(ok=False) == "2/30 done (1 failed), 1m05s elapsed, ~15m10s left"
    now[0] = 166.0
    assert p.step() is None
    for _ in range(27):
        p.step()
    assert out.getvalue().splitlines()[-1] == "30/30 done (1 failed), 1m06s elapsed"
    assert clock_text(7.4) == "7s" and clock_text(7322) == "2h02m"


DAYS = [date(2026, 11, d) for d in (23, 24, 25, 26, 27)]


def test_split_by_date_and_by_fraction_of_the_days() -> None:
    s = split_days(DAYS, parse_split("2026-11-25"))
    assert (s.in_sample, s.out_of_sample, s.in_days, s.out_days) == (
        (DAYS[0], DAYS[1]), (DAYS[2], DAYS[4]), 2, 3)
    s = split_days(DAYS, parse_split("0.7"))  # 3.5 days: 3 in sample
    assert (s.in_sample, s.out_of_sample) == ((DAYS[0], DAYS[2]), (DAYS[3], DAYS[4]))
    assert s.describe() == ("in-sample 2026-11-23..2026-11-25 (3 days), out-of-sample "
                            "2026-11-26..2026-11-27 (2 days)")


@pytest.mark.parametrize(("arg", "message"), [
    ("2026-11-23", "leaves no in-sample days"),
    ("2026-11-28", "leaves no out-of-sample days"),
    ("0.1", "leaves no in-sample days"),
    ("1", "expected a date YYYY-MM-DD"),
    ("0", "expected a date YYYY-MM-DD"),
    ("2026-02-30", "not a date"),
    ("soon", "expected a date YYYY-MM-DD"),
])
def test_a_split_that_cannot_divide_the_days_is_an_error(arg: str, message: str) -> None:
    with pytest.raises(SplitError, match=message):
        split_days(DAYS, parse_split(arg))


def test_a_repeated_log_message_is_said_once() -> None:
    import logging

    from agent.optimize.runner import OncePerMessage

    once = OncePerMessage()

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("agent.charge_book", logging.WARNING, __file__, 1, msg,
                                 args, None)

    assert once.filter(record("no charge table applies on %s", "2024-01-15"))
    assert not once.filter(record("no charge table applies on %s", "2024-01-15"))
    assert once.filter(record("no charge table applies on %s", "2024-01-16"))
